"""Look, don't read: sparklines, progress and ETA, plots in the thread."""

from __future__ import annotations

import re
import warnings

import pytest
from chainer import training
from chainer.training import extensions
from conftest import ENTRIES, Boom, make_trainer, table_rows

from chainer_slack_report import SlackReport, SlackReportWarning
from chainer_slack_report.rendering.mrkdwn import utf8_len
from chainer_slack_report.rendering.progress import Progress
from chainer_slack_report.rendering.sparklines import BLOCKS, Series, sparkline


# -- sparklines ----------------------------------------------------------------------------
def test_sparkline_scales_between_min_and_max():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BLOCKS
    assert sparkline([5, 5, 5]) == BLOCKS[3] * 3
    assert sparkline([]) == ""


@pytest.mark.parametrize("n", [1, 7, 20, 39, 40, 41, 1000, 100_003])
def test_series_keeps_the_whole_run_in_bounded_memory(n):
    series = Series(width=20)
    for i in range(n):
        series.add(float(i))
    points = series.points()
    assert len(points) == min(n, 20)
    assert len(series._bins) < 40  # O(width), whatever n is
    assert points == sorted(points)  # a rising series stays rising
    assert points[0] < n * 0.1 + 1 and points[-1] > n * 0.9 - 2  # it spans the whole run
    assert series.latest == n - 1 and series.count == n


def test_series_skips_what_is_not_a_finite_number():
    series = Series(width=5)
    for value in (1.0, "x", None, float("nan"), float("inf"), 2.0):
        series.add(value)
    assert series.count == 2 and series.points() == [1.0, 2.0]


def curve_lines(text):
    blocks = text.split("```")
    return blocks[3].strip("\n").splitlines()  # the block after the table


def test_sparklines_follow_the_table_within_the_budget(slack_emulator, report_factory):
    report = report_factory(sparklines=["main/loss", "main/accuracy"])
    trainer = make_trainer(report, epochs=200, log_trigger=(1, "iteration"), n=20)
    trainer.run()
    (message,) = slack_emulator.messages("general")
    assert all(utf8_len(t) <= 4000 for t in message.history)
    loss, accuracy = curve_lines(message.text)
    last = trainer.get_extension("LogReport").log[-1]
    assert re.fullmatch(r"main/loss      [▁-█]{20}  \S+", loss)
    assert float(loss.split()[-1]) == pytest.approx(last["main/loss"], rel=1e-3)
    assert accuracy.startswith("main/accuracy  ")
    assert table_rows(message.text)[-1].split()[1] == "400"  # the newest row still shown


def test_sparklines_placeholder_puts_them_where_the_template_says(slack_emulator,
                                                                  report_factory):
    report = report_factory(sparklines=["main/loss"],
                            template="{status}\n{sparklines}\n{content}")
    make_trainer(report, epochs=3).run()
    text = slack_emulator.messages("general")[0].text
    assert text.count("main/loss ") == 1 + 1  # once in the curves, once in the header
    assert text.split("```")[1].strip().startswith("main/loss")


# -- progress and ETA ------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_text_and_eta_count_down_between_samples():
    clock = Clock()
    progress = Progress(50, "epoch", clock=clock)
    progress.sample(0, 0.0)
    assert progress.eta() is None and progress.text() == "epoch 0/50 · 0 %"
    clock.now = 10.0
    progress.sample(120, 12.0)  # 1.2 epochs a second
    assert progress.text() == "epoch 12/50 · 24 %"
    assert progress.eta() == pytest.approx(38 / 1.2)
    clock.now = 15.0
    assert progress.eta() == pytest.approx(38 / 1.2 - 5)


class _Record(training.Extension):
    """After SlackReport's call each iteration, records its ETA estimate."""

    trigger = (1, "iteration")
    priority = training.PRIORITY_READER - 1

    def __init__(self, report, frozen):
        self.report, self.frozen, self.etas = report, frozen, []

    def __call__(self, trainer):
        self.etas.append(self.report._progress.eta())
        self.frozen.tick(1.0 + trainer.updater.iteration % 3)  # uneven iteration times


