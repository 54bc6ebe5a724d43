"""The ``chainer-slack-report`` command-line tool, run as real processes.

Every test runs ``python -m chainer_slack_report`` in a subprocess against the
emulator (in this process, or its own process for ``emulator``) with the real
WebClient.  Waits are for events (a line read, a message state) with generous
timeouts that only keep a broken build from hanging; no assertion assumes how
fast the machine is.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from conftest import needs, text_now, wait_until
from slack_sdk import WebClient

from chainer_slack_report.rendering.message import BUILTIN_PLACEHOLDERS

CLI = [sys.executable, "-m", "chainer_slack_report"]
# hidden options: intermediate updates paced at 0.05 s, not by the shared 50/min budget
FAST = ["--min-interval", "0.05", "--update-limit", "none"]
TIMEOUT = 120  # only against hangs


@pytest.fixture
def env(slack_emulator, budget_state_dir):
    """The environment of a tool that reports to the emulator's #general."""
    env = dict(os.environ)
    env.update(SLACK_API_URL=slack_emulator.url, SLACK_BOT_TOKEN=slack_emulator.token,
               SLACK_CHANNEL_ID="general",
               CHAINER_SLACK_REPORT_STATE_DIR=str(budget_state_dir))
    return env


def cli(*args, env, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", TIMEOUT)
    return subprocess.run([*CLI, *args], env=env, capture_output=True, **kwargs)


def python(code: str) -> list:
    """A Python command for the tool to run."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def only_message(emulator):
    (message,) = emulator.messages("general")
    return message


def table(text: str) -> list:
    """The lines of the message's first code block ([] while it has none)."""
    blocks = text.split("```")
    return blocks[1].strip("\n").split("\n") if len(blocks) >= 3 else []


def error_block(text: str) -> str:
    """The second code block: the error/outcome note."""
    return text.split("```")[3].strip("\n")


def read_until(stream, marker: bytes, limit: int = 200) -> bytes:
    """Lines read from ``stream`` up to and including the one holding ``marker``."""
    seen = b""
    for _ in range(limit):
        line = stream.readline()
        seen += line
        if not line or marker in line:
            break
    assert marker in seen, seen
    return seen


# -- run -----------------------------------------------------------------------------------
PRINTER = """
    import sys
    out = sys.stdout.buffer
    for i in range(1, 31):
        out.write(b"line %d\\n" % i)
    out.write(b"crlf\\r\\nraw \\xff\\xfe bytes\\n")
    out.flush()
    sys.stderr.buffer.write(b"to stderr\\n")
    sys.stderr.flush()
    out.write(b"no newline at the end")
"""


def reap(*procs) -> None:
    """Kill each process that still runs (a test that failed), and wait for all."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def where_line(message) -> bytes:
    """The one line the tool says of its own (stderr): the message it keeps up to date."""
    return (f"chainer-slack-report: reporting in channel {message.channel}, message ts "
            f"{message.ts} (edited until the end)\n").encode()


def test_run_passes_output_through_and_reports_the_tail(slack_emulator, env):
    command = python(PRINTER)
    direct = subprocess.run(command, capture_output=True, timeout=TIMEOUT)
    done = cli("run", *FAST, "--tail", "5", "--", *command, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == direct.stdout  # byte for byte
    message = only_message(slack_emulator)
    # the tool adds one line, before the command's own: where the message is
    assert done.stderr == where_line(message) + direct.stderr
    assert direct.stderr == b"to stderr\n"
    assert message.text.startswith("[Completed] - ")
    assert message.history[0].startswith("[Running] - ")
    assert f"$ {sys.executable} -c " in message.text  # {cmd} {args}: the command
    rows = table(message.text)
    # the last 5 lines, as a terminal shows them, then how many are not shown
    assert rows[:5] == ["line 30", "crlf", "raw \ufffd\ufffd bytes", "to stderr",
                        "no newline at the end"]
    assert rows[5:] == ["… 29 of 34 rows not shown"]
    assert message.replies == []  # no mentions: no reply


def test_run_failure_exits_with_the_commands_status(slack_emulator, env):
    done = cli("run", *FAST, "--", *python("import sys; print('bad input'); sys.exit(3)"),
               env=env)
    assert done.returncode == 3
    assert done.stdout == b"bad input\n"
    message = only_message(slack_emulator)
    assert message.text.startswith("[Failed] - ")
    assert table(message.text) == ["bad input"]
    assert "exit code 3" in error_block(message.text)


def test_run_command_not_found(slack_emulator, env, tmp_path):
    missing = str(tmp_path / "no-such-command")
    done = cli("run", *FAST, "--", missing, "--flag", env=env)
    assert done.returncode == 127
    assert b"command not found" in done.stderr
    message = only_message(slack_emulator)
    assert message.text.startswith("[Failed] - ")
    assert "command not found" in message.text and "exit code 127" in message.text


SLEEPER = """
    import signal, sys, time
    if "--trap" in sys.argv:
        def on_term(signum, frame):
            print("cleaning up", flush=True)
            sys.exit(5)
        signal.signal(signal.SIGTERM, on_term)
    print("READY", flush=True)
    time.sleep(100)
    print("not reached")
"""


@pytest.mark.parametrize("trap", [False, True], ids=["killed", "trapped"])
def test_sigterm_to_the_tool_is_forwarded(slack_emulator, env, trap):
    command = python(SLEEPER) + (["--trap"] if trap else [])
    proc = subprocess.Popen([*CLI, "run", *FAST, "--", *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(proc.stdout, b"READY")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    message = only_message(slack_emulator)
    assert message.text.startswith("[Terminated] - ")
    note = error_block(message.text)
    assert "SIGTERM (15)" in note
    if trap:  # the command handled it: the tool exits with its status
        assert proc.returncode == 5
        assert out == b"cleaning up\n"
        assert table(message.text) == ["READY", "cleaning up"]
        assert "exit code 5" in note
    else:  # killed by SIGTERM: the tool ends with SIGTERM too, as a shell would see it
        assert proc.returncode == -signal.SIGTERM, err
        assert table(message.text) == ["READY"]
        assert note == "Terminated by SIGTERM (15)"


def test_command_killed_by_a_signal_of_its_own(slack_emulator, env):
    done = cli("run", *FAST, "--", "sh", "-c", "echo going; kill -KILL $$", env=env)
    assert done.returncode == -signal.SIGKILL
    message = only_message(slack_emulator)
    assert message.text.startswith("[Terminated] - ")
    assert error_block(message.text) == "Killed by SIGKILL (9)"


CTRL_C = """
    import sys, time
    try:
        print("READY", flush=True)
        time.sleep(100)
    except KeyboardInterrupt:
        print("interrupted, saving", flush=True)
        time.sleep(0.5)  # the tool has got SIGINT too: it must wait for this
        print("saved", flush=True)
        if "--graceful" in sys.argv:
            sys.exit(0)
        raise
"""


@pytest.mark.parametrize("graceful", [False, True], ids=["dies", "graceful"])
def test_ctrl_c_reaches_the_command_and_the_tool_waits(slack_emulator, env, graceful):
    command = python(CTRL_C) + (["--graceful"] if graceful else [])
    # its own process group, as a terminal's foreground job has
    proc = subprocess.Popen([*CLI, "run", *FAST, "--", *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        read_until(proc.stdout, b"READY")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert out == b"interrupted, saving\nsaved\n"
    message = only_message(slack_emulator)
    assert message.text.startswith("[Interrupted] - ")
    rows = table(message.text)
    assert rows[:3] == ["READY", "interrupted, saving", "saved"]
    if graceful:
        assert proc.returncode == 0
        assert error_block(message.text) == "Interrupted by SIGINT (2): exit code 0"
    else:  # died of SIGINT: so does the tool, so that a calling script stops too
        assert proc.returncode == -signal.SIGINT
        assert b"KeyboardInterrupt" in err and rows[-1] == "KeyboardInterrupt"
        assert error_block(message.text) == "Interrupted by SIGINT (2)"


def test_output_reaches_terminal_and_message_while_the_command_runs(slack_emulator, env,
                                                                     tmp_path):
    go = tmp_path / "go"
    command = python(f"""
        import os, sys, time
        print("epoch 1 done", flush=True)
        sys.stdout.write("progress 42%")  # a progress bar: no newline yet
        sys.stdout.flush()
        while not os.path.exists({str(go)!r}):
            time.sleep(0.02)
        sys.stdout.write("\\rprogress 100%\\n")
    """)
    proc = subprocess.Popen([*CLI, "run", *FAST, "--", *command], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"epoch 1 done\n"  # passed on while it runs
        assert proc.stdout.read1(100) == b"progress 42%"  # unbuffered, no newline needed

        def shows_progress():
            messages = slack_emulator.messages("general")
            return messages and table(messages[0].text) == ["epoch 1 done", "progress 42%"]

        assert wait_until(shows_progress, timeout=TIMEOUT)
        assert only_message(slack_emulator).text.startswith("[Running] - ")
        go.touch()
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == b"\rprogress 100%\n"
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed] - ")
    assert table(message.text) == ["epoch 1 done", "progress 100%"]


def run_on_a_terminal(argv, env, columns=97) -> tuple:
    """Run ``argv`` with a pty as its stdout and stderr; (bytes it showed, exit status)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                                stderr=slave)
    finally:
        os.close(slave)
    shown = b""
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal closed
                break
            if not data:
                break
            shown += data
        return shown, proc.wait(timeout=TIMEOUT)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_on_a_terminal_the_command_gets_one(slack_emulator, env):
    command = python("""
        import os, sys
        print("tty", sys.stdout.isatty(), sys.stderr.isatty(), os.get_terminal_size().columns)
        sys.stdout.write("\\x1b[1mbold\\x1b[0m\\r\\nplain\\n")
        sys.stdout.flush()
        sys.stderr.write("err\\n")
    """)
    env.pop("PYTHONUNBUFFERED", None)
    direct = run_on_a_terminal(command, env)
    via_tool = run_on_a_terminal([*CLI, "run", *FAST, "--", *command], env)
    assert direct[0].startswith(b"tty True True 97\r\n")
    message = only_message(slack_emulator)
    # what the terminal shows, byte for byte, and the status; first the tool's one line
    assert via_tool == (where_line(message).replace(b"\n", b"\r\n") + direct[0], direct[1])
    assert table(message.text) == ["tty True True 97", "bold", "plain", "err"]


