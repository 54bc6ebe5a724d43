"""Message metadata: the ``metadata`` argument of ``chat.postMessage``, ``chat.update``
and ``chat.scheduleMessage``.

Slack's "Message metadata" page and the three method pages (docs.slack.dev
``reference/methods/<method>``, argument ``metadata``): "JSON object with
``event_type`` and ``event_payload`` fields, presented as a URL-encoded string"
(in a JSON body, the object itself).  ``chat.postMessage`` also takes Work
Object entity metadata (an ``entities`` array) in the same argument.  What
does not parse as a JSON object is ``invalid_metadata_format``; an object
without a string ``event_type`` and an object ``event_payload`` (or an
``entities`` array) is ``invalid_metadata_schema``.

``chat.update``: "If you don't include this field, the message's previous
metadata will be retained.  To remove previous metadata, include an empty
object for this field."  ``conversations.history`` and
``conversations.replies`` return a message's metadata only with
``include_all_metadata``.  The ``chat.scheduleMessage`` page's "Bug alert":
"Messages scheduled with chat.scheduleMessage will not post if the metadata
parameter is used" -- the emulator keeps that bug (see :mod:`.scheduled`).

Not emulated: ``metadata_too_large`` (the page names no size) and
``metadata_must_be_sent_from_app`` (the emulator's one token is an app's).
"""

from __future__ import annotations

import json
from typing import Optional, Tuple

__all__ = ["parse_metadata", "KEEP", "REMOVE"]

#: :func:`parse_metadata`'s answer when no ``metadata`` was sent (``chat.update``
#: keeps the message's metadata).
KEEP = "keep"
#: :func:`parse_metadata`'s answer for ``{}`` (``chat.update`` removes the metadata).
REMOVE = "remove"


def parse_metadata(value) -> Tuple[Optional[object], Optional[str]]:
    """``(metadata, error)`` of a ``metadata`` argument as it arrived.

    Args:
        value: None (absent), a JSON string (form-encoded body) or a dict
            (JSON body).

    Returns:
        ``(dict, None)`` for valid metadata; ``(KEEP, None)`` when absent or
        empty; ``(REMOVE, None)`` for an empty object; ``(None, error)`` with
        ``"invalid_metadata_format"`` or ``"invalid_metadata_schema"``.
    """
    if value is None or value == "":
        return KEEP, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_metadata_format"
    if not isinstance(value, dict):
        return None, "invalid_metadata_format"
    if not value:
        return REMOVE, None
    event = isinstance(value.get("event_type"), str) and value["event_type"] \
        and isinstance(value.get("event_payload"), dict)
    entities = isinstance(value.get("entities"), list) and value["entities"]
    if not (event or entities):
        return None, "invalid_metadata_schema"
    return json.loads(json.dumps(value)), None
