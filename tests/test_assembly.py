"""One assembly for the run and its watchdog: the watchdog's final edit is the run's message.

Real training processes (tests/run_training.py) are SIGKILLed; their watchdog builds the
``[Lost]`` edit from the run's :class:`ReportDescription` (blocks layout and charts kept,
the user's client settings used, a callable ``len_normalizer``'s last rows shown).  A test
generated over every field of ``ReportOptions`` shows that what the watchdog builds from
the JSON description renders exactly what the run renders.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import ssl
import threading
import urllib.error
import urllib.request

import pytest
from conftest import table_rows, wait_until
from slack_sdk import WebClient
from test_endings import TIMEOUT, final_text, start

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.assembly import Assembly, ClientSettings, ReportDescription
from chainer_slack_report.options import ReportOptions
from chainer_slack_report.outcome import Outcome, Status
from chainer_slack_report.run_report import RunReport

RUN_INFO = {"hostname": "node-7", "pwd": "/home/u/exp", "pwdshort": "~/exp",
            "cmd": "train.py", "args": "--lr 0.1", "command": "train.py --lr 0.1", "ranks": ""}
ENTRIES = ["epoch", "iteration", "main/loss", "validation/main/loss", "note"]


def newest_two(rows, budget):
    return rows[-2:]


#: A value other than the default for every field of ReportOptions, and the options it
#: needs beside it.  A new option fails test_every_option_has_a_sample until it has one.
SAMPLES = {
    "template": ({"template": "{status} {hostname} {main/loss:.3f} {finish_mentions}\n"
                              "{content}\n{sparklines}"}, {}),
    "finish_mentions": ({"finish_mentions": ["@here", "U0123ABCD", "S0123ABCD"]}, {}),
    "len_normalizer": ({"len_normalizer": "FIFO"}, {}),
    "len_normalizer (callable)": ({"len_normalizer": newest_two}, {}),
    "client": ({"client": WebClient(token="xoxb-1", headers={"X-Through": "gw"})}, {}),
    "max_bytes": ({"max_bytes": 400}, {}),
    "min_interval": ({"min_interval": 3.0}, {}),
    "flush_timeout": ({"flush_timeout": 2.0}, {}),
    "http_timeout": ({"http_timeout": 4.0}, {}),
    "refresh_interval": ({"refresh_interval": 7.0}, {}),
    "exit_timeout": ({"exit_timeout": 5.0}, {}),
    "update_limit": ({"update_limit": (20, 30.0)}, {}),
    "sparklines": ({"sparklines": ["main/loss", "validation/main/loss"]}, {}),
    "plots": ({"plots": ["loss.png"]}, {}),
    "watchdog": ({"watchdog": False}, {}),
    "lost_after": ({"lost_after": 120.0}, {}),
    "stall_after": ({"stall_after": 900.0}, {}),
    "store": ({"store": "redis://:secret@127.0.0.1:9/0"}, {}),
    "layout": ({"layout": "blocks"}, {}),
    "chart": ({"chart": [["main/loss", "validation/main/loss"]]}, {"layout": "blocks"}),
    "board": ({"board": "lr-sweep"}, {}),
    "run_name": ({"run_name": "lr={main/loss}"}, {"board": "lr-sweep"}),
    "board_thread": ({"board_thread": False}, {"board": "lr-sweep"}),
}


def test_every_option_has_a_sample():
    names = {field.name for field in dataclasses.fields(ReportOptions)}
    assert names <= {name.split(" ")[0] for name in SAMPLES}, names - set(SAMPLES)


def observations(count):
    return [{"epoch": i, "iteration": 10 * i, "main/loss": 1.0 / i,
             "validation/main/loss": 1.2 / i, "note": "<b>&" if i % 3 else "ok"}
            for i in range(1, count + 1)]


def rendered(assembly):
    text = assembly.message.render(assembly.options.max_bytes)
    blocks = assembly.blocks.render() if assembly.blocks is not None else None
    return text, blocks


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("outcome", [Outcome(Status.COMPLETED),
                                     Outcome.lost("PID 1 on node-7 ended without a final "
                                                  "report")], ids=["completed", "lost"])
def test_the_watchdog_renders_what_the_run_renders(sample, outcome):
    """For each option: the run's assembly and one built from its description as JSON
    (what the watchdog gets) show the same text and blocks for the same rows and end."""
    values, beside = SAMPLES[sample]
    options = ReportOptions(**beside, **values)
    description, _ = ReportDescription.of(channel="C1", entries=ENTRIES, options=options,
                                          run_info=RUN_INFO, client=options.client)
    run = Assembly(description, options)
    watchdog = Assembly(ReportDescription.from_json(description.to_json()))
    rows = observations(60)
    for new, end in ((rows[:1], False), (rows[1:], True)):  # a row; then more than fit, end
        for assembly in (run, watchdog):
            assembly.push(new)
            if end:
                assembly.message.end(outcome, 3725.0)
        expected = rendered(run)
        shown = run.shown_rows()
        if shown is not None:  # a callable: the run hands over the rows it rendered
            watchdog.give_rows(shown)
        assert rendered(watchdog) == expected
    assert watchdog.message.reply_text() == run.message.reply_text()
    assert watchdog.message.notice_text(1.7e9) == run.message.notice_text(1.7e9)


def test_what_cannot_travel_is_named_once_at_start(slack_emulator, monkeypatch):
    monkeypatch.delenv("CHAINER_SLACK_REPORT_WATCHDOG", raising=False)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    class Custom(WebClient().retry_handlers[0].__class__):
        pass

    client = WebClient(token=slack_emulator.token, base_url=slack_emulator.url, ssl=context,
                       retry_handlers=[Custom()])
    report = RunReport(None, "general", ["epoch"], ReportOptions(
        client=client, len_normalizer=newest_two, lost_after=None))
    with pytest.warns(SlackReportWarning) as caught:
        report.start(lambda: 0.0, watch_signals=False)
    report.end(Outcome(Status.COMPLETED))
    (warning,) = [w for w in caught if "watchdog cannot be given" in str(w.message)]
    text = str(warning.message)
    assert "len_normalizer=<function newest_two" in text and "rows the run last" in text
    assert "ssl.SSLContext" in text and "custom retry handlers (Custom)" in text
    settings, _ = ClientSettings.of(client)
    assert settings.ssl_verify is False  # what of the SSLContext can travel does
    assert settings.client(None).ssl.verify_mode == ssl.CERT_NONE


# -- real runs, SIGKILLed ----------------------------------------------------------------
def killed_at_epoch_3(emulator, *args, url=None):
    """A run that logs epochs 1-3, then hangs (no row more), SIGKILLed once its message
    shows epoch 3; the text of its ``[Lost]`` edit."""
    proc = start(emulator, "--die", "hang", "--die-at", "3", *args, url=url)
    assert wait_until(lambda: any(row.split()[0] == "3" for row in table_rows(
        emulator.messages("general")[0].text)) if emulator.messages("general") else False,
        timeout=TIMEOUT)
    proc.kill()
    proc.wait(TIMEOUT)
    return final_text(emulator, "[Lost]")


def test_blocks_layout_and_chart_are_kept_on_the_watchdogs_edit(slack_emulator):
    killed_at_epoch_3(slack_emulator, "--layout", "blocks", "--chart", "main/loss")
    (message,) = slack_emulator.messages("general")
    kinds = [block["type"] for block in message.blocks]
    assert kinds[:3] == ["section", "data_table", "data_visualization"]
    assert message.blocks[0]["text"]["text"].startswith("[Lost]")
    table = message.blocks[1]
    header, *rows = table["rows"]
    assert [cell["text"] for cell in header][:2] == ["epoch", "iteration"]
    assert sorted(int(row[0]["text"]) for row in rows) == [1, 2, 3]  # newest first there
    (chart,) = [b for b in message.blocks if b["type"] == "data_visualization"]
    assert "main/loss" in json.dumps(chart)


def test_a_callable_len_normalizer_shows_the_rows_the_run_last_rendered(slack_emulator):
    text = killed_at_epoch_3(slack_emulator, "--newest-rows", "2")
    assert [int(row.split()[0]) for row in table_rows(text)] == [2, 3]


class Proxy:
    """An HTTP proxy on 127.0.0.1 that sends every request it gets to ``target`` (the
    emulator), whatever host it names, and records each request's path, headers and body:
    a client can reach Slack only through it."""

    def __init__(self, target: str) -> None:
        self.requests = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("/api/", 1)[1]
                proxy.requests.append((path, dict(self.headers), body))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "proxy-connection", "connection")}
                request = urllib.request.Request(target + path, data=body, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, answer_headers, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, answer_headers, data = error.code, error.headers, error.read()
                self.send_response(status)
                for key in ("Content-Type", "Retry-After"):
                    if answer_headers.get(key):
                        self.send_header(key, answer_headers[key])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_watchdog_calls_slack_through_the_users_client_settings(slack_emulator):
    proxy = Proxy(slack_emulator.url)
    try:
        # slack.invalid resolves nowhere: only the user's proxy reaches "Slack"
        text = killed_at_epoch_3(slack_emulator, "--proxy", proxy.url, "--header",
                                 "X-Gateway=training-42", url="http://slack.invalid/api/")
    finally:
        proxy.close()
    assert "ended without a final report" in text
    lost = [(path, headers) for path, headers, body in proxy.requests
            if path == "chat.update" and (b"[Lost]" in body or b"%5BLost%5D" in body)]
    assert lost, [path for path, _, _ in proxy.requests]
    for _, headers in lost:  # the watchdog's edit: the user's headers, through the proxy
        assert headers["X-Gateway"] == "training-42"
