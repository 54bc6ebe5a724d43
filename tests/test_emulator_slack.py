"""The emulator answers as Slack does, with its defaults: each test cites the Slack page it checks.

Every test talks to ``SlackEmulator()`` with its defaults (the ``slack`` fixture,
not the project's ``slack_emulator``, which opts out of rate limits) through the
real ``slack_sdk.WebClient`` over HTTP, or through raw HTTP where the point is
what a request carries.  Where a test needs time to pass it freezes or moves the
emulator's clock instead of waiting.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from test_emulator import api_error, emulator_process

from chainer_slack_report.testing import SlackEmulator
from chainer_slack_report.testing.emulator import NO_LIMITS, SLACK_LIMITS
from chainer_slack_report.transport.slack_errors import CONFIG_ERRORS, Action, classify


@pytest.fixture
def slack():
    """``SlackEmulator()`` with its defaults, which are Slack's."""
    with SlackEmulator() as emulator:
        yield emulator


def state_of(info) -> dict:
    with urllib.request.urlopen(info["state_url"], timeout=30) as answer:
        return json.loads(answer.read())


# -- 1. rate limits are on, with Slack's numbers -----------------------------------------------
def test_a_tight_update_loop_is_rate_limited_as_on_slack(slack):
    """"Rate limits" page: chat.update is Tier 3 (50+ per minute, per app); a call over
    the limit gets HTTP 429 with Retry-After, which a default WebClient raises."""
    assert slack.state()["limits"]["chat.update"] == {"calls": 50, "per": 60.0, "scope": "app"}
    client = slack.client()  # slack_sdk's default: no retry on 429
    posted = client.chat_postMessage(channel="general", text="v0")
    slack.clock.freeze()  # every update at one instant: the count alone decides
    for i in range(50):
        client.chat_update(channel=posted["channel"], ts=posted["ts"], text=f"v{i + 1}")
    response = api_error(client.chat_update, channel=posted["channel"], ts=posted["ts"],
                         text="one too many")
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "60"  # whole seconds until a slot frees
    slack.advance(60)
    assert client.chat_update(channel=posted["channel"], ts=posted["ts"], text="later")["ok"]


def test_posts_are_limited_per_channel_with_a_short_burst(slack):
    """"Rate limits" page, chat.postMessage: "1 message per second per channel", short
    bursts allowed (here 5 in any 5 s, per channel)."""
    assert slack.state()["limits"]["chat.postMessage"] == {"calls": 5, "per": 5.0,
                                                          "scope": "channel"}
    client = slack.client()
    slack.clock.freeze()
    for i in range(5):
        client.chat_postMessage(channel="general", text=f"burst {i}")
    assert api_error(client.chat_postMessage, channel="general", text="x").status_code == 429
    assert client.chat_postMessage(channel="random", text="another channel")["ok"]
    slack.advance(1)  # one second later: still the same 5 s window
    assert api_error(client.chat_postMessage, channel="general", text="x").status_code == 429


def test_every_emulated_method_has_its_tier():
    """Each method page names its tier: Tier 2 = 20+, Tier 3 = 50+, Tier 4 = 100+ per minute."""
    tiers = {"conversations.list": 20, "users.list": 20, "chat.update": 50, "chat.delete": 50,
             "chat.scheduleMessage": 50, "chat.deleteScheduledMessage": 50,
             "chat.scheduledMessages.list": 50, "conversations.history": 50,
             "conversations.replies": 50, "conversations.info": 50,
             "files.getUploadURLExternal": 100, "files.completeUploadExternal": 100,
             "api.test": 100, "bots.info": 50, "reactions.add": 50, "reactions.get": 50,
             "reactions.remove": 20, "files.delete": 50}
    assert {m: SLACK_LIMITS[m] for m in tiers} == {m: (n, 60.0) for m, n in tiers.items()}


def test_no_limits_is_an_explicit_opt_out():
    with SlackEmulator(limits=NO_LIMITS) as slack:
        client = slack.client()
        posted = client.chat_postMessage(channel="general", text="v0")
        slack.clock.freeze()
        for i in range(60):
            client.chat_update(channel=posted["channel"], ts=posted["ts"], text=f"v{i}")
        assert slack.count(status=429) == 0 and slack.state()["limits"] == {}


