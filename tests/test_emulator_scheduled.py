"""Scheduled messages as Slack's method pages describe them, on a clock the test moves.

chat.scheduleMessage, chat.deleteScheduledMessage and chat.scheduledMessages.list
through the real ``slack_sdk.WebClient``; ``SlackEmulator.advance`` stands in for
waiting, so no test waits for a ``post_at``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from test_emulator import api_error, every_page

from chainer_slack_report.testing import SlackEmulator

DAY = 24 * 3600


@pytest.fixture
def slack():
    """``SlackEmulator()`` with its defaults (Slack's), its clock frozen: it moves only
    when a test says so."""
    with SlackEmulator() as emulator:
        emulator.clock.freeze()
        yield emulator


def now(slack) -> int:
    return int(slack.clock.now())


def test_a_scheduled_message_posts_when_its_time_comes(slack):
    """chat.scheduleMessage: "The response includes the scheduled_message_id"; its schema
    requires channel, post_at, scheduled_message_id and message.  The message is seen by
    chat.scheduledMessages.list until it is sent."""
    client = slack.client()
    post_at = now(slack) + 600
    answer = client.chat_scheduleMessage(channel="general", post_at=post_at,
                                         text="lost contact with the run")
    cid = slack.channel("general").id
    assert re.fullmatch(r"Q[A-Z0-9]{8,}", answer["scheduled_message_id"])
    assert (answer["channel"], answer["post_at"]) == (cid, post_at)
    assert answer["message"]["text"] == "lost contact with the run"
    listed = client.chat_scheduledMessages_list(channel=cid)["scheduled_messages"]
    assert [(m["id"], m["channel_id"], m["post_at"], m["text"]) for m in listed] == [
        (answer["scheduled_message_id"], cid, post_at, "lost contact with the run")]
    assert [m.text for m in slack.scheduled("general")] == ["lost contact with the run"]
    slack.advance(599)
    assert slack.messages("general") == []  # not yet
    slack.advance(1)
    (posted,) = slack.messages("general")
    assert posted.text == "lost contact with the run"
    assert int(float(posted.ts)) == post_at  # posted on time
    assert slack.scheduled() == []
    assert client.chat_scheduledMessages_list()["scheduled_messages"] == []
    # chat.deleteScheduledMessage: "invalid_scheduled_message_id: ... has already been sent"
    response = api_error(client.chat_deleteScheduledMessage, channel=cid,
                         scheduled_message_id=answer["scheduled_message_id"])
    assert response["error"] == "invalid_scheduled_message_id"


def test_a_scheduled_reply_goes_into_the_thread(slack):
    """chat.scheduleMessage ``thread_ts``: "Provide another message's ts value to make
    this message a reply"."""
    client = slack.client()
    parent = client.chat_postMessage(channel="general", text="[Training] run 7")
    client.chat_scheduleMessage(channel=parent["channel"], post_at=now(slack) + 60,
                                thread_ts=parent["ts"], text="no news for 60 s")
    slack.advance(60)
    (message,) = slack.messages("general")
    assert [r.text for r in message.replies] == ["no news for 60 s"]
    assert message.replies[0].thread_ts == parent["ts"]


def test_moving_a_scheduled_message_forward_is_delete_and_schedule(slack):
    """chat.deleteScheduledMessage needs ``channel`` and ``scheduled_message_id``; a
    deleted message is never sent, and deleting it again is invalid_scheduled_message_id."""
    client = slack.client()
    cid = slack.channel("general").id
    first = client.chat_scheduleMessage(channel=cid, post_at=now(slack) + 60, text="lost")
    slack.advance(30)
    assert client.chat_deleteScheduledMessage(
        channel=cid, scheduled_message_id=first["scheduled_message_id"]).data == {"ok": True}
    second = client.chat_scheduleMessage(channel=cid, post_at=now(slack) + 60, text="lost")
    slack.advance(59)
    assert slack.messages("general") == []  # the first one's time passed: deleted
    assert api_error(client.chat_deleteScheduledMessage, channel=cid,
                     scheduled_message_id=first["scheduled_message_id"])["error"] == (
        "invalid_scheduled_message_id")
    # at the end of the run: deleted before it is sent
    client.chat_deleteScheduledMessage(channel=cid,
                                       scheduled_message_id=second["scheduled_message_id"])
    slack.advance(3600)
    assert slack.messages("general") == []


def test_post_at_in_the_future_and_at_most_120_days_ahead(slack):
    """chat.scheduleMessage, "Restrictions": "up to 120 days into the future ... beyond
    this limit, you'll receive a time_too_far error"; time_in_past: "value passed for
    post_time was in the past"; invalid_time: "value passed for post_time was invalid"."""
    client = slack.client()
    assert api_error(client.chat_scheduleMessage, channel="general", post_at=now(slack) - 1,
                     text="x")["error"] == "time_in_past"
    assert api_error(client.chat_scheduleMessage, channel="general", post_at=now(slack),
                     text="x")["error"] == "time_in_past"
    assert api_error(client.chat_scheduleMessage, channel="general",
                     post_at=now(slack) + 120 * DAY + 1, text="x")["error"] == "time_too_far"
    assert client.chat_scheduleMessage(channel="general", post_at=now(slack) + 120 * DAY,
                                       text="x")["ok"]
    assert api_error(client.chat_scheduleMessage, channel="general", post_at="soon",
                     text="x")["error"] == "invalid_time"


def test_no_more_than_30_messages_in_a_5_minute_window_per_channel(slack):
    """chat.scheduleMessage, "Restrictions": "you cannot schedule more than 30 messages to
    post within a 5-minute window to the same channel ... restricted_too_many"."""
    client = slack.client()
    start = now(slack) + 3600
    for i in range(30):
        client.chat_scheduleMessage(channel="general", post_at=start + i * 10, text=f"m{i}")
    response = api_error(client.chat_scheduleMessage, channel="general", post_at=start + 150,
                         text="one too many")
    assert response["error"] == "restricted_too_many"
    assert client.chat_scheduleMessage(channel="random", post_at=start, text="elsewhere")["ok"]
    # the last 30 s of the window [start, start + 300) hold 3: room after it
    assert client.chat_scheduleMessage(channel="general", post_at=start + 300 + 290,
                                       text="later")["ok"]


def test_errors_of_the_schedule_methods(slack):
    """chat.scheduleMessage errors channel_not_found, not_in_channel, is_archived,
    no_text, missing_scope (scope chat:write); chat.deleteScheduledMessage
    channel_not_found; chat.scheduledMessages.list invalid_channel, invalid_cursor."""
    client = slack.client()
    at = now(slack) + 60
    schedule = client.chat_scheduleMessage
    assert api_error(schedule, channel="nowhere", post_at=at, text="x")["error"] == (
        "channel_not_found")
    slack.add_channel("outside", member=False)
    assert api_error(schedule, channel="outside", post_at=at, text="x")["error"] == (
        "not_in_channel")
    slack.archive("random")
    assert api_error(schedule, channel="random", post_at=at, text="x")["error"] == (
        "is_archived")
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):  # slack_sdk
        assert api_error(schedule, channel="general", post_at=at)["error"] == "no_text"
    scheduled = schedule(channel="general", post_at=at, text="x")
    assert api_error(client.chat_deleteScheduledMessage, channel="C9999999",
                     scheduled_message_id=scheduled["scheduled_message_id"])["error"] == (
        "channel_not_found")
    other = slack.channel("outside").id  # the right ID in the wrong channel
    assert api_error(client.chat_deleteScheduledMessage, channel=other,
                     scheduled_message_id=scheduled["scheduled_message_id"])["error"] == (
        "invalid_scheduled_message_id")
    assert api_error(client.chat_scheduledMessages_list,
                     channel="C9999999")["error"] == "invalid_channel"
    assert api_error(client.chat_scheduledMessages_list,
                     cursor="bogus")["error"] == "invalid_cursor"
    slack.scopes = ["users:read"]
    response = api_error(schedule, channel="general", post_at=at, text="x")
    assert (response["error"], response["needed"]) == ("missing_scope", "chat:write")


