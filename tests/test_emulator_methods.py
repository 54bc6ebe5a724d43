"""Message metadata, api.test, bots.info, chat.getPermalink, reactions.* and files.delete,
each as its Slack page describes it (cited per test), through the real
``slack_sdk.WebClient`` over HTTP to ``SlackEmulator`` with Slack's defaults.

The pages: docs.slack.dev ``reference/methods/<method>`` and the "Message metadata"
page (``metadata`` argument of chat.postMessage / chat.update / chat.scheduleMessage,
``include_all_metadata`` of conversations.history / conversations.replies).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from test_emulator import api_error

from chainer_slack_report.testing import SlackEmulator
from chainer_slack_report.testing.emulator import DEFAULT_SCOPES, METHOD_SCOPES, SLACK_LIMITS

#: A bot that may also read channels and react (the scopes these pages name).
SCOPES = (*DEFAULT_SCOPES, "channels:read", "channels:history", "reactions:read",
          "reactions:write")
EVENT = {"event_type": "run_finished", "event_payload": {"run": "r7", "epochs": 3}}


@pytest.fixture
def slack():
    """``SlackEmulator`` with Slack's defaults and the scopes above."""
    with SlackEmulator(scopes=SCOPES) as emulator:
        yield emulator


def get(url: str):
    """``(status, content type, body)`` of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def form_call(slack, method: str, **params) -> dict:
    """A form-encoded POST, token in the Authorization header: how Slack's pages show
    a JSON argument "presented as a URL-encoded string"."""
    request = urllib.request.Request(
        slack.url + method, data=urllib.parse.urlencode(params).encode(),
        headers={"Authorization": f"Bearer {slack.token}",
                 "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


# -- message metadata --------------------------------------------------------------------------
def test_metadata_is_kept_answered_and_read_back_only_when_asked(slack):
    """chat.postMessage ``metadata``: "JSON object with event_type and event_payload";
    conversations.history/.replies ``include_all_metadata``: "Return all metadata
    associated with this message" (without it, none)."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="run r7", metadata=EVENT)
    assert posted["message"]["metadata"] == EVENT
    cid = posted["channel"]
    reply = client.chat_postMessage(channel=cid, thread_ts=posted["ts"], text="epoch 1",
                                    metadata={"event_type": "epoch", "event_payload": {"n": 1}})
    plain = client.conversations_history(channel=cid)["messages"]
    assert "metadata" not in plain[0]
    history = client.conversations_history(channel=cid, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == EVENT
    thread = client.conversations_replies(channel=cid, ts=posted["ts"],
                                          include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in thread] == [EVENT, reply["message"]["metadata"]]
    assert all("metadata" not in m for m in
               client.conversations_replies(channel=cid, ts=posted["ts"])["messages"])
    assert slack.messages("general")[0].metadata == EVENT
    assert slack.state()["channels"]["general"]["messages"][0]["metadata"] == EVENT
    # form-encoded, the metadata is a JSON string, as the page's example shows it
    answer = form_call(slack, "chat.postMessage", channel=cid, text="form",
                       metadata=json.dumps(EVENT))
    assert answer["ok"] and answer["message"]["metadata"] == EVENT


def test_update_keeps_replaces_or_removes_metadata(slack):
    """chat.update ``metadata``: "If you don't include this field, the message's previous
    metadata will be retained. To remove previous metadata, include an empty object"."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="v0", metadata=EVENT)
    kept = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v1")
    assert kept["message"]["metadata"] == EVENT
    new = {"event_type": "run_finished", "event_payload": {"run": "r7", "epochs": 4}}
    replaced = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2",
                                  metadata=new)
    assert replaced["message"]["metadata"] == new
    removed = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v3",
                                 metadata={})
    assert "metadata" not in removed["message"]
    assert slack.messages("general")[0].metadata is None


@pytest.mark.parametrize("metadata, error", [
    ("not json", "invalid_metadata_format"),
    ("[1, 2]", "invalid_metadata_format"),
    (json.dumps({"event_type": "x"}), "invalid_metadata_schema"),
    (json.dumps({"event_type": "x", "event_payload": "not an object"}),
     "invalid_metadata_schema"),
])
def test_malformed_metadata_is_refused_with_slacks_codes(slack, metadata, error):
    """chat.postMessage errors: invalid_metadata_format ("Invalid metadata format
    provided"), invalid_metadata_schema ("Invalid metadata schema provided")."""
    answer = form_call(slack, "chat.postMessage", channel="general", text="x",
                       metadata=metadata)
    assert answer == {"ok": False, "error": error}
    assert slack.messages("general") == []


def test_a_message_scheduled_with_metadata_never_posts(slack):
    """chat.scheduleMessage "Bug alert": "Messages scheduled with chat.scheduleMessage
    will not post if the metadata parameter is used."  The answer still carries it."""
    client = slack.client()
    slack.clock.freeze()
    post_at = int(slack.clock.now()) + 60
    with_metadata = client.chat_scheduleMessage(channel="general", post_at=post_at,
                                                text="with metadata", metadata=EVENT)
    assert with_metadata["message"]["metadata"] == EVENT
    client.chat_scheduleMessage(channel="general", post_at=post_at, text="without")
    listed = client.chat_scheduledMessages_list()["scheduled_messages"]
    assert [m["text"] for m in listed] == ["with metadata", "without"]
    slack.advance(61)
    assert [m.text for m in slack.messages("general")] == ["without"]
    assert slack.scheduled() == []  # not waiting either: it is gone


# -- api.test ------------------------------------------------------------------------------------
def test_api_test_echoes_its_arguments_and_the_error_asked_for(slack):
    """api.test: "Checks API calling code"; answers its arguments as ``args``; the
    ``error`` argument is the "Error response to return".  No scope needed, Tier 4."""
    assert slack.client().api_test(foo="bar").data == {"ok": True, "args": {"foo": "bar"}}
    refused = api_error(slack.client().api_test, error="my_error")
    assert refused.data == {"ok": False, "error": "my_error", "args": {"error": "my_error"}}
    assert WebClient(base_url=slack.url).api_test().data == {"ok": True}  # no token at all
    assert SLACK_LIMITS["api.test"] == (100, 60.0)


# -- bots.info -----------------------------------------------------------------------------------
def test_bots_info_describes_the_bot_auth_test_names(slack):
    """bots.info: ``bot`` (a bot ID, as in auth.test's ``bot_id``) → ``bot`` with
    ``id``, ``deleted``, ``name``, ``updated``, ``app_id``, ``user_id``, ``icons``;
    bot_not_found: "Value passed for bot was invalid"; scope users:read; Tier 3."""
    client = slack.client()
    auth = client.auth_test()
    bot = client.bots_info(bot=auth["bot_id"])["bot"]
    assert (bot["id"], bot["user_id"], bot["app_id"], bot["deleted"]) == (
        auth["bot_id"], auth["user_id"], auth["app_id"], False)
    assert set(bot["icons"]) == {"image_36", "image_48", "image_72"}
    status, kind, body = get(bot["icons"]["image_48"])
    assert (status, kind) == (200, "image/svg+xml") and body.startswith(b"<svg")
    assert api_error(client.bots_info, bot="B999")["error"] == "bot_not_found"
    assert api_error(client.bots_info)["error"] == "bot_not_found"
    slack.scopes = ["chat:write"]
    assert api_error(client.bots_info, bot=auth["bot_id"])["needed"] == "users:read"
    assert SLACK_LIMITS["bots.info"] == (50, 60.0)


# -- chat.getPermalink ---------------------------------------------------------------------------
def test_permalinks_of_messages_and_replies(slack):
    """chat.getPermalink: ``channel`` + ``message_ts`` → ``permalink``
    ``<workspace URL>archives/<channel>/p<ts without the dot>``; a reply's adds
    ``?thread_ts=<parent ts>&cid=<channel>``; message_not_found, channel_not_found;
    "No scope required"; rate limit "Special" (not limited here)."""
    slack.scopes = ["chat:write"]
    client = slack.client()
    url = client.auth_test()["url"]
    posted = client.chat_postMessage(channel="random", text="run r7")
    cid, ts = posted["channel"], posted["ts"]
    link = client.chat_getPermalink(channel=cid, message_ts=ts)
    assert link["channel"] == cid
    assert link["permalink"] == f"{url}archives/{cid}/p{ts.replace('.', '')}"
    reply = client.chat_postMessage(channel=cid, thread_ts=ts, text="epoch 1")
    reply_link = client.chat_getPermalink(channel=cid, message_ts=reply["ts"])["permalink"]
    assert reply_link == (f"{url}archives/{cid}/p{reply['ts'].replace('.', '')}"
                          f"?thread_ts={ts}&cid={cid}")
    assert api_error(client.chat_getPermalink, channel=cid,
                     message_ts="1.000001")["error"] == "message_not_found"
    assert api_error(client.chat_getPermalink, channel="C999",
                     message_ts=ts)["error"] == "channel_not_found"
    status, kind, body = get(link["permalink"])  # the channel view serves it
    assert status == 200 and kind.startswith("text/html") and b"Slack emulator" in body
    assert "chat.getPermalink" not in SLACK_LIMITS


def test_a_permalink_opens_the_view_at_that_message(slack, browser):
    """The channel view honours a permalink: the channel of the link is shown (not the
    first one) and the message, or the reply, is marked ``.linked``."""
    client = slack.client()
    slack.clear_limits("chat.postMessage")  # 40 posts at once: more than a page of view
    client.chat_postMessage(channel="general", text="elsewhere")
    for i in range(40):
        client.chat_postMessage(channel="random", text=f"message {i}")
    target = client.chat_postMessage(channel="random", text="the one")
    reply = client.chat_postMessage(channel="random", thread_ts=target["ts"], text="its reply")
    client.chat_postMessage(channel="random", text="after it")
    page = browser.new_page(viewport={"width": 800, "height": 400})
    for ts, text in ((target["ts"], "the one"), (reply["ts"], "its reply")):
        page.goto(client.chat_getPermalink(channel=target["channel"],
                                           message_ts=ts)["permalink"])
        page.wait_for_selector(".message.linked")
        assert page.inner_text("#title") == "# random"
        marked = page.query_selector_all(".message.linked")
        assert [m.get_attribute("data-ts") for m in marked] == [ts]
        assert page.inner_text(f'.message.linked[data-ts="{ts}"] > .body > .text') == text
        assert page.eval_on_selector(  # scrolled into view
            ".message.linked", "e => { const r = e.getBoundingClientRect();"
            " return r.top >= 0 && r.top < window.innerHeight; }")


# -- reactions -----------------------------------------------------------------------------------
def test_reactions_are_added_read_and_removed(slack):
    """reactions.add (``channel``, ``name``, ``timestamp``), reactions.get (``type``,
    ``channel``, ``message`` with ``reactions`` of ``name``/``users``/``count`` and a
    ``permalink``), reactions.remove; already_reacted, no_reaction; conversations.history
    shows a message's reactions."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="run r7")
    cid, ts = posted["channel"], posted["ts"]
    assert client.reactions_add(channel=cid, timestamp=ts, name="eyes").data == {"ok": True}
    client.reactions_add(channel=cid, timestamp=ts, name="white_check_mark")
    got = client.reactions_get(channel=cid, timestamp=ts)
    assert (got["type"], got["channel"], got["message"]["ts"]) == ("message", cid, ts)
    bot = client.auth_test()["user_id"]
    assert got["message"]["reactions"] == [
        {"name": "eyes", "users": [bot], "count": 1},
        {"name": "white_check_mark", "users": [bot], "count": 1}]
    assert got["message"]["permalink"] == client.chat_getPermalink(
        channel=cid, message_ts=ts)["permalink"]
    assert api_error(client.reactions_add, channel=cid, timestamp=ts,
                     name="eyes")["error"] == "already_reacted"
    history = client.conversations_history(channel=cid)["messages"]
    assert [r["name"] for r in history[0]["reactions"]] == ["eyes", "white_check_mark"]
    assert client.reactions_remove(channel=cid, timestamp=ts, name="eyes")["ok"]
    assert api_error(client.reactions_remove, channel=cid, timestamp=ts,
                     name="eyes")["error"] == "no_reaction"
    assert [r.name for r in slack.messages("general")[0].reactions] == ["white_check_mark"]
    assert slack.state()["channels"]["general"]["messages"][0]["reactions"] == {
        "white_check_mark": 1}
    client.reactions_remove(channel=cid, timestamp=ts, name="white_check_mark")
    assert "reactions" not in client.reactions_get(channel=cid, timestamp=ts)["message"]
    # a reply can carry reactions too
    reply = client.chat_postMessage(channel=cid, thread_ts=ts, text="epoch 1")
    client.reactions_add(channel=cid, timestamp=reply["ts"], name="+1")
    assert slack.messages("general")[0].replies[0].reactions[0].name == "+1"


def test_reaction_errors_and_scopes(slack):
    """The errors of the reactions pages: no_item_specified, bad_timestamp,
    message_not_found, channel_not_found, invalid_name, is_archived (reactions.add);
    scopes reactions:write (add, remove) and reactions:read (get)."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="x")
    cid, ts = posted["channel"], posted["ts"]

    def error(call, **kwargs):
        return api_error(call, **kwargs)["error"]

    assert error(client.reactions_add, channel=cid, timestamp="", name="eyes") \
        == "no_item_specified"
    assert error(client.reactions_get) == "no_item_specified"
    assert error(client.reactions_add, channel=cid, timestamp="soon",
                 name="eyes") == "bad_timestamp"
    assert error(client.reactions_add, channel=cid, timestamp="1.000001",
                 name="eyes") == "message_not_found"
    assert error(client.reactions_get, channel="C999", timestamp=ts) == "channel_not_found"
    assert error(client.reactions_add, channel=cid, timestamp=ts,
                 name="Not an emoji!") == "invalid_name"
    assert error(client.reactions_remove, channel=cid, timestamp=ts,
                 name="") == "invalid_name"
    slack.scopes = [s for s in SCOPES if s != "reactions:write"]
    assert api_error(client.reactions_add, channel=cid, timestamp=ts,
                     name="eyes")["needed"] == "reactions:write"
    assert api_error(client.reactions_remove, channel=cid, timestamp=ts,
                     name="eyes")["needed"] == "reactions:write"
    slack.scopes = [s for s in SCOPES if s != "reactions:read"]
    assert api_error(client.reactions_get, channel=cid,
                     timestamp=ts)["needed"] == "reactions:read"
    slack.scopes = list(SCOPES)
    slack.archive("general")
    assert error(client.reactions_add, channel=cid, timestamp=ts,
                 name="eyes") == "is_archived"
    assert {m: METHOD_SCOPES[m] for m in ("reactions.add", "reactions.get",
                                          "reactions.remove")} == {
        "reactions.add": "reactions:write", "reactions.get": "reactions:read",
        "reactions.remove": "reactions:write"}


def test_reactions_remove_is_tier_2(slack):
    """reactions.add and reactions.get are Tier 3 (50+ per minute), reactions.remove
    Tier 2 (20+ per minute): the 21st removal in a minute gets HTTP 429."""
    assert (SLACK_LIMITS["reactions.add"], SLACK_LIMITS["reactions.get"],
            SLACK_LIMITS["reactions.remove"]) == ((50, 60.0), (50, 60.0), (20, 60.0))
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="x")
    slack.clock.freeze()
    for _ in range(20):
        client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="eyes")
        client.reactions_remove(channel=posted["channel"], timestamp=posted["ts"], name="eyes")
    client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="eyes")
    response = api_error(client.reactions_remove, channel=posted["channel"],
                         timestamp=posted["ts"], name="eyes")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "60")