def test_its_own_process_has_slacks_limits_unless_told_not_to():
    with emulator_process() as info:
        limits = state_of(info)["limits"]
    assert limits == {m: {"calls": c, "per": p, "scope": "channel" if m == "chat.postMessage"
                          else "app"} for m, (c, p) in SLACK_LIMITS.items()}
    with emulator_process("--no-limits", "--update-limit", "2/60") as info:
        assert state_of(info)["limits"] == {"chat.update": {"calls": 2, "per": 60.0,
                                                            "scope": "app"}}


# -- 11. Retry-After is whole seconds: slack_sdk's own retry handler works --------------------
def test_slack_sdks_rate_limit_retry_handler_works_against_the_default_emulator(slack):
    """"Rate limits" page: Retry-After is a whole number of seconds; slack_sdk's
    RateLimitErrorRetryHandler parses it with int() and waits that long."""
    slack.set_limit("chat.update", calls=1, per=1.0)
    client = slack.client(retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    posted = client.chat_postMessage(channel="general", text="v0")
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v1")
    # over the limit: 429, Retry-After: 1; the handler waits and retries, and is let in
    assert client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2")["ok"]
    assert slack.count("chat.update", status=429) == 1
    assert slack.messages("general")[0].history == ["v0", "v1", "v2"]


def test_injected_429s_send_whole_seconds_too(slack):
    slack.rate_limit("chat.postMessage", retry_after=0.4)
    response = api_error(slack.client().chat_postMessage, channel="general", text="x")
    assert response.headers["Retry-After"] == "1"  # rounded up, as Slack never sends 0.4


def test_fractional_retry_after_is_an_opt_out_that_slack_sdks_handler_cannot_read():
    with SlackEmulator(retry_after_resolution=0.05) as slack:
        slack.rate_limit("auth.test", retry_after=0.05)
        client = slack.client(retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
        with pytest.raises(ValueError):  # int("0.05") inside slack_sdk
            client.auth_test()


# -- 2. Block Kit is checked; blocks without text are accepted ---------------------------------
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*loss* 0.5"}}


def test_a_blocks_only_message_is_posted_and_updated(slack):
    """chat.postMessage, "The text, blocks and attachments fields": with blocks, text is
    optional, "used as a fallback string to display in notifications"."""
    client = slack.client()
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):  # slack_sdk
        posted = client.chat_postMessage(channel="general", blocks=[SECTION])
    assert posted["message"]["blocks"] == [SECTION] and posted["message"]["text"] == ""
    (message,) = slack.messages("general")
    assert message.blocks == [SECTION]
    header = {"type": "header", "text": {"type": "plain_text", "text": "Run 7"}}
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"],
                                 blocks=[header, SECTION], text="Run 7: loss 0.5")
    assert updated["message"]["blocks"] == [header, SECTION]
    assert message.blocks == [header, SECTION] and message.text == "Run 7: loss 0.5"
    assert slack.state()["channels"]["general"]["messages"][0]["blocks"] == [header, SECTION]
    # neither text nor blocks: no_text ("No message text provided")
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        assert api_error(client.chat_postMessage, channel="general")["error"] == "no_text"


def test_invalid_blocks_say_why_where_slack_does(slack):
    """Section block: text "Maximum length ... 3000 characters"; Slack answers
    invalid_blocks with the reasons in ``errors`` and ``response_metadata.messages``."""
    client = slack.client()
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    response = api_error(client.chat_postMessage, channel="general", blocks=[long_section],
                         text="fallback")
    reason = "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    assert response["error"] == "invalid_blocks"
    assert response["errors"] == [reason]
    assert response["response_metadata"]["messages"] == ["[ERROR] " + reason]
    assert slack.messages("general") == []


@pytest.mark.parametrize("blocks, pointer", [
    ([{"type": "no_such_block"}], "/blocks/0/type"),  # not a block type of Block Kit
    ([SECTION] * 51, "/blocks"),  # Blocks reference: "up to 50 blocks in each message"
    ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
     "/blocks/0/text/text"),  # Header block: "Maximum length ... 150 characters"
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
     "/blocks/0/text/type"),  # Header block: a plain_text object only
    ([{"type": "section"}], "/blocks/0"),  # Section block: text or fields
    ([{"type": "alert", "text": "modal only"}], "/blocks/0/type"),  # Alert: modals only
], ids=["unknown type", "51 blocks", "header 151", "header mrkdwn", "empty section",
        "alert in a message"])
