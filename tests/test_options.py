"""The one options object every flavour takes, and the statuses and outcomes of a run
(no framework needed)."""

from __future__ import annotations

import dataclasses
import signal

import pytest

from chainer_slack_report import Outcome, ReportOptions, Status
from chainer_slack_report.options import OPTIONS_DOC, flavour_signature
from chainer_slack_report.run_report import RunReport
from chainer_slack_report.transport.budget import Limit


def test_options_are_checked_once_and_normalized():
    options = ReportOptions(sparklines=["main/loss"], update_limit=[10, 30], plots=["a.png"],
                            min_interval=2)
    assert options.sparklines == ("main/loss",) and options.plots == ("a.png",)
    assert options.update_limit == Limit(10, 30.0) and options.min_interval == 2.0
    assert isinstance(options.min_interval, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_bytes = 10  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"max_bytes": 199}, ValueError, "max_bytes must be at least 200"),
    ({"min_interval": float("nan")}, ValueError, "min_interval must be >= 0"),
    ({"update_limit": (0, 60)}, ValueError, "update_limit (0, 60)"),
    ({"update_limit": "50/60"}, TypeError, "update_limit must be (calls, seconds)"),
    ({"sparklines": "main/loss"}, TypeError, "sparklines must be a list of str"),
    ({"plots": "loss.png"}, TypeError, "plots must be True/False or a list of file paths"),
    ({"template": "{status"}, ValueError, "unclosed '{'"),
])
def test_a_bad_option_is_a_clear_error(kwargs, error, fragment):
    with pytest.raises(error) as info:
        ReportOptions(**kwargs)
    assert fragment in str(info.value)


def test_an_unknown_option_names_every_accepted_one():
    with pytest.raises(TypeError) as info:
        ReportOptions.of("SlackReport", None, {"min_intervall": 1, "colour": "red"})
    text = str(info.value)
    assert text.startswith("SlackReport got unexpected keyword arguments 'colour', "
                           "'min_intervall'; its options are: template, finish_mentions")
    assert all(f.name in text for f in dataclasses.fields(ReportOptions))


def test_keyword_arguments_go_over_an_options_object():
    shared = ReportOptions(min_interval=5.0, max_bytes=3000)
    mine = ReportOptions.of("SlackReport", shared, {"max_bytes": 2000})
    assert (mine.min_interval, mine.max_bytes) == (5.0, 2000)
    assert shared.max_bytes == 3000
    with pytest.raises(TypeError, match="options must be a ReportOptions"):
        ReportOptions.of("SlackReport", {"max_bytes": 2000}, {})


def test_every_option_has_one_line_of_doc_and_a_place_in_the_signature():
    names = [f.name for f in dataclasses.fields(ReportOptions)]
    documented = [line.split()[0] for line in OPTIONS_DOC.splitlines()
                  if line.startswith("        ") and not line.startswith("         ")]
    assert documented == names
    params = list(flavour_signature().parameters)
    assert params == ["self", "access_token", "channel_id", "entries", *names, "options"]
    assert all(name in ReportOptions.__doc__ for name in names)


def test_runreport_takes_the_options_object(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.warns(UserWarning, match="no bot token"):
        report = RunReport(None, "general", ["epoch"], ReportOptions(max_bytes=1000))
    assert report.options.max_bytes == 1000
    assert report.missing == ["bot token (SLACK_BOT_TOKEN)"]
    with pytest.raises(TypeError, match="options must be a ReportOptions"):
        RunReport(None, "general", ["epoch"], {"max_bytes": 1000})


def test_statuses_show_as_slack_shows_them_and_know_if_they_end_a_run():
    assert str(Status.TRAINING) == "[Training]" and f"{Status.FAILED}" == "[Failed]"
    assert [s for s in Status if s.final] == [
        Status.COMPLETED, Status.FAILED, Status.INTERRUPTED, Status.TERMINATED, Status.KILLED,
        Status.LOST]


def test_outcomes_say_how_the_run_ended():
    try:
        raise RuntimeError("loss is NaN")
    except RuntimeError as exc:
        failed = Outcome.of_exception(exc)
    assert failed.status is Status.FAILED
    assert failed.detail.endswith("RuntimeError: loss is NaN")
    assert 'raise RuntimeError("loss is NaN")' in failed.detail  # the traceback's tail
    assert Outcome.of_exception(KeyboardInterrupt()) == Outcome(Status.INTERRUPTED)
    assert Outcome.of_exception(None) == Outcome(Status.COMPLETED)
    assert Outcome.terminated(signal.SIGTERM) == Outcome(Status.TERMINATED,
                                                         "Terminated by SIGTERM (15)")
    with pytest.raises(ValueError, match="final Status"):
        Outcome(Status.TRAINING)