def test_the_view_shows_reactions(slack, browser):
    """The channel view draws a message's reactions: the emoji (or ``:name:``) and count."""
    client = slack.client()
    posted = client.chat_postMessage(channel="general", text="run r7")
    client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="eyes")
    client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="ml_model")
    page = browser.new_page()
    page.goto(slack.view_url)
    page.wait_for_selector(".reactions .reaction")
    chips = page.eval_on_selector_all(".reaction", "cs => cs.map(c => [c.dataset.name, "
                                                   "c.textContent])")
    assert chips == [["eyes", "\U0001F440 1"], ["ml_model", ":ml_model: 1"]]
    client.reactions_remove(channel=posted["channel"], timestamp=posted["ts"], name="eyes")
    page.wait_for_function("document.querySelectorAll('.reaction').length === 1",
                           timeout=30_000)


# -- files.delete --------------------------------------------------------------------------------
def test_files_delete_removes_the_file_and_leaves_a_tombstone(slack):
    """files.delete: ``file`` (required); file_not_found ("does not exist"),
    file_deleted ("has already been deleted"); scope files:write; Tier 3.  The message
    that shared it shows the file as deleted (``mode: tombstone``)."""
    client = slack.client()
    cid = slack.channel("general").id
    upload = client.files_upload_v2(channel=cid, content=b"loss,0.5\n", filename="log.csv")
    file_id = upload["file"]["id"]
    assert get(f"{slack.url[:-len('api/')]}files/{file_id}")[0] == 200
    assert client.files_delete(file=file_id).data == {"ok": True}
    assert get(f"{slack.url[:-len('api/')]}files/{file_id}")[0] == 404
    assert api_error(client.files_delete, file=file_id)["error"] == "file_deleted"
    assert api_error(client.files_delete, file="F999")["error"] == "file_not_found"
    (shared,) = client.conversations_history(channel=cid)["messages"][0]["files"]
    assert (shared["id"], shared["mode"]) == (file_id, "tombstone")
    slack.scopes = ["chat:write"]
    assert api_error(client.files_delete, file=file_id)["needed"] == "files:write"
    assert SLACK_LIMITS["files.delete"] == (50, 60.0)


def test_the_view_marks_a_deleted_file(slack, browser):
    client = slack.client()
    upload = client.files_upload_v2(channel=slack.channel("general").id, content=b"x",
                                    filename="notes.txt")
    client.files_delete(file=upload["file"]["id"])
    page = browser.new_page()
    page.goto(slack.view_url)
    page.wait_for_selector(".file.deleted")
    assert re.fullmatch(r"This file was deleted\.", page.inner_text(".file.deleted"))
