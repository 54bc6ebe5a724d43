"""chainer_slack_report.Run, the live message of a loop of one's own, end to end: the real
WebClient, the local emulator, real signals; one plain PyTorch loop on CPU."""

from __future__ import annotations

import io
import os
import signal
import warnings

import pytest
from conftest import needs, table_rows, text_now, wait_until
from loop_helpers import column, emulator_options, of_type, only_message, run_example

from chainer_slack_report import Run, SlackReportWarning
from chainer_slack_report.rendering.message import format_header, format_row

ENTRIES = ["epoch", "loss", "accuracy"]


class Boom(RuntimeError):
    pass


def rows(epochs):
    return [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + e / 100} for e in range(1, epochs + 1)]


def test_rows_progress_and_completed(slack_emulator):
    with Run(None, "general", ENTRIES, total=4,
             **emulator_options(slack_emulator)) as run:
        for row in rows(4):
            run.log(row)
            if row["epoch"] == 2:  # the message shows the run while it runs
                assert wait_until(lambda: "epoch 2/4 · 50 % · ETA 0:00:0" in text_now(
                    slack_emulator), timeout=30)
                assert text_now(slack_emulator).startswith("[Training]")
    message = only_message(slack_emulator)
    assert message.history[0].startswith("[Started]")
    assert message.text.startswith("[Completed]")  # no progress in a final status
    assert column(message.text, 0) == ["1", "2", "3", "4"]
    assert column(message.text, 1) == ["1", "0.5", "0.333333", "0.25"]
    assert len(slack_emulator.calls_to("chat.postMessage")) == 1
    assert run.available and run.state_dict() == {"slack_channel_id": message.channel,
                                                  "slack_ts": message.ts}


def test_an_exception_in_the_block_is_failed_and_goes_on(slack_emulator):
    with pytest.raises(Boom, match="loss exploded"):
        with Run(None, "general", ENTRIES, **emulator_options(slack_emulator)) as run:
            run.log(rows(1)[0])
            raise Boom("loss exploded <@U0BADBAD1>")
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]")
    assert "Boom: loss exploded &lt;@U0BADBAD1&gt;" in text
    assert column(text, 0) == ["1"]


def test_a_real_sigint_is_interrupted(slack_emulator):
    with pytest.raises(KeyboardInterrupt):
        with Run(None, "general", ["iteration", "loss"], total=(30, "iteration"),
                 **emulator_options(slack_emulator)) as run:
            for iteration in range(1, 31):
                run.log({"iteration": iteration, "loss": 1.0 / iteration})
                if iteration == 3:
                    assert wait_until(lambda: "iteration 3/30 · 10 %" in text_now(
                        slack_emulator), timeout=30)
                    os.kill(os.getpid(), signal.SIGINT)  # Python raises it in this thread
    text = only_message(slack_emulator).text
    assert text.startswith("[Interrupted]") and column(text, 0) == ["1", "2", "3"]


def test_sys_exit_with_a_status_is_failed_and_without_is_completed(slack_emulator):
    for code, status in ((3, "[Failed]"), (0, "[Completed]")):
        with pytest.raises(SystemExit):
            with Run(None, "general", ENTRIES, **emulator_options(slack_emulator)):
                raise SystemExit(code)
        assert slack_emulator.messages("general")[-1].text.startswith(status)


