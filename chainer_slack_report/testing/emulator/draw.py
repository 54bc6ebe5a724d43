"""Message content as Slack draws it, in HTML: mrkdwn text and Block Kit blocks.

:func:`mrkdwn_to_html` renders message text the way Slack renders mrkdwn
("Formatting message text"): code blocks, inline code, ``*bold*``,
``_italic_``, ``~strike~``, ``&lt;``/``&gt;``/``&amp;`` shown as characters,
``<@U…>``, ``<!here>``, ``<!subteam^S…>`` as names, ``<url|label>`` as links.

:func:`blocks_to_html` draws a message's ``blocks``; a message with blocks
shows them, and its ``text`` is only the notification fallback.  The markup,
stable for tests (each block is ``<div class="block TYPE" data-block-type=TYPE>``,
or ``<hr>``/``<figure>`` as below):

* ``section``: ``.section-text`` (mrkdwn or plain text) and ``.fields`` of
  ``.field``; ``header``: ``.block.header`` holding the plain text;
  ``context``: ``.context-element`` per element (an image as ``[alt]``);
  ``divider``: ``<hr class="block divider">``; ``markdown``, ``rich_text``:
  their text; any other type: ``.block.unsupported`` naming it.
* ``data_table``::

      <div class="block data-table" data-page-size="5">
        <table class="data-table"><caption>CAPTION</caption>
          <thead><tr><th data-column="0" data-numeric="true" aria-sort="none">epoch</th>…
          <tbody><tr><th scope="row" data-value="1">1</th><td data-value="0.5">0.5</td>…
        </table>
        <div class="pager"><button class="previous">… <span class="page-of">1 / 3</span>
          <button class="next">…</div>
      </div>

  one ``<th>`` per header cell; the row-header column
  (``row_header_column_index``) as ``<th scope="row">``; ``data-value`` is a
  ``raw_number``'s value (a column of ``raw_number`` cells is
  ``data-numeric="true"``).  The page's script sorts the rows when a header
  is clicked (numerically for a numeric column; ``aria-sort`` says which way)
  and shows ``page_size`` rows a page, with previous/next.
* ``data_visualization``: ``<figure class="block data-visualization"
  data-chart=TYPE><figcaption>TITLE</figcaption><svg class="chart" …>``,
  drawn by :mod:`~chainer_slack_report.testing.emulator.charts` (one
  ``<path class="series" data-series=NAME>`` per series, axis labels, a legend).

Everything returned is safe HTML: every character of the input is escaped
except the markup added here.
"""

from __future__ import annotations

import html
import re
from typing import Callable, List, Mapping, Optional

from .blocks import TABLE_PAGE_SIZE
from .charts import chart_svg

__all__ = ["mrkdwn_to_html", "blocks_to_html"]

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
_SAFE_URL = re.compile(r"(https?|mailto):")  # links to anything else are shown as text


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
        if _SAFE_URL.match(target):
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


def blocks_to_html(blocks: List[dict], *, users: Optional[Mapping[str, str]] = None) -> str:
    """A message's Block Kit ``blocks`` as Slack shows them (markup: see the module).

    Args:
        blocks (list of dict): The blocks as posted (Slack checked them).
        users (dict): Member ID → name, for mentions in mrkdwn.
    """
    def mrkdwn(text: str) -> str:
        return mrkdwn_to_html(text, users=users)

    return "".join(_block(block, mrkdwn) for block in blocks)


def _block(block: dict, mrkdwn: Callable[[str], str]) -> str:
    kind = str(block.get("type"))
    if kind == "divider":
        return '<hr class="block divider" data-block-type="divider">'
    if kind == "data_visualization":
        title = block.get("title") or ""
        return (f'<figure class="block data-visualization" data-block-type="data_visualization" '
                f'data-chart="{_attr(block["chart"].get("type"))}"><figcaption>{_plain(title)}'
                f'</figcaption>{chart_svg(block["chart"], title)}</figure>')
    draw = _DRAW.get(kind)
    inner = draw(block, mrkdwn) if draw else f"[{_plain(kind)} block]"
    css = kind.replace("_", "-") if draw else "unsupported"
    extra = (f' data-page-size="{int(block.get("page_size") or TABLE_PAGE_SIZE)}"'
             if kind == "data_table" else "")
    return f'<div class="block {css}" data-block-type="{_attr(kind)}"{extra}>{inner}</div>'


def _text_object(value: Optional[dict], mrkdwn: Callable[[str], str]) -> str:
    if not isinstance(value, dict):
        return ""
    text = str(value.get("text") or "")
    return mrkdwn(text) if value.get("type") == "mrkdwn" else _plain(text).replace("\n", "<br>")


