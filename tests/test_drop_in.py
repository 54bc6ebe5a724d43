"""SlackReport as a drop-in for PrintReport and for the 2019 package (0.3)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from unittest import mock

import chainer
import pytest
from chainer import serializers, testing
from chainer.training import extensions
from conftest import ENTRIES, make_trainer, table_rows

import chainer_slack_report
from chainer_slack_report import SlackReport, SlackReportWarning


def local_report(**kwargs):
    with pytest.warns(SlackReportWarning, match="printed locally"):
        return SlackReport(None, None, ["epoch"], **kwargs)


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_CHANNEL_ID", raising=False)


# -- Chainer's own PrintReport checks, with SlackReport in its place ------------------
def mocked_setup(stream):
    """The set-up of Chainer 7.8.1's test_print_report.py: a mocked LogReport."""
    log_report = mock.MagicMock(spec=extensions.LogReport(
        ["epoch"], trigger=(1, "iteration"), log_name=None))
    report = local_report(log_report=log_report, out=stream)
    trainer = testing.get_trainer_with_mock_updater(stop_trigger=(1, "iteration"))
    trainer.extend(log_report)
    trainer.extend(report)
    log_report.log = [{"epoch": 0}]
    return report, trainer


def test_stream_with_flush_is_flushed():
    stream = mock.MagicMock()
    report, trainer = mocked_setup(stream)
    stream.flush.assert_not_called()
    report(trainer)
    stream.flush.assert_called_with()
    written = "".join(c.args[0] for c in stream.write.call_args_list)
    assert written.replace("\033[J", "").split() == ["epoch", "0"]


def test_stream_without_flush_raises_no_exception():
    stream = mock.MagicMock()
    del stream.flush
    report, trainer = mocked_setup(stream)
    report(trainer)
    assert stream.write.called


def test_real_stream_raises_no_exception(capsys):
    report, trainer = mocked_setup(sys.stderr)
    report(trainer)
    assert "epoch" in capsys.readouterr().err


def test_local_output_is_exactly_printreports():
    ours, theirs = io.StringIO(), io.StringIO()
    for report in (local_report(out=ours),
                   extensions.PrintReport(["epoch"], out=theirs)):
        make_trainer(report, epochs=3).run()
    assert ours.getvalue() == theirs.getvalue() and "3" in ours.getvalue()


# -- the Slack-mode sink ----------------------------------------------------------------
def test_nothing_is_written_locally_while_slack_shows_the_report(slack_emulator, capsys):
    out = io.StringIO()
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(),
                         out=out, min_interval=0.0)
    make_trainer(report, epochs=3).run()
    assert out.getvalue() == ""
    assert capsys.readouterr().out == ""
    assert slack_emulator.messages("general")[0].text.startswith("[Completed]")


def test_local_mode_queues_no_rows():
    report = local_report(out=io.StringIO())
    make_trainer(report, epochs=5, log_trigger=(1, "iteration")).run()
    message = report.report._message
    assert message.queued == 0 and message.policy.count == 0


# -- falling back mid-run ---------------------------------------------------------------
@pytest.mark.parametrize("update_limit", [None, (50, 60.0)])  # found mid-run / at the end
def test_after_a_fallback_every_row_appears_once_with_the_plain_header(slack_emulator,
                                                                          capsys, update_limit):
    class Revoke(chainer.training.Extension):
        trigger = (1, "iteration")

        def __call__(self, trainer):
            if trainer.updater.iteration == 60:  # epoch 15 of 30
                slack_emulator.revoked = True

    entries = ["epoch", "iteration", "x<y"]
    out = io.StringIO()
    report = SlackReport(None, "general", entries, client=slack_emulator.client(),
                         out=out, min_interval=0.0, flush_timeout=2.0,
                         update_limit=update_limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_trainer(report, epochs=30, extra=[Revoke(), _Slow(0.005)]).run()
    assert any("token_revoked" in str(w.message) for w in caught)
    assert not report.available
    lines = [line for line in out.getvalue().replace("\033[J", "").splitlines()]
    assert lines[0].split() == entries  # PrintReport's own, unescaped header, once
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(1, 31))
    err = capsys.readouterr().err
    assert err.startswith("[Completed]")
    assert [int(row.split()[0]) for row in table_rows(err)] == list(range(1, 31))
    updates = [t for t in slack_emulator.messages("general")[0].history]
    assert updates and all("[Completed]" not in t for t in updates)


# -- 0.3 compatibility and resuming ---------------------------------------------------------
def test_version_and_available():
    assert chainer_slack_report.__version__ == "1.0.0"
    assert local_report(out=io.StringIO()).available is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SlackReport("xoxb-1-2-x", "C0123456", ["epoch"]).available is True


def test_rows_logged_before_the_report_started_are_shown(slack_emulator, tmp_path):
    first = make_trainer(None, epochs=2, extra=[
        extensions.snapshot(filename="snap")], out=str(tmp_path))
    first.run()
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(),
                         min_interval=0.0)
    second = make_trainer(report, epochs=4, out=str(tmp_path))
    serializers.load_npz(os.path.join(str(tmp_path), "snap"), second)
    second.run()
    text = slack_emulator.messages("general")[0].text
    assert [int(r.split()[0]) for r in table_rows(text)] == [1, 2, 3, 4]


# -- packaging ----------------------------------------------------------------------------
def test_testing_and_the_pytest_plugin_load_no_chainer(tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_x(slack_emulator):\n    pass\n")
    code = ("import sys, pytest\n"
            f"code = pytest.main(['-q', '-p', 'no:cacheprovider', {str(tmp_path)!r}])\n"
            "import chainer_slack_report.testing\n"
            "print('CHAINER' if 'chainer' in sys.modules else 'NO-CHAINER', int(code))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path))
    assert done.stdout.split()[-2:] == ["NO-CHAINER", "0"], done.stdout + done.stderr


def test_construction_warnings_point_at_the_users_line():
    with pytest.warns(SlackReportWarning) as record:
        SlackReport(None, None, ["epoch"])  # this line
    assert record[0].filename == __file__


class _Slow(chainer.training.Extension):
    trigger = (1, "iteration")

    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, trainer):
        import time

        time.sleep(self.seconds)