def test_without_a_token_the_table_is_printed_as_printreport_prints_it(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    out = io.StringIO()
    with pytest.warns(SlackReportWarning, match="no bot token"):
        run = Run(None, "general", ENTRIES, out=out)
    with run:
        for row in rows(3):
            run.log(row)
    assert not run.available
    assert out.getvalue().splitlines() == [format_header(ENTRIES)] + [
        format_row(ENTRIES, row) for row in rows(3)]
    assert out.getvalue().splitlines()[1].split() == ["1", "1", "0.51"]


def test_a_rank_other_than_0_is_silent_unless_it_fails(slack_emulator, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = io.StringIO()
    with Run(None, "general", ENTRIES, out=out, **emulator_options(slack_emulator)) as run:
        for row in rows(3):
            run.log(row)
    assert slack_emulator.messages("general") == [] and out.getvalue() == ""
    with pytest.raises(Boom):
        with Run(None, "general", ENTRIES, **emulator_options(slack_emulator)):
            raise Boom("rank 1 ran out of data")
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]") and "Rank 1 of 2 failed" in text


def test_resume_continues_the_message(slack_emulator):
    with Run(None, "general", ENTRIES, **emulator_options(slack_emulator)) as run:
        run.log(rows(1)[0])
        assert run.report.wait_posted(30) is not None
    state = run.state_dict()
    with Run(None, "general", ENTRIES, resume=state, **emulator_options(slack_emulator)) as run:
        run.log(rows(2)[1])
    message = only_message(slack_emulator)
    assert message.ts == state["slack_ts"] and message.text.startswith("[Completed]")
    assert [r.text for r in message.replies][0].startswith("Resumed from a checkpoint on ")
    assert column(message.text, 0) == ["2"]  # this run's rows (as a resumed LogReport shows)


def test_blocks_layout(slack_emulator):
    with Run(None, "general", ENTRIES, layout="blocks", chart=["loss"],
             **emulator_options(slack_emulator)) as run:
        for row in rows(3):
            run.log(row)
    message = only_message(slack_emulator)
    (table,) = of_type(message.blocks, "data_table")
    assert [c["text"] for c in table["rows"][0]] == ENTRIES
    assert len(table["rows"]) == 4 and len(of_type(message.blocks, "data_visualization")) == 1
    assert message.text.startswith("[Completed]")


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(TypeError, match="total must be a number of epochs"):
        Run(None, "general", ENTRIES, total="10")
    with pytest.raises(ValueError, match="total must be a positive"):
        Run(None, "general", ENTRIES, total=(0, "iteration"))
    with pytest.raises(TypeError, match="Run got unexpected keyword argument 'totl'"):
        Run(None, "general", ENTRIES, totl=3)
    with pytest.raises(TypeError, match="resume must be a dict"):
        Run(None, "general", ENTRIES, resume="1234.5678")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Run(None, None, ENTRIES, out=io.StringIO())
    with pytest.raises(TypeError, match="Run.log takes a dict"):
        run.log([1, 2])


def test_a_plain_pytorch_loop(slack_emulator):
    needs("torch")
    import torch

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x.sum(dim=1) > 0).long()
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with Run(None, "general", ["epoch", "iteration", "loss", "accuracy"], total=5,
             sparklines=["loss"], **emulator_options(slack_emulator)) as run:
        iteration = 0
        for epoch in range(1, 6):
            for batch in range(4):
                xb, yb = x[batch * 16:(batch + 1) * 16], y[batch * 16:(batch + 1) * 16]
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                iteration += 1
            with torch.no_grad():
                accuracy = (model(x).argmax(dim=1) == y).float().mean()
            run.log({"epoch": epoch, "iteration": iteration, "loss": loss.detach(),
                     "accuracy": accuracy})  # 0-d tensors
    text = only_message(slack_emulator).text
    assert text.startswith("[Completed]")
    assert [row.split()[:2] for row in table_rows(text)] == [
        [str(e), str(4 * e)] for e in range(1, 6)]
    assert all(0.0 <= float(row.split()[3]) <= 1.0 for row in table_rows(text))
    name, curve, newest = text.split("```")[3].split()  # the sparkline, from 5 numbers
    assert (name, len(curve)) == ("loss", 5) and "tensor" not in text
    assert float(newest) == pytest.approx(float(table_rows(text)[-1].split()[2]), rel=1e-2)


def test_the_plain_loop_example_reports_to_the_emulator():
    needs("torch")
    lines = run_example("train_loop.py")
    assert lines[2].split() == ["epoch", "train/loss", "val/loss", "val/accuracy"]
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]


