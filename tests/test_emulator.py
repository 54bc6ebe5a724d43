"""The local Slack emulator, driven by the real slack_sdk.WebClient over HTTP."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from chainer_slack_report.testing import SlackEmulator


def api_error(call, **kwargs):
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response


def every_page(method, key, **kwargs) -> list:
    """The ``key`` items of every page of a paginated method, following ``next_cursor``."""
    items, cursor = [], None
    while True:
        page = method(cursor=cursor, **kwargs)
        items += page[key]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            return items


@contextlib.contextmanager
def emulator_process(*args, stop=signal.SIGTERM):
    """``python -m chainer_slack_report.testing.emulator --port 0 ARGS``: yields its JSON
    line; at the end sends ``stop`` and checks it exits 0 having printed nothing more."""
    proc = subprocess.Popen([sys.executable, "-m", "chainer_slack_report.testing.emulator",
                             "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a stuck child
    watchdog.start()
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield json.loads(line)
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == ""  # one line of JSON, nothing else
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_post_update_history_and_thread(slack_emulator):
    slack_emulator.scopes.append("channels:history")  # conversations.replies needs it
    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="#general", text="one")
    channel_id, ts = posted["channel"], posted["ts"]
    assert channel_id == slack_emulator.channel("general").id
    client.chat_update(channel=channel_id, ts=ts, text="two")
    client.chat_postMessage(channel=channel_id, thread_ts=ts, text="reply <@U1234567>")
    (message,) = slack_emulator.messages("general")
    assert message.text == "two" and message.history == ["one", "two"]
    assert [r.text for r in message.replies] == ["reply <@U1234567>"]
    replies = client.conversations_replies(channel=channel_id, ts=ts)["messages"]
    assert [m["text"] for m in replies] == ["two", "reply <@U1234567>"]
    assert [c.method for c in slack_emulator.calls] == [
        "chat.postMessage", "chat.update", "chat.postMessage", "conversations.replies"]


def test_slack_error_codes(slack_emulator):
    client = slack_emulator.client()
    ts = client.chat_postMessage(channel="general", text="x")["ts"]
    cid = slack_emulator.channel("general").id
    post, update = client.chat_postMessage, client.chat_update
    assert api_error(post, channel="nope", text="x")["error"] == "channel_not_found"
    assert api_error(update, channel=cid, ts="1.2", text="x")["error"] == "message_not_found"
    assert api_error(update, channel=cid, ts=ts, text="x" * 4001)["error"] == "msg_too_long"
    wrong = slack_emulator.client(token="xoxb-wrong").chat_postMessage
    assert api_error(wrong, channel="general", text="x")["error"] == "invalid_auth"
    slack_emulator.add_channel("private", member=False)
    assert api_error(post, channel="private", text="x")["error"] == "not_in_channel"
    slack_emulator.archive("random")
    assert api_error(post, channel="random", text="x")["error"] == "is_archived"
    slack_emulator.revoked = True
    assert api_error(post, channel="general", text="x")["error"] == "token_revoked"


def test_token_is_never_recorded(slack_emulator):
    slack_emulator.client().chat_postMessage(channel="general", text="x")
    assert slack_emulator.token not in repr(slack_emulator.calls)


def test_rate_limit_server_error_and_latency_knobs(slack_emulator):
    client = slack_emulator.client()
    slack_emulator.rate_limit("chat.postMessage", retry_after=7)
    response = api_error(client.chat_postMessage, channel="general", text="x")
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "7"
    slack_emulator.fail("chat.postMessage", None, status=503)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="general", text="x")
    assert info.value.response.status_code == 503
    slack_emulator.latency = 0.2
    start = time.monotonic()
    client.chat_postMessage(channel="general", text="x")
    assert time.monotonic() - start >= 0.2


def test_outage_drops_connections(slack_emulator):
    client = slack_emulator.client(timeout=2)
    slack_emulator.set_down()
    with pytest.raises(Exception) as info:
        client.chat_postMessage(channel="general", text="x")
    assert not isinstance(info.value, SlackApiError)
    slack_emulator.set_down(False)
    assert client.chat_postMessage(channel="general", text="back")["ok"]


def test_users_list_paginates(slack_emulator):
    slack_emulator.users.update({f"U{i:07d}": f"user{i}" for i in range(5)})
    members = every_page(slack_emulator.client().users_list, "members", limit=2)
    names = [m["name"] for m in members]
    # and, as in Slack, the bot user and Slackbot
    assert names == [f"user{i}" for i in range(5)] + ["emulator-bot", "slackbot"]


def test_files_upload_v2_flow(slack_emulator):
    client = slack_emulator.client()
    ts = client.chat_postMessage(channel="general", text="run")["ts"]
    client.files_upload_v2(channel=slack_emulator.channel("general").id, thread_ts=ts,
                           content=b"epoch,loss\n1,0.5\n", filename="log.csv", title="log")
    (stored,) = slack_emulator.files.values()
    assert stored["content"] == b"epoch,loss\n1,0.5\n" and stored["title"] == "log"
    (reply,) = slack_emulator.messages("general")[0].replies
    assert reply.files[0]["name"] == "log.csv"


# -- rate limits ---------------------------------------------------------------------
def accepted_starts(emulator, method):
    return sorted(c.started for c in emulator.calls_to(method) if c.status == 200)


def test_update_limit_fractional_retry_after_then_accepted(slack_emulator):
    calls, per = 3, 0.5
    slack_emulator.set_limit("chat.update", calls=calls, per=per)
    slack_emulator.retry_after_resolution = 0.01
    slack_emulator.clock.freeze()  # every call at one instant: the window holds them all
    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="v0")
    cid, ts = posted["channel"], posted["ts"]
    for i in range(1, calls + 1):
        client.chat_update(channel=cid, ts=ts, text=f"v{i}")
    response = api_error(client.chat_update, channel=cid, ts=ts, text="limited")
    assert response.status_code == 429 and response["error"] == "ratelimited"
    retry_after = float(response.headers["Retry-After"])
    assert 0 < retry_after <= per
    # the seconds until the oldest accepted update leaves the window, rounded up to 0.01
    updates = slack_emulator.calls_to("chat.update")
    wait = updates[0].started + per - updates[-1].started
    assert wait - 1e-6 <= retry_after < wait + 0.01 + 1e-6
    # the limited call is recorded, not counted, and edited nothing
    assert (updates[-1].status, updates[-1].error) == (429, "ratelimited")
    assert slack_emulator.count(status=429) == 1
    assert slack_emulator.count("chat.update", error="ratelimited") == 1
    (message,) = slack_emulator.messages("general")
    assert message.text == "v3" and message.history == ["v0", "v1", "v2", "v3"]
    slack_emulator.advance(retry_after - 0.02)  # still inside the window: refused again
    assert api_error(client.chat_update, channel=cid, ts=ts, text="early").status_code == 429
    slack_emulator.advance(0.02)
    assert client.chat_update(channel=cid, ts=ts, text="after")["ok"]
    assert message.text == "after" and len(message.history) == 5
    assert slack_emulator.count(status=429) == 2


def test_update_limit_sends_whole_seconds_by_default():
    per = 60.0
    with SlackEmulator(limits={"chat.update": (2, per)}) as slack:
        client = slack.client()
        posted = client.chat_postMessage(channel="general", text="v0")
        for text in ("v1", "v2"):
            client.chat_update(channel=posted["channel"], ts=posted["ts"], text=text)
        response = api_error(client.chat_update, channel=posted["channel"],
                             ts=posted["ts"], text="limited")
        header = response.headers["Retry-After"]
        assert header.isdigit() and 0 < int(header) <= per
        updates = slack.calls_to("chat.update")
        assert int(header) == math.ceil(updates[0].started + per - updates[-1].started)
        assert slack.messages("general")[0].history == ["v0", "v1", "v2"]
        # a window shorter than a second still sends Retry-After: 1
        slack.clear_limits()
        slack.set_limit("chat.update", calls=1, per=0.9)
        for i in range(20):  # two calls within 0.9 s; retried if the machine stalls
            try:
                client.chat_update(channel=posted["channel"], ts=posted["ts"], text=f"w{i}")
            except SlackApiError as err:
                assert err.response.headers["Retry-After"] == "1"
                break
        else:
            pytest.fail("never rate-limited")
        assert slack.count(status=429) == 2


def test_post_limit_is_per_channel_and_counts_thread_replies(slack_emulator):
    slack_emulator.set_limit("chat.postMessage", calls=2, per=60.0)
    client = slack_emulator.client()
    general = slack_emulator.channel("general").id
    parent = client.chat_postMessage(channel="#general", text="run")["ts"]
    client.chat_postMessage(channel=general, thread_ts=parent, text="reply 1")
    response = api_error(client.chat_postMessage, channel="general", thread_ts=parent,
                         text="reply 2")
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert 0 < float(response.headers["Retry-After"]) <= 60  # this fixture: fractions
    assert api_error(client.chat_postMessage, channel="general", text="x").status_code == 429
    (message,) = slack_emulator.messages("general")
    assert [r.text for r in message.replies] == ["reply 1"]
    # another channel has its own window
    for text in ("a", "b"):
        assert client.chat_postMessage(channel="random", text=text)["ok"]
    assert api_error(client.chat_postMessage, channel="random", text="c").status_code == 429
    assert [m.text for m in slack_emulator.messages("random")] == ["a", "b"]
    assert slack_emulator.count("chat.postMessage", status=429) == 3
    # other methods are not limited; clearing the limit lets posts through again
    client.chat_update(channel=general, ts=parent, text="run (edited)")
    slack_emulator.clear_limits("chat.postMessage")
    assert client.chat_postMessage(channel="general", text="x")["ok"]


def test_set_limit_rejects_nonsense(slack_emulator):
    with pytest.raises(ValueError):
        slack_emulator.set_limit("chat.update", calls=0, per=1.0)
    with pytest.raises(ValueError):
        slack_emulator.set_limit("chat.update", calls=1, per=0)
    with pytest.raises(ValueError):
        slack_emulator.set_limit("chat.update", calls=1, per=1.0, scope="team")


def test_update_limit_holds_under_concurrent_clients(slack_emulator):
    """Eight clients at once never get more than ``calls`` updates into one window.

    The emulator's clock is frozen, so every request of a round arrives at the
    same instant however fast or slow the machine is: the window admits exactly
    ``calls`` and answers the rest 429; moving the clock ``per`` forward frees
    exactly ``calls`` slots again.
    """
    calls, per, threads, rounds = 3, 0.2, 8, 3
    slack_emulator.set_limit("chat.update", calls=calls, per=per)
    slack_emulator.retry_after_resolution = 0.01
    posted = slack_emulator.client().chat_postMessage(channel="general", text="start")
    slack_emulator.clock.freeze()
    retry_afters, failures = [], []

    def hammer(n: int, barrier: threading.Barrier) -> None:
        client = WebClient(token=slack_emulator.token, base_url=slack_emulator.url)
        barrier.wait()
        for i in range(2):
            try:
                client.chat_update(channel=posted["channel"], ts=posted["ts"], text=f"{n}-{i}")
            except SlackApiError as err:
                if err.response.status_code != 429:
                    failures.append(err)
                    return
                retry_afters.append(err.response.headers["Retry-After"])

    for done in range(1, rounds + 1):
        barrier = threading.Barrier(threads)
        workers = [threading.Thread(target=hammer, args=(n, barrier)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not failures
        assert len(accepted_starts(slack_emulator, "chat.update")) == calls * done
        slack_emulator.advance(per)
    # the frozen window frees its first slot exactly `per` after the round began
    assert retry_afters == ["0.2"] * (rounds * (2 * threads - calls))
    starts = accepted_starts(slack_emulator, "chat.update")
    # in any window of `per` seconds, at most `calls` updates were accepted
    assert all(later - first >= per for first, later in zip(starts, starts[calls:]))
    assert slack_emulator.count("chat.update", status=429) == len(retry_afters)
    (message,) = slack_emulator.messages("general")
    assert len(message.history) == 1 + len(starts)


# -- as its own process ----------------------------------------------------------------
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_runs_as_its_own_process(tmp_path, stop_signal):
    state_file = tmp_path / "state.json"
    with emulator_process("--update-limit", "2/60", "--post-limit", "--channels", "general,ops",
                          "--state-file", str(state_file), stop=stop_signal) as info:
        assert info["channels"] == {"general": "C0000001", "ops": "C0000002"}
        client = WebClient(token=info["token"], base_url=info["url"])
        posted = client.chat_postMessage(channel="ops", text="v0")
        client.chat_postMessage(channel="ops", thread_ts=posted["ts"], text="reply")
        for text in ("v1", "v2"):
            client.chat_update(channel=posted["channel"], ts=posted["ts"], text=text)
        response = api_error(client.chat_update, channel=posted["channel"],
                             ts=posted["ts"], text="limited")
        assert response.status_code == 429 and response.headers["Retry-After"].isdigit()
        with urllib.request.urlopen(info["state_url"] + "?history=1", timeout=10) as answer:
            body = answer.read().decode()
        assert info["token"] not in body
        state = json.loads(body)
        (message,) = state["channels"]["ops"]["messages"]
        assert message["text"] == "v2" and message["history"] == ["v0", "v1", "v2"]
        assert message["history_len"] == 3 and message["replies"] == ["reply"]
        assert state["methods"]["chat.update"]["calls"] == 3
        assert state["methods"]["chat.update"]["rate_limited"] == 1
        assert state["methods"]["chat.postMessage"]["ok"] == 2
        assert state["rate_limited"] == 1
        assert state["limits"]["chat.postMessage"] == {"calls": 5, "per": 5.0,
                                                       "scope": "channel"}
    final = json.loads(state_file.read_text())
    assert final["channels"]["ops"]["messages"][0]["text"] == "v2"
    assert final["methods"]["chat.update"]["rate_limited"] == 1


# -- what `chainer-slack-report check` asks ------------------------------------------------
def test_scopes_header_and_missing_scope():
    with SlackEmulator(scopes=["users:read"]) as slack:
        client = slack.client()
        auth = client.auth_test()
        assert auth["user_id"] == slack.BOT_USER
        assert auth.headers["x-oauth-scopes"] == "users:read"
        response = api_error(client.chat_postMessage, channel="general", text="x")
        assert response["error"] == "missing_scope"
        assert (response["needed"], response["provided"]) == ("chat:write", "users:read")
        assert client.users_list()["ok"]  # a method whose scope the token has
        assert slack.messages("general") == []
        # scopes change at run time; every accepted answer lists them
        slack.scopes = ["chat:write", "chat:write.public"]
        posted = client.chat_postMessage(channel="general", text="x")
        assert posted.headers["x-oauth-scopes"] == "chat:write,chat:write.public"
        assert api_error(client.users_list)["needed"] == "users:read"
        # a refused token learns nothing about scopes
        wrong = slack.client(token="xoxb-wrong").auth_test
        with pytest.raises(SlackApiError) as info:
            wrong()
        assert "x-oauth-scopes" not in {k.lower() for k in info.value.response.headers}


def test_default_scopes(slack_emulator):
    scopes = slack_emulator.client().auth_test().headers["x-oauth-scopes"]
    assert scopes.split(",") == ["chat:write", "users:read", "files:write"]


def test_conversations_info_and_list(slack_emulator):
    slack_emulator.scopes.append("channels:read")  # conversations.info and .list need it
    client = slack_emulator.client()
    general = slack_emulator.channel("general").id
    info = client.conversations_info(channel=general)["channel"]
    assert {k: info[k] for k in ("id", "name", "is_channel", "is_private", "is_archived",
                                 "is_member")} == {
        "id": general, "name": "general", "is_channel": True, "is_private": False,
        "is_archived": False, "is_member": True}
    # like Slack: an ID only; a name or an unknown ID is channel_not_found
    for key in ("general", "#general", "C9999999"):
        assert api_error(client.conversations_info, channel=key)["error"] == "channel_not_found"
    outside = slack_emulator.add_channel("outside", member=False)
    assert client.conversations_info(channel=outside.id)["channel"]["is_member"] is False
    slack_emulator.archive("random")
    random_id = slack_emulator.channel("random").id
    assert client.conversations_info(channel=random_id)["channel"]["is_archived"] is True
    channels = every_page(client.conversations_list, "channels", limit=2)
    assert [c["name"] for c in channels] == ["general", "random", "outside"]
    active = client.conversations_list(exclude_archived=True)["channels"]
    assert [c["name"] for c in active] == ["general", "outside"]


def test_own_process_takes_scopes():
    with emulator_process("--scopes", "chat:write") as info:
        client = WebClient(token=info["token"], base_url=info["url"])
        assert client.auth_test().headers["x-oauth-scopes"] == "chat:write"
        assert api_error(client.users_list)["error"] == "missing_scope"
