"""The local Slack emulator, driven by the real slack_sdk.WebClient over HTTP."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError


def api_error(call, **kwargs):
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response


def test_post_update_history_and_thread(slack_emulator):
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
    client = slack_emulator.client()
    names, cursor = [], None
    while True:
        page = client.users_list(limit=2, cursor=cursor)
        names += [m["name"] for m in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == [f"user{i}" for i in range(5)]


def test_files_upload_v2_flow(slack_emulator):
    client = slack_emulator.client()
    ts = client.chat_postMessage(channel="general", text="run")["ts"]
    client.files_upload_v2(channel=slack_emulator.channel("general").id, thread_ts=ts,
                           content=b"epoch,loss\n1,0.5\n", filename="log.csv", title="log")
    (stored,) = slack_emulator.files.values()
    assert stored["content"] == b"epoch,loss\n1,0.5\n" and stored["title"] == "log"
    (reply,) = slack_emulator.messages("general")[0].replies
    assert reply.files[0]["name"] == "log.csv"