def _section(block: dict, mrkdwn: Callable[[str], str]) -> str:
    out = ""
    if block.get("text"):
        out += f'<div class="section-text">{_text_object(block["text"], mrkdwn)}</div>'
    if block.get("fields"):
        out += '<div class="fields">' + "".join(
            f'<div class="field">{_text_object(f, mrkdwn)}</div>' for f in block["fields"]
        ) + "</div>"
    return out


def _header(block: dict, mrkdwn: Callable[[str], str]) -> str:
    return _text_object(block.get("text"), mrkdwn)


def _context(block: dict, mrkdwn: Callable[[str], str]) -> str:
    out = ""
    for element in block.get("elements") or []:
        if isinstance(element, dict) and element.get("type") == "image":
            inner = "[" + _plain(element.get("alt_text")) + "]"
        else:
            inner = _text_object(element, mrkdwn)
        out += f'<span class="context-element">{inner}</span>'
    return out


def _markdown(block: dict, mrkdwn: Callable[[str], str]) -> str:
    return mrkdwn(str(block.get("text") or ""))


def _rich_text(block: dict, mrkdwn: Callable[[str], str]) -> str:
    return "".join(_rich(e) for e in block.get("elements") or [])


def _rich(element) -> str:
    """A rich_text element (section, list, preformatted, quote, or an inline one)."""
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    inner = "".join(_rich(e) for e in element.get("elements") or [])
    if kind == "rich_text_list":
        tag = "ol" if element.get("style") == "ordered" else "ul"
        items = "".join(f"<li>{_rich(e)}</li>" for e in element.get("elements") or [])
        return f"<{tag}>{items}</{tag}>"
    if kind == "rich_text_preformatted":
        return f"<pre>{inner}</pre>"
    if kind == "rich_text_quote":
        return f"<blockquote>{inner}</blockquote>"
    if kind == "rich_text_section":
        return f"<div>{inner}</div>"
    if kind == "link":
        label = _plain(element.get("text") or element.get("url"))
        url = str(element.get("url") or "")
        return f'<a href="{_attr(url)}">{label}</a>' if _SAFE_URL.match(url) else label
    if kind == "user":
        return f'<span class="mention">@{_plain(element.get("user_id"))}</span>'
    if kind == "emoji":
        return f":{_plain(element.get('name'))}:"
    text = _plain(element.get("text") or "").replace("\n", "<br>")
    for style, tag in (("bold", "b"), ("italic", "i"), ("strike", "s"), ("code", "code")):
        if (element.get("style") or {}).get(style):
            text = f"<{tag}>{text}</{tag}>"
    return text


def _data_table(block: dict, mrkdwn: Callable[[str], str]) -> str:
    rows = block.get("rows") or [[]]
    header, body = rows[0], rows[1:]
    row_header = int(block.get("row_header_column_index") or 0)
    numeric = [bool(body) and all(isinstance(r[c], dict) and r[c].get("type") == "raw_number"
                                  for r in body if c < len(r)) for c in range(len(header))]
    head = "".join(f'<th data-column="{c}" data-numeric="{str(numeric[c]).lower()}" '
                   f'aria-sort="none">{_cell_html(cell)}</th>' for c, cell in enumerate(header))
    lines = []
    for row in body:
        cells = []
        for c, cell in enumerate(row):
            tag = 'th scope="row"' if c == row_header else "td"
            cells.append(f'<{tag} data-value="{_attr(_cell_value(cell))}">{_cell_html(cell)}'
                         f'</{tag.split()[0]}>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="data-table"><caption>{_plain(block.get("caption"))}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
            '<div class="pager"><button class="previous" type="button">&lsaquo; Previous'
            '</button> <span class="page-of"></span> <button class="next" type="button">'
            'Next &rsaquo;</button></div>')


def _cell_value(cell) -> str:
    if isinstance(cell, dict) and cell.get("type") == "raw_number":
        return repr(float(cell.get("value")))
    return re.sub(r"<[^>]+>", "", html.unescape(_cell_html(cell)))


def _cell_html(cell) -> str:
    if not isinstance(cell, dict):
        return ""
    if cell.get("type") == "rich_text":
        return _rich_text(cell, str)
    if cell.get("type") == "raw_number" and "text" not in cell:
        return _plain(f"{cell.get('value')}")
    return _plain(cell.get("text"))


def _plain(value) -> str:
    """Plain text (not mrkdwn), escaped for HTML."""
    return html.escape(str(value if value is not None else ""), quote=False)


def _attr(value) -> str:
    return html.escape(str(value if value is not None else ""), quote=True)


_DRAW = {"section": _section, "header": _header, "context": _context, "markdown": _markdown,
         "rich_text": _rich_text, "data_table": _data_table}
