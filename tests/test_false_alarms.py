"""No false alarm: a run that reported its end never gets Slack's "No news" reply.

Real training processes (tests/run_training.py) against the emulator, whose
``chat.deleteScheduledMessage`` fails at the end of the run: the delete of the
lost-host notice is retried until it succeeds, with and without the watchdog.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import wait_until

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")
TIMEOUT = 60  # seconds: only against hangs
FAULTS = {
    "503": lambda e: e.fail("chat.deleteScheduledMessage", None, status=503),
    "dropped connection": lambda e: e.drop("chat.deleteScheduledMessage", times=3),
    "429": lambda e: e.rate_limit("chat.deleteScheduledMessage", retry_after=1.0),
}


def run(emulator, hold, *args):
    """A finished training process (with the watchdog unless ``--no-watchdog``); it holds
    at its second iteration until its lost-host notice is scheduled (``hold``: a path)."""
    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env["SLACK_BOT_TOKEN"] = emulator.token
    proc = subprocess.Popen([sys.executable, SCRIPT, emulator.url, "general", "alarms",
                             "--epochs", "3", "--sleep", "0.1", "--lost-after", "60",
                             "--mentions", "@here", "--hold", "2", str(hold), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    # the notice waits for the run's share of the budget after its first post
    assert wait_until(lambda: emulator.scheduled("general") or proc.poll() is not None,
                      timeout=TIMEOUT)
    open(hold, "w").close()
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("watchdog", ["watchdog", "no watchdog"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_delete_of_the_notice_is_retried_until_it_is_gone(slack_emulator, fault,
                                                                    watchdog, tmp_path):
    FAULTS[fault](slack_emulator)
    proc = run(slack_emulator, tmp_path / "go",
               *(["--no-watchdog"] if watchdog == "no watchdog" else []))
    exited = slack_emulator.clock.now()
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")
    assert any(c.method == "chat.scheduleMessage" for c in slack_emulator.calls)
    tries = [c for c in slack_emulator.calls if c.method == "chat.deleteScheduledMessage"]
    assert tries and (tries[0].dropped or tries[0].status in (503, 429))  # the fault hit
    assert tries[0].started <= exited  # the run ended only after the first try
    # the first try happened before the process ended; the watchdog (or, without one,
    # the exit of the interpreter) went on until the notice was deleted
    assert wait_until(lambda: slack_emulator.scheduled("general") == [], timeout=TIMEOUT)
    slack_emulator.advance(120)  # past the notice's post_at: Slack posts nothing
    (reply,) = message.replies  # the run's own, and no "No news" reply
    assert reply.text.startswith("<!here> [Completed] after ")
    assert "could not delete" not in proc.stderr


def test_a_moved_notice_whose_delete_fails_once_is_deleted_later(slack_emulator):
    from chainer_slack_report.transport.lost_notice import LostNotice

    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="[Training]")
    now = [slack_emulator.clock.now()]
    notice = LostNotice(client, posted["channel"], posted["ts"], lost_after=60,
                        text=lambda t: "No news", clock=lambda: now[0])
    notice.keep()
    (first,) = slack_emulator.scheduled("general")
    slack_emulator.fail("chat.deleteScheduledMessage", None, status=503)
    now[0] += 31  # half of lost_after: moved
    wait = notice.keep()
    assert len(slack_emulator.scheduled("general")) == 2  # the old one's delete failed
    assert 0 < wait <= 1.0  # and is tried again soon, not after lost_after / 2
    now[0] += wait
    notice.keep()
    (moved,) = slack_emulator.scheduled("general")
    assert moved.id != first.id
    slack_emulator.advance(first.post_at - slack_emulator.clock.now() + 1)
    assert slack_emulator.messages("general")[0].replies == []


def test_a_notice_that_cannot_be_deleted_gets_a_reply_at_once(slack_emulator):
    from chainer_slack_report import SlackReportWarning
    from chainer_slack_report.transport.lost_notice import LostNotice

    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="[Completed]")
    notice = LostNotice(client, posted["channel"], posted["ts"], lost_after=60,
                        text=lambda t: "No news")
    notice.keep()
    slack_emulator.fail("chat.deleteScheduledMessage", "missing_scope")  # refused for good
    with pytest.warns(SlackReportWarning, match="could not delete"):
        assert not notice.cancel()
    assert notice.settled  # nothing more to try
    (message,) = slack_emulator.messages("general")
    (reply,) = message.replies  # posted at once, before the notice
    assert "This run reported its end" in reply.text and "the run was not lost" in reply.text
