"""Every way a run ends shows in Slack, also when Python never runs its ``finally``.

Real training processes (tests/run_training.py: a real Chainer trainer, the real
WebClient, the emulator) die for real: SIGKILL from outside, a segmentation fault
in native code, ``os._exit``, an OOM kill in a memory cgroup; their watchdog
process marks the message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest
from chainer import training
from conftest import make_trainer, table_rows, wait_until

from chainer_slack_report.job.oom import OOM_DETAIL

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")
TIMEOUT = 60  # seconds: only against hangs; the latency is measured in benchmarks/


_STARTED: list = []  # (process, its watchdogs) of the test that runs now


@pytest.fixture(autouse=True)
def _no_process_left_behind():
    """After each test, whatever it asserted: every training process it started is killed
    with its whole process group (workers it forked included), and its watchdogs (a
    session of their own) are given TIMEOUT to report and exit, then killed."""
    yield
    while _STARTED:
        proc, watchdogs = _STARTED.pop()
        watchdogs = watchdogs + watchdogs_of(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its group: start() made it a leader
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        if not wait_until(lambda ws=watchdogs: all(gone(w) for w in ws), timeout=TIMEOUT):
            for pid in watchdogs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def start(emulator, *args, preexec_fn=None, url=None):
    """A training process reporting to the emulator (or to ``url``) with its watchdog on, in a
    process group of its own (as a shell's foreground job); waits until it trains.  The
    test's teardown kills it (its group) if it still runs."""
    def child():
        os.setpgrp()
        if preexec_fn is not None:
            preexec_fn()

    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env["SLACK_BOT_TOKEN"] = emulator.token
    proc = subprocess.Popen([sys.executable, SCRIPT, url or emulator.url, "general", "dying",
                             "--epochs", "1000", "--sleep", "0.02", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=child)
    _STARTED.append((proc, []))
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
    _STARTED[-1] = (proc, watchdogs_of(proc.pid))  # known now, also once proc is dead
    return proc


def rows_shown(emulator) -> int:
    """The table rows the run's message shows (0 before it is posted)."""
    messages = emulator.messages("general")
    return len(table_rows(messages[0].text)) if messages else 0


def final_text(emulator, status: str) -> str:
    assert wait_until(lambda: emulator.messages("general")
                      and emulator.messages("general")[0].text.startswith(status),
                      timeout=TIMEOUT), emulator.messages("general")[0].text
    return emulator.messages("general")[0].text


def watchdogs_of(pid: int):
    """PIDs of the processes whose parent is ``pid`` and that run the watchdog."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                ppid = int(file.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                cmdline = file.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"chainer_slack_report.guard.watchdog_main" in cmdline:
            found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_sigkill_from_outside_is_lost_with_every_row_and_a_notifying_reply(slack_emulator):
    proc = start(slack_emulator, "--mentions", "@here")
    (watchdog,) = watchdogs_of(proc.pid)
    assert wait_until(lambda: rows_shown(slack_emulator) >= 3,
                      timeout=TIMEOUT)
    proc.kill()  # what the OOM killer, kill -9 and scancel --signal=KILL send
    proc.wait(TIMEOUT)
    text = final_text(slack_emulator, "[Lost]")
    assert f"PID {proc.pid} on " in text and "ended without a final report" in text
    shown = [int(row.split()[0]) for row in table_rows(text)]
    assert shown == list(range(1, len(shown) + 1)) and len(shown) >= 3  # no row missing
    (message,) = slack_emulator.messages("general")
    assert wait_until(lambda: message.replies, timeout=TIMEOUT)  # posted after the edit
    (reply,) = message.replies  # the reply is what notifies
    assert reply.text.startswith("<!here> [Lost] after ")
    assert wait_until(lambda: gone(watchdog), timeout=TIMEOUT)  # it exits when done


def test_a_segmentation_fault_is_killed_with_the_crashed_threads_frames(slack_emulator):
    proc = start(slack_emulator, "--die", "segfault")
    assert proc.wait(TIMEOUT) == -signal.SIGSEGV
    text = final_text(slack_emulator, "[Killed]")
    assert "Killed by SIGSEGV (Segmentation fault)" in text
    assert "in string_at" in text and "run_training.py" in text  # where it crashed
    assert [int(row.split()[0]) for row in table_rows(text)] == [1, 2, 3]
    # faulthandler's text still reaches the process's stderr, where it would have gone
    assert "Fatal Python error: Segmentation fault" in proc.stderr.read()


def test_os_exit_is_lost(slack_emulator):
    proc = start(slack_emulator, "--die", "os-exit")
    assert proc.wait(TIMEOUT) == 3
    text = final_text(slack_emulator, "[Lost]")
    assert "ended without a final report (SIGKILL or os._exit?)" in text
    assert [int(row.split()[0]) for row in table_rows(text)] == [1, 2, 3]


def test_forked_workers_do_not_fool_the_watchdog(slack_emulator):
    proc = start(slack_emulator, "--fork-workers")
    assert proc.stdout.readline().strip() == "FORKED"
    assert wait_until(lambda: rows_shown(slack_emulator) >= 2,
                      timeout=TIMEOUT)
    # one worker has exited already: the run still trains, and its message says so
    assert slack_emulator.messages("general")[0].text.startswith("[Training]")
    proc.kill()  # the other worker still holds every pipe the training process had
    proc.wait(TIMEOUT)
    assert "ended without a final report" in final_text(slack_emulator, "[Lost]")


def test_a_normal_end_leaves_no_process_and_no_second_report(slack_emulator):
    proc = start(slack_emulator, "--epochs", "3", "--lost-after", "60")
    (watchdog,) = watchdogs_of(proc.pid)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert final_text(slack_emulator, "[Completed]")
    assert wait_until(lambda: gone(watchdog), timeout=TIMEOUT)
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]") and message.replies == []
    assert not any(h.startswith(("[Lost]", "[Killed]")) for h in message.history)
    assert slack_emulator.scheduled("general") == []  # no notice is left to fire
    slack_emulator.advance(120)
    assert message.replies == []


def test_ctrl_c_does_not_reach_the_watchdog(slack_emulator):
    proc = start(slack_emulator)
    (watchdog,) = watchdogs_of(proc.pid)
    assert os.getsid(watchdog) != os.getsid(proc.pid)  # a session of its own
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: its whole foreground group
    proc.wait(TIMEOUT)
    assert final_text(slack_emulator, "[Interrupted]")  # the run said so itself
    assert wait_until(lambda: gone(watchdog), timeout=TIMEOUT)
    (message,) = slack_emulator.messages("general")
    assert not any(h.startswith(("[Lost]", "[Killed]")) for h in message.history)


# -- a real OOM kill -------------------------------------------------------------------------
def test_an_oom_kill_is_killed_out_of_memory(slack_emulator, memory_cgroup):
    def enter():  # in the child, before exec: the whole run is in the cgroup
        with open(os.path.join(memory_cgroup, "cgroup.procs"), "w") as file:
            file.write(str(os.getpid()))

    proc = start(slack_emulator, "--die", "oom", preexec_fn=enter)
    assert proc.wait(TIMEOUT) == -signal.SIGKILL
    with open(os.path.join(memory_cgroup, "memory.oom_control")) as file:
        assert "oom_kill 1" in file.read()  # the kernel's OOM killer did it
    text = final_text(slack_emulator, "[Killed]")
    assert f"PID {proc.pid} on " in text and f"was killed by SIGKILL: {OOM_DETAIL}" in text
    assert [int(row.split()[0]) for row in table_rows(text)] == [1, 2, 3]


# -- a lost host: Slack itself posts the scheduled notice ------------------------------------
def wait_scheduled(emulator, count=1):
    assert wait_until(lambda: len(emulator.scheduled("general")) >= count, timeout=TIMEOUT)
    return emulator.scheduled("general")


def test_a_lost_host_is_announced_by_the_scheduled_notice(slack_emulator):
    proc = start(slack_emulator, "--lost-after", "60", "--mentions", "@here")
    (watchdog,) = watchdogs_of(proc.pid)
    (notice,) = wait_scheduled(slack_emulator)
    (message,) = slack_emulator.messages("general")
    assert notice.thread_ts == message.ts  # a reply in the run's thread
    # the first one posts between lost_after / 2 and lost_after ahead (its place in the
    # channel's cycle of moves)
    assert 30 < notice.post_at - slack_emulator.clock.now() <= 62
    assert wait_until(lambda: rows_shown(slack_emulator) >= 2,
                      timeout=TIMEOUT)
    for pid in (proc.pid, watchdog):  # the host is gone: nothing of the run is left
        os.kill(pid, signal.SIGKILL)
    proc.wait(TIMEOUT)
    assert wait_until(lambda: gone(watchdog), timeout=TIMEOUT)
    assert message.text.startswith("[Training]") and message.replies == []
    slack_emulator.advance(notice.post_at - slack_emulator.clock.now() + 1)  # by Slack's clock
    (reply,) = message.replies
    assert reply.text.startswith("<!here> :warning: No news from `")
    assert "It last showed: epoch " in reply.text and "main/loss " in reply.text
    assert slack_emulator.scheduled("general") == []


def test_a_live_but_silent_run_moves_its_notice_and_is_never_announced(slack_emulator):
    # A run silent for longer than lost_after (an epoch that long) is alive: its
    # watchdog moves the notice forward every lost_after / 2 = 30 s, rows or not.
    lost_after = 60
    proc = start(slack_emulator, "--lost-after", str(lost_after), "--die", "hang",
                 "--die-at", "2")
    first = wait_scheduled(slack_emulator)[0]

    def moved_alone():  # a new one scheduled, then the old one deleted
        pending = slack_emulator.scheduled("general")
        return len(pending) == 1 and pending[0].id != first.id

    # moved lost_after / 2 after it was scheduled (before it was seen here), silent all
    # the while; TIMEOUT more only against a hang, however loaded the machine is
    assert wait_until(moved_alone, timeout=lost_after / 2 + TIMEOUT)
    moved = slack_emulator.scheduled("general")[0]
    assert moved.post_at >= first.post_at + lost_after / 2 - 1
    slack_emulator.advance(first.post_at - slack_emulator.clock.now() + 1)
    (message,) = slack_emulator.messages("general")
    assert message.replies == []  # the first notice's time came: nothing was posted
    assert message.text.startswith("[Training]")
    proc.kill()
    proc.wait(TIMEOUT)
    final_text(slack_emulator, "[Lost]")  # its death is reported by the watchdog...
    assert wait_until(lambda: slack_emulator.scheduled("general") == [], timeout=TIMEOUT)
    slack_emulator.advance(120)  # ...which deleted the notice: Slack posts nothing more
    assert message.replies == []


def test_without_a_watchdog_the_run_keeps_its_notice_itself(slack_emulator, report_factory):
    seen = []

    class Look(training.Extension):
        trigger = (1, "epoch")

        def __call__(self, trainer):
            assert wait_until(lambda: slack_emulator.scheduled("general"), timeout=TIMEOUT)
            seen.extend(slack_emulator.scheduled("general"))

    report = report_factory(watchdog=False, lost_after=60)
    make_trainer(report, epochs=2, extra=[Look()]).run()
    (message,) = slack_emulator.messages("general")
    assert seen and all(n.thread_ts == message.ts for n in seen)
    assert message.text.startswith("[Completed]")
    assert slack_emulator.scheduled("general") == []  # deleted at the end it reported
    slack_emulator.advance(120)
    assert message.replies == []


def test_a_run_that_lives_on_reaps_its_watchdog(slack_emulator, report_factory, monkeypatch):
    # A notebook: the process goes on after the run; its watchdog must not stay a zombie.
    monkeypatch.delenv("CHAINER_SLACK_REPORT_WATCHDOG")
    seen = []

    class Look(training.Extension):
        trigger = (1, "epoch")

        def __call__(self, trainer):
            seen.extend(watchdogs_of(os.getpid()))

    report = report_factory(lost_after=60)
    make_trainer(report, epochs=2, extra=[Look()]).run()
    assert report.report.delivered
    watchdog = seen[0]  # it ran while the run did
    assert set(seen) == {watchdog}
    assert wait_until(lambda: not os.path.exists(f"/proc/{watchdog}"), timeout=TIMEOUT)
    assert wait_until(lambda: slack_emulator.scheduled("general") == [], timeout=TIMEOUT)
    assert slack_emulator.messages("general")[0].text.startswith("[Completed]")


def test_the_notice_is_deleted_even_when_the_delete_budget_is_spent(slack_emulator, caplog):
    from chainer_slack_report.transport.budget.limits import CHAT_DELETE_SCHEDULED
    from chainer_slack_report.transport.client import run_budget
    from chainer_slack_report.transport.lost_notice import LostNotice

    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="[Training]")
    budget = run_budget(client, None)
    channel, ts = posted["channel"], posted["ts"]
    notice = LostNotice(client, channel, ts, lost_after=60, text=lambda now: "lost",
                        budget=budget)
    notice.keep()
    assert len(slack_emulator.scheduled("general")) == 1
    # other runs of the token took every chat.deleteScheduledMessage slot of the window
    taken = 0
    while budget.wait("chat.deleteScheduledMessage", channel, priority=True) <= 0:
        taken += 1
        assert taken <= CHAT_DELETE_SCHEDULED.calls
    with caplog.at_level("INFO", logger="chainer_slack_report.transport.lost_notice"):
        assert notice.cancel()
    assert slack_emulator.scheduled("general") == []  # no false "lost" reply later
    assert "over the spent rate budget" in caplog.text
