"""chainer_slack_report.transformers.SlackReport end to end: a real transformers Trainer with a
tiny BERT built from a config on CPU (no download), the real WebClient, the local emulator, a
real SIGINT, a failure delivered at exit, and a real 2-process torchrun job."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from conftest import table_rows, text_now, wait_until
from loop_helpers import (
    assert_framework_needed,
    board_rows,
    emulator_options,
    of_type,
    only_message,
    run_example,
    sweep_on_board,
)
from run_loops import HF_ENTRIES, Boom, stop_at, stop_callback, transformers_trainer

from chainer_slack_report.transformers import SlackReport

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "run_loops.py")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build(emulator, **options):
    return SlackReport(None, "general", HF_ENTRIES, **emulator_options(emulator, **options))


def cells(row):
    """A table row's cells (PrintReport's columns: 10 characters and 2 blanks here)."""
    return [row[i:i + 12].strip() for i in range(0, 48, 12)]


def loss_rows(text, column=2):
    """The (epoch, step) of the rows with a value in ``column`` (2: loss, 3: eval_loss)."""
    return [cells(row)[:2] for row in table_rows(text) if cells(row)[column]]


def test_rows_progress_and_completed(slack_emulator, tmp_path):
    # The progress a message shows is the one sampled when the worker renders it, and the
    # training thread goes on meanwhile: the render of epoch 1's evaluation row may come
    # after step 5 or 6 were sampled (under load, or when chat.update is slow), so no exact
    # progress can be expected with a row.  At step 6 the training waits: the position is
    # 1.5 epochs until it goes on, and the clock's refresh (0.2 s here) shows it.
    report = build(slack_emulator, refresh_interval=0.2)
    seen = []

    def at(step):
        if step == 6:  # after the logs of steps 2 and 4 and epoch 1's evaluation
            assert wait_until(lambda: "epoch 1/3 · 50 %" in text_now(slack_emulator)
                              and len(table_rows(text_now(slack_emulator))) == 3, timeout=30), \
                text_now(slack_emulator)  # what it showed instead
            seen.append(text_now(slack_emulator))

    transformers_trainer([report, stop_callback(at)], str(tmp_path)).train()
    message = only_message(slack_emulator)
    assert seen[0].startswith("[Training]") and "ETA" in seen[0]
    assert message.history[0].startswith("[Started]") and message.text.startswith("[Completed]")
    assert loss_rows(message.text) == [["0.5", "2"], ["1", "4"], ["1.5", "6"], ["2", "8"],
                                       ["2.5", "10"], ["3", "12"]]
    assert loss_rows(message.text, 3) == [["1", "4"], ["2", "8"], ["3", "12"]]  # eval_loss


def test_a_failure_in_a_with_block_is_failed_at_once(slack_emulator, tmp_path):
    report = build(slack_emulator)
    trainer = transformers_trainer([report, stop_callback(stop_at(5, "crash", 0, 0))],
                                   str(tmp_path))
    with pytest.raises(Boom):
        with report:
            trainer.train()
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]") and "Boom: loss exploded at step 5" in text
    assert loss_rows(text) == [["0.5", "2"], ["1", "4"]]


def test_a_real_sigint_in_a_with_block_is_interrupted(slack_emulator, tmp_path):
    report = build(slack_emulator)

    def at(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        with report:
            transformers_trainer([report, stop_callback(at)], str(tmp_path)).train()
    text = only_message(slack_emulator).text
    assert text.startswith("[Interrupted]") and loss_rows(text) == [["0.5", "2"]]


@pytest.mark.parametrize("end, status", [("crash", "[Failed]"), ("interrupt", "[Interrupted]")])
def test_without_a_with_block_the_end_is_delivered_at_exit(slack_emulator, tmp_path, end,
                                                            status):
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token,
           "SLACK_API_URL": slack_emulator.url}
    done = subprocess.run([sys.executable, SCRIPT, "transformers", "general", "--end", end,
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode != 0 and "DONE" not in done.stdout
    text = only_message(slack_emulator).text
    assert text.startswith(status) and loss_rows(text) == [["0.5", "2"], ["1", "4"]]
    if end == "crash":
        assert "Boom: loss exploded at step 5" in text


def test_resume_from_a_checkpoint_continues_the_message(slack_emulator, tmp_path):
    report = build(slack_emulator)
    transformers_trainer([report], str(tmp_path), num_train_epochs=2,
                         save_strategy="epoch").train()
    first = only_message(slack_emulator)
    checkpoint = tmp_path / "checkpoint-8"
    saved = json.loads((checkpoint / "trainer_state.json").read_text())
    assert saved["stateful_callbacks"]["SlackReport"] == {
        "args": {}, "attributes": {"slack_channel_id": first.channel, "slack_ts": first.ts}}
    resumed = build(slack_emulator)
    transformers_trainer([resumed], str(tmp_path), num_train_epochs=3).train(
        resume_from_checkpoint=str(checkpoint))
    message = only_message(slack_emulator)
    assert message.ts == first.ts and message.text.startswith("[Completed]")
    assert message.replies[0].text.startswith("Resumed from step 8, epoch 2 on ")
    assert loss_rows(message.text) == [["2.5", "10"], ["3", "12"]]


def test_without_a_token_the_table_is_printed(monkeypatch, tmp_path):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    out = io.StringIO()
    with pytest.warns(UserWarning, match="no bot token"):
        report = SlackReport(None, "general", HF_ENTRIES, out=out)
    transformers_trainer([report], str(tmp_path), num_train_epochs=1).train()
    lines = out.getvalue().splitlines()
    assert lines[0].split() == HF_ENTRIES
    assert [line.split()[:2] for line in lines[1:3]] == [["0.5", "2"], ["1", "4"]]


def test_blocks_layout(slack_emulator, tmp_path):
    report = build(slack_emulator, layout="blocks", chart=["loss", "eval_loss"])
    transformers_trainer([report], str(tmp_path)).train()
    message = only_message(slack_emulator)
    (table,) = of_type(message.blocks, "data_table")
    assert [c["text"] for c in table["rows"][0]] == HF_ENTRIES
    assert len(of_type(message.blocks, "data_visualization")) == 1


def test_rank_1_of_a_torchrun_job_is_silent(slack_emulator, tmp_path):
    """Two real processes under torchrun (gloo on CPU): rank 0's one message."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token,
           "SLACK_API_URL": slack_emulator.url}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_addr=127.0.0.1", f"--master_port={port}", SCRIPT,
                           "transformers", "general", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed]") and " · 2 processes" in message.text


