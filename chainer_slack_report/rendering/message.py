"""What a report message says: the log table, the template, the byte budget.

Pure rendering, no Chainer and no network.  The training thread hands over
observations and status changes with cheap calls (:meth:`ReportMessage.push`,
:meth:`ReportMessage.set`); the background worker turns them into text with
:meth:`ReportMessage.render`, so formatting, escaping and trimming never run
on the training thread's clock.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections import deque
from typing import Callable, Iterable, List, Mapping, NamedTuple, Optional, Sequence

from ..outcome import Outcome, Status
from .mentions import Mentions
from .mrkdwn import Mrkdwn, escape, truncate_utf8, utf8_len
from .normalizers import RowPolicy
from .progress import Progress
from .sparklines import Series, sparkline
from .template import Template

__all__ = [
    "ReportMessage", "DEFAULT_TEMPLATE", "BUILTIN_PLACEHOLDERS", "format_elapsed",
    "format_header", "format_row", "table_bytes", "NOT_REPORTED",
]

#: The default ``template`` (the 2019 tool's layout).
DEFAULT_TEMPLATE = ("{status} - {elapsed}{progress_eta} `{hostname}:{pwdshort}$ {command}`"
                    "{ranks}\n{content}\n{finish_mentions}")

#: Placeholders every template can use besides the reported observation keys.
BUILTIN_PLACEHOLDERS = frozenset({
    "status", "hostname", "pwd", "pwdshort", "cmd", "args", "command", "ranks", "elapsed",
    "content",
    "finish_mentions", "progress", "eta", "progress_eta", "sparklines",
})

#: What ``{entry}`` shows for a table entry that has no value yet.
NOT_REPORTED = "–"

_FENCE = "```"


def format_elapsed(seconds: float) -> str:
    """``H:MM:SS`` in whole seconds (``"1 day, 2:03:04"`` past a day)."""
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


def format_header(entries: Sequence[str]) -> str:
    """The table header, laid out as :class:`chainer.training.extensions.PrintReport` does."""
    return "  ".join(e.ljust(max(10, len(e))) for e in entries).rstrip()


def format_row(entries: Sequence[str], observation: Mapping[str, object]) -> str:
    """One table row in PrintReport's layout (``{:<Ng}`` per column).

    Values that ``g`` cannot format (strings, arrays) are shown with ``str``;
    a missing entry is blank.  Trailing blanks are dropped.
    """
    cells = []
    for entry in entries:
        width = max(10, len(entry))
        if entry not in observation:
            cells.append(" " * width)
            continue
        value = observation[entry]
        try:
            cell = format(value, f"<{width}g")
        except (TypeError, ValueError):
            cell = str(value).ljust(width)
        cells.append(cell)
    return "  ".join(cells).rstrip()


def table_bytes(entries: Sequence[str]) -> int:
    """UTF-8 bytes of an empty table of ``entries``: the header and its code fences."""
    return utf8_len(_table(escape(format_header(entries)), [], None))


def omitted_note(omitted: int, total: int) -> str:
    """The line that says how many rows the table leaves out."""
    return f"… {omitted:,} of {total:,} rows not shown"


class _State(NamedTuple):
    """What the training thread last said: replaced as a whole, so a render sees one."""

    status: Status
    error: Optional[str] = None
    elapsed: Optional[float] = None  # frozen at the end; None: read the clock


class ReportMessage:
    """The text of one run's message, rendered within a byte budget.

    Args:
        template (Template): The message layout.
        entries (list of str): Table columns (observation keys).
        policy (RowPolicy): Decides which rows stay when they do not all fit.
        run_info (dict): Values of ``{hostname}``, ``{pwd}``, ``{pwdshort}``,
            ``{cmd}``, ``{args}``, ``{command}``, ``{ranks}`` (plain text; escaped
            when rendered).
        mentions (Mentions): Filled into ``{finish_mentions}`` at the end.
        show_header (bool): Start the table with the header row of
            ``entries`` (False: rows only, e.g. lines of a command's output).
        sparklines (list of str): Keys whose whole-run curve is shown, one
            line each (``{sparklines}``, or after the table in ``{content}``).
        sparkline_width (int): Characters of each curve.

    ``push``, ``show`` and ``end`` are for the training thread and only store
    references; ``render`` is for one worker thread.  ``{elapsed}`` reads
    :attr:`clock` (seconds since the run started) at render time until a
    final status freezes it.
    """

    def __init__(self, template: Template, entries: Sequence[str], policy: RowPolicy,
                 run_info: Mapping[str, str], mentions: Mentions,
                 show_header: bool = True, sparklines: Sequence[str] = (),
                 sparkline_width: int = 20) -> None:
        self.template = template
        self.entries = list(entries)
        self.policy = policy
        self.mentions = mentions
        self.header = escape(format_header(self.entries)) if show_header else None
        #: ``clock() -> float``: seconds since the run started (shown as ``{elapsed}``).
        self.clock: Callable[[], float] = lambda: 0.0
        #: The run's progress (``{progress}``, ``{eta}``), if its length is known.
        self.progress: Optional[Progress] = None
        self.series = {key: Series(sparkline_width) for key in sparklines}
        self._run_info = {k: escape(v) for k, v in run_info.items()}
        self._pending: deque = deque()
        self._state = _State(Status.STARTED)
        # Latest value of every key ever reported; entries show a dash until then.
        self._latest: dict = dict.fromkeys(self.entries, NOT_REPORTED)
        self._lock = threading.Lock()
        #: ``tap(observation)`` for each row as a render takes it in (worker thread), e.g.
        #: a sweep board's chart of a key.
        self.taps: List[Callable[[Mapping[str, object]], None]] = []

    # -- training thread -----------------------------------------------------
    def push(self, observations: Iterable[Mapping[str, object]]) -> None:
        """Queue new log rows (LogReport observations).  O(1) per row."""
        self._pending.extend(observations)

    def show(self, status: Status) -> bool:
        """A new status while the run lives; True if it changed (news worth a send)."""
        if status is self._state.status:
            return False
        self._state = self._state._replace(status=status)
        return True

    def end(self, outcome: Outcome, elapsed: float) -> None:
        """The run ended as ``outcome`` after ``elapsed`` seconds (the clock stops)."""
        self._state = _State(outcome.status, outcome.detail, elapsed)

    @property
    def queued(self) -> int:
        """Rows pushed and not yet taken in by a render."""
        return len(self._pending)

    @property
    def status(self) -> Status:
        """The status now."""
        return self._state.status

    @property
    def is_final(self) -> bool:
        return self._state.status.final

    @property
    def run_info(self) -> Mapping[str, str]:
        """``{hostname}``, ``{command}``, … as the message shows them (escaped mrkdwn)."""
        return self._run_info

    def notice_text(self, now: float) -> str:
        """The "lost host" notice (mrkdwn), scheduled at Unix time ``now``: who to
        notify, since when nothing came (Slack's ``<!date^…>``, in each reader's time
        zone), what the message showed last."""
        info = self._run_info
        fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
        since = f"<!date^{int(now)}^{{date_short_pretty}} {{time}}|{fallback}>"
        mentions = self.mentions.render()
        summary = self.latest_summary()
        text = (f"{mentions + ' ' if mentions else ''}:warning: No news from "
                f"`{info['command']}` on {info['hostname']} since {since}: the run may have "
                f"been lost with its host." + (f" It last showed: {summary}." if summary else ""))
        return truncate_utf8(text, 3000)

    def latest_summary(self, max_items: int = 6) -> str:
        """The newest value of each entry reported so far, e.g. ``epoch 12, main/loss
        0.0312`` (escaped mrkdwn; numbers as ``.4g``).  Read on the worker thread."""
        with self._lock:
            self._drain()
            items = []
            for key in self.entries:
                value = self._latest.get(key, NOT_REPORTED)
                if value is NOT_REPORTED:
                    continue
                try:
                    shown = format(value, ".4g")
                except (TypeError, ValueError):
                    shown = str(value)
                items.append(f"{key} {shown}")
            return escape(", ".join(items[:max_items]))

    def latest_values(self) -> dict:
        """Entry → its newest value, for the entries reported so far (a sweep's board row).
        Read on a worker thread."""
        with self._lock:
            self._drain()
            return {key: value for key, value in self._latest.items()
                    if key in self.entries and value is not NOT_REPORTED}

    def fill(self, template: Template) -> str:
        """``template`` with this message's placeholder values (escaped mrkdwn, as
        :meth:`render` fills them; ``{content}`` empty).  Read on a worker thread."""
        with self._lock:
            self._drain()
            values = self._values()
            values["content"] = Mrkdwn("")
            return template.render(values)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started: frozen at the end, else :attr:`clock`."""
        frozen = self._state.elapsed
        return frozen if frozen is not None else self.clock()

    # -- worker thread -------------------------------------------------------
    def render(self, max_bytes: int) -> str:
        """The whole message text, at most ``max_bytes`` UTF-8 bytes.

        The header row always stays; the policy picks the other rows for the
        room the rest of the template leaves, and a last table line says how
        many rows were left out, if any.  If the template and header alone
        exceed the budget the text is cut, ending in a visible marker.
        """
        with self._lock:
            self._drain()
            values = self._values()
            n_content = self.template.count("content")
            if not n_content:
                return truncate_utf8(self.template.render(values), max_bytes)
            values["content"] = Mrkdwn("")
            fixed = utf8_len(self.template.render(values))
            error = self._state.error
            curves = "" if "sparklines" in values else self._sparklines()
            room = ((max_bytes - fixed) // n_content
                    - utf8_len(_table(self.header, [], error, curves)))
            values["content"] = _table(self.header, self._rows(room), error, curves)
            return truncate_utf8(self.template.render(values), max_bytes)

    def render_head(self, max_bytes: int) -> str:
        """The message without its table and error, at most ``max_bytes`` UTF-8 bytes: the
        template with ``{content}`` holding only the sparklines (if any), blank lines at
        its ends dropped.  The blocks layout's status line (the table and the error are
        blocks of their own there)."""
        with self._lock:
            self._drain()
            values = self._values()
            values["content"] = Mrkdwn("" if "sparklines" in values else self._sparklines())
            return truncate_utf8(self.template.render(values).strip("\n"), max_bytes)

    @property
    def error(self) -> Optional[str]:
        """What the run's end said after the table (a traceback's tail), plain text; or None."""
        return self._state.error

    def reply_text(self) -> str:
        """The thread reply that notifies ``finish_mentions`` of the outcome."""
        state = self._state
        info = self._run_info
        text = (f"{self.mentions.render()} {state.status} after "
                f"{format_elapsed(self.elapsed)}: `{info['command']}` on {info['hostname']}")
        if state.error:
            last = state.error.strip().splitlines()[-1]
            text += f"\n{_FENCE}{escape(last)}{_FENCE}"
        return truncate_utf8(text, 3000)

    def _drain(self) -> None:
        pending = self._pending
        entries = self.entries
        latest = self._latest
        while pending:
            observation = pending.popleft()
            latest.update(observation)
            for tap in self.taps:
                tap(observation)
            for key, series in self.series.items():
                if key in observation:
                    series.add(observation[key])
            self.policy.add(escape(format_row(entries, observation)))

    def _rows(self, room: int) -> List[str]:
        """The rows to show in ``room`` bytes, and the note on what was left out."""
        total = self.policy.count
        if room <= 0 or not total:
            return []
        rows = self.policy.select(room)
        if len(rows) >= total:
            return rows
        reserve = utf8_len(omitted_note(total, total)) + 1
        rows = self.policy.select(room - reserve) if room > reserve else []
        return [*rows, omitted_note(max(0, total - len(rows)), total)]

    def _values(self) -> dict:
        state = self._state
        values: dict = dict(self._latest)
        values.update(self._run_info)
        values["status"] = str(state.status)
        values["elapsed"] = format_elapsed(self.elapsed)
        values["finish_mentions"] = (
            Mrkdwn(self.mentions.render()) if self.is_final else Mrkdwn(""))
        values.update(self._progress_values())
        if self.series and self.template.count("sparklines"):
            values["sparklines"] = Mrkdwn(self._sparklines())
        return values

    def _progress_values(self) -> dict:
        """``{progress}``, ``{eta}`` and ``{progress_eta}``: blank when unknown or final."""
        progress = self.progress
        if progress is None or self.is_final:
            return {"progress": "", "eta": "", "progress_eta": ""}
        text = progress.text()
        eta = progress.eta()
        eta_text = format_elapsed(eta) if eta is not None else ""
        both = f" · {text}" + (f" · ETA {eta_text}" if eta_text else "")
        return {"progress": text, "eta": eta_text, "progress_eta": both}

    def _sparklines(self) -> str:
        """One line per sparkline key: name, curve, newest value; as a code block."""
        if not self.series:
            return ""
        width = max(len(key) for key in self.series)
        lines = []
        for key, series in self.series.items():
            latest = "" if series.latest is None else format(series.latest, ".4g")
            line = f"{key.ljust(width)}  {sparkline(series.points())}  {latest}"
            lines.append(escape(line.rstrip()))
        return Mrkdwn(f"{_FENCE}\n" + "\n".join(lines) + f"\n{_FENCE}")


def _table(header: Optional[str], rows: List[str], error: Optional[str],
           curves: str = "") -> Mrkdwn:
    """The ``{content}`` block: the table in a code block, the sparklines, the error."""
    table = "\n".join([header, *rows] if header is not None else rows)
    text = f"{_FENCE}\n{table}\n{_FENCE}"
    if curves:
        text += f"\n{curves}"
    if error:
        text += f"\n{_FENCE}\n{escape(error)}\n{_FENCE}"
    return Mrkdwn(text)
