"""A new user's mistakes get a clear word, early: a key asked for and never reported
(a typo in ``entries``, ``sparklines=`` or ``chart=``) gives one warning that names it and
the closest key reported, in every flavour and in local mode, pointing at the user's line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
from conftest import make_trainer, needs

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.options import ReportOptions
from chainer_slack_report.outcome import Outcome
from chainer_slack_report.run_report import RunReport
from chainer_slack_report.unreported import FIRST_ROWS, LATER_ROWS


def typo_warnings(record) -> list:
    return [w for w in record if issubclass(w.category, SlackReportWarning)
            and "not reported in the first" in str(w.message)]


def test_a_typo_in_entries_is_named_once_with_the_closest_key(slack_emulator, report_factory):
    needs("chainer")
    report = report_factory(["epoch", "main/los", "main/accuracy"],
                            sparklines=["main/acuracy"])
    trainer = make_trainer(report, epochs=FIRST_ROWS + 3)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.run()  # the line the warning points at
    (warning,) = typo_warnings(record)
    assert str(warning.message) == (
        "SlackReport: 'main/los' of entries (did you mean 'main/loss'?); 'main/acuracy' of "
        f"sparklines (did you mean 'main/accuracy'?): not reported in the first {FIRST_ROWS} "
        "rows, so they show nothing until reported")
    assert warning.filename == __file__
    assert slack_emulator.messages("general")[0].text.startswith("[Completed]")


def test_without_slack_the_typo_is_named_too(report_factory, monkeypatch, capsys):
    needs("chainer")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    report = report_factory(["epoch", "main/los"], channel=None, client=None)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        make_trainer(report, epochs=FIRST_ROWS).run()
    (warning,) = typo_warnings(record)
    assert "'main/los' of entries (did you mean 'main/loss'?)" in str(warning.message)
    assert "main/los" in capsys.readouterr().out  # printed locally, as PrintReport does


def run_rows(rows, entries, **options):
    """Hand ``rows`` to a local RunReport; the typo warnings given."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        report = RunReport(None, None, entries, ReportOptions(**options))
        report.start(lambda: 0.0)
        for row in rows:
            report.add([row])
    return typo_warnings(record)


def test_keys_reported_late_or_never_are_told_apart():
    rows = [{"epoch": e, "main/loss": 1.0 / e} for e in range(1, LATER_ROWS + 1)]
    for row in rows[9::10]:  # an evaluator every 10 epochs
        row["validation/main/loss"] = 0.5
    # all reported, the evaluator's key only at row 10: no warning
    assert run_rows(rows, ["epoch", "main/loss", "validation/main/loss"]) == []
    # an evaluator's key never reported: named after LATER_ROWS rows, not FIRST_ROWS
    no_evaluator = [{"epoch": r["epoch"], "main/loss": r["main/loss"]} for r in rows]
    (warning,) = run_rows(no_evaluator, ["epoch", "validation/main/loss"])
    assert str(warning.message).endswith(f"'validation/main/loss' of entries (did you mean "
                                         f"'main/loss'?): not reported in the first "
                                         f"{LATER_ROWS} rows, so it shows nothing until "
                                         f"reported")
    # a chart key of the blocks layout, with nothing like it reported: no guess either
    (warning,) = run_rows(rows[:FIRST_ROWS], ["epoch"], layout="blocks",
                          chart=["main/loss", "lr"])
    assert "'lr' of chart: not reported in the first 5 rows, so it shows" in str(
        warning.message)
    # fewer rows than a check needs: nothing said yet
    assert run_rows(rows[:FIRST_ROWS - 1], ["epoch", "main/los"]) == []


def test_the_tool_names_a_typo_in_watch_entries(slack_emulator, tmp_path):
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": e, "main/loss": 1.0 / e} for e in range(1, 7)]))
    env = dict(os.environ, SLACK_API_URL=slack_emulator.url,
               SLACK_BOT_TOKEN=slack_emulator.token, SLACK_CHANNEL_ID="general")
    done = subprocess.run(
        [sys.executable, "-m", "chainer_slack_report", "watch", "--entries", "epoch,main/los",
         str(log), "--idle", "0.2", "--interval", "0.05", "--min-interval", "0.05",
         "--update-limit", "none"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(b"warning: SlackReport: 'main/los' of entries (did you mean "
                             b"'main/loss'?): not reported in the first 6 rows") == 1


@pytest.mark.parametrize("entries", [["epoch", "main/loss"], ["epoch"]])
def test_no_warning_when_every_key_is_reported(entries):
    rows = [{"epoch": e, "main/loss": 1.0 / e} for e in range(1, LATER_ROWS + 2)]
    assert run_rows(rows, entries, sparklines=["main/loss"]) == []


# -- run-time warnings name the value at fault and point at the user's line ---------------
def refusals(record) -> list:
    return [w for w in record if issubclass(w.category, SlackReportWarning)
            and "Slack answered" in str(w.message)]


def test_a_channel_not_found_names_the_channel_and_the_users_line(slack_emulator):
    needs("chainer")
    from chainer_slack_report import SlackReport

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        report = SlackReport(None, "genral", ["epoch", "main/loss"],
                             client=slack_emulator.client(timeout=5), min_interval=0.05,
                             flush_timeout=5.0)
        make_trainer(report, epochs=2).run()
    (warning,) = refusals(record)  # given on the worker thread
    assert str(warning.message).startswith(
        "Slack answered 'channel_not_found' for channel 'genral': no such channel for this "
        "bot; check the channel ID (SLACK_CHANNEL_ID)")
    assert (warning.filename, warning.lineno) == (__file__, line)  # the constructor call
    assert slack_emulator.messages("general") == []


@pytest.mark.parametrize("fault, named", [
    ("not_in_channel", "for channel 'general' (C0000001)"),
    ("missing_scope", "(scope needed: chat:write)"),
    ("invalid_auth", "for the bot token (access_token, or SLACK_BOT_TOKEN)"),
])
def test_each_refusal_names_what_is_at_fault(slack_emulator, fault, named):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        report = RunReport(None, "general", ["epoch"], ReportOptions(
            client=slack_emulator.client(timeout=5), min_interval=0.05, flush_timeout=5.0,
            watchdog=False))
        report.start(lambda: 0.0)
        # the post goes through; the first edit is refused (the channel ID is known then)
        assert report.wait_posted(30) is not None
        if fault == "missing_scope":  # as Slack answers it, with the scope needed
            slack_emulator.scopes.remove("chat:write")
        else:
            slack_emulator.fail("chat.update", fault, times=float("inf"))
        report.add([{"epoch": 1}])
        report.end(Outcome.completed(), background=False)
    (warning,) = refusals(record)
    assert str(warning.message).startswith(f"Slack answered {fault!r} {named}: "), warning
    assert (warning.filename, warning.lineno) == (__file__, line)
    assert slack_emulator.token not in str(warning.message)


def test_a_name_not_found_in_finish_mentions_points_at_the_users_line(slack_emulator):
    # the look-up runs on the worker thread, before the first post
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        report = RunReport(None, "general", ["epoch"], ReportOptions(
            client=slack_emulator.client(timeout=5), min_interval=0.05, flush_timeout=5.0,
            watchdog=False, finish_mentions="@nobody-here"))
        report.start(lambda: 0.0)
        report.end(Outcome.completed(), background=False)
    (warning,) = [w for w in record if "finish_mentions" in str(w.message)]
    assert "no Slack user named nobody-here" in str(warning.message)
    assert (warning.filename, warning.lineno) == (__file__, line)