def test_the_docs_example_runs_as_written(slack_emulator, tmp_path):
    """The complete plain-PyTorch example on docs/loops.md, run with Slack's settings
    pointing at the emulator."""
    needs("torch")
    import re
    import subprocess
    import sys

    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
    with open(os.path.join(docs, "loops.md"), encoding="utf-8") as file:
        section = file.read().split("## Your own loop", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "with Run(" in code and "run.log(" in code
    (tmp_path / "example.py").write_text(code.replace("EPOCHS = 20", "EPOCHS = 3"))
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token,
           "SLACK_CHANNEL_ID": "general", "SLACK_API_URL": slack_emulator.url}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed]") and column(message.text, 0) == ["1", "2", "3"]
    assert [reply.text.split()[0] for reply in message.replies] == ["<!here>"]


def test_a_run_killed_by_sigkill_is_marked_by_its_watchdog(slack_emulator, tmp_path):
    """A real process with its real watchdog, killed by SIGKILL from outside mid-run."""
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(
        "import time\n"
        "from chainer_slack_report import Run\n"
        "with Run(None, 'general', ['epoch', 'loss'], min_interval=0, update_limit=None) as run:\n"
        "    for epoch in (1, 2, 3):\n"
        "        run.log({'epoch': epoch, 'loss': 1 / epoch})\n"
        "    time.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env.update(SLACK_BOT_TOKEN=slack_emulator.token, SLACK_API_URL=slack_emulator.url)
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        assert wait_until(lambda: len(table_rows(text_now(slack_emulator))) == 3, timeout=60)
    finally:
        proc.kill()  # SIGKILL
    assert proc.wait(60) == -signal.SIGKILL
    assert wait_until(lambda: text_now(slack_emulator).startswith("[Lost]"), timeout=60), \
        text_now(slack_emulator)
    text = text_now(slack_emulator)
    assert "ended without a final report (SIGKILL or os._exit?)" in text
    assert column(text, 0) == ["1", "2", "3"]


def test_slack_refusing_the_report_prints_every_row_locally(slack_emulator):
    out = io.StringIO()
    with pytest.warns(SlackReportWarning, match="channel_not_found"):
        with Run(None, "no-such-channel", ENTRIES, out=out,
                 **emulator_options(slack_emulator)) as run:
            for row in rows(3):
                run.log(row)
    assert not run.available and slack_emulator.messages("general") == []
    assert out.getvalue().splitlines() == [format_header(ENTRIES)] + [
        format_row(ENTRIES, row) for row in rows(3)]


def test_two_runs_of_a_loop_share_one_board(slack_emulator):
    """board= in the loop flavour: two Runs of one process show in one board message, each
    run's own message a reply in its thread."""
    options = emulator_options(slack_emulator, board="loop-sweep")
    with Run(None, "general", ENTRIES, run_name="lr=0.1", **options) as first, \
            Run(None, "general", ENTRIES, run_name="lr=0.01", **options) as second:
        for row in rows(3):
            first.log(row)
            second.log({**row, "loss": row["loss"] / 2})

    def board_final():
        messages = slack_emulator.messages("general")
        return messages and "2 runs: 2 completed" in messages[0].text
    assert wait_until(board_final, timeout=60), [m.text for m in
                                                 slack_emulator.messages("general")]
    messages = slack_emulator.messages("general")
    assert len(messages) == 1  # the channel holds the board alone
    board = messages[0]
    names = [line.split()[0] for line in table_rows(board.text)]
    assert sorted(names) == ["lr=0.01", "lr=0.1"]
    assert wait_until(lambda: sum(r.text.startswith("[Completed]")
                                  for r in slack_emulator.messages("general")[0].replies) == 2,
                      timeout=60)


def board_and_runs(emulator, board):
    """The channel's board message (its text starts with ``*board*``) and the other
    top-level messages; (None, [...]) before the board is posted."""
    messages = emulator.messages("general")
    boards = [m for m in messages if m.text.startswith(f"*{board}*")]
    assert len(boards) <= 1, [m.text for m in messages]  # one board message, never two
    return (boards[0] if boards else None), [m for m in messages if m not in boards]


def board_ended(emulator, board, runs):
    """A ``wait_until`` predicate: the board shows ``runs`` runs completed."""
    def check():
        message, _ = board_and_runs(emulator, board)
        return message is not None and f"{runs} runs: {runs} completed" in message.text
    return check


def test_runs_that_end_within_a_second_post_in_the_boards_thread(slack_emulator):
    """Two Runs (each in a thread of its own, as in two processes) that end within a second,
    while the board's post is still on its way — the one that does not keep the board
    first, then the one that does, which closes the board: each run's own message is still
    a reply in the board's thread (never top-level), and every run's message comes before
    the thread's reply that the whole board ended."""
    import threading

    options = emulator_options(slack_emulator, board="quick")
    # every post takes a while: the board's post is still on its way when both runs end
    slack_emulator.latency = lambda method: 2.0 if method == "chat.postMessage" else 0.0
    names = ("lr=0.1", "lr=0.01")
    end = {name: threading.Event() for name in names}
    runs, errors = {}, []

    def train(name, loss):
        try:
            with Run(None, "general", ENTRIES, run_name=name, **options) as run:
                runs[name] = run
                for row in rows(2):
                    run.log({**row, "loss": row["loss"] * loss})
                end[name].wait(60)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)
    threads = [threading.Thread(target=train, args=(name, loss))
               for name, loss in zip(names, (1.0, 0.5))]
    for thread in threads:
        thread.start()
    document = board_document(slack_emulator, "quick")
    # which run keeps the board (it holds the lease), as the board's document says
    assert wait_until(lambda: document.view(lambda state, now: len(state.members) == 2 and (
        state.holder in state.members)), timeout=60)
    holder = document.view(lambda state, now: state.members[state.holder].row.name)
    (other,) = set(names) - {holder}
    end[other].set()
    assert wait_until(lambda: document.view(lambda state, now: any(
        member.row.name == other and member.row.status.final
        for member in state.members.values())), timeout=60)
    end[holder].set()  # every run has ended: the holder closes the board
    for thread in threads:
        thread.join(120)
    assert not errors and len(runs) == 2, errors
    assert wait_until(board_ended(slack_emulator, "quick", 2), timeout=60), \
        [m.text for m in slack_emulator.messages("general")]
    assert wait_until(lambda: ended_replies(board_and_runs(slack_emulator, "quick")[0]),
                      timeout=60)
    board, others = board_and_runs(slack_emulator, "quick")
    assert others == [], [m.text for m in others]  # no run's message is top-level
    replies = [r.text for r in board.replies]
    assert [text.split()[0] for text in replies] == ["[Completed]", "[Completed]", "Every"], \
        replies  # both runs' own messages, then (only then) the board's end
    own = sorted(run.state_dict()["slack_ts"] for run in runs.values())
    assert sorted(r.ts for r in board.replies[:2]) == own


