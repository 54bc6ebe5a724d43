"""Exactly one ending, only from the run.

One final edit and one reply per run, whoever delivers it; a continuation
message keeps its lost-host notice; processes forked after the start never
report; several reports in one process give the user's handlers back; no value
in the shared state file can raise into training.  Real training processes
(tests/run_training.py) against the emulator where a process is what matters.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import make_trainer, wait_until

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.job.termination import TerminationHandler

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")
TIMEOUT = 60  # seconds: only against hangs


def popen(emulator, *args):
    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env["SLACK_BOT_TOKEN"] = emulator.token
    return subprocess.Popen([sys.executable, SCRIPT, emulator.url, "general", "ending", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def watchdog_gone(emulator):
    """True once no watchdog call can come any more: the last scheduled notice is gone."""
    return emulator.scheduled("general") == []


def test_a_final_report_delivered_while_the_interpreter_exits_is_not_reported_again(
        slack_emulator):
    # flush_timeout=0: the final text is delivered during the interpreter's exit wait
    proc = popen(slack_emulator, "--epochs", "3", "--sleep", "0.05", "--flush-timeout", "0",
                 "--lost-after", "60", "--mentions", "@here")
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert wait_until(lambda: watchdog_gone(slack_emulator), timeout=TIMEOUT)
    (message,) = slack_emulator.messages("general")
    final = message.text
    assert final.startswith("[Completed]")
    slack_emulator.advance(120)  # whatever was to come has come
    (reply,) = message.replies  # one reply, the run's own
    assert reply.text.startswith("<!here> [Completed] after ")
    assert not any(h.startswith(("[Lost]", "[Killed]")) for h in message.history)
    assert message.text == final  # the elapsed time was not overwritten


def test_a_continuation_message_keeps_a_lost_host_notice(slack_emulator):
    proc = popen(slack_emulator, "--epochs", "1000", "--sleep", "0.02", "--lost-after", "60")
    try:
        assert proc.stdout.readline().strip() == "READY"
        assert wait_until(lambda: slack_emulator.scheduled("general"), timeout=TIMEOUT)
        (first,) = slack_emulator.messages("general")
        slack_emulator.delete_message("general", first.ts)  # a user deletes the live message

        def continued():
            messages = slack_emulator.messages("general")
            return messages and messages[0].ts != first.ts and any(
                n.thread_ts == messages[0].ts for n in slack_emulator.scheduled("general"))

        assert wait_until(continued, timeout=TIMEOUT)
        # the first message's notice was deleted, not left to fail or fire
        assert wait_until(lambda: len(slack_emulator.scheduled("general")) == 1,
                          timeout=TIMEOUT)
        errors = [c.error for c in slack_emulator.calls if c.method == "chat.scheduleMessage"]
        assert "thread_not_found" not in errors
    finally:
        proc.kill()
        proc.wait(TIMEOUT)


def test_pool_workers_forked_after_the_start_end_on_sigterm_as_without_the_library(
        slack_emulator):
    flush_timeout = 10.0  # what a worker that reported would wait, at most
    proc = popen(slack_emulator, "--epochs", "2", "--pool", "--lost-after", "60",
                 "--flush-timeout", str(flush_timeout))
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    (seconds,) = [float(line.split()[1]) for line in out.splitlines()
                  if line.startswith("TERMINATED")]
    assert seconds < flush_timeout / 2  # no worker waited to deliver a report
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")
    assert not any("[Terminated]" in h for h in message.history)
    assert "[Terminated]" not in err and "[Terminated]" not in out


@pytest.mark.parametrize("order", ["first ends first", "last ends first"])
def test_several_handlers_give_the_users_handler_back_whatever_order_they_end_in(order):
    caught = []

    def users(signum, frame):
        caught.append(signum)

    reported = []
    before = signal.signal(signal.SIGTERM, users)
    try:
        first = TerminationHandler(lambda s: reported.append("first"))
        last = TerminationHandler(lambda s: reported.append("last"))
        assert first.install() and last.install()
        for handler in ([first, last] if order == "first ends first" else [last, first]):
            handler.restore()
        assert signal.getsignal(signal.SIGTERM) is users
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, later
        assert wait_until(lambda: caught == [signal.SIGTERM])
        assert reported == []  # both runs had ended
    finally:
        signal.signal(signal.SIGTERM, before)


def test_two_reports_in_one_trainer_restore_the_users_sigterm_handler(report_factory):
    caught = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    try:
        users = signal.getsignal(signal.SIGTERM)
        trainer = make_trainer(report_factory(), extra=[report_factory(channel="random")])
        trainer.run()
        assert signal.getsignal(signal.SIGTERM) is users
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_until(lambda: caught == [signal.SIGTERM])
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_state_file_with_values_out_of_range_is_reset_with_one_warning(
        slack_emulator, report_factory, budget_state_dir):
    from chainer_slack_report.transport.budget.state import VERSION
    from chainer_slack_report.transport.budget.store import state_name
    from chainer_slack_report.transport.client import api_url

    client = slack_emulator.client(timeout=5)
    path = os.path.join(str(budget_state_dir),
                        state_name(api_url(client), client.token) + ".json")
    bucket = {"calls": 10**400, "per": 60.0, "effective": 1.0, "grants": [],
              "blocked_until": 0.0, "block_seconds": 0.0, "next_increase": 0.0}
    with open(path, "w") as file:
        json.dump({"version": VERSION,
                   "runs": {"other": {"pid": 10**30, "host": os.uname().nodename,
                                      "seen": 0.0, "last_call": {}}},
                   "buckets": {"chat.update": bucket}}, file)
    with pytest.warns(SlackReportWarning) as caught:
        trainer = make_trainer(report_factory(client=client))
        trainer.run()
    reset = [w for w in caught if "out of range" in str(w.message)]
    assert len(reset) == 1, [str(w.message) for w in caught]
    assert slack_emulator.messages("general")[0].text.startswith("[Completed]")
    with open(path) as file:
        assert "runs" in json.load(file)  # written back afresh
