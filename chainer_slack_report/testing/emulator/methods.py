"""The Web API methods the emulator answers, each as Slack's method page describes it.

:class:`WebAPI` turns ``(method, params)`` into the JSON answer, reading and
changing a :class:`~.model.Workspace`.  Authentication, rate limits and
faults are decided before a call gets here (:mod:`.core`).  The facts come
from the method pages on docs.slack.dev (``reference/methods/<method>``):
their arguments, their error codes, the scopes each needs.

Arguments arrive as strings (form-encoded bodies, query strings) or as JSON
values (JSON bodies); both are accepted where Slack accepts both.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import reactions
from .blocks import check_blocks, parse_blocks
from .clock import Clock
from .metadata import KEEP, REMOVE, parse_metadata
from .model import Channel, Message, Workspace

__all__ = ["WebAPI", "DEFAULT_SCOPES", "METHOD_SCOPES", "MAX_TEXT_CHARS", "MAX_POSTED_TEXT_CHARS",
           "NO_AUTH_METHODS", "permalink_path"]

#: ``chat.update``: "msg_too_long: Message text is too long. The ``text`` field cannot
#: exceed 4,000 characters."
MAX_TEXT_CHARS = 4000
#: ``chat.postMessage`` posts longer text but truncates it at 40,000 characters, with
#: the ``message_truncated`` warning (changelog 2018-04 "Truncating really long
#: messages"); ``chat.scheduleMessage`` answers ``msg_too_long`` above it.
MAX_POSTED_TEXT_CHARS = 40000
_TRUNCATED = {"warning": "message_truncated", "response_metadata": {
    "warnings": ["message_truncated"],
    "messages": ["[WARN] Your message was truncated but still posted. The `text` field "
                 "accepts up to 40,000 characters."]}}

#: The bot's OAuth scopes unless told otherwise: post and edit, resolve user
#: names, upload files.  Reading channels needs more (see :data:`READ_SCOPES`).
DEFAULT_SCOPES = ("chat:write", "users:read", "files:write")

#: The OAuth scope each method needs, as its page lists it for a bot token; a
#: token without it gets ``missing_scope`` with ``needed`` and ``provided``.
METHOD_SCOPES: Dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.scheduleMessage": "chat:write",
    "chat.deleteScheduledMessage": "chat:write",
    "users.list": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.delete": "files:write",
    "bots.info": "users:read",
    "reactions.add": "reactions:write",
    "reactions.get": "reactions:read",
    "reactions.remove": "reactions:write",
}
# chat.getPermalink and api.test: "No scope required".

#: Methods Slack answers without a token: ``api.test`` ("Checks API calling code").
NO_AUTH_METHODS = frozenset({"api.test"})

#: Reading a conversation needs the scope of its kind (public: ``channels:``,
#: private: ``groups:``): ``conversations.history`` and ``.replies`` need
#: ``*:history``, ``conversations.info`` and ``.list`` need ``*:read``.
READ_SCOPES = {"conversations.history": "history", "conversations.replies": "history",
               "conversations.info": "read", "conversations.list": "read"}
#: ``conversations.list`` ``types`` → the scope each needs.
_TYPE_SCOPES = {"public_channel": "channels:read", "private_channel": "groups:read",
                "mpim": "mpim:read", "im": "im:read"}

_BOT_ID, _APP_ID, _TEAM_ID = "B0000001", "A0000001", "T0000001"
_SLACKBOT = "USLACKBOT"


class Refused(Exception):
    """A method's error answer, raised from anywhere inside it."""

    def __init__(self, error: str, **extra) -> None:
        super().__init__(error)
        self.answer = {"ok": False, "error": error, **extra}


