"""``run``'s table: the command's output bytes as rows, as a terminal would show the lines.

Bytes are decoded as UTF-8 per stream (stdout and stderr each keep their own
unfinished line), escape sequences and overwritten text (before a carriage
return) are dropped, and a line still being written (a progress bar) is shown
as the table's unfinished last row (:meth:`~chainer_slack_report.rendering.
normalizers.FIFO.show_unfinished`) until its newline arrives.
"""

from __future__ import annotations

import codecs
import re
from typing import Dict, Optional

from ..rendering.message import format_row
from ..rendering.mrkdwn import escape
from ..rendering.normalizers import FIFO
from ..run_report import RunReport

__all__ = ["OUTPUT", "OutputRows", "visible"]

#: The one table column of ``run``: the command's output lines (``{output}``: the latest).
OUTPUT = "output"

_MAX_LINE_CHARS = 1000  # a longer output line is cut in the message (not on the terminal)
# Terminal escape sequences (colours, cursor movement): shown on the terminal, not in Slack.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def visible(line: str) -> str:
    """What a terminal leaves of ``line``: the text after its last carriage return,
    without escape sequences; cut to 1000 characters (then `` …`` marks the cut)."""
    line = _ANSI.sub("", line.rstrip("\r"))
    line = line.rsplit("\r", 1)[-1]
    if len(line) > _MAX_LINE_CHARS:
        line = line[:_MAX_LINE_CHARS] + " …"
    return line


class OutputRows:
    """Turns the command's output bytes into report rows, stream by stream.

    Args:
        report: The report whose table has the one column :data:`OUTPUT`.
        tail: The report's row policy, which shows the unfinished line.
    """

    def __init__(self, report: RunReport, tail: FIFO) -> None:
        self.report = report
        self.tail = tail
        self._decoders: Dict[int, codecs.IncrementalDecoder] = {}
        self._buffers: Dict[int, str] = {}
        self._unfinished_of: Optional[int] = None  # the stream whose unfinished line shows

    def feed(self, stream: int, data: bytes, final: bool = False) -> None:
        """Take ``data`` read from ``stream`` (1: stdout, 2: stderr); ``final``: the
        stream has ended (its last line counts as finished)."""
        decoder = self._decoders.get(stream)
        if decoder is None:
            decoder = self._decoders[stream] = codecs.getincrementaldecoder("utf-8")("replace")
        text = self._buffers.get(stream, "") + decoder.decode(data, final)
        *lines, rest = text.split("\n")
        if final and rest:
            lines, rest = [*lines, rest], ""
        if len(rest) > 4 * _MAX_LINE_CHARS:  # a progress bar redrawn for hours
            rest = rest[rest.rfind("\r", 0, len(rest) - 1) + 1:] if "\r" in rest else rest
            rest = rest[-4 * _MAX_LINE_CHARS:]
        self._buffers[stream] = rest
        if lines:
            if self._unfinished_of == stream:
                self.tail.show_unfinished("")
            self.report.add([{OUTPUT: visible(line)} for line in lines])
        shown = visible(rest) if rest else ""
        if shown:
            self._unfinished_of = stream
            self._show_unfinished(escape(format_row([OUTPUT], {OUTPUT: shown})))
        elif self._unfinished_of == stream:
            self._unfinished_of = None
            self._show_unfinished("")

    def _show_unfinished(self, row: str) -> None:
        if row != self.tail.unfinished:
            self.tail.show_unfinished(row)
            self.report.refresh()

    def close(self) -> None:
        """Every stream has ended: their unfinished lines become rows."""
        for stream in list(self._decoders):
            self.feed(stream, b"", final=True)