def boards(emulator, board):
    """The channel's board messages of ``board``, oldest first."""
    return [m for m in emulator.messages("general") if m.text.startswith(f"*{board}*")]


def board_document(emulator, board):
    """The board's shared document, in the real store its runs use (the test's state
    directory)."""
    from chainer_slack_report.board.store import open_board_store
    from chainer_slack_report.transport.client import api_url

    client = emulator.client()
    return open_board_store(api_url(client), client.token, "general", board)


def age_board(emulator, board, seconds):
    """Move every time of the board's document ``seconds`` into the past: the board's rules
    read only how long ago its times were, so this is the store's clock read ``seconds``
    later (no sleeping through the grace)."""
    def fn(state, now):
        if state.closed_at is not None:
            state.closed_at -= seconds
        state.lease_until -= seconds
        for member in state.members.values():
            member.seen -= seconds
        return None, True
    board_document(emulator, board).update(fn)


def run_quickly(emulator, board, name, loss=1.0):
    """A Run of board ``board`` named ``name`` that logs two rows and ends; the Run."""
    with Run(None, "general", ENTRIES, run_name=name,
             **emulator_options(emulator, board=board)) as run:
        for row in rows(2):
            run.log({**row, "loss": row["loss"] * loss})
    return run


def ended_replies(message):
    return [r for r in message.replies if r.text.startswith("Every run has ended")]


