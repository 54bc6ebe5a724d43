"""chainer_slack_report.lightning.SlackReport end to end: a real Lightning Trainer with a tiny
model on CPU, the real WebClient, the local emulator, a real SIGINT and a real 2-process DDP job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import lightning.pytorch as pl
import pytest
from conftest import table_rows, text_now, wait_until
from loop_helpers import (
    assert_framework_needed,
    board_rows,
    column,
    emulator_options,
    of_type,
    only_message,
    run_example,
    sweep_on_board,
)
from run_loops import ENTRIES, Boom, lightning_module, lightning_trainer, stop_at

from chainer_slack_report.lightning import SlackReport

HERE = os.path.dirname(os.path.abspath(__file__))


def build(emulator, entries=ENTRIES, **options):
    return SlackReport(None, "general", entries, **emulator_options(emulator, **options))


class Hook(pl.Callback):
    """Runs ``at(trainer)`` at the end of every training batch."""

    def __init__(self, at) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.at(trainer)


def test_rows_progress_and_completed(slack_emulator):
    # The progress shown is the one sampled when the worker renders: epoch 1's row may be
    # rendered after steps 5 and 6 were sampled (as in tests/test_transformers.py).  At step
    # 6 the training waits at 1.5 epochs, and the clock's refresh (0.2 s here) shows it.
    report = build(slack_emulator, refresh_interval=0.2)
    seen = []

    def at(trainer):  # 4 batches an epoch: step 6 is in epoch 2, after epoch 1's row
        if trainer.global_step == 6:
            assert wait_until(lambda: "epoch 1/3 · 50 %" in text_now(slack_emulator)
                              and len(table_rows(text_now(slack_emulator))) == 1,
                              timeout=30), text_now(slack_emulator)
            seen.append(text_now(slack_emulator))

    lightning_trainer([report, Hook(at)]).fit(lightning_module())
    message = only_message(slack_emulator)
    assert seen[0].startswith("[Training]") and "ETA" in seen[0]
    assert message.history[0].startswith("[Started]")
    assert message.text.startswith("[Completed]")
    assert column(message.text, 0) == ["1", "2", "3"]  # epoch, from 1
    assert column(message.text, 1) == ["4", "8", "12"]  # trainer.global_step
    losses = [float(v) for v in column(message.text, 2)]
    assert len(losses) == 3 and losses[-1] < losses[0]  # train_loss, an epoch aggregate
    assert len([float(v) for v in column(message.text, 3)]) == 3  # val_loss


def test_a_row_every_n_steps(slack_emulator):
    report = build(slack_emulator, every=2)
    lightning_trainer([report], max_epochs=2).fit(lightning_module())
    assert column(only_message(slack_emulator).text, 1) == ["2", "4", "6", "8"]


def test_an_exception_is_failed(slack_emulator):
    report = build(slack_emulator)
    with pytest.raises(Boom):
        lightning_trainer([report]).fit(lightning_module(stop_at(5, "crash", 0, 0)))
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]") and "Boom: loss exploded at step 5" in text
    assert column(text, 0) == ["1"]


def test_a_real_sigint_is_interrupted(slack_emulator):
    report = build(slack_emulator)

    def at(trainer):
        if trainer.global_step == 6:
            os.kill(os.getpid(), signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning's answer to Ctrl-C: sys.exit(1)
            lightning_trainer([report, Hook(at)]).fit(lightning_module())
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT from then on
    text = only_message(slack_emulator).text
    assert text.startswith("[Interrupted]") and column(text, 0) == ["1"]


def test_resume_from_a_checkpoint_continues_the_message(slack_emulator, tmp_path):
    report = build(slack_emulator)
    lightning_trainer([report], max_epochs=2, enable_checkpointing=True,
                      default_root_dir=str(tmp_path)).fit(lightning_module())
    (checkpoint,) = (tmp_path / "checkpoints").iterdir()
    first = only_message(slack_emulator)
    resumed = build(slack_emulator)
    lightning_trainer([resumed], max_epochs=3).fit(lightning_module(), ckpt_path=str(checkpoint))
    message = only_message(slack_emulator)
    assert message.ts == first.ts and message.text.startswith("[Completed]")
    assert message.replies[0].text.startswith("Resumed from epoch 2, step 8 on ")
    assert column(message.text, 0) == ["3"]
    assert resumed.state_dict() == report.state_dict() == {
        "slack_channel_id": message.channel, "slack_ts": message.ts}


def test_blocks_layout(slack_emulator):
    report = build(slack_emulator, layout="blocks", chart=["train_loss", "val_loss"])
    lightning_trainer([report]).fit(lightning_module())
    message = only_message(slack_emulator)
    (table,) = of_type(message.blocks, "data_table")
    assert [c["text"] for c in table["rows"][0]] == ENTRIES and len(table["rows"]) == 4
    assert len(of_type(message.blocks, "data_visualization")) == 1


def test_bad_every_is_refused():
    with pytest.raises(TypeError, match="every must be 'epoch' or a number of steps"):
        SlackReport(None, "general", ENTRIES, every=2.5)
    with pytest.raises(ValueError, match="every must be"):
        SlackReport(None, "general", ENTRIES, every="step")


def test_rank_1_of_a_ddp_job_is_silent(slack_emulator, tmp_path):
    """Two real processes (Lightning's own DDP launcher, gloo on CPU): one message."""
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token,
           "SLACK_API_URL": slack_emulator.url}
    done = subprocess.run([sys.executable, os.path.join(HERE, "run_loops.py"), "lightning",
                           "general", "--devices", "2"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed]") and " · 2 processes" in message.text
    assert len(table_rows(message.text)) == 3


def test_two_runs_of_a_sweep_share_one_board(slack_emulator, tmp_path):
    """board= in the Lightning flavour: two real runs (processes of their own that vary
    --lr) show in one board message, named by what they vary; each run's own message is
    a reply in the board's thread."""
    held, board = sweep_on_board(slack_emulator, tmp_path, "lightning",
                                 [["--lr", "0.1"], ["--lr", "0.5"]], held="epoch 1/3 · 50 %")
    assert board.text.startswith("*sweep* · 2 runs: 2 completed")
    names = ["--lr 0.1", "--lr 0.5"]  # the argument the runs vary names them
    assert sorted(board_rows(held)) == sorted(board_rows(board.text)) == names
    for name in names:  # each row moved: epoch 1's row while held, then the end
        during, end = board_rows(held)[name], board_rows(board.text)[name]
        assert (during["status"], during["epoch"], during["step"]) == ("[Training]", "1", "4")
        assert (end["status"], end["epoch"], end["step"]) == ("[Completed]", "3", "12")
        assert during["train_loss"] != end["train_loss"]
    runs = [r.text for r in board.replies if r.text.startswith("[Completed]")]
    assert sorted(name for name in names for text in runs if name in text) == names, runs
    assert all(column(text, 0) == ["1", "2", "3"] for text in runs)


def test_the_lightning_example_reports_to_the_emulator():
    lines = run_example("train_lightning.py")
    assert lines[2].split() == ["epoch", "train_loss", "val_loss", "val_accuracy"]
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]


def test_no_chainer_is_imported_and_a_missing_lightning_is_named():
    assert_framework_needed("chainer_slack_report.lightning", "lightning",
                            "needs PyTorch Lightning: pip install lightning")
