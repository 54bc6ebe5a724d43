"""The examples run as the README says: no Slack needed, the emulator stands in for it."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID")}
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_digits.py"),
                           "--out", str(tmp_path), "--latency", "0", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_the_digits_example_reports_every_run_to_the_emulator(tmp_path):
    done = run_example("--epochs", "2", "--runs", "2", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reporting to the local Slack emulator" in done.stderr
    finals = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(finals) == 2 and all(line.startswith("[Completed]") for line in finals)
    assert sorted(line.rsplit("alpha=", 1)[1] for line in finals) == ["0.001", "0.002"]
    summary = done.stdout.strip().splitlines()[-1]
    # every run counts: two messages, each posted once and edited at least once
    assert summary.startswith("messages posted: 2, updates sent: ")
    assert int(summary.split("updates sent: ")[1].split(",")[0]) >= 2
