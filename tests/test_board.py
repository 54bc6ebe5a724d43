"""A sweep's board (``board="NAME"``): real Chainer runs in subprocesses, one board message.

Each run is a real training process (tests/run_training.py) with the real WebClient
against the emulator; the runs share the board through the state directory of the
test (the file store).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import wait_until

SCRIPT = os.path.join(os.path.dirname(__file__), "run_training.py")
TIMEOUT = 90  # seconds: only against hangs


def launch(emulator, name, *args, board="sweep", watchdog=False, env=None):
    """A training process of board ``board``, named by its argument ``name``."""
    environ = dict(os.environ, SLACK_BOT_TOKEN=emulator.token, **(env or {}))
    if watchdog:
        environ.pop("CHAINER_SLACK_REPORT_WATCHDOG", None)
    return subprocess.Popen([sys.executable, SCRIPT, emulator.url, "general", name,
                             "--board", board, "--sleep", "0.05", "--per-iteration", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environ)


def finish(procs):
    """Wait for every process; their stderr (none may have raised)."""
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=TIMEOUT)
        errors.append(err)
    return errors


def board_of(emulator):
    """The channel's one top-level message: the board ("" before it is posted)."""
    messages = emulator.messages("general")
    return messages[0] if messages else None


def board_says(emulator, text):
    def check():
        board = board_of(emulator)
        return board is not None and text in board.text
    return check


def test_runs_share_one_board_and_post_in_its_thread(slack_emulator):
    procs = [launch(slack_emulator, name, "--epochs", "15") for name in ("a", "b", "c")]
    errors = finish(procs)
    assert all(proc.returncode == 0 for proc in procs), errors
    assert wait_until(board_says(slack_emulator, "3 runs: 3 completed"), timeout=TIMEOUT), \
        board_of(slack_emulator).text
    messages = slack_emulator.messages("general")
    assert len(messages) == 1, [m.text for m in messages]  # one message per sweep
    board = messages[0]
    assert board.text.startswith("*sweep* · 3 runs: 3 completed")
    lines = board.text.split("```")[1].strip("\n").splitlines()
    assert lines[0].split()[:4] == ["run", "status", "progress", "ETA"]
    names = sorted(line.split()[0] for line in lines[1:])
    assert names == ["a", "b", "c"]  # the argument the runs vary names them
    assert any("[Training]" in text for text in board.history)  # it was live
    replies = [r.text for r in board.replies]
    runs = [text for text in replies if text.startswith("[Completed]")]
    assert sorted(text.split()[3] for text in runs) == ["a", "b", "c"]  # "{status} {args}"
    ended = [text for text in replies if "Every run has ended" in text]
    assert len(ended) == 1 and "3 completed" in ended[0], replies
