"""The Web API methods the emulator answers, each as Slack's method page describes it.

:class:`WebAPI` turns ``(method, params)`` into the JSON answer, reading and
changing a :class:`~.model.Workspace`.  Authentication, rate limits and
faults are decided before a call gets here (:mod:`.core`).
"""

from __future__ import annotations

import json
from typing import Callable, Dict, List, Optional, Sequence

from .clock import Clock
from .model import Channel, Message, Workspace

__all__ = ["WebAPI", "DEFAULT_SCOPES", "METHOD_SCOPES", "MAX_TEXT_CHARS", "missing_scope"]

#: ``chat.update`` documents ``msg_too_long`` at 4,000 characters.
MAX_TEXT_CHARS = 4000

#: The bot's OAuth scopes unless told otherwise: post and edit, resolve user
#: names, upload files.
DEFAULT_SCOPES = ("chat:write", "users:read", "files:write")

#: The OAuth scope each method needs (as Slack's method pages list them); a
#: token without it gets ``missing_scope`` with ``needed`` and ``provided``.
#: The read methods of ``conversations.*`` are not checked (they would need
#: ``channels:read``/``channels:history``, which a reporting bot rarely has).
METHOD_SCOPES: Dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "users.list": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}


def missing_scope(method: str, scopes: Sequence[str]) -> Optional[dict]:
    """Slack's ``missing_scope`` answer if ``scopes`` lack ``method``'s; else None."""
    needed = METHOD_SCOPES.get(method)
    if needed is None or needed in scopes:
        return None
    return {"ok": False, "error": "missing_scope", "needed": needed,
            "provided": ",".join(scopes)}