def test_eta_matches_chainers_progress_bar_on_the_same_run(slack_emulator, report_factory,
                                                          capsys):
    freezegun = pytest.importorskip("freezegun")
    with freezegun.freeze_time("2026-01-01") as frozen:
        report = report_factory(update_limit=None)
        record = _Record(report, frozen)
        # Chainer 7.8.1's ProgressBar ignores its out= and writes to sys.stdout
        trainer = make_trainer(report, epochs=6, log_trigger=(1, "iteration"),
                               extra=[extensions.ProgressBar(update_interval=1), record])
        trainer.run()
    printed = re.findall(r"Estimated time to finish: (\d+):(\d\d):(\d\d(?:\.\d+)?)",
                         capsys.readouterr().out)
    theirs = [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in printed]
    ours = record.etas  # after each iteration, as ProgressBar printed after each
    assert len(theirs) == len(ours) == 24
    assert ours[0] is None  # one sample: no speed yet (ProgressBar prints 0:00:00)
    assert ours[1:] == pytest.approx(theirs[1:], abs=1e-6)


def test_progress_and_eta_show_while_training_and_vanish_at_the_end(slack_emulator,
                                                                    report_factory):
    report = report_factory(update_limit=None, min_interval=0.0)
    make_trainer(report, epochs=4, extra=[_Sleep(0.05)]).run()
    history = slack_emulator.messages("general")[0].history
    first_lines = [t.splitlines()[0] for t in history]
    training_lines = [line for line in first_lines if line.startswith("[Training]")]
    assert any(re.search(r" · epoch \d/4 · \d+ % · ETA \d:\d\d:\d\d `", line)
               for line in training_lines)
    assert re.match(r"\[Completed\] - \d:\d\d:\d\d `", first_lines[-1])  # no progress, no ETA


class _Sleep(training.Extension):
    trigger = (1, "iteration")

    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, trainer):
        import time

        time.sleep(self.seconds)


# -- plots in the thread -----------------------------------------------------------------------
def plot(name="loss.png"):
    return extensions.PlotReport(["main/loss"], "epoch", filename=name)


@pytest.mark.parametrize("crash", [False, True])
def test_plotreport_images_are_uploaded_into_the_thread(slack_emulator, report_factory,
                                                        tmp_path, crash):
    pytest.importorskip("matplotlib")
    report = report_factory(plots=True)
    trainer = make_trainer(report, epochs=3, out=str(tmp_path), extra=[plot(), plot("acc.png")],
                           crash_at=9 if crash else None)
    if crash:
        with pytest.raises(Boom):
            trainer.run()
    else:
        trainer.run()
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Failed]" if crash else "[Completed]")
    uploaded = {f["name"]: f for f in slack_emulator.files.values()}
    assert set(uploaded) == {"loss.png", "acc.png"}
    assert all(f["content"].startswith(b"\x89PNG") for f in uploaded.values())
    (reply,) = message.replies  # one files_upload_v2 call, in the thread
    assert {f["name"] for f in reply.files} == {"loss.png", "acc.png"}
    assert report.live.uploads == 2


def test_a_failed_upload_warns_once_and_the_report_is_complete(slack_emulator, report_factory,
                                                               tmp_path):
    pytest.importorskip("matplotlib")
    slack_emulator.fail("files.getUploadURLExternal", "missing_scope", times=float("inf"))
    report = report_factory(plots=True, finish_mentions="@here")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_trainer(report, epochs=2, out=str(tmp_path), extra=[plot()]).run()
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]") and len(message.replies) == 1  # the mention
    upload_warnings = [str(w.message) for w in caught if issubclass(w.category, SlackReportWarning)
                       and "upload" in str(w.message)]
    assert len(upload_warnings) == 1 and "files:write" in upload_warnings[0]


def test_plots_given_as_paths(slack_emulator, report_factory, tmp_path):
    path = tmp_path / "curve.png"
    path.write_bytes(b"\x89PNG fake")
    report = report_factory(plots=[str(path)])
    make_trainer(report, epochs=1).run()
    (stored,) = slack_emulator.files.values()
    assert stored["name"] == "curve.png" and stored["content"] == b"\x89PNG fake"


@pytest.mark.parametrize("plots", ["loss.png", 3, [""], [None]])
def test_bad_plots_argument(plots):
    with pytest.raises(TypeError, match="plots must be"):
        SlackReport("xoxb-1-2-x", "C0123456", ENTRIES, plots=plots)
