"""A local, stateful Slack Web API server for tests.

The real :class:`slack_sdk.WebClient` talks to it unchanged through
``base_url``::

    with SlackEmulator() as slack:
        client = slack.client()           # WebClient(token, base_url=slack.url)
        client.chat_postMessage(channel="general", text="hi")
        assert slack.messages("general")[0].text == "hi"

It keeps channels (public and private), messages with ``ts`` and their
Block Kit ``blocks``, message ``metadata`` and reactions, each message's edit
history, thread replies, users and files uploaded through the
``files_upload_v2`` flow (``files.getUploadURLExternal`` → POST bytes →
``files.completeUploadExternal``; ``files.delete``).  It also answers
``api.test``, ``auth.test``, ``bots.info`` and ``chat.getPermalink`` (whose
permalinks the channel view opens at the message).
It answers as Slack's method pages say, with Slack's error codes
(``not_authed``, ``invalid_auth``, ``token_revoked``, ``channel_not_found``,
``not_in_channel``, ``is_archived``, ``is_inactive``, ``message_not_found``,
``msg_too_long``, ``no_text``, ``invalid_blocks``, ``msg_blocks_too_long``,
``invalid_cursor``, ``ratelimited``, ``missing_scope``, …).  The bot's OAuth
scopes (:attr:`SlackEmulator.scopes`) come back in the ``x-oauth-scopes``
header of every answer to an accepted token, as Slack sends them, and each
method checks the scope its page names.  Knobs inject latency, HTTP 429 with
``Retry-After``, 5xx answers, Slack error codes and outages (connections
dropped without an answer).  Every call is recorded in :attr:`calls`.

Its defaults are Slack's, so that code that passes against it passes against
Slack: rate limits per method (:data:`SLACK_LIMITS`, sliding windows),
``Retry-After`` in whole seconds, the token only where Slack reads it.  What
is not Slack's is an explicit, named opt-out::

    SlackEmulator(limits=NO_LIMITS)                     # no rate limits
    SlackEmulator(retry_after_resolution=0.01)          # fractional Retry-After
    slack.set_limit("chat.update", calls=3, per=0.5)    # any limit, at run time

A call over a limit gets HTTP 429 ``{"ok": false, "error": "ratelimited"}``
with ``Retry-After`` (see :meth:`SlackEmulator.set_limit`).  Tests move time
with :meth:`SlackEmulator.advance` instead of waiting: rate-limit windows free
up, and messages scheduled with ``chat.scheduleMessage`` are posted when their
``post_at`` passes (:meth:`SlackEmulator.scheduled` lists those waiting).

To share one emulator between processes, run it as its own process::

    python -m chainer_slack_report.testing.emulator --port 0 --update-limit 50/60

It prints one JSON line (``url``, ``token``, ``channels``, ``state_url``) and
serves until SIGTERM/SIGINT.  ``GET /_emulator/state`` answers
:meth:`SlackEmulator.state` as JSON (``?history=1`` adds every message's
edit history).  ``GET /`` is the channel view for a browser.

Only 127.0.0.1 is ever bound.

The modules, one job each:

* :mod:`.core` -- :class:`SlackEmulator`: lifecycle, knobs, inspection, and
  :meth:`~SlackEmulator.answer`, the one entry for an API request;
* :mod:`.model` -- the workspace: channels, messages, threads, users, files;
* :mod:`.methods` -- the Web API methods over the workspace, and their scopes;
* :mod:`.blocks` -- Block Kit checks (``invalid_blocks`` and its reasons);
* :mod:`.metadata` -- message ``metadata`` (``event_type``, ``event_payload``);
* :mod:`.reactions` -- emoji reactions on messages;
* :mod:`.limits` -- rate limits (sliding windows, ``Retry-After``);
* :mod:`.faults` -- injected errors, latency and outages;
* :mod:`.scheduled` -- messages scheduled with ``chat.scheduleMessage``;
* :mod:`.clock` -- the emulator's now, which tests can move forward;
* :mod:`.http` -- the HTTP server and handler;
* :mod:`.view`, :mod:`.draw` -- the channel view for a browser;
* :mod:`.process` -- the emulator as a process of its own (``main``).
"""

from .clock import Clock
from .core import SlackEmulator, Snapshot
from .limits import NO_LIMITS, SLACK_LIMITS
from .methods import DEFAULT_SCOPES, MAX_POSTED_TEXT_CHARS, MAX_TEXT_CHARS, METHOD_SCOPES
from .model import Call, Channel, Message
from .process import add_arguments, main, serve
from .scheduled import ScheduledMessage

__all__ = ["SlackEmulator", "Message", "Call", "Channel", "Clock", "Snapshot", "SLACK_LIMITS",
           "NO_LIMITS", "DEFAULT_SCOPES", "METHOD_SCOPES", "MAX_TEXT_CHARS",
           "MAX_POSTED_TEXT_CHARS", "ScheduledMessage", "main", "add_arguments", "serve"]