def test_a_run_within_the_grace_reopens_the_board_and_after_it_starts_a_new_one(
        slack_emulator):
    import time

    from chainer_slack_report.board.state import GRACE

    options = emulator_options(slack_emulator, board="grace")
    with Run(None, "general", ENTRIES, run_name="lr=0.1", **options) as first, \
            Run(None, "general", ENTRIES, run_name="lr=0.01", **options) as second:
        for row in rows(2):
            first.log(row)
            second.log(row)
    assert wait_until(lambda: [len(ended_replies(m)) for m in boards(slack_emulator, "grace")]
                      == [1], timeout=60), [m.text for m in slack_emulator.messages("general")]
    (board,) = boards(slack_emulator, "grace")
    assert "2 runs: 2 completed" in board.text  # the board's final status
    closed_at = board_document(slack_emulator, "grace").view(lambda state, now: state.closed_at)
    assert closed_at is not None

    third = run_quickly(slack_emulator, "grace", "lr=0.001", loss=0.5)  # within the grace
    joined_by = time.time() - closed_at  # (the file store's clock is time.time)
    assert joined_by < GRACE, f"the run ended only {joined_by:.1f} s after the board closed"
    assert wait_until(lambda: len(ended_replies(boards(slack_emulator, "grace")[0])) == 2,
                      timeout=60), [m.text for m in slack_emulator.messages("general")]
    (board,) = boards(slack_emulator, "grace")  # the same message, reopened and ended again
    assert "3 runs: 3 completed" in board.text
    assert sorted(line.split()[0] for line in table_rows(board.text)) == [
        "lr=0.001", "lr=0.01", "lr=0.1"]
    assert third.state_dict()["slack_ts"] in [r.ts for r in board.replies]
    assert len(slack_emulator.messages("general")) == 1

    age_board(slack_emulator, "grace", GRACE + 1.0)  # the grace has passed
    old = (board.ts, board.text, list(board.history), [r.text for r in board.replies])
    aged_at = time.time()
    fourth = run_quickly(slack_emulator, "grace", "lr=1.0")
    assert wait_until(lambda: len(boards(slack_emulator, "grace")) == 2 and len(
        ended_replies(boards(slack_emulator, "grace")[1])) == 1, timeout=60), [
        m.text for m in slack_emulator.messages("general")]
    old_board, new_board = boards(slack_emulator, "grace")
    assert new_board.text.startswith("*grace* · 1 run: 1 completed")
    assert [line.split()[0] for line in table_rows(new_board.text)] == ["lr=1.0"]
    assert fourth.state_dict()["slack_ts"] in [r.ts for r in new_board.replies]
    # the old board is left as it was: not edited, nothing more in its thread
    assert (old_board.ts, old_board.text, old_board.history,
            [r.text for r in old_board.replies]) == old
    assert not [call for call in slack_emulator.calls_to("chat.update")
                if call.params.get("ts") == old[0] and call.started >= aged_at]
    assert len(slack_emulator.messages("general")) == 2


def test_board_thread_false_keeps_every_runs_message_top_level(slack_emulator):
    options = emulator_options(slack_emulator, board="flat", board_thread=False)
    with Run(None, "general", ENTRIES, run_name="lr=0.1", **options) as first, \
            Run(None, "general", ENTRIES, run_name="lr=0.01", **options) as second:
        for row in rows(3):
            first.log(row)
            second.log({**row, "loss": row["loss"] / 2})
    assert wait_until(lambda: [len(ended_replies(m)) for m in boards(slack_emulator, "flat")]
                      == [1], timeout=60), [m.text for m in slack_emulator.messages("general")]
    (board,) = boards(slack_emulator, "flat")  # one board message, top-level
    assert board.text.startswith("*flat* · 2 runs: 2 completed")
    assert sorted(line.split()[0] for line in table_rows(board.text)) == ["lr=0.01", "lr=0.1"]
    assert all("[Completed]" in line for line in table_rows(board.text))
    assert [r.text.split()[0] for r in board.replies] == ["Every"]  # no run's message in it
    runs = [m for m in slack_emulator.messages("general") if m is not board]
    assert sorted(m.ts for m in runs) == sorted(run.state_dict()["slack_ts"]
                                                for run in (first, second))
    assert all(m.text.startswith("[Completed]") and not m.replies for m in runs)
