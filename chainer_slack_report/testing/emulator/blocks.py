"""Block Kit checks: a message's ``blocks`` as Slack validates them before posting.

:func:`check_blocks` answers what ``chat.postMessage``, ``chat.update`` and
``chat.scheduleMessage`` answer for blocks Slack refuses:

* ``invalid_blocks_format`` -- ``blocks`` is not a JSON array of objects;
* ``invalid_blocks`` -- with the reasons where Slack puts them, in ``errors``
  and (prefixed ``[ERROR]``) in ``response_metadata.messages``, each ending in
  ``[json-pointer:/blocks/N/…]``, e.g. ``must be less than 3001 characters
  [json-pointer:/blocks/0/text/text]``;
* ``msg_blocks_too_long`` -- the blocks hold more text than a message can.

The limits are those of the Block Kit reference pages on docs.slack.dev
(``reference/block-kit/blocks`` and one page per block), named below.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, List, Optional, Tuple

__all__ = ["parse_blocks", "check_blocks", "text_chars", "MESSAGE_BLOCK_TYPES", "MAX_BLOCKS",
           "MAX_SECTION_TEXT", "MAX_HEADER_TEXT", "MAX_BLOCKS_TEXT_CHARS"]

#: "You can include up to 50 blocks in each message" (Blocks reference).
MAX_BLOCKS = 50
#: ``block_id``: "Maximum length for this field is 255 characters."
MAX_BLOCK_ID = 255
#: Section block: ``text`` "Maximum length for the text in this field is 3000 characters";
#: ``fields`` "Maximum number of items is 10. Maximum length for the text in each item is
#: 2000 characters."
MAX_SECTION_TEXT, MAX_SECTION_FIELDS, MAX_FIELD_TEXT = 3000, 10, 2000
#: Header block: a ``plain_text`` ``text`` of at most 150 characters.
MAX_HEADER_TEXT = 150
#: Context block: ``elements`` "Maximum number of items is 10."
MAX_CONTEXT_ELEMENTS = 10
#: Actions block: ``elements`` "There is a maximum of 25 elements in each action block."
MAX_ACTIONS_ELEMENTS = 25
#: Markdown block: "The cumulative limit for all markdown blocks in a single payload is
#: 12,000 characters."
MAX_MARKDOWN_TEXT = 12000
#: Image block: ``alt_text`` and ``title`` at most 2000 characters, ``image_url`` 3000.
MAX_IMAGE_ALT, MAX_IMAGE_URL = 2000, 3000
#: ``msg_blocks_too_long``, "Blocks submitted with this message are too long", has no
#: documented number.  Slack's maintainers put it at "12,000 text characters with a buffer
#: for block containers" (slackapi/bolt-js#2509, where it struck at about 13,200); here the
#: text of every ``text`` field of the blocks together may not exceed 12,000 characters.
MAX_BLOCKS_TEXT_CHARS = 12000

#: The block types a message may hold (Blocks reference and blocks.json on docs.slack.dev:
#: the blocks available in the "Messages" surface).  ``alert`` is for modals only.
MESSAGE_BLOCK_TYPES = frozenset({
    "actions", "card", "carousel", "container", "context", "context_actions", "data_table",
    "data_visualization", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "table", "video",
})

_TEXT_TYPES = ("plain_text", "mrkdwn")


def parse_blocks(value: Any) -> Tuple[Optional[List[dict]], Optional[str]]:
    """``(blocks, None)`` from a ``blocks`` argument, or ``(None, "invalid_blocks_format")``.

    Args:
        value: The argument as it came: a list (JSON body), a JSON string
            (form-encoded body), or None/``""`` (no blocks: ``([], None)``).
    """
    if value is None or value == "":
        return [], None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_blocks_format"
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        return None, "invalid_blocks_format"
    return value, None


def check_blocks(blocks: List[dict]) -> Optional[dict]:
    """Slack's error answer for these blocks, or None when Slack would take them.

    Args:
        blocks (list of dict): The parsed blocks (see :func:`parse_blocks`).

    Returns:
        dict or None: ``{"ok": False, "error": "invalid_blocks", "errors": [...],
        "response_metadata": {"messages": ["[ERROR] ...", ...]}}``, or
        ``{"ok": False, "error": "msg_blocks_too_long"}``, or None.
    """
    problems = _Problems()
    if len(blocks) > MAX_BLOCKS:
        problems.add(f"no more than {MAX_BLOCKS} items allowed", "/blocks")
    block_ids = set()
    markdown = 0
    for index, block in enumerate(blocks):
        at = f"/blocks/{index}"
        kind = block.get("type")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
                problems.add(f"must be less than {MAX_BLOCK_ID + 1} characters",
                             at + "/block_id")
            elif block_id in block_ids:
                problems.add("block_id must be unique within a message", at + "/block_id")
            block_ids.add(block_id)
        if kind not in MESSAGE_BLOCK_TYPES:
            problems.add(f"unsupported block type {kind!r} for a message", at + "/type")
            continue
        check = _CHECKS.get(kind)
        if check is not None:
            check(block, at, problems)
        if kind == "markdown" and isinstance(block.get("text"), str):
            markdown += len(block["text"])
    if markdown > MAX_MARKDOWN_TEXT:
        problems.add(f"markdown blocks together must be less than {MAX_MARKDOWN_TEXT + 1} "
                     f"characters", "/blocks")
    if problems.errors:
        return {"ok": False, "error": "invalid_blocks", "errors": list(problems.errors),
                "response_metadata": {"messages": ["[ERROR] " + e for e in problems.errors]}}
    if text_chars(blocks) > MAX_BLOCKS_TEXT_CHARS:
        return {"ok": False, "error": "msg_blocks_too_long"}
    return None


def text_chars(value: Any) -> int:
    """Characters in every ``text`` string anywhere in ``value`` (blocks, a block, …)."""
    return sum(len(text) for text in _texts(value))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


class _Problems:
    """Slack's reasons, each ``"<what> [json-pointer:<where>]"``."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def add(self, what: str, where: str) -> None:
        self.errors.append(f"{what} [json-pointer:{where}]")

    def text_object(self, value: Any, at: str, *, limit: int,
                    types: Tuple[str, ...] = _TEXT_TYPES) -> None:
        """A text object: ``type`` one of ``types`` and 1..``limit`` characters of ``text``."""
        if not isinstance(value, dict):
            self.add("must provide an object", at)
            return
        if value.get("type") not in types:
            self.add(f"must be one of {', '.join(types)}", at + "/type")
        self.string(value.get("text"), at + "/text", limit=limit)

    def string(self, value: Any, at: str, *, limit: int) -> None:
        """A string of 1..``limit`` characters."""
        if not isinstance(value, str):
            self.add("must provide a string", at)
        elif not value:
            self.add("must be more than 0 characters", at)
        elif len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", at)

    def items(self, value: Any, at: str, *, low: int, high: int) -> List[Any]:
        """A list of ``low``..``high`` items; returns it (or ``[]``)."""
        if not isinstance(value, list):
            self.add("must provide an array", at)
            return []
        if len(value) < low:
            self.add(f"must provide at least {low} items", at)
        if len(value) > high:
            self.add(f"no more than {high} items allowed", at)
        return value