def test_blocks_slack_refuses(slack, blocks, pointer):
    response = api_error(slack.client().chat_postMessage, channel="general", blocks=blocks,
                         text="fallback")
    assert response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in response["errors"]), response


def test_blocks_holding_too_much_text_are_msg_blocks_too_long(slack):
    """chat.postMessage: "msg_blocks_too_long: Blocks submitted with this message are too
    long" -- about 12,000 characters of text (slackapi/bolt-js#2509)."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 2500}}] * 5
    response = api_error(slack.client().chat_postMessage, channel="general", blocks=blocks,
                         text="fallback")
    assert response["error"] == "msg_blocks_too_long"
    assert slack.client().chat_postMessage(channel="general", blocks=blocks[:4],
                                           text="fallback")["ok"]


def test_blocks_that_are_not_a_json_array_are_invalid_blocks_format(slack):
    """chat.postMessage: "invalid_blocks_format: The blocks is not a valid JSON object"."""
    response = api_error(slack.client().chat_postMessage, channel="general", text="x",
                         blocks="[{not json")
    assert response["error"] == "invalid_blocks_format"


# -- 3. and 4. text limits; chat.update's answer -----------------------------------------------
def test_post_message_keeps_long_text_and_truncates_at_40000_with_a_warning(slack):
    """chat.postMessage lists no msg_too_long; changelog 2018-04 "Truncating really long
    messages": text over 40,000 characters is truncated, the answer carries the
    ``message_truncated`` warning."""
    client = slack.client()
    long = client.chat_postMessage(channel="general", text="a" * 4001)
    assert "warning" not in long and slack.messages("general")[0].text == "a" * 4001
    huge = client.chat_postMessage(channel="general", text="b" * 40001)
    assert huge["warning"] == "message_truncated"
    assert huge["response_metadata"]["warnings"] == ["message_truncated"]
    assert huge["response_metadata"]["messages"][0].startswith("[WARN] Your message was "
                                                               "truncated but still posted.")
    assert slack.messages("general")[1].text == "b" * 40000
    assert huge["message"]["text"] == "b" * 40000


def test_update_refuses_text_over_4000_and_answers_with_the_message(slack):
    """chat.update: "msg_too_long: ... The text field cannot exceed 4,000 characters";
    its answer is ``{ok, channel, ts, text, message}`` (the method's response schema)."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="v0")
    assert api_error(client.chat_update, channel=posted["channel"], ts=posted["ts"],
                     text="c" * 4001)["error"] == "msg_too_long"
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="c" * 4000)
    assert set(updated.data) >= {"ok", "channel", "ts", "text", "message"}
    assert updated["message"]["text"] == "c" * 4000 and "edited" in updated["message"]
    assert updated["message"]["ts"] == posted["ts"]


# -- 5. files_upload_v2 shares where it is told, by channel ID --------------------------------
def test_files_upload_v2_shares_into_every_channel_given(slack):
    """files.completeUploadExternal: ``channels``, "Comma-separated string of channel IDs
    ... where the file will be shared"."""
    client = slack.client()
    ids = [slack.channel("general").id, slack.channel("random").id]
    client.files_upload_v2(channels=ids, content=b"epoch,loss\n", filename="log.csv",
                           initial_comment="the log")
    for name in ("general", "random"):
        (message,) = slack.messages(name)
        assert message.text == "the log" and message.files[0]["name"] == "log.csv"


def test_files_upload_v2_wants_channel_ids_not_names(slack):
    """files.completeUploadExternal: channel_id is a "Channel ID" (channel_not_found:
    "Value passed for channel_id was invalid"), channels are IDs (invalid_channel)."""
    client = slack.client()
    response = api_error(client.files_upload_v2, channel="general", content=b"x",
                         filename="a.txt")
    assert response["error"] == "channel_not_found"
    response = api_error(client.files_upload_v2, channels=["general"], content=b"x",
                         filename="a.txt")
    assert response["error"] == "invalid_channel"
    assert slack.messages("general") == []


