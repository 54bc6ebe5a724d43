"""Hung runs are announced: no new row for ``stall_after`` seconds while the process lives.

The rule itself (:class:`StallDetector`) with an injected clock; a real
training process (tests/run_training.py) that hangs at an epoch until the test
lets it go on, against the emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import wait_until

from chainer_slack_report import ReportOptions
from chainer_slack_report.guard.stall import MIN_AUTO_STALL, StallDetector

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")
TIMEOUT = 60  # seconds: only against hangs


# -- the rule, with an injected clock ----------------------------------------------------------
def test_a_slow_steady_run_is_never_stalled():
    gap = 2 * MIN_AUTO_STALL  # an hour-long epoch would do the same
    detector = StallDetector("auto", start=0.0)
    assert detector.due(0.0) is None  # automatic: the first epoch may take any time
    assert detector.check(100 * gap) is None
    now = 100 * gap
    detector.row(now)
    for _ in range(50):
        for step in range(10):  # looked at often between two rows
            assert detector.check(now + gap * step / 10) is None
        now += gap
        assert detector.row(now) is None
    assert detector.limit == 4 * 100 * gap  # several times the longest gap (the first)


def test_a_stall_is_found_once_and_ends_with_the_next_row():
    detector = StallDetector("auto", start=0.0)
    for t in (10.0, 20.0, 35.0):  # the longest gap: 15 s
        detector.row(t)
    assert detector.limit == MIN_AUTO_STALL  # at least 10 minutes
    assert detector.check(35.0 + MIN_AUTO_STALL - 0.001) is None
    stall = detector.check(35.0 + MIN_AUTO_STALL)
    assert stall is not None and stall.usual_gap == 15.0 and stall.silent == MIN_AUTO_STALL
    assert detector.check(35.0 + 10 * MIN_AUTO_STALL) is None  # never twice for one stall
    assert detector.due(10_000.0) is None
    assert detector.row(10_000.0) is stall  # rows again: it ended
    assert detector.longest_gap == 15.0  # the stall is not the run's usual pace
    assert detector.check(10_000.0 + MIN_AUTO_STALL) is not None  # a new stall, later


def test_a_fixed_stall_after():
    detector = StallDetector(30.0, start=0.0)
    detector.row(1.0)
    assert detector.due(1.0) == 30.0
    assert detector.check(30.9) is None and detector.check(31.0) is not None


@pytest.mark.parametrize("value, error", [(0, ValueError), (-5.0, ValueError),
                                          ("soon", ValueError), (True, TypeError),
                                          ([60], TypeError), (float("nan"), ValueError)])
def test_a_bad_stall_after_is_refused_at_construction(value, error):
    with pytest.raises(error, match="stall_after"):
        ReportOptions(stall_after=value)


def test_stall_after_values_that_are_accepted():
    assert ReportOptions().stall_after == "auto"
    assert ReportOptions(stall_after=None).stall_after is None
    assert ReportOptions(stall_after=90).stall_after == 90.0


# -- a real hang, and its end -------------------------------------------------------------------
def test_a_hung_run_is_stalled_once_and_training_again_when_rows_come(slack_emulator,
                                                                        tmp_path):
    go_on = tmp_path / "go-on"
    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env["SLACK_BOT_TOKEN"] = slack_emulator.token
    proc = subprocess.Popen(
        [sys.executable, SCRIPT, slack_emulator.url, "general", "hang", "--epochs", "1000",
         "--sleep", "0.01", "--die", "hang-until", "--die-at", "3", "--hang-file", str(go_on),
         "--stall-after", "3", "--mentions", "@here", "--lost-after", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "READY"
        assert proc.stdout.readline().strip() == "DYING"  # hanging from now on

        def replies():
            messages = slack_emulator.messages("general")
            return messages[0].replies if messages else []

        assert wait_until(lambda: replies(), timeout=TIMEOUT)
        (stall,) = replies()
        assert stall.text.startswith("<!here> :hourglass: [Stalled]: no new row for 0:00:0")
        silent = int(stall.text.split("no new row for 0:00:")[1][:2])
        assert silent >= 3  # never before stall_after
        assert "stall_after 0:00:03" in stall.text and "longest gap between rows" in stall.text
        assert "of a core since its last row" in stall.text  # read from /proc
        assert "It last showed: epoch 3" in stall.text
        assert wait_until(lambda: slack_emulator.messages("general")[0].text.startswith(
            "[Stalled]"), timeout=TIMEOUT)
        go_on.write_text("")  # rows come again
        assert wait_until(lambda: len(replies()) == 2, timeout=TIMEOUT)
        assert replies()[1].text.startswith(":arrow_forward: [Training] again: a new row after ")
        assert wait_until(lambda: slack_emulator.messages("general")[0].text.startswith(
            "[Training]"), timeout=TIMEOUT)
        proc.terminate()  # the run ends from outside
        proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Terminated]")
    texts = [r.text for r in message.replies]
    assert len(texts) == 3, texts  # one stall, its end, the run's end: never a second stall
    assert texts[2].startswith("<!here> [Terminated]")