class WebAPI:
    """The Web API methods over one workspace.

    Args:
        workspace (Workspace): The state the methods read and change.
        clock (Clock): The emulator's now (``ts``, ``cache_ts``).
        bot_user (str): The bot's member ID (who posts).
        max_text_chars (int): ``chat.update``'s ``msg_too_long`` above this
            many characters (default :data:`MAX_TEXT_CHARS`).
        base_url (callable): ``base_url()`` → the server's ``http://127.0.0.1:PORT``.
    """

    def __init__(self, workspace: Workspace, clock: Clock, *, bot_user: str,
                 max_text_chars: int, base_url: Callable[[], str]) -> None:
        self.workspace = workspace
        self.clock = clock
        self.bot_user = bot_user
        self.max_text_chars = max_text_chars
        self._base_url = base_url
        self._granted: Sequence[str] = ()

    def call(self, method: str, params: dict, scopes: Sequence[str]) -> dict:
        """The answer of ``method`` (e.g. ``"chat.update"``) to ``params``.

        Args:
            method (str): The Web API method.
            params (dict): Its arguments (the token not among them).
            scopes (sequence of str): The token's OAuth scopes.
        """
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        self._granted = list(scopes)
        try:
            needed = METHOD_SCOPES.get(method)
            if needed is not None:
                self._need(needed)
            return handler(params)
        except Refused as refused:
            return refused.answer

    # -- helpers: scopes, channels, text ----------------------------------------------
    def _need(self, scope: str) -> None:
        if scope not in self._granted:
            raise Refused("missing_scope", needed=scope, provided=",".join(self._granted))

    @staticmethod
    def _sees(channel: Channel) -> bool:
        """Whether the bot can see the channel (a private one only from inside)."""
        return channel.member or not channel.private

    def _visible(self, channel: Optional[Channel]) -> Channel:
        """The channel, if the bot can see it; else ``channel_not_found``."""
        if channel is None or not self._sees(channel):
            raise Refused("channel_not_found")
        return channel

    def _by_id(self, value) -> Channel:
        """A channel given by its ID (for the methods that take no names)."""
        return self._visible(self.workspace.channels.get(str(value or "")))

    def _postable(self, value, *, by_id: bool = False) -> Channel:
        """A channel (ID, or name unless ``by_id``) the bot may post to: visible, not
        archived, a member (or public, with ``chat:write.public``)."""
        key = str(value or "")
        channel = self._visible(self.workspace.channels.get(key) if by_id
                                else self.workspace.find_channel(key))
        if channel.archived:
            raise Refused("is_archived")
        if not channel.member and (channel.private or "chat:write.public" not in self._granted):
            raise Refused("not_in_channel")
        return channel

    def _readable(self, method: str, params: dict) -> Channel:
        """The channel a read method may read: the scope of its kind, and a member for
        history (a bot token reads no history of a channel it is not in)."""
        kind = READ_SCOPES[method]
        public, private = f"channels:{kind}", f"groups:{kind}"
        if public not in self._granted and private not in self._granted:
            self._need(public)
        channel = self._by_id(params.get("channel"))
        self._need(private if channel.private else public)
        if kind == "history" and not channel.member:
            raise Refused("not_in_channel")
        return channel

    def _content(self, params: dict, *, limit: int, truncate: bool) -> Tuple[str, List[dict], bool]:
        """``(text, blocks, truncated)`` of a message to post, or the error Slack gives.

        With ``blocks``, ``text`` is optional (the notification fallback); one of
        them is needed (``no_text``).  Text over ``limit`` characters is cut to
        ``limit`` (``truncate``) or refused with ``msg_too_long``.
        """
        blocks, error = parse_blocks(params.get("blocks"))
        if error:
            raise Refused(error)
        refused = check_blocks(blocks)
        if refused:
            raise Refused(**{k: v for k, v in refused.items() if k != "ok"})
        text = params.get("text")
        text = "" if text is None else str(text)
        if not text and not blocks and not params.get("attachments"):
            raise Refused("no_text")
        if len(text) > limit:
            if not truncate:
                raise Refused("msg_too_long")
            return text[:limit], blocks, True
        return text, blocks, False

    def _thread(self, channel: Channel, thread_ts) -> Optional[Message]:
        """The parent a reply to ``thread_ts`` goes under (a reply's ts finds its parent)."""
        if not thread_ts:
            return None
        message, parent = channel.find(str(thread_ts))
        if message is None:
            raise Refused("thread_not_found")
        return parent or message

    def _new_message(self, channel: Channel, parent: Optional[Message], text: str, *,
                     now: Optional[float] = None, **fields) -> Message:
        """Post a message (a reply under ``parent``) at ``now`` (default: the clock's)."""
        now = self.clock.now() if now is None else now
        message = Message(channel=channel.id, ts=self.workspace.next_ts(now),
                          text=text, user=self.bot_user, bot_id=_BOT_ID, history=[text],
                          thread_ts=parent.ts if parent else None, **fields)
        (parent.replies if parent else channel.messages).append(message)
        return message

    @staticmethod
    def _metadata(params: dict, *, editing: bool = False):
        """The ``metadata`` argument (:func:`.metadata.parse_metadata`), or its error: a
        dict or None for a new message; for an edit also ``KEEP`` or ``REMOVE``."""
        metadata, error = parse_metadata(params.get("metadata"))
        if error:
            raise Refused(error)
        return metadata if editing or isinstance(metadata, dict) else None

    def _message_at(self, params: dict, key: str) -> Tuple[Channel, Message, Optional[Message]]:
        """``(channel, message, parent)`` named by ``channel`` and the ``ts`` in ``key``:
        ``bad_timestamp`` if that is no ``ts``, ``message_not_found`` if no message has it."""
        channel = self._by_id(params.get("channel"))
        ts = str(params.get(key) or "")
        try:
            float(ts)
        except ValueError:
            raise Refused("bad_timestamp") from None
        message, parent = channel.find(ts)
        if message is None:
            raise Refused("message_not_found")
        return channel, message, parent

    # -- api, auth, bots -----------------------------------------------------------------
    def _m_api_test(self, params: dict) -> dict:
        # api.test page: echoes its arguments ("args"); an ``error`` argument makes it
        # answer {"ok": false, "error": <that>, "args": {...}}.  No token is needed.
        args = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        answer = {"ok": not params.get("error")}
        if params.get("error"):
            answer["error"] = str(params["error"])
        if args:
            answer["args"] = args
        return answer

    def _m_bots_info(self, params: dict) -> dict:
        # bots.info page: "The bot parameter is required if you want to actually return
        # information about a bot"; bot_not_found: "Value passed for bot was invalid".
        # Scope users:read; Tier 3.  The workspace's one bot is the emulator's.
        if str(params.get("bot") or "") != _BOT_ID:
            raise Refused("bot_not_found")
        icon = f"{self._base_url()}/_emulator/bot.svg"
        return {"ok": True, "bot": {"id": _BOT_ID, "deleted": False, "name": "emulator-bot",
                                    "updated": int(self.clock.now()), "app_id": _APP_ID,
                                    "user_id": self.bot_user,
                                    "icons": {"image_36": icon, "image_48": icon,
                                              "image_72": icon}}}

    # -- auth, chat --------------------------------------------------------------------
    def _m_auth_test(self, params: dict) -> dict:
        return {"ok": True, "url": self._base_url() + "/", "team": "Emulator",
                "user": "emulator-bot", "team_id": _TEAM_ID, "user_id": self.bot_user,
                "bot_id": _BOT_ID, "app_id": _APP_ID, "is_enterprise_install": False}

    def _m_chat_postMessage(self, params: dict) -> dict:
        channel = self._postable(params.get("channel"))
        text, blocks, truncated = self._content(params, limit=MAX_POSTED_TEXT_CHARS,
                                                truncate=True)
        metadata = self._metadata(params)
        parent = self._thread(channel, params.get("thread_ts"))
        message = self._new_message(channel, parent, text, blocks=blocks,
                                    unfurl_links=_flag(params.get("unfurl_links")),
                                    metadata=metadata)
        answer = {"ok": True, "channel": channel.id, "ts": message.ts,
                  "message": message.as_json()}
        return {**answer, **_TRUNCATED} if truncated else answer

    def _m_chat_update(self, params: dict) -> dict:
        channel = self._by_id(params.get("channel"))
        if channel.archived:  # "is_inactive: ... within a frozen, archived or deleted channel"
            raise Refused("is_inactive")
        message, _ = channel.find(params.get("ts"))
        if message is None:
            raise Refused("message_not_found")
        if message.user != self.bot_user:
            raise Refused("cant_update_message")
        text, blocks, _ = self._content(params, limit=self.max_text_chars, truncate=False)
        metadata = self._metadata(params, editing=True)  # absent: kept; {}: removed
        if metadata is not KEEP:
            message.metadata = None if metadata is REMOVE else metadata
        message.text, message.blocks = text, blocks
        message.history.append(text)
        message.edited_ts = self.workspace.next_ts(self.clock.now())
        return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text,
                "message": message.as_json()}

    def _m_chat_scheduleMessage(self, params: dict) -> dict:
        channel = self._postable(params.get("channel"))  # "an encoded ID, or a name"
        text, blocks, _ = self._content(params, limit=MAX_POSTED_TEXT_CHARS, truncate=False)
        post_at = params.get("post_at")
        if isinstance(post_at, bool) or not str(post_at).strip().isdigit():
            raise Refused("invalid_time")  # "value passed for post_time was invalid"
        post_at = int(str(post_at).strip())
        now = self.clock.now()
        error = self.workspace.schedule.refusal(channel.id, post_at, now)
        if error:
            raise Refused(error)
        metadata = self._metadata(params)
        parent = self._thread(channel, params.get("thread_ts"))
        scheduled = self.workspace.schedule.add(channel.id, post_at, text, now, blocks=blocks,
                                                thread_ts=parent.ts if parent else None,
                                                metadata=metadata)
        message = {"type": "delayed_message", "text": text, "user": self.bot_user,
                   "bot_id": _BOT_ID}
        if blocks:
            message["blocks"] = [dict(b) for b in blocks]
        if parent:
            message["thread_ts"] = parent.ts
        if metadata is not None:  # answered, but it will never post (see post_due)
            message["metadata"] = metadata
        return {"ok": True, "channel": channel.id, "scheduled_message_id": scheduled.id,
                "post_at": post_at, "message": message}

    def _m_chat_deleteScheduledMessage(self, params: dict) -> dict:
        channel = self._by_id(params.get("channel"))
        if not self.workspace.schedule.remove(channel.id,
                                              str(params.get("scheduled_message_id") or "")):
            # "... an invalid ID, or the scheduled message it's referencing has already
            # been sent or deleted."
            raise Refused("invalid_scheduled_message_id")
        return {"ok": True}

    def _m_chat_scheduledMessages_list(self, params: dict) -> dict:
        key = params.get("channel")
        if key and self.workspace.channels.get(str(key)) is None:
            raise Refused("invalid_channel")
        oldest, latest = _ts_arg(params, "oldest"), _ts_arg(params, "latest")
        shown = sorted((m for m in self.workspace.schedule.pending
                        if (not key or m.channel == key)
                        and self._sees(self.workspace.channels[m.channel])
                        and (oldest is None or m.post_at >= oldest)
                        and (latest is None or m.post_at <= latest)),
                       key=lambda m: (m.post_at, m.id))
        page, cursor = _page(shown, params, default=100)
        return {"ok": True, "scheduled_messages": [m.as_json() for m in page],
                "response_metadata": {"next_cursor": cursor}}

    def post_due(self) -> int:
        """Post every scheduled message whose ``post_at`` the clock has passed; how many.

        Each becomes a message (a reply, with ``thread_ts``) whose ``ts`` is its
        ``post_at``, as if posted on time.  One whose channel was archived, or
        whose thread's parent was deleted, is dropped; so is one scheduled with
        ``metadata`` (the ``chat.scheduleMessage`` page's "Bug alert": such
        messages "will not post").
        """
        posted = 0
        for due in self.workspace.schedule.take_due(self.clock.now()):
            channel = self.workspace.channels.get(due.channel)
            parent, _ = channel.find(due.thread_ts) if due.thread_ts else (None, None)
            if channel.archived or (due.thread_ts and parent is None) \
                    or due.metadata is not None:
                continue
            self._new_message(channel, parent, due.text, blocks=due.blocks, now=due.post_at)
            posted += 1
        return posted

    def _m_chat_delete(self, params: dict) -> dict:
        channel = self._by_id(params.get("channel"))
        message, parent = channel.find(params.get("ts"))
        if message is None:
            raise Refused("message_not_found")
        if message.user != self.bot_user:
            raise Refused("cant_delete_message")
        (parent.replies if parent else channel.messages).remove(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def _m_chat_getPermalink(self, params: dict) -> dict:
        # chat.getPermalink page: channel (an ID) and message_ts; no scope; "Special" rate
        # limit ("hundreds of requests per minute").  A reply's permalink adds
        # ?thread_ts=<parent>&cid=<channel>.  The emulator's channel view opens it.
        channel = self._by_id(params.get("channel"))
        message, parent = channel.find(str(params.get("message_ts") or ""))
        if message is None:
            raise Refused("message_not_found")
        return {"ok": True, "channel": channel.id,
                "permalink": self._base_url() + permalink_path(channel.id, message.ts,
                                                               parent.ts if parent else None)}

    # -- reactions ---------------------------------------------------------------------
    def _react(self, params: dict, *, adding: bool) -> dict:
        """reactions.add (``adding``) or reactions.remove of the bot's emoji ``name`` on the
        message ``channel`` + ``timestamp`` names."""
        if not params.get("channel") or not params.get("timestamp"):
            if adding or not params.get("file"):
                raise Refused("no_item_specified")
            raise Refused("file_not_found")  # only messages can carry reactions here
        channel, message, _ = self._message_at(params, "timestamp")
        if adding and channel.archived:
            raise Refused("is_archived")
        if not reactions.valid_name(params.get("name")):
            raise Refused("invalid_name")
        change = reactions.add if adding else reactions.remove
        error = change(message.reactions, str(params["name"]), self.bot_user)
        if error:
            raise Refused(error)
        return {"ok": True}

    def _m_reactions_add(self, params: dict) -> dict:
        # reactions.add page: channel, name, timestamp (all required); scope
        # reactions:write; Tier 3; already_reacted, invalid_name, message_not_found, ...
        return self._react(params, adding=True)

    def _m_reactions_remove(self, params: dict) -> dict:
        # reactions.remove page: name, and channel + timestamp (or file); scope
        # reactions:write; Tier 2; no_reaction when the caller did not add it.
        return self._react(params, adding=False)

    def _m_reactions_get(self, params: dict) -> dict:
        # reactions.get page: channel + timestamp (or file); scope reactions:read;
        # Tier 3; answers {"type": "message", "channel", "message": {..., "reactions",
        # "permalink"}}.
        if not params.get("channel") or not params.get("timestamp"):
            raise Refused("file_not_found" if params.get("file") else "no_item_specified")
        channel, message, parent = self._message_at(params, "timestamp")
        shown = message.as_json(metadata=False)
        shown["permalink"] = self._base_url() + permalink_path(
            channel.id, message.ts, parent.ts if parent else None)
        return {"ok": True, "type": "message", "channel": channel.id, "message": shown}

    # -- conversations -----------------------------------------------------------------
    def _m_conversations_history(self, params: dict) -> dict:
        channel = self._readable("conversations.history", params)
        oldest, latest = _ts_arg(params, "oldest"), _ts_arg(params, "latest")
        inclusive = _flag(params.get("inclusive"))
        newest_first = [m for m in reversed(channel.messages)
                        if _in_range(float(m.ts), oldest, latest, inclusive)]
        page, cursor = _page(newest_first, params, default=100, most=999)
        metadata = bool(_flag(params.get("include_all_metadata")))
        return {"ok": True, "messages": [m.as_json(metadata=metadata) for m in page],
                "has_more": bool(cursor),
                "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    def _m_conversations_replies(self, params: dict) -> dict:
        channel = self._readable("conversations.replies", params)
        message, parent = channel.find(params.get("ts"))
        if message is None:
            raise Refused("thread_not_found")
        thread = parent or message
        page, cursor = _page([thread, *thread.replies], params, default=1000, most=1000)
        metadata = bool(_flag(params.get("include_all_metadata")))
        return {"ok": True, "messages": [m.as_json(metadata=metadata) for m in page],
                "has_more": bool(cursor),
                "response_metadata": {"next_cursor": cursor}}

    def _m_conversations_info(self, params: dict) -> dict:
        # Like Slack: a channel ID only (a name gets channel_not_found).
        return {"ok": True, "channel": self._channel_json(self._readable(
            "conversations.info", params))}

    def _m_conversations_list(self, params: dict) -> dict:
        types = [t.strip() for t in str(params.get("types") or "public_channel").split(",")
                 if t.strip()]
        if not types or any(t not in _TYPE_SCOPES for t in types):
            raise Refused("invalid_types")
        for kind in types:
            self._need(_TYPE_SCOPES[kind])
        exclude_archived = _flag(params.get("exclude_archived"))
        shown = [c for c in self.workspace.channels.values()
                 if ("private_channel" if c.private else "public_channel") in types
                 and self._sees(c) and not (exclude_archived and c.archived)]
        page, cursor = _page(shown, params, default=100, most=999, strict=True)
        return {"ok": True, "channels": [self._channel_json(c) for c in page],
                "response_metadata": {"next_cursor": cursor}}

    def _channel_json(self, channel: Channel) -> dict:
        return {"id": channel.id, "name": channel.name, "name_normalized": channel.name,
                "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
                "is_private": channel.private, "is_archived": channel.archived,
                "is_general": channel.name == "general", "is_shared": False,
                "is_ext_shared": False, "is_org_shared": False,
                "is_member": channel.member, "context_team_id": _TEAM_ID}

    # -- users -------------------------------------------------------------------------
    def _m_users_list(self, params: dict) -> dict:
        now = int(self.clock.now())
        people = [_member(uid, name, now) for uid, name in sorted(self.workspace.users.items())]
        bot = _member(self.bot_user, "emulator-bot", now, is_bot=True)
        bot["profile"]["bot_id"] = _BOT_ID
        members = [*people, bot, _member(_SLACKBOT, "slackbot", now, real_name="Slackbot")]
        page, cursor = _page(members, params, default=len(members))
        return {"ok": True, "members": page, "cache_ts": now,
                "response_metadata": {"next_cursor": cursor}}

    # -- files -------------------------------------------------------------------------
    def _m_files_getUploadURLExternal(self, params: dict) -> dict:
        if not params.get("filename") or not params.get("length"):
            raise Refused("missing_argument")
        length = _int(params["length"], "invalid_arguments")
        file_id = self.workspace.next_id("F")
        self.workspace.files[file_id] = {"id": file_id, "name": str(params["filename"]),
                                         "length": length, "content": None}
        return {"ok": True, "file_id": file_id,
                "upload_url": f"{self._base_url()}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, params: dict) -> dict:
        try:
            entries = json.loads(params.get("files") or "[]")
        except (TypeError, ValueError):
            raise Refused("invalid_arguments") from None
        shared: List[dict] = []
        for entry in entries:
            record = self.workspace.files.get(entry.get("id"))
            if record is None or record["content"] is None or record.get("deleted"):
                raise Refused("file_not_found")
            record["title"] = entry.get("title") or record["name"]
            shared.append(record)
        # IDs only: "Channel ID where the file will be shared" (channel_not_found), and
        # "Comma-separated string of channel IDs" (invalid_channel: "Channel could not be
        # found or channel specified is invalid").
        targets = []
        if params.get("channel_id"):
            if str(params["channel_id"]) not in self.workspace.channels:
                raise Refused("channel_not_found")
            targets.append(self._postable(params["channel_id"], by_id=True))
        ids = [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        if len(ids) > 100:
            raise Refused("channels_limit_exceeded")
        for key in ids:
            if key not in self.workspace.channels:
                raise Refused("invalid_channel")
            targets.append(self._postable(key, by_id=True))
        info = [{"id": r["id"], "name": r["name"], "title": r["title"]} for r in shared]
        for channel in targets:
            parent = self._thread(channel, params.get("thread_ts"))
            self._new_message(channel, parent, str(params.get("initial_comment") or ""),
                              files=[dict(f) for f in info])
        return {"ok": True, "files": [{"id": r["id"], "title": r["title"]} for r in shared]}

    def _m_files_delete(self, params: dict) -> dict:
        # files.delete page: file (required); scope files:write; Tier 3; file_not_found
        # ("does not exist, or is not visible"), file_deleted ("already been deleted").
        # Messages that shared it keep a tombstone, as Slack shows "This file was deleted".
        record = self.workspace.files.get(str(params.get("file") or ""))
        if record is None:
            raise Refused("file_not_found")
        if record.get("deleted"):
            raise Refused("file_deleted")
        record.update(deleted=True, content=None)
        for channel in self.workspace.channels.values():
            for message in channel.messages:
                for item in [message, *message.replies]:
                    for shared in item.files:
                        if shared["id"] == record["id"]:
                            shared["mode"] = "tombstone"
        return {"ok": True}


def permalink_path(channel: str, ts: str, thread_ts: Optional[str] = None) -> str:
    """The path of a message's permalink: ``/archives/CHANNEL/pTS`` (the ``ts`` without its
    dot), with ``?thread_ts=PARENT&cid=CHANNEL`` for a reply, as ``chat.getPermalink``'s
    page shows them.  The emulator's channel view serves it, opened at that message."""
    path = f"/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts:
        path += f"?thread_ts={thread_ts}&cid={channel}"
    return path


# -- arguments -----------------------------------------------------------------------------
def _flag(value) -> Optional[bool]:
    """A boolean argument: JSON true/false, or ``"true"``/``"1"``; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true")


def _int(value, error: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise Refused(error) from None


def _ts_arg(params: dict, key: str) -> Optional[float]:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Refused(f"invalid_ts_{key}") from None


def _in_range(ts: float, oldest: Optional[float], latest: Optional[float],
              inclusive: Optional[bool]) -> bool:
    if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
        return False
    return latest is None or ts < latest or (ts == latest and bool(inclusive))


def _page(items: list, params: dict, *, default: int, most: Optional[int] = None,
          strict: bool = False) -> Tuple[list, str]:
    """One page of ``items`` after the ``cursor``, ``limit`` long, and the next cursor.

    Slack's cursors ("Pagination") are opaque base64 strings; one the
    emulator did not hand out is ``invalid_cursor``.  A ``limit`` that is no
    integer is ``invalid_limit``; over ``most`` it is capped, or refused with
    ``invalid_limit`` when ``strict`` (``conversations.list``: "Must be an
    integer under 1000").  ``limit`` absent or 0: ``default``.
    """
    limit = default
    if params.get("limit") not in (None, ""):
        limit = _int(params["limit"], "invalid_limit") or default
        if limit < 1 or (strict and most is not None and limit > most):
            raise Refused("invalid_limit")
        limit = min(limit, most) if most is not None else limit
    start = _cursor_offset(params.get("cursor"))
    if start > len(items):
        raise Refused("invalid_cursor")
    end = start + max(limit, 1)
    cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], cursor


def _cursor_offset(cursor) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind == "next" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise Refused("invalid_cursor")


def _member(uid: str, name: str, now: int, *, is_bot: bool = False,
            real_name: Optional[str] = None) -> dict:
    """A user object as ``users.list`` returns it (the fields its example shows)."""
    real_name = real_name or name
    return {"id": uid, "team_id": _TEAM_ID, "name": name, "deleted": False,
            "real_name": real_name, "tz": "UTC", "tz_label": "Coordinated Universal Time",
            "tz_offset": 0, "is_admin": False, "is_owner": False, "is_primary_owner": False,
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": is_bot,
            "is_app_user": False, "updated": now,
            "profile": {"real_name": real_name, "display_name": name,
                        "real_name_normalized": real_name, "display_name_normalized": name,
                        "team": _TEAM_ID}}