def test_the_list_pages_and_filters_by_post_at(slack):
    """chat.scheduledMessages.list: ``limit``, ``cursor``, ``oldest``/``latest`` (Unix
    times of the range); ``response_metadata.next_cursor``."""
    client = slack.client()
    start = now(slack) + 3600
    for i in range(5):
        client.chat_scheduleMessage(channel="general", post_at=start + i * 60, text=f"m{i}")
    listed = every_page(client.chat_scheduledMessages_list, "scheduled_messages", limit=2)
    assert [m["text"] for m in listed] == ["m0", "m1", "m2", "m3", "m4"]
    middle = client.chat_scheduledMessages_list(oldest=str(start + 60),
                                                latest=str(start + 180))
    assert [m["text"] for m in middle["scheduled_messages"]] == ["m1", "m2", "m3"]


def test_state_and_view_show_what_is_scheduled(slack):
    client = slack.client()
    answer = client.chat_scheduleMessage(channel="general", post_at=now(slack) + 60,
                                         text="*lost* host")
    (entry,) = slack.state()["channels"]["general"]["scheduled"]
    assert entry == {"id": answer["scheduled_message_id"], "post_at": answer["post_at"],
                     "text": "*lost* host", "thread_ts": None}
    with urllib.request.urlopen(slack.view_url + "_emulator/view.json", timeout=30) as page:
        view = json.loads(page.read())
    (shown,) = view["channels"][0]["scheduled"]
    assert shown["post_at"] == answer["post_at"] and shown["html"] == "<b>lost</b> host"


def test_real_time_passing_posts_it_too():
    """Without advance(): the emulator posts a due message on its own, as Slack does."""
    with SlackEmulator() as slack:
        post_at = int(slack.clock.now()) + 1
        slack.client().chat_scheduleMessage(channel="general", post_at=post_at, text="due")
        deadline = time.monotonic() + 60
        general = slack.channel("general")
        while not general.messages and time.monotonic() < deadline:
            time.sleep(0.05)  # general.messages: read without asking the emulator
        assert [m.text for m in general.messages] == ["due"]
        assert slack.clock.now() >= post_at