def test_mentions_are_notified_in_the_thread(slack_emulator, env):
    slack_emulator.users["U0000042"] = "alice"
    done = cli("run", *FAST, "--mention", "@alice", "--mention", "here", "--", "true",
               env=env)
    assert done.returncode == 0, done.stderr
    message = only_message(slack_emulator)
    (reply,) = message.replies
    assert reply.text.startswith("<@U0000042> <!here> ")
    assert "[Completed]" in reply.text and "`true`" in reply.text
    assert message.text.rstrip().endswith("<@U0000042> <!here>")


def test_output_is_escaped_and_tokens_redacted_in_slack(slack_emulator, env):
    secret = "xoxb-1111-2222-AbCdEfSecret"
    line = f"ping <!channel> & <@U0123456> token={secret} ```"
    done = cli("run", *FAST, "--", "echo", line, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (line + "\n").encode()  # the terminal gets it unchanged
    message = only_message(slack_emulator)
    assert secret not in message.text and secret not in "".join(message.history)
    assert "<!channel>" not in message.text and "<@U0123456>" not in message.text
    (row,) = table(message.text)
    assert row == ("ping &lt;!channel&gt; &amp; &lt;@U0123456&gt; token=xoxb-[redacted] "
                   "`\u200b`\u200b`")
    assert "xoxb-[redacted]" in message.text.split("\n")[0]  # in {args} too


def test_a_command_the_oom_killer_ends_is_killed_out_of_memory(slack_emulator, env,
                                                               memory_cgroup):
    def enter():  # the tool, and so its command, run in the cgroup
        with open(os.path.join(memory_cgroup, "cgroup.procs"), "w") as file:
            file.write(str(os.getpid()))

    hog = python("""
        hog = []
        while True:
            hog.append(bytearray(64 << 20))
    """)
    done = cli("run", *FAST, "--", *hog, env=env, preexec_fn=enter)
    assert done.returncode == -signal.SIGKILL  # the tool ends with its command's signal
    with open(os.path.join(memory_cgroup, "memory.oom_control")) as file:
        assert "oom_kill 1" in file.read()
    message = only_message(slack_emulator)
    assert message.text.startswith("[Killed]")
    assert error_block(message.text) == ("Killed by SIGKILL (9): out of memory: the kernel's "
                                         "OOM killer ended it")


def test_run_against_an_emulator_of_its_own_needs_no_slack(env):
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID", "SLACK_API_URL"):
        env.pop(name)
    done = cli("run", "--emulator", *FAST, "--", "echo", "no Slack here", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"no Slack here\n"
    said = done.stderr.decode().splitlines()
    assert said[0].startswith("chainer-slack-report: reporting to a local Slack emulator; "
                              "watch it at http://127.0.0.1:")
    assert said[1].startswith("chainer-slack-report: reporting in channel C0000001, message ")
    posted = said[said.index("chainer-slack-report: the message as posted:") + 1:]
    assert posted[0].startswith("[Completed] - ") and "no Slack here" in posted


def test_run_without_a_token_still_runs_the_command(slack_emulator, env):
    del env["SLACK_BOT_TOKEN"]
    done = cli("run", "--", "sh", "-c", "echo hi; exit 4", env=env)
    assert done.returncode == 4
    assert done.stdout == b"hi\n"
    assert b"no bot token (SLACK_BOT_TOKEN)" in done.stderr
    assert slack_emulator.calls == []


def test_template_and_output_placeholder(slack_emulator, env):
    done = cli("run", *FAST, "--template", "{status} last: {output}\n{content}", "--",
               "printf", "a\\nb\\n", env=env)
    assert done.returncode == 0, done.stderr
    text = only_message(slack_emulator).text
    assert text.startswith("[Completed] last: b\n```\na\nb\n```")


# -- watch ---------------------------------------------------------------------------------
TRAINER = """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from chainer import training
    from conftest import make_trainer

    class Pace(training.Extension):
        trigger = (1, "iteration")

        def __call__(self, trainer):
            it = trainer.updater.iteration
            if it == 1:
                print("READY", flush=True)
            if it == {last}:  # the end waits for the test's go
                while not os.path.exists({go!r}):
                    time.sleep(0.02)

    trainer = make_trainer(epochs={epochs}, extra=[Pace()], out={out!r})
    trainer.run()
    print("DONE", flush=True)
"""


def test_watch_a_chainer_run_until_its_process_ends(slack_emulator, env, tmp_path):
    needs("chainer")
    epochs = 4
    out, go = tmp_path / "result", tmp_path / "go"
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAINER).format(
        tests=os.path.dirname(__file__), last=4 * epochs - 1, go=str(go), epochs=epochs,
        out=str(out)))
    trainer = subprocess.Popen([sys.executable, str(script), "--lr", "0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watcher = None
    try:
        read_until(trainer.stdout, b"READY")
        watcher = subprocess.Popen(
            [*CLI, "watch", str(out / "log"), "--pid", str(trainer.pid), "--interval", "0.05",
             *FAST], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def rows_shown():
            messages = slack_emulator.messages("general")
            return messages and len(table(messages[0].text)) >= epochs  # header + rows

        assert wait_until(rows_shown, timeout=TIMEOUT)  # it follows the log while it runs
        assert only_message(slack_emulator).text.startswith("[Training] - ")
        go.touch()
        w_out, w_err = watcher.communicate(timeout=TIMEOUT)
        # the trainer was not reaped before the watch ended: a zombie counts as ended
        t_out, t_err = trainer.communicate(timeout=TIMEOUT)
    finally:
        for proc in (trainer, watcher):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert trainer.returncode == 0, t_err
    assert watcher.returncode == 0, w_err
    assert w_out == b""
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed] - ")
    assert f"{script} --lr 0.1`" in message.text  # {cmd} {args}: the watched process
    header, *rows = table(message.text)
    assert header.split() == ["epoch", "iteration", "main/loss", "main/accuracy",
                              "elapsed_time"]
    log = json.loads((out / "log").read_text())
    assert [r.split()[:2] for r in rows] == [[str(r["epoch"]), str(r["iteration"])]
                                             for r in log]
    assert len(rows) == epochs
    assert error_block(message.text) == (f"Process {trainer.pid} ended (its exit status is "
                                         f"unknown here)")


def test_watch_a_rewritten_file_until_a_pid_ends(slack_emulator, env, tmp_path):
    log = tmp_path / "log"
    log.write_text("")  # created, nothing written yet
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
    watcher = subprocess.Popen(
        [*CLI, "watch", str(log), "--pid", str(job.pid), "--interval", "0.02", *FAST],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rows = []
    try:
        for epoch in range(1, 4):
            rows.append({"main/loss": 1.0 / epoch, "epoch": epoch, "iteration": 10 * epoch,
                         "lr": 0.1})
            if epoch == 3:
                rows[-1]["validation/main/loss"] = 0.5  # a key first seen later
            text = json.dumps(rows, indent=4)
            with open(log, "w") as file:  # rewritten as a whole, half of it first
                file.write(text[:len(text) // 2])
                file.flush()
                time.sleep(0.1)  # the watcher may read the half-written file
                file.write(text[len(text) // 2:])
            assert wait_until(lambda n=epoch: slack_emulator.messages("general") and len(
                table(slack_emulator.messages("general")[0].text)) == 1 + n, timeout=TIMEOUT)
        assert watcher.poll() is None  # still watching: the process runs
        job.kill()  # not reaped yet: a zombie counts as ended
        out, err = watcher.communicate(timeout=TIMEOUT)
    finally:
        for proc in (watcher, job):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert watcher.returncode == 0, err
    message = only_message(slack_emulator)
    assert out == b"" and err == where_line(message)
    assert message.text.startswith("[Completed] - ")
    header, *shown = table(message.text)
    assert header.split() == ["epoch", "iteration", "main/loss", "lr"]  # from the 1st rows
    assert [r.split() for r in shown] == [["1", "10", "1", "0.1"], ["2", "20", "0.5", "0.1"],
                                          ["3", "30", "0.333333", "0.1"]]
    assert error_block(message.text) == (f"Process {job.pid} ended (its exit status is "
                                         f"unknown here)")


def test_watch_ends_when_the_file_is_idle(slack_emulator, env, tmp_path):
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": e, "main/loss": 1.0 / e} for e in (1, 2)]))
    idle = 1.0
    started = time.monotonic()
    done = cli("watch", str(log), "--idle", str(idle), "--interval", "0.05", *FAST, env=env)
    ended = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert ended - started >= idle  # it waited for the file to stay unchanged that long
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed] - ")
    assert table(message.text) == ["epoch       main/loss", "1           1",
                                   "2           0.5"]
    assert error_block(message.text) == f"{log} unchanged for 1 s: stopped watching"


def test_watch_takes_entries_before_the_logfile(slack_emulator, env, tmp_path):
    # --entries takes one value (KEY,KEY,...): LOGFILE after it stays the log file
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": e, "main/loss": 1.0 / e, "lr": 0.1} for e in (1, 2)]))
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
    watcher = subprocess.Popen(
        [*CLI, "watch", "--pid", str(job.pid), "--entries", "epoch,main/loss", "--entries",
         "lr", str(log), "--interval", "0.02", *FAST],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: len(table(text_now(slack_emulator))) == 3, timeout=TIMEOUT)
        job.kill()
        _, err = watcher.communicate(timeout=TIMEOUT)
    finally:
        reap(watcher, job)
    assert watcher.returncode == 0, err
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed] - ")
    assert [row.split() for row in table(message.text)] == [
        ["epoch", "main/loss", "lr"], ["1", "1", "0.1"], ["2", "0.5", "0.1"]]


def test_watch_a_logfile_that_never_appears_is_an_error(slack_emulator, env, tmp_path):
    missing = tmp_path / "result" / "log"
    done = cli("watch", str(missing), "--idle", "0.3", "--interval", "0.05", *FAST, env=env)
    assert done.returncode == 1, done.stderr
    assert (f"chainer-slack-report: error: {missing}: no such file (it did not appear "
            f"within --idle 0.3 s)").encode() in done.stderr
    assert slack_emulator.messages("general") == []  # no [Completed] with an empty table
    # with --entries the message was posted at once: it ends [Failed], saying why
    done = cli("watch", str(missing), "--entries", "epoch", "--idle", "0.3", "--interval",
               "0.05", *FAST, env=env)
    assert done.returncode == 1, done.stderr
    message = only_message(slack_emulator)
    assert message.text.startswith("[Failed] - ")
    assert f"{missing}: no such file (it did not appear within --idle 0.3 s)" in message.text
    # a file that appears later is followed as before
    job = subprocess.Popen([*CLI, "watch", str(missing), "--idle", "5", "--interval", "0.05",
                            *FAST], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        missing.parent.mkdir()
        missing.write_text(json.dumps([{"epoch": 1}]))
        _, err = job.communicate(timeout=TIMEOUT)
    finally:
        reap(job)
    assert job.returncode == 0, err
    assert sorted(m.text.split(" ", 1)[0] for m in slack_emulator.messages("general")) == [
        "[Completed]", "[Failed]"]


@pytest.mark.parametrize("subcommand", ["run", "watch"])
def test_every_option_is_in_the_usage_line(env, subcommand):
    from chainer_slack_report.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    options = [action.option_strings[0] for action in sub.choices[subcommand]._actions
               if action.option_strings and action.help != argparse.SUPPRESS]
    assert "--emulator" in options and "--channel" in options
    done = cli(subcommand, "--help", env=env)
    usage = " ".join(done.stdout.decode().split("\n\n", 1)[0].split())
    assert usage.startswith(f"usage: chainer-slack-report {subcommand} ")
    assert [o for o in options if f"[{o}" not in usage] == []
    assert usage.endswith("-- CMD [ARGS...]" if subcommand == "run" else "LOGFILE")


def test_watch_stops_on_sigterm_with_chosen_entries(slack_emulator, env, tmp_path):
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": 1, "main/loss": 0.5, "iteration": 7}]))
    watcher = subprocess.Popen(
        [*CLI, "watch", str(log), "--entries", "main/loss,epoch", "--interval", "0.05",
         *FAST], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: slack_emulator.messages("general") and len(
            table(slack_emulator.messages("general")[0].text)) == 2, timeout=TIMEOUT)
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=TIMEOUT)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == -signal.SIGTERM, err
    message = only_message(slack_emulator)
    assert message.text.startswith("[Interrupted] - ")
    assert table(message.text) == ["main/loss   epoch", "0.5         1"]
    assert "Stopped watching on SIGTERM (15); the job may still be running" in message.text


def test_watch_in_the_blocks_layout_draws_a_table_and_a_chart(slack_emulator, env, tmp_path):
    log = tmp_path / "log"
    rows = [{"epoch": e, "iteration": 4 * e, "main/loss": 1.0 / e} for e in range(1, 6)]
    log.write_text(json.dumps(rows))
    done = cli("watch", str(log), "--idle", "0.3", "--interval", "0.05", "--layout", "blocks",
               "--chart", "main/loss", *FAST, env=env)
    assert done.returncode == 0, done.stderr
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")  # the text: what notifications show
    kinds = [block["type"] for block in message.blocks]
    assert "data_table" in kinds and "data_visualization" in kinds
    (table_block,) = [b for b in message.blocks if b["type"] == "data_table"]
    header = [cell["text"] for cell in table_block["rows"][0]]
    assert header == ["epoch", "iteration", "main/loss"]
    assert [row[0]["value"] for row in table_block["rows"][1:]] == [5, 4, 3, 2, 1]
    (chart,) = [b for b in message.blocks if b["type"] == "data_visualization"]
    assert [s["name"] for s in chart["chart"]["series"]] == ["main/loss"]
    bad = cli("watch", str(log), "--idle", "1", "--chart", "main/loss", env=env)
    assert bad.returncode == 2 and b"layout" in bad.stderr  # a chart needs the blocks layout


def test_ctrl_c_while_watch_waits_for_slack_gives_up_and_ends_the_watch_with_it(
        slack_emulator, env, tmp_path):
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": 1, "main/loss": 0.5}]))
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
    watcher = subprocess.Popen(
        [*CLI, "watch", str(log), "--pid", str(job.pid), "--interval", "0.05", *FAST],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def final_text_refused():  # Slack answered the final text: wait 600 s
        return any(c.status == 429 and "[Completed]" in c.params.get("text", "")
                   for c in slack_emulator.calls_to("chat.update"))

    try:
        assert wait_until(lambda: slack_emulator.messages("general") and len(
            table(slack_emulator.messages("general")[0].text)) == 2, timeout=TIMEOUT)
        slack_emulator.rate_limit("chat.update", retry_after=600, times=float("inf"))
        job.kill()
        assert wait_until(final_text_refused, timeout=TIMEOUT)
        watcher.send_signal(signal.SIGINT)  # Ctrl-C: do not wait 600 s for Slack
        _, err = watcher.communicate(timeout=TIMEOUT)
    finally:
        reap(watcher, job)
    assert watcher.returncode == -signal.SIGINT, err  # as a shell sees a Ctrl-C'd command
    assert only_message(slack_emulator).text.startswith("[Training] - ")  # not taken


def test_watch_needs_a_running_pid_and_a_token(env, tmp_path):
    bad = cli("watch", str(tmp_path / "log"), "--pid", str(2 ** 22 + 12345), env=env)
    assert bad.returncode == 2 and b"usage:" in bad.stderr
    assert b"no such process" in bad.stderr
    del env["SLACK_BOT_TOKEN"]
    missing = cli("watch", str(tmp_path / "log"), "--idle", "1", env=env)
    assert missing.returncode == 1 and b"no bot token" in missing.stderr


# -- check ---------------------------------------------------------------------------------
def check(env, *args):
    done = cli("check", *args, env=env)
    output = (done.stdout + done.stderr).decode()
    assert env.get("SLACK_BOT_TOKEN", "\0") not in output  # never, in any case
    return done.returncode, output


@pytest.fixture
def reads_channels(slack_emulator):
    """The bot may look channels up, as `check` does (conversations.info and .list with
    types public_channel,private_channel): Slack wants channels:read and groups:read."""
    slack_emulator.scopes += ["channels:read", "groups:read"]


def test_check_ok(slack_emulator, env, reads_channels):
    code, output = check(env)
    assert code == 0, output
    assert "OK    bot token xoxb-… accepted: emulator-bot (UBOT00001)" in output
    assert "OK    scope chat:write" in output and "OK    scope users:read" in output
    assert "OK    channel C0000001 (#general): the bot is a member" in output
    assert output.rstrip().endswith("All set: runs can report to general")
    assert "FAIL" not in output and "WARN" not in output
    assert slack_emulator.messages("general") == []  # nothing posted


def test_check_bad_token(slack_emulator, env):
    env["SLACK_BOT_TOKEN"] = "xoxb-9999-not-the-emulators-token"
    code, output = check(env)
    assert code == 1
    assert "FAIL  token: invalid_auth: Slack does not accept the bot token" in output
    assert "9999" not in output


def test_check_revoked_and_missing_token(slack_emulator, env):
    slack_emulator.revoked = True
    code, output = check(env)
    assert code == 1 and "token_revoked" in output and "reinstall" in output
    del env["SLACK_BOT_TOKEN"]
    code, output = check(env)
    assert code == 1 and "FAIL  no bot token: set SLACK_BOT_TOKEN" in output


@pytest.mark.parametrize("channel", ["C9999999", "no-such-channel"])
def test_check_unknown_channel(slack_emulator, env, reads_channels, channel):
    code, output = check(env, "--channel", channel)
    assert code == 1
    assert f"FAIL  channel {channel}:" in output
    assert "check the channel ID (SLACK_CHANNEL_ID)" in output


def test_check_bot_not_in_channel_and_archived(slack_emulator, env, reads_channels):
    outside = slack_emulator.add_channel("outside", member=False)
    code, output = check(env, "--channel", outside.id)
    assert code == 1
    assert "the bot is not a member: the bot is not in the channel; invite it with " \
           "/invite @your-bot" in output
    slack_emulator.scopes.append("chat:write.public")  # may post to a public channel
    code, output = check(env, "--channel", "outside")
    assert code == 0, output
    slack_emulator.archive("general")
    code, output = check(env)
    assert code == 1 and "is archived: the channel is archived" in output


def test_check_missing_scopes(slack_emulator, env):
    slack_emulator.scopes = ["users:read"]
    code, output = check(env)
    assert code == 1
    assert ("FAIL  scope chat:write missing: the bot lacks a scope; add chat:write under "
            "OAuth & Permissions and reinstall the app") in output
    slack_emulator.scopes = ["chat:write"]  # the optional ones missing: a warning each
    code, output = check(env)
    assert code == 0, output
    assert "WARN  optional scope users:read missing" in output
    assert "WARN  optional scope files:write missing" in output


@pytest.mark.parametrize("given", ["general", "#general", "C0000001"])
def test_check_with_chat_write_only_shows_the_channel_exists(slack_emulator, env, given):
    # the README's scopes: chat:write (no channels:read, so no conversations.info/list)
    slack_emulator.scopes = ["chat:write"]
    code, output = check(env, "--channel", given)
    assert code == 0, output
    assert (f"OK    channel C0000001 ({given}): the bot may post there (chat.scheduleMessage "
            f"accepted a test message, deleted at once") in output
    assert output.rstrip().endswith(f"All set: runs can report to {given}")
    assert slack_emulator.count("chat.scheduleMessage") == 1
    assert slack_emulator.count("chat.deleteScheduledMessage") == 1
    assert slack_emulator.scheduled("general") == []
    slack_emulator.advance(121 * 24 * 3600)  # nothing is left to post, ever
    assert slack_emulator.messages("general") == []


@pytest.mark.parametrize("given, error", [("genral", "channel_not_found"),
                                          ("C0999999", "channel_not_found"),
                                          ("outside", "not_in_channel")])
def test_check_with_chat_write_only_fails_a_channel_it_cannot_post_to(slack_emulator, env,
                                                                      given, error):
    slack_emulator.add_channel("outside", member=False)
    slack_emulator.scopes = ["chat:write"]
    code, output = check(env, "--channel", given)
    assert code == 1, output
    assert f"FAIL  channel {given}: {error}: " in output
    assert "All set" not in output and "1 problem found" in output
    assert slack_emulator.scheduled("general") == [] and slack_emulator.scheduled(
        "outside") == []


def test_check_without_channels_read_can_post_a_test_message(slack_emulator, env):
    # a bot without channels:read cannot look the channel up (Slack: missing_scope)
    slack_emulator.fail("conversations.info", "missing_scope", times=float("inf"))
    code, output = check(env, "--channel", slack_emulator.channel("general").id)
    assert code == 0, output
    assert "OK    channel C0000001 (C0000001): the bot may post there" in output
    code, output = check(env, "--channel", slack_emulator.channel("general").id, "--post")
    assert code == 0, output
    assert "OK    test message posted to C0000001 and deleted" in output
    assert slack_emulator.messages("general") == []
    assert slack_emulator.count("chat.delete") == 1
    # a channel the bot is not in fails before any test post
    outside = slack_emulator.add_channel("outside", member=False)
    code, output = check(env, "--channel", outside.id, "--post")
    assert code == 1 and "FAIL  channel C0000003: not_in_channel" in output
    assert slack_emulator.count("chat.postMessage") == 1  # general's test post only


def test_check_rate_limited(slack_emulator, env):
    slack_emulator.rate_limit("auth.test", retry_after=30)
    code, output = check(env)
    assert code == 1
    assert "FAIL  token: ratelimited: Slack rate-limits this token; try again in 30 s" in output


def test_check_unreachable_slack(env):
    env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"  # discard port: nothing listens
    code, output = check(env)
    assert code == 1 and "cannot reach Slack" in output


# -- emulator ------------------------------------------------------------------------------
def test_emulator_subcommand_is_shared_by_processes(tmp_path, budget_state_dir):
    proc = subprocess.Popen([*CLI, "emulator", "--port", "0", "--channels", "ops,dev"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not (lines and lines[-1].startswith("export ")):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        exports = dict(item.split("=", 1) for item in shlex.split(lines[-1])[1:])
        assert exports["SLACK_CHANNEL_ID"] == "C0000001"
        assert any("#ops = C0000001" in line and "#dev = C0000002" in line for line in lines)
        state_url = next(line.split()[-1] for line in lines if "state:" in line)
        view_url = next(line.split()[1] for line in lines if "view:" in line)
        with urllib.request.urlopen(view_url, timeout=30) as answer:  # the channel view
            assert b"<title>Slack emulator</title>" in answer.read()
        client = WebClient(token=exports["SLACK_BOT_TOKEN"], base_url=exports["SLACK_API_URL"])
        assert client.chat_postMessage(channel="dev", text="hello")["ok"]
        env = {**os.environ, **exports, "CHAINER_SLACK_REPORT_STATE_DIR": str(budget_state_dir)}
        done = cli("run", *FAST, "--", "echo", "via the emulator", env=env)
        assert done.returncode == 0, done.stderr
        with urllib.request.urlopen(state_url, timeout=30) as answer:
            state = json.loads(answer.read())
        (message,) = state["channels"]["ops"]["messages"]
        assert message["text"].startswith("[Completed]") and "via the emulator" in message["text"]
        assert [m["text"] for m in state["channels"]["dev"]["messages"]] == ["hello"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_emulator_subcommand_json_and_scopes():
    proc = subprocess.Popen([*CLI, "emulator", "--json", "--scopes", "chat:write"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        client = WebClient(token=info["token"], base_url=info["url"])
        assert client.auth_test().headers["x-oauth-scopes"] == "chat:write"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# -- arguments, and no Chainer -------------------------------------------------------------
@pytest.mark.parametrize("args", [
    [],
    ["nonsense"],
    ["run"],
    ["run", "--"],
    ["run", "--tail", "0", "--", "true"],
    ["run", "--tail", "x", "--", "true"],
    ["run", "--template", "{status", "--", "true"],
    ["run", "--mention", "<bad mention", "--", "true"],
    ["run", "--update-limit", "fast", "--", "true"],
    ["watch"],
    ["watch", "log", "--idle", "-1"],
    ["watch", "log", "--interval", "0"],
    ["watch", "log", "--idle", "1", "--template", "{status"],
    ["check", "--bogus"],
    ["emulator", "--port", "x"],
], ids=lambda args: " ".join(args) or "none")
def test_bad_arguments_give_usage_and_exit_2(env, args):
    done = cli(*args, env=env, timeout=60)
    assert done.returncode == 2, done
    assert b"usage: chainer-slack-report" in done.stderr
    assert b"error:" in done.stderr
    assert done.stdout == b""
    assert env["SLACK_BOT_TOKEN"].encode() not in done.stderr


def test_help_and_version(env):
    done = cli("--help", env=env)
    assert done.returncode == 0 and b"run" in done.stdout and b"watch" in done.stdout
    done = cli("run", "--help", env=env)
    assert done.returncode == 0 and b"--tail N" in done.stdout
    assert b"--min-interval" not in done.stdout  # hidden
    for subcommand in ("run", "watch"):  # every placeholder a template may use
        text = " ".join(cli(subcommand, "--help", env=env).stdout.decode().split())
        missing = [name for name in BUILTIN_PLACEHOLDERS if "{" + name + "}" not in text]
        assert missing == [] and "{output}" in text
    done = cli("--version", env=env)
    assert done.returncode == 0 and done.stdout.startswith(b"chainer-slack-report ")


def test_the_tool_imports_no_chainer(slack_emulator, env, tmp_path):
    # a "chainer" that cannot be imported: the tool must never try
    blocker = tmp_path / "blocker" / "chainer"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the CLI imported chainer')\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker.parent),
                                                      env.get("PYTHONPATH")]))
    done = cli("run", *FAST, "--", "echo", "hi", env=env)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "log"
    log.write_text(json.dumps([{"epoch": 1}]))
    assert cli("watch", str(log), "--idle", "0.2", "--interval", "0.05", *FAST,
               env=env).returncode == 0
    assert cli("check", env=env).returncode == 0
    code = ("import sys; from chainer_slack_report import cli, __main__; cli.build_parser(); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'chainer'], 'chainer'")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