# -- 6. thread replies can be edited and deleted; a reply's ts finds its thread ---------------
def test_thread_replies_are_messages_like_any_other(slack):
    """chat.update and chat.delete take any message's ts; conversations.replies: ``ts`` is
    "either a thread's parent message or a message in the thread"."""
    slack.scopes.append("channels:history")
    client = slack.client()
    parent = client.chat_postMessage(channel="general", text="run")
    cid = parent["channel"]
    reply = client.chat_postMessage(channel=cid, thread_ts=parent["ts"], text="reply v1")
    updated = client.chat_update(channel=cid, ts=reply["ts"], text="reply v2")
    assert updated["message"]["thread_ts"] == parent["ts"]
    (message,) = slack.messages("general")
    assert [r.history for r in message.replies] == [["reply v1", "reply v2"]]
    # a reply to the reply's ts lands in the parent's thread, as Slack does it
    client.chat_postMessage(channel=cid, thread_ts=reply["ts"], text="second reply")
    thread = client.conversations_replies(channel=cid, ts=reply["ts"])["messages"]
    assert [m["text"] for m in thread] == ["run", "reply v2", "second reply"]
    assert thread[0]["reply_count"] == 2
    client.chat_delete(channel=cid, ts=reply["ts"])
    assert [r.text for r in message.replies] == ["second reply"]
    assert api_error(client.chat_update, channel=cid, ts=reply["ts"],
                     text="gone")["error"] == "message_not_found"


# -- 7. chat.update in an archived channel: is_inactive ------------------------------------------
def test_update_in_an_archived_channel_is_is_inactive(slack):
    """chat.update: "is_inactive: The message cannot be edited within a frozen, archived
    or deleted channel" (chat.update lists no is_archived).  No later update can work,
    so the library stops (a configuration error with a fix hint)."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="v0")
    slack.archive("general")
    response = api_error(client.chat_update, channel=posted["channel"], ts=posted["ts"],
                         text="v1")
    assert response["error"] == "is_inactive"
    assert api_error(client.chat_postMessage, channel="general",
                     text="x")["error"] == "is_archived"  # chat.postMessage's code
    verdict = classify(error="is_inactive")
    assert verdict.action is Action.STOP and verdict.hint == CONFIG_ERRORS["is_inactive"]


# -- 8. reading a channel needs the read scopes, and history needs membership -----------------
def test_reading_history_needs_channels_history_and_membership(slack):
    """conversations.history: bot scopes channels:history (groups:history for private
    channels); "not_in_channel: ... Only user tokens can access public channels they
    are not in"."""
    client = slack.client()
    cid = slack.channel("general").id
    client.chat_postMessage(channel=cid, text="hello")
    response = api_error(client.conversations_history, channel=cid)
    assert (response["error"], response["needed"]) == ("missing_scope", "channels:history")
    slack.scopes.append("channels:history")
    assert [m["text"] for m in client.conversations_history(channel=cid)["messages"]] == [
        "hello"]
    outside = slack.add_channel("outside", member=False)
    assert api_error(client.conversations_history,
                     channel=outside.id)["error"] == "not_in_channel"
    secret = slack.add_channel("secret", private=True)
    assert api_error(client.conversations_history, channel=secret.id)["needed"] == (
        "groups:history")
    hidden = slack.add_channel("hidden", member=False, private=True)
    slack.scopes.append("groups:history")
    assert api_error(client.conversations_history,
                     channel=hidden.id)["error"] == "channel_not_found"
    # conversations.history takes a "Conversation ID", not a name
    assert api_error(client.conversations_history,
                     channel="general")["error"] == "channel_not_found"


def test_channel_info_and_list_need_the_read_scopes(slack):
    """conversations.info and .list: channels:read (groups:read for private channels)."""
    client = slack.client()
    cid = slack.channel("general").id
    assert api_error(client.conversations_info, channel=cid)["needed"] == "channels:read"
    assert api_error(client.conversations_list)["needed"] == "channels:read"
    slack.scopes.append("channels:read")
    assert client.conversations_info(channel=cid)["channel"]["is_member"] is True
    response = api_error(client.conversations_list, types="public_channel,private_channel")
    assert response["needed"] == "groups:read"


