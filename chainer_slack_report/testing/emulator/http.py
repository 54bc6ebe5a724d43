"""The emulator's HTTP side: a threading server on 127.0.0.1 and its request handler.

Routes: ``/api/METHOD`` (the Web API, answered by ``SlackEmulator.answer``),
``/upload/ID`` (the ``upload_url`` of ``files.getUploadURLExternal``),
``/files/ID`` (an uploaded file), ``/`` (the channel view page),
``/archives/CHANNEL/pTS`` (a ``chat.getPermalink`` permalink: the channel view
opened at that message), ``/_emulator/bot.svg`` (the bot's icon, ``bots.info``),
``/_emulator/view.json`` (the page's data) and ``/_emulator/state``
(``SlackEmulator.state``, ``?history=1`` adds edit histories).  The handler
only parses and writes HTTP; every decision is the emulator's.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional

from . import view

__all__ = ["ApiRequest", "Answer", "Server"]


@dataclass
class ApiRequest:
    """One Web API request as the emulator sees it (the token kept apart from the params).

    The token is read where Slack reads it (docs.slack.dev "Slack Web API",
    changelogs 2017-10 "Keeping up with the JSONs" and 2020-11 "No more tokens
    in querystrings for newly created apps"): an ``Authorization: Bearer``
    header, or a ``token`` in a form-encoded POST body.  A ``token`` inside a
    JSON body is not read (JSON requires the header), and one in the query
    string is refused (``token_in_query``), as for every app created since
    February 24, 2021.
    """

    method: str  #: e.g. ``"chat.update"``
    params: dict  #: query string and body arguments, without ``token``
    token: Optional[str]  #: the token presented where Slack reads it, or None
    token_in_query: bool = False  #: a ``token`` came in the query string
    error: Optional[str] = None  #: the body could not be read (``invalid_json``)


@dataclass
class Answer:
    """What to send back: status, body and headers, or nothing at all (``dropped``)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Dict[str, str] = field(default_factory=dict)
    dropped: bool = False  #: close the connection without an answer (an outage)

    @classmethod
    def json(cls, payload: dict, *, status: int = 200,
             headers: Optional[Dict[str, str]] = None) -> Answer:
        return cls(status, json.dumps(payload).encode("utf-8"), headers=dict(headers or {}))

    @classmethod
    def closed(cls) -> Answer:
        """No answer: the connection is closed (an outage)."""
        return cls(0, dropped=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        emulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/", "/index.html") or url.path.startswith("/archives/"):
            self._send(Answer(200, view.PAGE.encode("utf-8"), "text/html; charset=utf-8"))
        elif url.path.startswith("/files/"):
            found = emulator.file(url.path.rsplit("/", 1)[1])
            self._send(Answer(200, *found) if found
                       else Answer(404, b"no such file", "text/plain"))
        elif url.path.startswith("/upload/"):
            if emulator.upload(url.path.rsplit("/", 1)[1], body):
                self._send(Answer(200, f"OK - {len(body)}".encode(), "text/plain"))
            else:
                self._send(Answer(404, b"unknown upload", "text/plain"))
        elif url.path == "/_emulator/bot.svg":
            self._send(Answer(200, view.BOT_ICON.encode("utf-8"), "image/svg+xml"))
        elif url.path.rstrip("/") == "/_emulator/view.json":
            self._send(Answer.json(view.view_state(emulator)))
        elif url.path.rstrip("/") == "/_emulator/state":
            query = dict(urllib.parse.parse_qsl(url.query))
            history = query.get("history", "") not in ("", "0", "false")
            self._send(Answer.json(emulator.state(history=history)))
        elif url.path.startswith("/_emulator/"):
            self._send(Answer(404, b"unknown debug endpoint", "text/plain"))
        else:
            self._send(emulator.answer(self._api_request(url, body)))

    def _api_request(self, url: urllib.parse.SplitResult, body: bytes) -> ApiRequest:
        params = dict(urllib.parse.parse_qsl(url.query))
        in_query = params.pop("token", None) is not None
        token, error = None, None
        if body:
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind == "application/json":
                try:
                    data = json.loads(body.decode("utf-8"))
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    data, error = {}, "invalid_json"
                data.pop("token", None)  # JSON bodies need the Authorization header
                params.update(data)
            else:
                form = dict(urllib.parse.parse_qsl(body.decode("utf-8")))
                token = form.pop("token", None)
                params.update(form)
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):].strip()
        return ApiRequest(method=url.path.rsplit("/", 1)[-1], params=params, token=token,
                          token_in_query=in_query, error=error)

    def _send(self, answer: Answer) -> None:
        if answer.dropped:
            self.close_connection = True
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(answer.body)


class Server(ThreadingHTTPServer):
    """The emulator's HTTP server on ``address``; each request on a thread of its own."""

    daemon_threads = True
    #: listen() backlog; socketserver's 5 drops connections when dozens of
    #: processes call at once (each WebClient call opens a new connection).
    request_queue_size = 256

    def __init__(self, address, emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
