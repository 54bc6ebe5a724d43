"""What the tests of the loop flavours (Run, Lightning, transformers) share: options that
wire a report to the emulator, and readers of the one message it keeps."""

from __future__ import annotations

from conftest import table_rows, wait_until


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


def sweep_on_board(emulator, tmp_path, framework: str, runs, *, held: str,
                   board: str = "sweep", timeout: float = 120.0):
    """Run ``tests/run_loops.py FRAMEWORK`` once per item of ``runs`` (its extra arguments),
    all at once in subprocesses of their own directories, on board ``board``.

    Each training waits at step 6 until the board message shows every run's row
    ``[Training]`` at the progress ``held`` and every run's own message in its thread
    (no run can end before the others joined, however slow the machine); then they go
    on to the end.  ``timeout`` (seconds) is only against hangs.

    Returns:
        (str, Message): the board's text while the runs were held, and the board message
        once it says every run completed (the channel's one top-level message).
    """
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_loops.py")
    go = tmp_path / "go"
    env = {**os.environ, "SLACK_BOT_TOKEN": emulator.token, "SLACK_API_URL": emulator.url}
    procs = []

    def board_now():
        messages = emulator.messages("general")
        return next((m for m in messages if m.text.startswith(f"*{board}*")), None)

    def all_held():
        message = board_now()
        if message is None:
            return False
        rows = table_rows(message.text)
        return (len(rows) == len(runs) and len(message.replies) == len(runs)
                and all("[Training]" in row and held in row for row in rows))

    try:
        for i, extra in enumerate(runs):
            cwd = tmp_path / f"run{i}"
            cwd.mkdir()
            procs.append(subprocess.Popen(
                [sys.executable, script, framework, "general", "--board", board,
                 "--hold-at", "6", "--go", str(go), "--out", "out", *extra],
                cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        assert wait_until(all_held, timeout=timeout), [
            (m.text, [r.text for r in m.replies]) for m in emulator.messages("general")]
        held_text = board_now().text
        go.touch()
        errors = [proc.communicate(timeout=timeout)[1] for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), [e[-3000:] for e in errors]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    done = f"{len(runs)} runs: {len(runs)} completed"
    assert wait_until(lambda: done in getattr(board_now(), "text", ""), timeout=timeout), \
        [m.text for m in emulator.messages("general")]
    only_message(emulator)  # the channel holds the board alone
    return held_text, board_now()


def board_rows(text: str) -> dict:
    """The board's table in a board message's text: run name → {column: cell} (the
    columns cut where the header's names start: a name or a progress holds blanks)."""
    import re

    lines = text.split("```")[1].strip("\n").splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    columns = lines[0].split()
    rows = {}
    for line in lines[1:]:
        if not line.startswith("… "):
            row = dict(zip(columns, (line[a:b].strip() for a, b in
                                     zip(starts, starts[1:] + [None]))))
            rows[row["run"]] = row
    return rows
