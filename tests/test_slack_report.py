"""SlackReport end to end: a real Trainer, the real WebClient, the local emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import warnings

import pytest
from chainer import training
from conftest import ENTRIES, Boom, make_trainer, table_rows

from chainer_slack_report import SlackReport, SlackReportWarning
from chainer_slack_report.rendering.mrkdwn import utf8_len


def only_message(emulator, channel="general"):
    messages = emulator.messages(channel)
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def table_epochs(text, column=0):
    return [int(r.split()[column]) for r in table_rows(text)]


def test_one_post_then_updates_to_the_same_ts(slack_emulator, report_factory):
    report = report_factory()
    make_trainer(report, epochs=4).run()
    message = only_message(slack_emulator)
    posts = slack_emulator.calls_to("chat.postMessage")
    updates = slack_emulator.calls_to("chat.update")
    assert len(posts) == 1 and posts[0].params["channel"] == "general"
    assert posts[0].params["unfurl_links"] is False
    assert updates and all(c.params["ts"] == message.ts for c in updates)
    assert all(c.params["channel"] == message.channel for c in updates)  # the channel ID
    assert message.history[0].startswith("[Started]")
    assert message.text.startswith("[Completed]")
    assert table_epochs(message.text) == [1, 2, 3, 4]
    assert report.live.posts == 1 and report.live.updates == len(updates)


def test_statuses_progress_started_training_completed(slack_emulator, report_factory):
    report = report_factory(min_interval=0.0)
    make_trainer(report, epochs=3, extra=[_Slow(0.05)]).run()
    statuses = [t.split()[0] for t in only_message(slack_emulator).history]
    assert statuses[0] == "[Started]" and statuses[-1] == "[Completed]"
    assert "[Training]" in statuses
    assert statuses.index("[Training]") < statuses.index("[Completed]")


def test_exception_gives_failed_with_type_message_and_traceback(slack_emulator, report_factory):
    report = report_factory()
    trainer = make_trainer(report, epochs=5, log_trigger=(1, "iteration"), crash_at=6,
                           crash=Boom("loss exploded <@U0BADBAD1>"))
    with pytest.raises(Boom):
        trainer.run()
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]")
    assert "Boom: loss exploded &lt;@U0BADBAD1&gt;" in text
    assert "<@U0BADBAD1>" not in text
    assert "raise self.exc" in text  # the end of the traceback
    assert table_epochs(text, column=1) == [1, 2, 3, 4, 5]  # iterations before the crash


def test_ctrl_c_gives_interrupted(slack_emulator, report_factory):
    report = report_factory()
    trainer = make_trainer(report, epochs=5, crash_at=5, crash=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert only_message(slack_emulator).text.startswith("[Interrupted]")


def test_burst_of_rows_is_coalesced_into_few_updates(slack_emulator, report_factory):
    slack_emulator.latency = 0.05
    report = report_factory(min_interval=0.3)
    trainer = make_trainer(report, epochs=60, log_trigger=(1, "iteration"), n=40,
                           extra=[_Slow(0.004)])  # 240 rows, ~1 s on an idle machine
    start = time.monotonic()
    trainer.run()
    took = time.monotonic() - start
    message = only_message(slack_emulator)
    updates = slack_emulator.calls_to("chat.update")
    # The bound comes from what this run measured, not from the machine's speed:
    # one update per min_interval while training, plus the final one, plus one.
    assert len(updates) <= took / 0.3 + 2, f"{len(updates)} updates in {took:.2f} s"
    assert len(message.history) == len(updates) + 1
    assert "240" in message.text.split("```")[1].splitlines()[-1]  # the newest row
    gaps = [b.started - a.started for a, b in zip(updates, updates[1:-1])]
    assert all(g >= 0.3 - 0.02 for g in gaps), gaps  # the final one may come sooner


def test_identical_text_is_not_sent_again(slack_emulator, report_factory):
    report = report_factory(template="{status}", min_interval=0.0)
    make_trainer(report, epochs=5, extra=[_Slow(0.02)]).run()
    texts = only_message(slack_emulator).history
    assert texts == ["[Started]", "[Training]", "[Completed]"]


def test_long_run_stays_within_the_byte_budget(slack_emulator, report_factory):
    report = report_factory(min_interval=0.0)
    make_trainer(report, epochs=150, log_trigger=(1, "iteration"), n=20).run()
    message = only_message(slack_emulator)
    assert all(utf8_len(t) <= 4000 for t in message.history)
    iterations = table_epochs(message.text, column=1)
    assert iterations[0] == 1 and iterations[-1] == 300  # thin_out: first and newest
    assert 20 < len(iterations) < 300


def test_template_with_observation_values_and_unknown_placeholder(slack_emulator, report_factory):
    with pytest.warns(SlackReportWarning, match=r"\{nope:>8\}|\{nope\}"):
        report = report_factory(template="{status} loss={main/loss:.2f} {nope:>8} {}\n{content}")
    make_trainer(report, epochs=2).run()
    first_line = only_message(slack_emulator).text.splitlines()[0]
    assert re.fullmatch(r"\[Completed\] loss=\d+\.\d\d \{nope:>8\} \{\}", first_line)


def test_data_is_escaped(slack_emulator, report_factory, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "<!channel>", "--tag=a&b", "```x",
                                      "--slack-token=xoxb-9-9-SECRET"])
    report = report_factory()
    make_trainer(report, epochs=1).run()
    text = only_message(slack_emulator).text
    assert "&lt;!channel&gt;" in text and "a&amp;b" in text
    assert "SECRET" not in text and "xoxb-[redacted]" in text
    assert "<!channel>" not in text and text.count("```") == 2


def test_finish_mentions_fill_placeholder_and_reply_in_thread(slack_emulator, report_factory):
    slack_emulator.users["U0ALICE01"] = "alice"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = report_factory(finish_mentions=["@alice", "U0BOB0001", "@here", "@nobody"])
        make_trainer(report, epochs=2).run()
    message = only_message(slack_emulator)
    mentions = "<@U0ALICE01> <@U0BOB0001> <!here> @nobody"
    assert message.text.rstrip().endswith(mentions)
    assert all(mentions not in t for t in message.history[:-1])  # only at the end
    (reply,) = message.replies
    assert reply.text.startswith(mentions) and "[Completed]" in reply.text
    assert slack_emulator.calls_to("users.list")
    assert any("nobody" in str(w.message) for w in caught)


def test_channel_name_is_resolved_to_the_id_for_updates(slack_emulator, report_factory):
    report = report_factory(channel="#random")
    make_trainer(report, epochs=2).run()
    assert report.live.channel_id == slack_emulator.channel("random").id
    assert only_message(slack_emulator, "random").text.startswith("[Completed]")


def test_elapsed_is_time_since_the_trainer_started(slack_emulator, report_factory):
    freezegun = pytest.importorskip("freezegun")
    with freezegun.freeze_time("2026-01-01 00:00:00") as frozen:
        report = report_factory(template="{status} {elapsed}")
        make_trainer(report, epochs=3, extra=[_Tick(frozen, 61)]).run()  # 12 iterations
    assert only_message(slack_emulator).text == "[Completed] 0:12:12"


def test_without_token_or_channel_it_prints_like_printreport(monkeypatch, capsys):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_CHANNEL_ID", raising=False)
    with pytest.warns(SlackReportWarning, match="no bot token.*printed locally"):
        report = SlackReport(None, None, ENTRIES)
    make_trainer(report, epochs=3).run()
    out = capsys.readouterr().out
    lines = [line for line in out.replace("\033[J", "").splitlines() if line.strip()]
    assert lines[0].split() == ENTRIES
    assert [int(line.split()[0]) for line in lines[1:]] == [1, 2, 3]


def test_token_and_channel_come_from_the_environment(slack_emulator, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack_emulator.token)
    monkeypatch.setenv("SLACK_CHANNEL_ID", slack_emulator.channel("general").id)
    client = slack_emulator.client(token=None)  # no token of its own: the variable's is used
    report = SlackReport(entries=ENTRIES, client=client, min_interval=0.0)
    make_trainer(report, epochs=1).run()
    assert only_message(slack_emulator).text.startswith("[Completed]")
    assert client.token is None  # the user's client is left as it was


def test_access_token_is_used_when_the_client_has_none(slack_emulator, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not_authed" warning, no fallback
        report = SlackReport(slack_emulator.token, "general", ENTRIES,
                             client=slack_emulator.client(token=None), min_interval=0.0)
        make_trainer(report, epochs=2).run()
    assert only_message(slack_emulator).text.startswith("[Completed]")
    assert report.available


def test_parallel_processes_each_keep_their_own_message(slack_emulator, tmp_path):
    slack_emulator.latency = 0.01
    script = os.path.join(os.path.dirname(__file__), "run_training.py")
    env = {**os.environ, "SLACK_BOT_TOKEN": slack_emulator.token,
           "CHAINER_SLACK_REPORT_STATE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, script, slack_emulator.url, "general",
                               f"run-{i}", "--per-iteration"],
                              stdout=subprocess.PIPE, text=True, env=env)
             for i in range(4)]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    messages = slack_emulator.messages("general")
    assert len(messages) == 4
    by_ts = {m.ts: m for m in messages}
    for i, output in enumerate(outputs):
        message = by_ts[output[output.index("TS") + 1]]
        assert all(f"run-{i}" in text for text in message.history), "mixed messages"
        assert message.text.startswith("[Completed]")
        assert table_epochs(message.text)[-1] == 8


class _Slow(training.Extension):
    """Makes each iteration take a little wall time, like real training."""

    trigger = (1, "iteration")

    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, trainer):
        import time

        time.sleep(self.seconds)


class _Tick(training.Extension):
    trigger = (1, "iteration")
    priority = training.PRIORITY_WRITER

    def __init__(self, frozen, seconds):
        self.frozen, self.seconds = frozen, seconds

    def __call__(self, trainer):
        self.frozen.tick(self.seconds)


def test_interpreter_exit_never_hangs_on_a_silent_slack(tmp_path):
    """A Slack that accepts connections but never answers must not keep Python alive."""
    script = tmp_path / "exit.py"
    script.write_text(
        "import socket, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from slack_sdk import WebClient\n"
        "from chainer_slack_report import SlackReport\n"
        "from conftest import ENTRIES, make_trainer\n"
        "silent = socket.socket(); silent.bind(('127.0.0.1', 0)); silent.listen(8)\n"
        "url = 'http://127.0.0.1:%d/api/' % silent.getsockname()[1]\n"
        "client = WebClient('xoxb-1-2-x', base_url=url, timeout=60, retry_handlers=[])\n"
        "report = SlackReport(None, 'general', ENTRIES, client=client, flush_timeout=0.5)\n"
        "trainer = make_trainer(report, epochs=2)\n"
        "report.initialize(trainer)  # the worker is now stuck in chat.postMessage\n"
        "report(trainer)\n"
        "print('leaving')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and "leaving" in done.stdout


def test_rows_logged_after_the_last_call_reach_the_failed_message(slack_emulator,
                                                                  report_factory):
    # LogReport every 5 iterations, SlackReport every 10: the crash at iteration 55
    # comes before LogReport's row 55, and rows 45 and 50 after SlackReport's last call.
    report = report_factory()
    trainer = make_trainer(report, epochs=30, log_trigger=(5, "iteration"),
                           report_trigger=(10, "iteration"), crash_at=55, n=40)
    with pytest.raises(Boom):
        trainer.run()
    text = only_message(slack_emulator).text
    assert text.startswith("[Failed]")
    logged = [row["iteration"] for row in trainer.get_extension("LogReport").log]
    assert logged == list(range(5, 51, 5))
    assert table_epochs(text, column=1) == logged


class _Report(training.Extension):
    """Reports ``key`` every ``every`` iterations, as an Evaluator reports validation."""

    trigger = (1, "iteration")
    priority = training.PRIORITY_WRITER

    def __init__(self, key, every):
        self.key, self.every = key, every

    def __call__(self, trainer):
        import chainer

        iteration = trainer.updater.iteration
        if iteration % self.every == 0:
            chainer.report({self.key: iteration / 100})


def test_placeholders_show_the_latest_value_ever_reported(slack_emulator, report_factory):
    with pytest.warns(SlackReportWarning, match=r"\{nope\}"):
        report = report_factory(
            entries=["iteration", "main/loss", "val/acc"], min_interval=0.0,
            template="{status} val={val/acc:.2%} it={iteration} {nope}\n{content}")
    make_trainer(report, epochs=6, log_trigger=(1, "iteration"),
                 extra=[_Report("val/acc", 4), _Slow(0.01)]).run()
    history = only_message(slack_emulator).history
    first_lines = [t.splitlines()[0] for t in history]
    assert first_lines[0] == "[Started] val=– it=– {nope}"  # entries not reported yet
    reported = [line for line in first_lines if "val=–" not in line]
    assert reported and all(re.search(r"val=\d+\.\d\d% it=\d+ \{nope\}$", line)
                            for line in reported)
    assert first_lines[-1] == "[Completed] val=24.00% it=24 {nope}"
    assert all("{val/acc" not in line for line in first_lines)


def test_updates_are_sent_for_news_and_the_clock_only_every_refresh_interval(
        slack_emulator, report_factory):
    # SlackReport is called every iteration (PrintReport's default trigger) but
    # LogReport writes a row every epoch: the calls in between carry no news.
    report = report_factory(template="{status} {elapsed}\n{content}", min_interval=0.0,
                            refresh_interval=1.0, update_limit=None)
    start = time.monotonic()
    trainer = make_trainer(report, epochs=2, log_trigger=(1, "epoch"),
                           report_trigger=(1, "iteration"),
                           extra=[_Slow(0.5)])  # 8 iterations: 2 s or more per row
    trainer.run()
    took = time.monotonic() - start
    history = only_message(slack_emulator).history
    tables = [t.split("\n", 1)[1] for t in history]
    statuses = [t.split()[0] for t in history]
    news = [i for i in range(1, len(history))
            if tables[i] != tables[i - 1] or statuses[i] != statuses[i - 1]]
    clock_only = len(history) - 1 - len(news)
    assert len(news) <= 2 + 2  # two rows, [Training], [Completed]
    assert clock_only <= took / 1.0 + 1  # at most one clock refresh per refresh_interval
    assert clock_only >= 1  # the clock did move in 2 s without news