class WebAPI:
    """The Web API methods over one workspace.

    Args:
        workspace (Workspace): The state the methods read and change.
        clock (Clock): The emulator's now (for ``ts``).
        bot_user (str): The bot's member ID (who posts).
        max_text_chars (int): ``msg_too_long`` above this many characters.
        base_url (callable): ``base_url()`` → the server's ``http://127.0.0.1:PORT``.
    """

    def __init__(self, workspace: Workspace, clock: Clock, *, bot_user: str,
                 max_text_chars: int, base_url: Callable[[], str]) -> None:
        self.workspace = workspace
        self.clock = clock
        self.bot_user = bot_user
        self.max_text_chars = max_text_chars
        self._base_url = base_url

    def call(self, method: str, params: dict) -> dict:
        """The answer of ``method`` (e.g. ``"chat.update"``) to ``params``."""
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(params)

    # -- helpers ---------------------------------------------------------------------
    def _postable(self, params: dict, key: str = "channel"):
        channel = self.workspace.find_channel(str(params.get(key) or ""))
        if channel is None:
            return None, "channel_not_found"
        if channel.archived:
            return None, "is_archived"
        if not channel.member:
            return None, "not_in_channel"
        return channel, None

    def _text_error(self, text) -> Optional[str]:
        if not text:
            return "no_text"
        if len(text) > self.max_text_chars:
            return "msg_too_long"
        return None

    @staticmethod
    def _channel_json(channel: Channel) -> dict:
        return {"id": channel.id, "name": channel.name, "is_channel": True,
                "is_private": False, "is_archived": channel.archived,
                "is_member": channel.member}

    # -- methods ---------------------------------------------------------------------
    def _m_auth_test(self, params: dict) -> dict:
        return {"ok": True, "user_id": self.bot_user, "user": "emulator-bot",
                "team": "Emulator", "team_id": "T0000001", "bot_id": "B0000001"}

    def _m_chat_postMessage(self, params: dict) -> dict:
        channel, error = self._postable(params)
        error = error or self._text_error(params.get("text"))
        if error:
            return {"ok": False, "error": error}
        ws = self.workspace
        message = Message(channel=channel.id, ts=ws.next_ts(self.clock.now()),
                          text=params["text"], user=self.bot_user,
                          thread_ts=params.get("thread_ts"), history=[params["text"]],
                          unfurl_links=params.get("unfurl_links"))
        if message.thread_ts:
            parent = next((m for m in channel.messages if m.ts == message.thread_ts), None)
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent.replies.append(message)
        else:
            channel.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts,
                "message": message.as_json()}

    def _m_chat_update(self, params: dict) -> dict:
        channel = self.workspace.channels.get(str(params.get("channel") or ""))  # IDs only
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        message = next((m for m in channel.messages if m.ts == params.get("ts")), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        error = self._text_error(params.get("text"))
        if error:
            return {"ok": False, "error": error}
        message.text = params["text"]
        message.history.append(message.text)
        return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, params: dict) -> dict:
        channel = self.workspace.channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        before = len(channel.messages)
        channel.messages = [m for m in channel.messages if m.ts != params.get("ts")]
        if len(channel.messages) == before:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel.id, "ts": params["ts"]}

    def _m_conversations_history(self, params: dict) -> dict:
        channel = self.workspace.find_channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "messages": [m.as_json() for m in reversed(channel.messages)],
                "has_more": False}

    def _m_conversations_replies(self, params: dict) -> dict:
        channel = self.workspace.find_channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        parent = next((m for m in channel.messages if m.ts == params.get("ts")), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [parent.as_json()] + [r.as_json() for r in parent.replies],
                "has_more": False}

    def _m_conversations_info(self, params: dict) -> dict:
        # Like Slack: a channel ID only (a name gets channel_not_found).
        channel = self.workspace.channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._channel_json(channel)}

    def _m_conversations_list(self, params: dict) -> dict:
        exclude_archived = str(params.get("exclude_archived", "")).lower() in ("1", "true")
        channels = [self._channel_json(c) for c in self.workspace.channels.values()
                    if not (exclude_archived and c.archived)]
        limit = int(params.get("limit") or 0) or 100
        start = int(params.get("cursor") or 0)
        cursor = str(start + limit) if start + limit < len(channels) else ""
        return {"ok": True, "channels": channels[start:start + limit],
                "response_metadata": {"next_cursor": cursor}}

    def _m_users_list(self, params: dict) -> dict:
        members = [{"id": uid, "name": name, "real_name": name,
                    "profile": {"display_name": name, "real_name": name}}
                   for uid, name in sorted(self.workspace.users.items())]
        limit = int(params.get("limit") or 0) or len(members) or 1
        start = int(params.get("cursor") or 0)
        page = members[start:start + limit]
        cursor = str(start + limit) if start + limit < len(members) else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def _m_files_getUploadURLExternal(self, params: dict) -> dict:
        if not params.get("filename") or not params.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self.workspace.next_id("F")
        self.workspace.files[file_id] = {"id": file_id, "name": params["filename"],
                                         "length": int(params["length"]), "content": None}
        return {"ok": True, "file_id": file_id,
                "upload_url": f"{self._base_url()}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, params: dict) -> dict:
        try:
            entries = json.loads(params.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        shared: List[dict] = []
        for entry in entries:
            record = self.workspace.files.get(entry.get("id"))
            if record is None or record["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            record["title"] = entry.get("title") or record["name"]
            shared.append(record)
        if params.get("channel_id"):
            channel, error = self._postable(params, "channel_id")
            if error:
                return {"ok": False, "error": error}
            info = [{"id": r["id"], "name": r["name"], "title": r["title"]} for r in shared]
            message = Message(channel=channel.id, ts=self.workspace.next_ts(self.clock.now()),
                              text=params.get("initial_comment") or "", user=self.bot_user,
                              thread_ts=params.get("thread_ts"), files=info)
            message.history.append(message.text)
            parent = next((m for m in channel.messages if m.ts == message.thread_ts), None)
            (parent.replies if parent else channel.messages).append(message)
        return {"ok": True, "files": [{"id": r["id"], "title": r["title"]} for r in shared]}
