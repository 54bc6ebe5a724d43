"""The emulator's channel view: its channels and messages as Slack would show them.

:func:`view_state` turns a :meth:`SlackEmulator.snapshot` into JSON for the
page (message content drawn by :mod:`.draw`), and :data:`PAGE` is the page
itself: plain HTML, CSS and JavaScript, no external resources (the machine may
be offline).  The page polls ``/_emulator/view.json`` every half second and
redraws only when its ``version`` changed, so it updates live without a reload.

Markup, for tests: the channel list is ``nav a`` (``.active`` for the one
shown); each message is ``.message[data-ts=TS]`` with its content in
``.text`` (its blocks, drawn as :mod:`.draw` documents, or else its text),
``(edited)`` as ``.edited``, files as ``.file`` (``img`` for images;
``.file.deleted`` after ``files.delete``), its reactions as ``.reactions
.reaction[data-name=NAME]`` (the emoji, or ``:NAME:``, and the count) and its
thread as ``.thread`` holding the replies as ``.message``; ``#empty`` when the
channel has no messages; what is scheduled is ``#scheduled .scheduled``
(``data-post-at``, a ``<time>``, the text).  A data table's sort and page are
reset when the message is redrawn (it changed).

A permalink (``chat.getPermalink``: ``/archives/CHANNEL/pTS``, a reply's with
``?thread_ts=…``) serves this page opened at that channel, the message (or
reply) marked ``.linked`` and scrolled into view.
"""

from __future__ import annotations

import json
import zlib
from typing import Callable, Dict

from .draw import blocks_to_html, mrkdwn_to_html

__all__ = ["view_state", "PAGE", "BOT_ICON"]

#: The bot's icon (``bots.info`` ``icons``): the view's green avatar square.
BOT_ICON = ('<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72">'
            '<rect width="72" height="72" rx="8" fill="#2bac76"/></svg>')

#: A few emoji names as the characters Slack shows for them; others show as ``:name:``.
_EMOJI = {"eyes": "\U0001F440", "+1": "\U0001F44D", "thumbsup": "\U0001F44D",
          "-1": "\U0001F44E", "thumbsdown": "\U0001F44E", "white_check_mark": "\u2705",
          "heavy_check_mark": "\u2714\ufe0f", "x": "\u274C", "warning": "\u26A0\ufe0f",
          "tada": "\U0001F389", "rocket": "\U0001F680", "fire": "\U0001F525",
          "heart": "\u2764\ufe0f", "hourglass": "\u231B", "skull": "\U0001F480",
          "chart_with_upwards_trend": "\U0001F4C8",
          "chart_with_downwards_trend": "\U0001F4C9"}


def view_state(emulator) -> Dict[str, object]:
    """The page's data: channels, their messages (rendered), replies, files, the
    messages scheduled in each (``post_at``, rendered text), and a ``version``
    that changes whenever any of it does.

    Args:
        emulator (SlackEmulator): Read through its :meth:`~SlackEmulator.snapshot`.
    """
    snapshot = emulator.snapshot()

    def render(text: str) -> str:
        return mrkdwn_to_html(text, users=snapshot.users)

    def content(message) -> str:  # the blocks when there are any; else the text
        if message.blocks:
            return blocks_to_html(message.blocks, users=snapshot.users)
        return render(message.text)

    channels = [{"id": channel.id, "name": channel.name,
                 "messages": [_message(m, content) for m in channel.messages],
                 "scheduled": [{"id": m.id, "post_at": m.post_at, "thread_ts": m.thread_ts,
                                "html": render(m.text)}
                               for m in snapshot.scheduled if m.channel == channel.id]}
                for channel in snapshot.channels]
    version = zlib.crc32(json.dumps(channels, sort_keys=True).encode("utf-8"))
    return {"version": version, "channels": channels}


