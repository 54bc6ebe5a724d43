"""chainer_slack_report.ppe.SlackReport end to end: a real pytorch-pfn-extras loop on CPU,
the real WebClient, the local emulator."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import needs, table_rows, text_now, wait_until
from pytorch_pfn_extras.training import extension as ppe_extension
from pytorch_pfn_extras.training import extensions
from run_ppe import ENTRIES, Boom, Run

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.job.ranks import Process
from chainer_slack_report.ppe import SlackReport
from chainer_slack_report.unreported import FIRST_ROWS

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "run_ppe.py")
ROOT = os.path.dirname(HERE)


@pytest.fixture
def build(slack_emulator):
    """SlackReports wired to the emulator with a real WebClient; fast, no shared budget.

    flush_timeout is long: the emulator answers at once, but a busy machine may
    not run the worker for a while, and these tests check what was delivered."""

    def build(entries=None, channel="general", **kwargs):
        kwargs.setdefault("client", slack_emulator.client(timeout=5))
        kwargs.setdefault("min_interval", 0.0)
        kwargs.setdefault("flush_timeout", 30.0)
        kwargs.setdefault("update_limit", None)
        return SlackReport(None, channel, entries or ENTRIES, **kwargs)

    return build


@pytest.fixture
def no_slack_env(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_CHANNEL_ID", raising=False)


def only_message(emulator, channel="general"):
    messages = emulator.messages(channel)
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def column(text, index):
    return [int(row.split()[index]) for row in table_rows(text)]


def posted_first(report):
    """An ``after`` hook: wait for the message to exist before iteration 2, as it does
    long before a real epoch ends (a snapshot carries its ts only once it is posted)."""

    def after(iteration):
        if iteration == 1:
            assert report.report.wait_posted(30) is not None

    return after


def printed(text):
    """The lines PrintReport wrote, without its "erase below" escapes."""
    return text.replace("\033[J", "").splitlines()


# -- a run's message ------------------------------------------------------------------------
def test_one_post_then_updates_and_completed_with_every_row(slack_emulator, build, tmp_path):
    report = build()
    seen = []

    def after(iteration):
        if iteration == 4:  # the first row is in: the message says so before training goes on
            assert wait_until(lambda: text_now(slack_emulator).startswith("[Training]"),
                              timeout=30)
            seen.append(slack_emulator.messages("general")[0].text)

    run = Run(report, epochs=4, out=str(tmp_path))
    run.train(after=after)
    message = only_message(slack_emulator)
    posts = slack_emulator.calls_to("chat.postMessage")
    updates = slack_emulator.calls_to("chat.update")
    assert len(posts) == 1 and posts[0].params["channel"] == "general"
    assert len(updates) >= 2  # [Training] with the first row, ..., [Completed]
    assert all(c.params["ts"] == message.ts for c in updates)
    assert all(c.params["channel"] == message.channel for c in updates)  # the channel ID
    assert message.history[0].startswith("[Started]")
    assert column(seen[0], 0) == [1]
    assert message.text.startswith("[Completed]")
    log = run.manager.get_extension("LogReport").log
    assert column(message.text, 1) == [row["iteration"] for row in log] == [4, 8, 12, 16]
    assert report.live.posts == 1 and report.live.updates == len(updates)
    assert report.available


def test_a_typo_in_entries_is_named_once_with_the_closest_key(slack_emulator, build, tmp_path):
    report = build(["epoch", "main/los"], sparklines=["main/acuracy"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        Run(report, epochs=FIRST_ROWS + 1, out=str(tmp_path)).train()
    (warning,) = [w for w in record if issubclass(w.category, SlackReportWarning)
                  and "not reported in the first" in str(w.message)]
    assert str(warning.message) == (
        "SlackReport: 'main/los' of entries (did you mean 'main/loss'?); 'main/acuracy' of "
        f"sparklines (did you mean 'main/accuracy'?): not reported in the first {FIRST_ROWS} "
        "rows, so they show nothing until reported")
    assert only_message(slack_emulator).text.startswith("[Completed]")


def test_crash_in_run_iteration_gives_failed_without_finalize(slack_emulator, build, tmp_path):
    # LogReport every 5 iterations, SlackReport every 10: the crash at iteration 56
    # comes after LogReport's row 55, which SlackReport was never called for.
    report = build()
    probe = FinalizeProbe()
    run = Run(report, epochs=30, log_trigger=(5, "iteration"), report_trigger=(10, "iteration"),
              out=str(tmp_path), extra=[probe])
    with pytest.raises(Boom, match="loss exploded"):
        run.train(crash_at=56, crash=Boom("loss exploded <@U0BADBAD1>"))
    assert not probe.finalized  # ppe finalizes no extension after an error...
    assert report.live.delivered  # ...so on_error delivered [Failed] itself
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]")
    assert "Boom: loss exploded &lt;@U0BADBAD1&gt;" in text and "<@U0BADBAD1>" not in text
    assert "raise crash" in text  # the end of the traceback
    logged = [row["iteration"] for row in run.manager.get_extension("LogReport").log]
    assert logged == list(range(5, 56, 5))
    assert column(text, 1) == logged
    run.manager.finalize()  # as ppe's Trainer does after an error: changes nothing
    assert only_message(slack_emulator).text == text


class FinalizeProbe(ppe_extension.Extension):
    """An extension that notes whether the manager finalized it."""

    trigger = (1, "iteration")
    finalized = False

    def __call__(self, manager) -> None:
        pass

    def finalize(self, manager) -> None:
        self.finalized = True


def test_ctrl_c_with_finalize_in_finally_gives_interrupted(slack_emulator, build, tmp_path):
    report = build()
    run = Run(report, epochs=5, out=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        try:
            run.train(crash_at=7, crash=KeyboardInterrupt())
        finally:
            run.manager.finalize()
    text = only_message(slack_emulator).text
    assert text.startswith("[Interrupted]") and column(text, 1) == [4]


def test_finish_mentions_reply_in_the_thread(slack_emulator, build, tmp_path):
    slack_emulator.users["U0ALICE01"] = "alice"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = build(finish_mentions=["@alice", "U0BOB0001", "@here", "@nobody"])
        Run(report, epochs=2, out=str(tmp_path)).train()
    message = only_message(slack_emulator)
    mentions = "<@U0ALICE01> <@U0BOB0001> <!here> @nobody"
    assert message.text.rstrip().endswith(mentions)
    assert all(mentions not in t for t in message.history[:-1])  # only at the end
    (reply,) = message.replies
    assert reply.text.startswith(mentions) and "[Completed]" in reply.text
    assert any("nobody" in str(w.message) for w in caught)


def test_elapsed_is_the_managers_elapsed_time(slack_emulator, build, tmp_path, monkeypatch):
    from pytorch_pfn_extras.training import manager as manager_module

    now = [1000.0]
    monkeypatch.setattr(manager_module, "_get_time", lambda: now[0])
    report = build(template="{status} {elapsed}")
    run = Run(report, epochs=3, out=str(tmp_path))  # 12 iterations, 61 s between two
    run.train(after=lambda iteration: now.__setitem__(0, now[0] + 61))
    history = only_message(slack_emulator).history
    assert history[0] == "[Started] 0:00:00"
    # The stop trigger finalizes within iteration 12, 11 × 61 s after the first one
    # began, as LogReport's elapsed_time of that iteration says.
    assert run.manager.get_extension("LogReport").log[-1]["elapsed_time"] == 11 * 61
    assert history[-1] == "[Completed] 0:11:11"


def test_template_placeholders_and_the_byte_budget(slack_emulator, build, tmp_path):
    with pytest.warns(SlackReportWarning, match=r"\{nope\}"):
        report = build(template="{status} loss={main/loss:.2f} {nope}\n{content}",
                       len_normalizer="FIFO", max_bytes=600)
    Run(report, epochs=40, iters=2, log_trigger=(1, "iteration"), out=str(tmp_path)).train()
    message = only_message(slack_emulator)
    first_line, *_ = message.text.splitlines()
    assert first_line.startswith("[Completed] loss=") and first_line.endswith(" {nope}")
    assert all(len(t.encode("utf-8")) <= 600 for t in message.history)
    iterations = column(message.text, 1)
    assert iterations[-1] == 80 and iterations == list(range(iterations[0], 81))  # FIFO


# -- printed locally ----------------------------------------------------------------------------
def test_without_token_or_channel_it_prints_exactly_as_printreport(no_slack_env, tmp_path,
                                                                   capsys):
    def train(extension):
        Run(extension, epochs=3, log_trigger=(2, "iteration"), report_trigger=(1, "epoch"),
            out=str(tmp_path)).train()

    expected = io.StringIO()
    train(extensions.PrintReport(ENTRIES, out=expected))
    out = io.StringIO()
    with pytest.warns(SlackReportWarning, match="no bot token.*printed locally"):
        report = SlackReport(None, None, ENTRIES, out=out)
    train(report)
    assert out.getvalue() == expected.getvalue()
    lines = printed(out.getvalue())
    assert lines[0].split() == ENTRIES
    assert [int(line.split()[1]) for line in lines[1:]] == [2, 4, 6, 8, 10, 12]
    with pytest.warns(SlackReportWarning):
        report = SlackReport(None, None, ENTRIES)  # out=None: sys.stdout at each write
    capsys.readouterr()
    train(report)
    assert capsys.readouterr().out == expected.getvalue()
    assert not report.available and report.live is None


def test_after_slack_refuses_every_row_is_printed_once(slack_emulator, build, tmp_path, capsys):
    out = io.StringIO()
    report = build(out=out)

    def revoke(iteration):
        if iteration == 10:  # epoch 5 of 10
            slack_emulator.revoked = True

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Run(report, epochs=10, iters=2, log_trigger=(1, "epoch"), out=str(tmp_path)).train(
            after=revoke, sleep=0.005)
    assert any("token_revoked" in str(w.message) for w in caught)
    assert not report.available
    lines = printed(out.getvalue())
    assert lines[0].split() == ENTRIES  # PrintReport's own header, once
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(1, 11))
    err = capsys.readouterr().err
    assert err.startswith("[Completed]") and column(err, 0) == list(range(1, 11))


# -- resume from a state dict -------------------------------------------------------------------
def crash_after_a_snapshot(emulator, build, out):
    """4 epochs of 4 iterations; a snapshot every epoch; a crash in iteration 10."""
    report = build()
    run = Run(report, epochs=4, out=str(out),
              extra=[extensions.snapshot(filename="snap_{.iteration}")])
    with pytest.raises(Boom):
        run.train(crash_at=10, after=posted_first(report))
    (message,) = emulator.messages("general")
    assert message.text.startswith("[Failed]") and column(message.text, 1) == [4, 8]
    return os.path.join(str(out), "snap_8")


@pytest.mark.parametrize("how", ["load_state_dict", "autoload"])
def test_a_resumed_run_continues_its_message(slack_emulator, build, tmp_path, how):
    snapshot = crash_after_a_snapshot(slack_emulator, build, tmp_path)
    os.remove(os.path.join(str(tmp_path), "snap_4"))  # autoload takes the latest one
    failed_edits = len(slack_emulator.messages("general")[0].history)
    report = build()
    if how == "autoload":
        run = Run(report, epochs=4, out=str(tmp_path), extra=[
            extensions.snapshot(filename="snap_{.iteration}", autoload=True)])
    else:
        run = Run(report, epochs=4, out=str(tmp_path))
        run.manager.load_state_dict(torch.load(snapshot))
    run.train()
    message = only_message(slack_emulator)  # the same message, no second one
    assert report.live.ts == message.ts and report.live.posts == 0
    assert message.text.startswith("[Completed]")
    assert column(message.text, 1) == [4, 8, 12, 16]  # the full table
    assert message.history[failed_edits].startswith("[Training]")  # back from [Failed]
    (reply,) = message.replies
    assert reply.text.startswith("Resumed from iteration 8, epoch 2 on ")


def test_state_dicts_without_the_message_load_both_ways(slack_emulator, build, tmp_path):
    # ppe's PrintReport in SlackReport's place: its snapshot has no message keys
    old = Run(extensions.PrintReport(ENTRIES, out=io.StringIO()), epochs=2, name="SlackReport",
              out=str(tmp_path), extra=[extensions.snapshot(filename="old")])
    old.train()
    report = build()
    run = Run(report, epochs=3, out=str(tmp_path))
    run.manager.load_state_dict(torch.load(os.path.join(str(tmp_path), "old")))
    run.train()
    assert report.live.posts == 1  # a new message
    assert column(slack_emulator.messages("general")[-1].text, 1) == [4, 8, 12]
    # SlackReport's snapshot into ppe's PrintReport: the extra keys are not read
    report = build()
    Run(report, epochs=2, out=str(tmp_path),
        extra=[extensions.snapshot(filename="new")]).train(after=posted_first(report))
    state = torch.load(os.path.join(str(tmp_path), "new"))
    assert set(state["extensions"]["SlackReport"]["extension"]) == {"slack_channel_id",
                                                                    "slack_ts"}
    again = Run(extensions.PrintReport(ENTRIES, out=io.StringIO()), epochs=3,
                name="SlackReport", out=str(tmp_path))
    again.manager.load_state_dict(state)
    again.train()
    # an owned LogReport travels in PrintReport's own key, both ways
    owned = build(log_report=extensions.LogReport())
    Run(owned, epochs=2, log_report=False, out=str(tmp_path)).train(after=posted_first(owned))
    assert column(slack_emulator.messages("general")[-1].text, 1) == [4, 8]
    mine = owned.state_dict()
    assert "slack_ts" in mine
    assert [row["iteration"] for row in json.loads(mine["_log_report"]["_log"])][-2:] == [4, 8]
    theirs = extensions.PrintReport(ENTRIES, log_report=extensions.LogReport())
    theirs.load_state_dict(mine)
    assert theirs._log_report.log == owned._log_report.log
    fresh = build(log_report=extensions.LogReport())
    fresh.load_state_dict(theirs.state_dict())
    assert fresh._log_report.log == owned._log_report.log
    for state_dict in ({}, {"slack_channel_id": "", "slack_ts": None}):
        build().load_state_dict(state_dict)  # nothing to continue: a new message


# -- how a run ends without finalize, in real processes ----------------------------------------
@pytest.mark.parametrize("end, status, rows", [
    ("interrupt", "[Interrupted]", [4]),
    ("crash-outside", "[Failed]", [4]),
    ("early", "[Completed]", [4]),
])
def test_a_run_that_ppe_never_finalizes_ends_at_exit(slack_emulator, end, status, rows,
                                                     tmp_path):
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token}
    done = subprocess.run([sys.executable, SCRIPT, slack_emulator.url, "general", end,
                           "--end", end, "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode == 0) == (end == "early"), done.stderr
    message = only_message(slack_emulator)
    assert message.text.startswith(status) and column(message.text, 1) == rows
    if end == "crash-outside":
        assert "Boom: between iterations" in message.text
    assert all(f" {end} --end" in t for t in message.history)


def test_a_ppe_run_killed_without_finally_is_marked_by_its_watchdog(slack_emulator, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
    env["SLACK_BOT_TOKEN"] = slack_emulator.token
    proc = subprocess.Popen([sys.executable, SCRIPT, slack_emulator.url, "general", "killed",
                             "--end", "hang", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "HANGING", proc.stderr.read()
        assert wait_until(lambda: column(text_now(slack_emulator), 1) == [4, 8],
                          timeout=60)
        proc.kill()
        proc.wait(60)
        assert wait_until(lambda: text_now(slack_emulator).startswith("[Lost]"),
                          timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = only_message(slack_emulator).text
    assert f"PID {proc.pid} on " in text and column(text, 1) == [4, 8]


def test_torch_distributed_rank_0_posts_and_a_failing_rank_its_own(slack_emulator, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The launcher's variables say otherwise: torch.distributed decides.
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token, "RANK": "0",
           "WORLD_SIZE": "1", "GLOO_SOCKET_IFNAME": "lo"}
    procs = [subprocess.Popen([sys.executable, SCRIPT, slack_emulator.url, "general",
                               f"rank-{rank}", "--dist", str(rank), "2", str(port),
                               "--fail-rank", "1", "--end", "crash", "--out", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
             for rank in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert procs[0].returncode == 0, outputs[0][1]
    assert procs[1].returncode != 0 and "Boom: boom" in outputs[1][1]
    messages = {m.text.split()[3]: m for m in slack_emulator.messages("general")}
    assert sorted(messages) == ["rank-0", "rank-1"]
    assert messages["rank-0"].text.startswith("[Completed]")
    assert column(messages["rank-0"].text, 1) == [4, 8, 12, 16]
    assert all(t.startswith("[Failed]") for t in messages["rank-1"].history)  # no other post
    assert "Rank 1 of 2 failed" in messages["rank-1"].text


def test_an_initialized_process_group_wins_over_the_environment(monkeypatch, tmp_path,
                                                                no_slack_env):
    dist = pytest.importorskip("torch.distributed")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert SlackReport(None, None, ENTRIES).report.process == Process(3, 4)  # silent
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1)
    try:
        with pytest.warns(SlackReportWarning, match="printed locally"):  # rank 0 now
            assert SlackReport(None, None, ENTRIES).report.process == Process(0, 1)
    finally:
        dist.destroy_process_group()


# -- the same as the Chainer flavour: sparklines, plots, progress -------------------------------
def test_sparklines_progress_and_eta_in_a_ppe_loop(slack_emulator, build, tmp_path):
    report = build(template="{status} {progress} | ETA {eta}\n{content}",
                   sparklines=["main/loss"])
    run = Run(report, epochs=3, out=str(tmp_path))

    def after(iteration):  # the first row is in: wait for the message to show it
        if iteration == 4:
            assert wait_until(lambda: text_now(slack_emulator).startswith("[Training]"),
                              timeout=30)

    run.train(after=after)
    message = only_message(slack_emulator)
    # the manager's stop trigger (3 epochs) gives the progress while training
    training = [t for t in message.history if t.startswith("[Training]")]
    assert training and training[0].startswith("[Training] epoch 1/3 · 33 % | ETA ")
    assert message.text.startswith("[Completed]  | ETA \n")  # both vanish at the end
    # the whole run's loss curve, ending in the newest value
    last_loss = run.manager.get_extension("LogReport").log[-1]["main/loss"]
    (curve,) = [line for line in message.text.splitlines() if line.startswith("main/loss ")]
    assert curve.split()[-1] == format(last_loss, ".4g")
    assert len(curve.split()[1]) == 3 and set(curve.split()[1]) <= set("▁▂▃▄▅▆▇█")


def test_plots_upload_ppes_plotreport_images_into_the_thread(slack_emulator, build, tmp_path):
    pytest.importorskip("matplotlib")
    report = build(plots=True)
    run = Run(report, epochs=2, out=str(tmp_path), extra=[
        (extensions.PlotReport(["main/loss"], "epoch", filename="loss.png"),
         {"trigger": (1, "epoch")})])
    run.train()
    message = only_message(slack_emulator)
    assert message.text.startswith("[Completed]")
    (upload,) = [r for r in message.replies if r.files]
    assert [f["name"] for f in upload.files] == ["loss.png"]
    assert (tmp_path / "loss.png").read_bytes() == \
        slack_emulator.files[upload.files[0]["id"]]["content"]


def test_the_ppe_and_chainer_flavours_take_the_same_arguments():
    import inspect
    import pydoc

    ppe_params = list(inspect.signature(SlackReport).parameters)
    assert ppe_params[:5] == ["access_token", "channel_id", "entries", "log_report", "out"]
    assert {"sparklines", "plots", "min_interval", "options"} <= set(ppe_params)
    assert "min_interval: 'float' = 1.2" in pydoc.render_doc(SlackReport)  # help() lists them
    needs("chainer")
    from chainer_slack_report import SlackReport as ChainerSlackReport

    chainer_params = list(inspect.signature(ChainerSlackReport).parameters)
    assert chainer_params == ppe_params[:5] + ["comm"] + ppe_params[5:]


# -- pytorch-pfn-extras internals (flavours/ppe_compat.py) -------------------------------------
def test_restoring_is_true_only_inside_manager_load_state_dict(tmp_path):
    from chainer_slack_report.flavours import ppe_compat

    class Notes(ppe_extension.Extension):
        trigger = (1, "iteration")

        def __init__(self):
            self.seen = []

        def initialize(self, manager):
            self.seen.append(ppe_compat.restoring(manager))

        def __call__(self, manager):
            self.seen.append(ppe_compat.restoring(manager))

    first = Run(None, epochs=1, out=str(tmp_path), extra=[Notes()])
    first.train()
    state = first.manager.state_dict()
    notes = Notes()
    second = Run(None, epochs=2, out=str(tmp_path), extra=[notes])
    second.manager.load_state_dict(state)  # starts the extensions from within
    second.train()
    assert notes.seen[0] is True and not any(notes.seen[1:]) and len(notes.seen) == 5


def test_our_looker_sees_every_row_when_logreport_appends(slack_emulator, build, tmp_path):
    # LogReport(append=True) clears its own view of the rows after each write
    report = build(log_report=extensions.LogReport(append=True, filename="log.jsonl"))
    Run(report, epochs=3, out=str(tmp_path), log_report=False).train()
    assert column(only_message(slack_emulator).text, 1) == [4, 8, 12]


# -- construction and imports -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    ({"entries": None}, TypeError, "entries"),
    ({"entries": "main/loss"}, TypeError, "entries"),
    ({"entries": []}, ValueError, "entries"),
    ({"max_bytes": 10}, ValueError, "max_bytes"),
    ({"min_interval": "1"}, TypeError, "min_interval"),
    ({"len_normalizer": "random"}, ValueError, "random"),
    ({"template": "{status"}, ValueError, "template|brace"),
    ({"client": object()}, TypeError, "client"),
    ({"update_limit": 5}, TypeError, "update_limit"),
    ({"log_report": 42}, TypeError, "log_report"),
    ({"channel_id": 123}, TypeError, "channel_id"),
    ({"comm": object()}, TypeError, "comm"),  # no ChainerMN here
])
def test_bad_input_fails_at_construction(kwargs, error, match):
    kwargs = {"access_token": "xoxb-1-2-x", "channel_id": "general", "entries": ENTRIES,
              **kwargs}
    with pytest.raises(error, match=match):
        SlackReport(**kwargs)


def test_no_chainer_is_imported_and_a_missing_ppe_is_named():
    env = {**os.environ, "PYTHONPATH": ROOT}
    subprocess.run([sys.executable, "-c", "import chainer_slack_report.ppe, sys; "
                    "assert 'chainer' not in sys.modules, 'chainer imported'"],
                   check=True, env=env, timeout=120)
    done = subprocess.run([sys.executable, "-c", "import sys; "
                           "sys.modules['pytorch_pfn_extras'] = None; "
                           "import chainer_slack_report.ppe"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "ImportError: chainer_slack_report.ppe needs pytorch-pfn-extras" in done.stderr
    assert "pip install pytorch-pfn-extras" in done.stderr



def test_the_ppe_example_reports_to_the_emulator(tmp_path, no_slack_env):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_ppe.py"),
                           "--epochs", "2", "--latency", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if not k.startswith("SLACK_")})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[Completed]") and "train_ppe.py" in lines[0]
    header = lines[2].split()
    assert header == ["epoch", "train/loss", "val/loss", "val/accuracy", "elapsed_time"]
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]
    assert lines[-1].startswith("messages posted: 1, ")
