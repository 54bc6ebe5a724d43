"""What the tests of the loop flavours (Run, Lightning, transformers) share: options that
wire a report to the emulator, and readers of the one message it keeps."""

from __future__ import annotations

from conftest import table_rows


def emulator_options(emulator, **options) -> dict:
    """Options for a report to ``emulator`` through a real WebClient: no pacing, no shared
    budget, and a long flush_timeout (a busy machine may not run the worker for a while,
    and the tests check what was delivered)."""
    return {"client": emulator.client(timeout=5), "min_interval": 0.0, "flush_timeout": 30.0,
            "update_limit": None, **options}


def only_message(emulator, channel: str = "general"):
    """The one message of the run (a second post is a bug)."""
    messages = emulator.messages(channel)
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def column(text: str, index: int) -> list:
    """The ``index``-th column of the message's table, as the text shows it."""
    return [row.split()[index] for row in table_rows(text)]


def of_type(blocks, kind: str) -> list:
    return [b for b in blocks if b["type"] == kind]


def run_example(name: str, *args: str) -> list:
    """Run ``examples/NAME`` for 2 epochs against its own emulator (no Slack settings); the
    lines it printed: the final message as posted, then the count of Slack calls."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run([sys.executable, os.path.join(root, "examples", name), "--epochs", "2",
                           "--latency", "0", *args], capture_output=True, text=True,
                          timeout=600, env={**env, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if not line.startswith("{")]
    assert lines[0].startswith("[Completed]") and name in lines[0]
    assert lines[-1].startswith("messages posted: 1, ")
    return lines


def assert_framework_needed(module: str, framework: str, says: str) -> None:
    """``module`` imports without Chainer; without ``framework`` its import fails with an
    ImportError that ``says`` what it needs."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    subprocess.run([sys.executable, "-c", f"import {module}, sys; "
                    f"assert 'chainer' not in sys.modules, 'chainer imported'"],
                   check=True, env=env, timeout=300)
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.modules[{framework!r}] = None; "
                           f"import {module}"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 1 and f"ImportError: {module} {says}" in done.stderr, done.stderr
