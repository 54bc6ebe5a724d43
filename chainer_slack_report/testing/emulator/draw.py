"""Message content as Slack draws it, in HTML: mrkdwn text (and, later, Block Kit blocks).

:func:`mrkdwn_to_html` renders message text the way Slack renders mrkdwn
("Formatting message text"): code blocks, inline code, ``*bold*``,
``_italic_``, ``~strike~``, ``&lt;``/``&gt;``/``&amp;`` shown as characters,
``<@U…>``, ``<!here>``, ``<!subteam^S…>`` as names, ``<url|label>`` as links.
Everything it returns is safe HTML: every character of the input is escaped
except the markup added here.
"""

from __future__ import annotations

import html
import re
from typing import List, Mapping, Optional

__all__ = ["mrkdwn_to_html"]

# A code block is a block of its own: the line breaks around it add no space.
_CODE_BLOCK = re.compile(r"\n?```\n?(.*?)\n?```\n?", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]+)>")
_STYLES = [  # Slack's emphasis: the marker must hug the text and not touch a word
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), "s"),
]
_PLACEHOLDER = "\x00{}\x00"


def mrkdwn_to_html(text: str, *, users: Optional[Mapping[str, str]] = None,
                   groups: Optional[Mapping[str, str]] = None) -> str:
    """Slack mrkdwn → HTML.

    Args:
        text: Message text as sent to Slack (``&``, ``<``, ``>`` of data
            escaped as ``&amp;``, ``&lt;``, ``&gt;``).
        users: Member ID → name, for ``<@U…>``.
        groups: User-group ID → handle, for ``<!subteam^S…>``.

    Returns:
        str: Safe HTML: every character of the text is escaped except the
        markup this function adds.
    """
    users = users or {}
    groups = groups or {}
    kept: List[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return _PLACEHOLDER.format(len(kept) - 1)

    def code_block(match: re.Match[str]) -> str:
        return keep(f"<pre>{_text(match.group(1))}</pre>")

    def inline_code(match: re.Match[str]) -> str:
        return keep(f"<code>{_text(match.group(1))}</code>")

    def angle(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            name = users.get(target[1:], label or target[1:])
            return keep(f'<span class="mention">@{_text(name)}</span>')
        if target.startswith("!subteam^"):
            name = groups.get(target[len("!subteam^"):], label or target[len("!subteam^"):])
            return keep(f'<span class="mention">@{_text(name)}</span>')
        if target.startswith("!"):
            return keep(f'<span class="mention">@{_text(label or target[1:])}</span>')
        if target.startswith("#"):
            return keep(f'<span class="mention">#{_text(label or target[1:])}</span>')
        if re.match(r"(https?|mailto):", target):
            href = html.escape(html.unescape(target), quote=True)
            return keep(f'<a href="{href}">{_text(label or target)}</a>')
        return keep(_text(match.group(0)))

    text = _CODE_BLOCK.sub(code_block, text.strip("\n"))
    text = _INLINE_CODE.sub(inline_code, text)
    text = _ANGLE.sub(angle, text)
    text = _text(text)
    for pattern, tag in _STYLES:
        text = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", text)
    text = text.replace("\n", "<br>")
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _text(fragment: str) -> str:
    """Text as Slack shows it (its three entities decoded), escaped for HTML."""
    return html.escape(html.unescape(fragment), quote=False)