# -- 9. fuller objects: auth.test, users.list, conversations.list types ------------------------
def test_auth_test_and_users_list_carry_slacks_fields(slack):
    """auth.test's schema has ``url``; users.list's requires ``cache_ts``, and its members
    carry ``is_bot`` and ``deleted``; the workspace has the bot user and Slackbot."""
    slack.users["U0ALICE01"] = "alice"
    client = slack.client()
    auth = client.auth_test()
    assert auth["url"] == slack.view_url and auth["bot_id"] and auth["user_id"] == slack.BOT_USER
    users = client.users_list()
    assert isinstance(users["cache_ts"], int)
    by_id = {m["id"]: m for m in users["members"]}
    assert by_id["U0ALICE01"]["is_bot"] is False and by_id["U0ALICE01"]["deleted"] is False
    assert by_id[slack.BOT_USER]["is_bot"] is True
    assert by_id["USLACKBOT"]["name"] == "slackbot"


def test_conversations_list_honours_types(slack):
    """conversations.list ``types``: "public_channel, private_channel, mpim, im" (default
    public_channel); a private channel is listed only to a member; other values are
    invalid_types."""
    slack.scopes += ["channels:read", "groups:read"]
    slack.add_channel("secret", private=True)
    slack.add_channel("hidden", member=False, private=True)
    client = slack.client()
    assert [c["name"] for c in client.conversations_list()["channels"]] == ["general", "random"]
    private = client.conversations_list(types="private_channel")["channels"]
    assert [(c["name"], c["is_private"]) for c in private] == [("secret", True)]
    assert api_error(client.conversations_list, types="rooms")["error"] == "invalid_types"


# -- 10. a bad cursor is invalid_cursor, not a dropped connection ------------------------------
@pytest.mark.parametrize("method", ["users_list", "conversations_list"])
def test_a_bad_cursor_is_invalid_cursor(slack, method):
    """users.list and conversations.list: "invalid_cursor: Value passed for cursor was not
    valid or is no longer valid"."""
    slack.scopes.append("channels:read")
    response = api_error(getattr(slack.client(), method), cursor="not-a-cursor")
    assert response.status_code == 200 and response["error"] == "invalid_cursor"


def test_a_limit_that_is_no_number_is_invalid_limit(slack):
    """conversations.list ``limit``: "Must be an integer under 1000"."""
    slack.scopes.append("channels:read")
    client = slack.client()
    assert api_error(client.conversations_list, limit="ten")["error"] == "invalid_limit"
    assert api_error(client.conversations_list, limit=1000)["error"] == "invalid_limit"


# -- 12. where the token may be ----------------------------------------------------------------
def raw_call(slack, method, *, query=None, form=None, json_body=None, header=None):
    """POST ``method`` with the token where the test puts it; the JSON answer."""
    url = slack.url + method + ("?" + urllib.parse.urlencode(query) if query else "")
    headers, data = {}, None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json; charset=utf-8"
    if header:
        headers["Authorization"] = f"Bearer {header}"
    request = urllib.request.Request(url, data=data or b"", headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_the_token_is_read_where_slack_reads_it(slack):
    """"Slack Web API": "Tokens should be passed as an HTTP Authorization header or
    alternatively, as a POST parameter"; JSON bodies need the header (changelog 2017-10);
    apps created since 2021-02-24 may not send it in the query string (changelog 2020-11)."""
    token = slack.token
    assert raw_call(slack, "auth.test", header=token)["ok"]
    assert raw_call(slack, "auth.test", form={"token": token})["ok"]
    assert raw_call(slack, "auth.test", json_body={"token": token}) == {
        "ok": False, "error": "not_authed"}
    assert raw_call(slack, "auth.test", query={"token": token}) == {
        "ok": False, "error": "invalid_auth"}
    assert raw_call(slack, "chat.postMessage", header=token,
                    json_body={"channel": "general", "text": "json"})["ok"]
    assert [m.text for m in slack.messages("general")] == ["json"]
    assert slack.token not in repr(slack.calls)
    assert WebClient(token=token, base_url=slack.url).auth_test()["ok"]