def _section(block: dict, at: str, problems: _Problems) -> None:
    if "text" not in block and "fields" not in block:
        problems.add("must provide text or fields", at)
    if "text" in block:
        problems.text_object(block["text"], at + "/text", limit=MAX_SECTION_TEXT)
    if "fields" in block:
        for i, item in enumerate(problems.items(block["fields"], at + "/fields", low=1,
                                                high=MAX_SECTION_FIELDS)):
            problems.text_object(item, f"{at}/fields/{i}", limit=MAX_FIELD_TEXT)


def _header(block: dict, at: str, problems: _Problems) -> None:
    problems.text_object(block.get("text"), at + "/text", limit=MAX_HEADER_TEXT,
                         types=("plain_text",))


def _context(block: dict, at: str, problems: _Problems) -> None:
    for i, item in enumerate(problems.items(block.get("elements"), at + "/elements", low=1,
                                            high=MAX_CONTEXT_ELEMENTS)):
        if isinstance(item, dict) and item.get("type") == "image":
            continue
        problems.text_object(item, f"{at}/elements/{i}", limit=MAX_SECTION_TEXT)


def _actions(block: dict, at: str, problems: _Problems) -> None:
    problems.items(block.get("elements"), at + "/elements", low=1, high=MAX_ACTIONS_ELEMENTS)


def _markdown(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("text"), at + "/text", limit=MAX_MARKDOWN_TEXT)


def _image(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("alt_text"), at + "/alt_text", limit=MAX_IMAGE_ALT)
    if "image_url" in block:
        problems.string(block["image_url"], at + "/image_url", limit=MAX_IMAGE_URL)
    elif "slack_file" not in block:
        problems.add("must provide image_url or slack_file", at)


def _rich_text(block: dict, at: str, problems: _Problems) -> None:
    problems.items(block.get("elements"), at + "/elements", low=0, high=10 ** 6)


_CHECKS = {
    "section": _section, "header": _header, "context": _context, "actions": _actions,
    "markdown": _markdown, "image": _image, "rich_text": _rich_text,
}
