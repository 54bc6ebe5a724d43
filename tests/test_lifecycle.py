"""A run's message across its whole life: resumed from a snapshot, preempted by a
signal, and still delivered when Slack is slower than ``flush_timeout``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

import pytest
from chainer import serializers
from chainer.training import extensions
from chainer.training.extensions import PrintReport
from conftest import ENTRIES, Boom, make_trainer, posted_first, table_rows, wait_until

from chainer_slack_report import SlackReport

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")


def build(emulator, **kwargs):
    kwargs.setdefault("min_interval", 0.0)
    kwargs.setdefault("flush_timeout", 5.0)
    return SlackReport(None, "general", ENTRIES, client=emulator.client(timeout=5), **kwargs)


def iterations(text):
    return [int(row.split()[1]) for row in table_rows(text)]


# -- resume from a snapshot ---------------------------------------------------------------
def crash_after_a_snapshot(emulator, out):
    """4 epochs of 4 iterations; snapshot every epoch; crash at iteration 10."""
    report = build(emulator)
    trainer = make_trainer(report, epochs=4, crash_at=10, out=str(out),
                           extra=[extensions.snapshot(filename="snap_{.updater.iteration}"),
                                  posted_first(report)])
    with pytest.raises(Boom):
        trainer.run()
    return os.path.join(str(out), "snap_8")


def resume(emulator, snapshot, out, **kwargs):
    report = build(emulator, **kwargs)
    trainer = make_trainer(report, epochs=4, out=str(out))
    serializers.load_npz(snapshot, trainer)
    trainer.run()
    return report


def test_resumed_run_continues_its_message(slack_emulator, tmp_path):
    snapshot = crash_after_a_snapshot(slack_emulator, tmp_path)
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Failed]") and iterations(message.text) == [4, 8]
    failed_edits = len(message.history)
    report = resume(slack_emulator, snapshot, tmp_path)
    (message,) = slack_emulator.messages("general")  # the same message, no second one
    assert report.live.ts == message.ts and report.live.posts == 0
    assert message.text.startswith("[Completed]")
    assert iterations(message.text) == [4, 8, 12, 16]  # the full table
    resumed = message.history[failed_edits:]
    assert resumed[0].startswith("[Training]")  # back from [Failed]
    (reply,) = message.replies
    assert reply.text.startswith("Resumed from iteration 8, epoch 2 on ")


def test_resumed_run_whose_message_is_gone_posts_a_continuation(slack_emulator, tmp_path):
    snapshot = crash_after_a_snapshot(slack_emulator, tmp_path)
    (old,) = slack_emulator.messages("general")
    slack_emulator.delete_message("general", old.ts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resume(slack_emulator, snapshot, tmp_path)
    (message,) = slack_emulator.messages("general")
    assert message.ts != old.ts
    assert message.text.startswith("_(continues an earlier message")
    assert "[Completed]" in message.text and iterations(message.text) == [4, 8, 12, 16]
    assert message.replies[0].text.startswith("Resumed from iteration 8")
    assert any("message_not_found" in str(w.message) for w in caught)


def test_snapshots_load_both_ways_with_printreport_and_0_3(slack_emulator, tmp_path):
    class SlackReport03(PrintReport):
        """The 0.3 package's extension: a PrintReport with no serialize of its own."""

        default_name = "SlackReport"

    # 1.0 snapshot (with an owned LogReport, so that PrintReport keys exist too)
    log_report = extensions.LogReport(log_name=None)
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(),
                         log_report=log_report, min_interval=0.0)
    make_trainer(report, epochs=2, out=str(tmp_path),
                 extra=[extensions.snapshot(filename="new")]).run()
    for extension in (SlackReport03(ENTRIES, log_report=extensions.LogReport(log_name=None)),
                      build(slack_emulator, log_report=extensions.LogReport(log_name=None))):
        trainer = make_trainer(None, epochs=3, out=str(tmp_path), extra=[extension])
        serializers.load_npz(os.path.join(str(tmp_path), "new"), trainer)
        assert len(extension._log_report.log) == 2  # the owned LogReport came back
    # 0.3 snapshot into 1.0: no message keys, a new message is posted
    old = SlackReport03(ENTRIES, log_report=extensions.LogReport(log_name=None))
    make_trainer(None, epochs=2, out=str(tmp_path), extra=[
        old, extensions.snapshot(filename="old")]).run()
    report = build(slack_emulator, log_report=extensions.LogReport(log_name=None))
    trainer = make_trainer(None, epochs=3, out=str(tmp_path), extra=[report])
    serializers.load_npz(os.path.join(str(tmp_path), "old"), trainer)
    trainer.run()
    assert report.live.posts == 1
    assert iterations(slack_emulator.messages("general")[-1].text) == [4, 8, 12]


# -- preemption ------------------------------------------------------------------------------
def start_long_run(emulator, *extra):
    env = {**os.environ, "SLACK_BOT_TOKEN": emulator.token}
    # The child starts with the default SIGTERM/SIGHUP actions even when pytest runs
    # under nohup (SlackReport rightly leaves an ignored signal alone).
    proc = subprocess.Popen([sys.executable, SCRIPT, emulator.url, "general", "preempted",
                             "--epochs", "10000", "--sleep", "0.01", "--flush-timeout", "10",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=_default_signals)
    _children.append(proc)
    assert proc.stdout.readline().strip() == "READY"
    assert wait_until(lambda: emulator.messages("general") and
                      emulator.messages("general")[0].text.startswith("[Training]"),
                      timeout=60)
    return proc


_children: list = []


def _default_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    while _children:  # a failed test must not leave a 10000-epoch run behind
        proc = _children.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_gives_terminated_and_the_signals_exit_status(slack_emulator,
                                                                             signum):
    proc = start_long_run(slack_emulator)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signum  # ended by that signal, as without SlackReport
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Terminated]")
    assert f"Terminated by {signal.Signals(signum).name}" in message.text
    assert iterations(message.text)  # the table is still there


def test_a_users_signal_handler_is_chained(slack_emulator):
    proc = start_long_run(slack_emulator, "--user-handler")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert "USER HANDLER" in out and proc.returncode == 3
    assert slack_emulator.messages("general")[0].text.startswith("[Terminated]")


def test_previous_handlers_are_restored_at_finalize(slack_emulator):
    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        hup = signal.getsignal(signal.SIGHUP)
        make_trainer(build(slack_emulator), epochs=1).run()
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGHUP) == hup
    finally:
        signal.signal(signal.SIGTERM, before)


# -- a final report slower than flush_timeout ---------------------------------------------------
def test_the_interpreter_waits_at_exit_for_a_late_final_report(slack_emulator):
    # Every chat.update takes 2 s, flush_timeout is 0.3 s: the final update is
    # still on its way when finalize returns, and must not be lost at exit.
    slack_emulator.latency = lambda method: 2.0 if method == "chat.update" else 0.0
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token}
    done = subprocess.run([sys.executable, SCRIPT, slack_emulator.url, "general", "late",
                           "--epochs", "2", "--flush-timeout", "0.3", "--exit-timeout", "60"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "waiting up to 60 s for Slack to take the final report of 1 run(s)" in done.stderr
    assert "Ctrl-C" in done.stderr
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]") and iterations(message.text) == [4, 8]