def test_two_runs_of_a_sweep_share_one_board(slack_emulator, tmp_path):
    """board= in the transformers flavour: two real runs (processes of their own, each
    with its learning rate) show in one board message, named by run_name from what they
    logged; each run's own message is a reply in the board's thread."""
    name = ["--run-name", "lr={learning_rate}"]
    held, board = sweep_on_board(slack_emulator, tmp_path, "transformers",
                                 [["--lr", "0.05", *name], ["--lr", "0.1", *name]],
                                 held="epoch 1/3 · 50 %")
    assert board.text.startswith("*sweep* · 2 runs: 2 completed")
    names = ["lr=0.05", "lr=0.1"]
    assert sorted(board_rows(held)) == sorted(board_rows(board.text)) == names
    for name in names:  # each row moved: epoch 1's evaluation while held, then the end
        during, end = board_rows(held)[name], board_rows(board.text)[name]
        assert (during["status"], during["epoch"], during["step"]) == ("[Training]", "1", "4")
        assert during["eval_loss"] and during["eval_loss"] != end["eval_loss"]
        assert (end["status"], end["epoch"], end["step"]) == ("[Completed]", "3", "12")
    runs = [r.text for r in board.replies if r.text.startswith("[Completed]")]
    assert sorted(lr for lr in ("0.05", "0.1") for text in runs if f"--lr {lr} " in text) \
        == ["0.05", "0.1"], runs
    assert all(loss_rows(text, 3) == [["1", "4"], ["2", "8"], ["3", "12"]] for text in runs)


def test_the_transformers_example_reports_to_the_emulator():
    lines = run_example("train_transformers.py")
    assert lines[2].split() == ["epoch", "step", "loss", "eval_loss"]
    assert [line.split()[:2] for line in lines[3:5]] == [["1", "23"], ["1", "23"]]


def test_no_chainer_is_imported_and_a_missing_transformers_is_named():
    assert_framework_needed("chainer_slack_report.transformers", "transformers",
                            "needs Hugging Face transformers >= 4.41 (and PyTorch): pip "
                            "install transformers accelerate")