def _message(message, content: Callable[[object], str]) -> Dict[str, object]:
    return {
        "ts": message.ts,
        "html": content(message),
        "blocks": bool(message.blocks),
        "edited": len(message.history) > 1,
        "files": [{"id": f["id"], "name": f["name"], "title": f.get("title") or f["name"],
                   "image": f["name"].lower().endswith((".png", ".jpg", ".jpeg", ".gif",
                                                        ".svg", ".webp")),
                   "deleted": f.get("mode") == "tombstone"}
                  for f in message.files],
        "reactions": [{"name": r.name, "count": len(r.users),
                       "emoji": _EMOJI.get(r.name.split("::")[0], f":{r.name}:")}
                      for r in message.reactions],
        "replies": [_message(r, content) for r in message.replies],
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Slack emulator</title>
<style>
body { font: 15px/1.46 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1c1d; display: flex; min-height: 100vh; }
nav { background: #3f0e40; color: #fff; width: 200px; padding: 12px 0; flex: none; }
nav h1 { font-size: 16px; margin: 0 16px 12px; }
nav a { display: block; color: #cfc3cf; padding: 2px 16px; text-decoration: none; }
nav a.active { background: #1164a3; color: #fff; }
main { flex: 1; padding: 8px 20px; overflow: auto; }
.message { display: flex; gap: 8px; padding: 8px 0; border-bottom: 1px solid #eee; }
.avatar { width: 36px; height: 36px; border-radius: 4px; background: #2bac76; flex: none; }
.who { font-weight: 900; } .who small { font-weight: 400; color: #616061; margin-left: 6px; }
.edited { color: #616061; font-size: 12px; margin-left: 4px; }
pre { background: #f8f8f8; border: 1px solid #ddd; border-radius: 4px; padding: 8px;
      margin: 4px 0; font: 12px/1.5 Monaco, Menlo, Consolas, monospace; white-space: pre;
      overflow-x: auto; }
code { color: #e01e5a; background: #f8f8f8; border: 1px solid #ddd; border-radius: 3px;
       padding: 0 3px; font: 12px Monaco, Menlo, Consolas, monospace; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
.thread { margin: 4px 0 0 12px; border-left: 3px solid #ddd; padding-left: 10px; }
.thread .message { border: none; padding: 4px 0; }
.message.linked { background: #fff8e1; box-shadow: inset 3px 0 0 #e8a723; }
.reactions { margin-top: 4px; }
.reaction { display: inline-block; border: 1px solid #ddd; border-radius: 12px;
            background: #f8f8f8; padding: 0 6px; margin-right: 4px; font-size: 12px; }
.file.deleted { color: #616061; font-style: italic; }
.file img { max-width: 480px; border: 1px solid #ddd; border-radius: 4px; display: block; }
#empty { color: #616061; }
.block { margin: 4px 0; }
.block.header { font-size: 18px; font-weight: 900; }
.block.context { color: #616061; font-size: 12px; }
.block.context .context-element + .context-element { margin-left: 8px; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; }
hr.block.divider { border: none; border-top: 1px solid #ddd; }
.block.unsupported { color: #616061; font-style: italic; }
table.data-table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
table.data-table caption { text-align: left; font-weight: 700; padding: 2px 0; }
table.data-table th, table.data-table td { border: 1px solid #ddd; padding: 2px 8px;
  text-align: left; }
table.data-table thead th { background: #f8f8f8; cursor: pointer; user-select: none; }
table.data-table thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.data-table thead th[aria-sort="descending"]::after { content: " \\25BC"; }
table.data-table tbody { font-variant-numeric: tabular-nums; }
.pager { font-size: 12px; color: #616061; }
.pager button { font-size: 12px; }
figure.data-visualization { margin: 4px 0; }
figure.data-visualization figcaption { font-weight: 700; }
svg.chart { width: 480px; max-width: 100%; height: auto; }
#scheduled { margin-top: 16px; color: #616061; }
#scheduled h3 { font-size: 14px; margin: 0 0 4px; }
.scheduled { padding: 4px 0; } .scheduled time { font-weight: 700; margin-right: 8px; }
</style></head>
<body><nav><h1>Slack emulator</h1><div id="channels"></div></nav>
<main><h2 id="title"></h2><div id="messages"></div><div id="scheduled"></div></main>
<script>
let version = -1, current = location.hash.slice(1) || null, state = null;
// a permalink, /archives/CHANNEL/pTS: open that channel at that message (ts = digits
// with a dot before the last six)
const parts = location.pathname.split("/");  // "", "archives", CHANNEL, "pTS"
const linked = parts[1] === "archives" && /^p[0-9]{7,}$/.test(parts[3] || "")
  ? {channel: parts[2], ts: parts[3].slice(1, -6) + "." + parts[3].slice(-6), scrolled: false}
  : null;
function el(tag, cls, html) { const e = document.createElement(tag);
  if (cls) e.className = cls; if (html !== undefined) e.innerHTML = html; return e; }
function message(m, small) {
  const row = el("div", "message"); row.dataset.ts = m.ts;
  row.appendChild(el("div", "avatar"));
  const body = el("div", "body");
  const who = el("div", "who", "Bot <small></small>");
  who.querySelector("small").textContent = new Date(parseFloat(m.ts) * 1000)
    .toLocaleTimeString();
  body.appendChild(who);
  const text = el("div", "text", m.html);
  if (m.edited) text.appendChild(el("span", "edited", "(edited)"));
  body.appendChild(text);
  for (const f of m.files) {
    const box = el("div", "file");
    if (f.deleted) { box.classList.add("deleted"); box.textContent = "This file was deleted."; }
    else if (f.image) { const img = el("img"); img.src = "/files/" + f.id; img.alt = f.title;
      box.appendChild(img); } else { const a = el("a"); a.href = "/files/" + f.id;
      a.textContent = f.title; box.appendChild(a); }
    body.appendChild(box);
  }
  if (m.reactions.length) { const box = el("div", "reactions");
    for (const r of m.reactions) { const chip = el("span", "reaction");
      chip.dataset.name = r.name; chip.title = ":" + r.name + ":";
      chip.textContent = r.emoji + " " + r.count; box.appendChild(chip); }
    body.appendChild(box); }
  if (m.replies.length) { const t = el("div", "thread");
    for (const r of m.replies) t.appendChild(message(r, true)); body.appendChild(t); }
  row.appendChild(body); return row;
}
function table(box) {  // a data_table block: sort by a clicked header, show one page
  const body = box.querySelector("tbody"), rows = Array.from(body.rows);
  const size = parseInt(box.dataset.pageSize, 10) || 5;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const prev = box.querySelector(".previous"), next = box.querySelector(".next");
  let page = 0;
  function show() {
    rows.forEach((r, i) => { r.hidden = Math.floor(i / size) !== page; });
    box.querySelector(".page-of").textContent = (page + 1) + " / " + pages;
    prev.disabled = page === 0; next.disabled = page >= pages - 1;
  }
  prev.onclick = () => { if (page > 0) { page--; show(); } };
  next.onclick = () => { if (page < pages - 1) { page++; show(); } };
  for (const th of box.querySelectorAll("thead th")) th.onclick = () => {
    const col = parseInt(th.dataset.column, 10), numeric = th.dataset.numeric === "true";
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (const other of box.querySelectorAll("thead th")) other.setAttribute("aria-sort", "none");
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    rows.sort((a, b) => {
      const x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
      return dir * (numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
    });
    for (const r of rows) body.appendChild(r);
    page = 0; show();
  };
  show();
}
function draw() {
  const nav = document.getElementById("channels"); nav.innerHTML = "";
  if (!current && linked) {
    const c = state.channels.find(c => c.id === linked.channel); if (c) current = c.name; }
  if (!current && state.channels.length) current = state.channels[0].name;
  for (const c of state.channels) { const a = el("a", c.name === current ? "active" : "");
    a.href = "#" + c.name; a.textContent = "# " + c.name;
    a.onclick = () => { current = c.name; draw(); }; nav.appendChild(a); }
  const channel = state.channels.find(c => c.name === current);
  document.getElementById("title").textContent = channel ? "# " + channel.name : "";
  const box = document.getElementById("messages"); box.innerHTML = "";
  const later = document.getElementById("scheduled"); later.innerHTML = "";
  if (channel && channel.scheduled.length) {
    later.appendChild(el("h3", "", "Scheduled"));
    for (const s of channel.scheduled) {
      const row = el("div", "scheduled", s.html); row.dataset.postAt = s.post_at;
      const when = el("time"); when.dateTime = new Date(s.post_at * 1000).toISOString();
      when.textContent = new Date(s.post_at * 1000).toLocaleString();
      row.prepend(when); if (s.thread_ts) row.dataset.threadTs = s.thread_ts;
      later.appendChild(row);
    }
  }
  if (!channel || !channel.messages.length) { box.appendChild(el("p", "", "No messages yet."))
    .id = "empty"; return; }
  for (const m of channel.messages) box.appendChild(message(m));
  for (const t of box.querySelectorAll(".block.data-table")) table(t);
  if (linked && channel.id === linked.channel) {
    const row = box.querySelector('.message[data-ts="' + linked.ts + '"]');
    if (row) { row.classList.add("linked");
      if (!linked.scrolled) { row.scrollIntoView({block: "center"}); linked.scrolled = true; } }
  }
}
async function poll() {
  try { const r = await fetch("/_emulator/view.json?since=" + version, {cache: "no-store"});
    const data = await r.json();
    if (data.version !== version) { version = data.version; state = data; draw(); }
  } catch (e) { /* the emulator stopped; keep the last view */ }
  setTimeout(poll, 500);
}
poll();
</script></body></html>
"""
