"""``watch``: follow the LogReport file of a job that is already running, in one live
message, until its process ends, the file stays unchanged, or a signal stops the watch."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import List, Optional, Tuple

from ..job.procfs import OtherProcess
from ..job.ranks import Process
from ..job.signals import SignalHandlers, end_with_signal, signal_name
from ..options import LAYOUTS, ReportOptions
from ..outcome import Outcome, Status
from ..rendering.block_kit import TABLE_MAX_COLUMNS
from ..rendering.mentions import Mentions
from ..rendering.message import table_bytes
from ..rendering.template import Template
from ..run_report import RunReport
from .common import PROG, positive_float, positive_int, say
from .logfile import LogFile, keys
from .reporting import (
    end_report,
    make_report,
    missing_settings,
    report_options,
    say_where,
    slack_or_emulator,
)

__all__ = ["add_parser", "cmd_watch"]

_MAX_TABLE_BYTES = 1000  # the header may take a quarter of the 4000-byte message
#: The signals that stop a watch (SIGHUP does not exist on Windows).
_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                      if hasattr(signal, n))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``watch`` to the tool's subcommands (``ArgumentParser.add_subparsers()``)."""
    watch = subparsers.add_parser(
        "watch", parents=[report_options()], help="follow a running job's LogReport file",
        description="Follow a LogReport JSON file (Chainer's result/log, "
                    "pytorch-pfn-extras' log) of a job that is already running, in one "
                    "live message, until process PID ends or the file stays unchanged "
                    "for --idle seconds (or Ctrl-C/SIGTERM).")
    watch.add_argument("logfile", metavar="LOGFILE", help="the LogReport file (a JSON list)")
    # One value each (KEY,KEY,...), never nargs="+": such an option would take LOGFILE
    # as one more key when it comes last (watch --entries epoch,main/loss LOGFILE).
    watch.add_argument("--entries", action="append", metavar="KEY,...",
                       help="the keys to show as columns, separated by commas; repeatable "
                            "(default: the keys found, epoch and iteration first)")
    watch.add_argument("--pid", type=positive_int, metavar="PID",
                       help="stop when this process ends ([Completed]: its exit status "
                            "cannot be known)")
    watch.add_argument("--idle", type=positive_float, metavar="SECONDS",
                       help="stop when LOGFILE has not changed for this long (a LOGFILE "
                            "that never appears is an error)")
    watch.add_argument("--interval", type=positive_float, default=1.0, metavar="S",
                       help="seconds between two looks at LOGFILE (default: %(default)s)")
    watch.add_argument("--layout", choices=list(LAYOUTS), default="text",
                       help="the message as text (default) or as Block Kit blocks: a "
                            "sortable data table and native line charts (see --chart)")
    watch.add_argument("--chart", action="append", metavar="KEY,...", default=None,
                       help="with --layout blocks: draw these keys, separated by commas, "
                            "as one line chart, a series each; again for a second chart")
    watch.set_defaults(handler=cmd_watch, subparser=watch)
    return watch


def cmd_watch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``watch``: 0, 1 without a token or channel (or the process ends with the
    signal that stopped the watch)."""
    args.entries = _keys(args.entries) or None
    if args.pid is not None and not OtherProcess(args.pid).alive():
        parser.error(f"--pid {args.pid}: no such process is running")
    charts = [_keys([group]) for group in args.chart or ()]
    args.layout_options = {"layout": args.layout, "chart": charts or None}
    try:  # the report is built once the keys are known: check its options now
        Template(args.template)
        Mentions(args.mention)
        ReportOptions(**args.layout_options)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    missing = missing_settings(args.channel)
    if missing and not args.emulator:
        say(f"{missing}: nothing to report the log to (see {PROG} check, or try --emulator)")
        return 1
    with slack_or_emulator(args):
        return _Watcher(args, parser).run()


def _keys(values: Optional[List[str]]) -> List[str]:
    """The keys of ``--entries``/``--chart`` values such as ``"epoch,main/loss"``."""
    return [key.strip() for value in values or () for key in value.split(",") if key.strip()]


class _Watcher:
    """Follows the file; starts the report once the columns are known."""

    def __init__(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
        self.args = args
        self.parser = parser
        self.log = LogFile(args.logfile)
        self.process = OtherProcess(args.pid) if args.pid else None
        self.report: Optional[RunReport] = None
        self.taken = 0  # rows handed to the report
        self.stop_signal: Optional[int] = None
        self._wake = threading.Event()
        self._started = time.monotonic()
        self._elapsed_row: Optional[Tuple[float, float]] = None  # (elapsed_time, seen at)
        # the process's age when the watch started
        self._age = self.process.age() if self.process is not None else None

    def clock(self) -> float:
        """The job's elapsed time: the process's age, else the log's elapsed_time."""
        now = time.monotonic()
        if self._age is not None:
            return self._age + now - self._started
        if self._elapsed_row is not None:
            value, seen = self._elapsed_row
            return value + now - seen
        return now - self._started

    def run(self) -> int:
        if self.args.entries:
            self._start(self.args.entries)
        with SignalHandlers({signum: self._on_signal for signum in _STOP_SIGNALS}):
            reason = self._follow()
        self.log.changed()  # a last look: the file may have appeared just now
        self._take(self.log.rows() or [])
        if not self.log.appeared and self.stop_signal is None:
            return self._never_appeared(reason)
        if self.report is None:
            self._start(["epoch", "iteration"])
        status = Status.INTERRUPTED if self.stop_signal is not None else Status.COMPLETED
        given_up = end_report(self.report, Outcome(status, reason))
        stop = self.stop_signal or given_up
        if stop is not None:
            return end_with_signal(stop)
        return 0

    def _never_appeared(self, reason: str) -> int:
        """LOGFILE did not exist at any look: an error (exit status 1), not [Completed];
        a message already started (``--entries``) says [Failed]."""
        path = self.args.logfile
        say(f"error: {path}: no such file ({reason}); give the path of the job's LogReport "
            f"file (Chainer: result/log)")
        if self.report is not None:
            detail = f"{path}: no such file ({reason})"
            stop = end_report(self.report, Outcome(Status.FAILED, detail))
            if stop is not None:
                return end_with_signal(stop)
        return 1

    def _follow(self) -> str:
        """Look at the file until the watch ends; returns why it ended."""
        args = self.args
        last_change = time.monotonic()
        while True:
            if self.log.changed():
                last_change = time.monotonic()
                rows = self.log.rows()
                if rows is not None:
                    self._take(rows)
            if self.stop_signal is not None:
                name = signal_name(self.stop_signal)
                return (f"Stopped watching on {name} ({self.stop_signal}); the job may "
                        f"still be running")
            if self.process is not None and not self.process.alive():
                return f"Process {self.process.pid} ended (its exit status is unknown here)"
            idle = time.monotonic() - last_change
            if args.idle is not None and idle >= args.idle:
                if not self.log.appeared:
                    return f"it did not appear within --idle {args.idle:g} s"
                return f"{args.logfile} unchanged for {idle:.0f} s: stopped watching"
            wait = args.interval
            if args.idle is not None:
                wait = min(wait, max(0.01, args.idle - idle))
            self._wake.wait(wait)

    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        self._wake.set()

    def _start(self, entries: List[str]) -> None:
        command = None
        if self.process is not None:
            command = self.process.cmdline()
        report = make_report(self.args, self.parser, entries, process=Process(0, 1),
                             options=self.args.layout_options,
                             command=command or [PROG, "watch", self.args.logfile])
        report.start(self.clock, watch_signals=False, status=Status.TRAINING)
        say_where(report)
        self.report = report

    def _take(self, rows: List[dict]) -> None:
        if len(rows) < self.taken:  # rewritten shorter: the job resumed from a snapshot
            self.taken = len(rows)
        new = rows[self.taken:]
        if not new:
            return
        for row in reversed(new):
            value = row.get("elapsed_time")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._elapsed_row = (float(value), time.monotonic())
                break
        if self.report is None:
            self._start(_fitting(keys(rows), self.args.layout))
        self.report.add(new)
        self.taken = len(rows)


def _fitting(names: List[str], layout: str = "text") -> List[str]:
    """As many keys as leave room for rows in the message (the rest are named); in the
    blocks layout at most the data table's columns."""
    shown = list(names)
    while len(shown) > 1 and (table_bytes(shown) > _MAX_TABLE_BYTES or (
            layout == "blocks" and len(shown) > TABLE_MAX_COLUMNS)):
        shown.pop()
    if len(shown) < len(names):
        say(f"showing {len(shown)} of {len(names)} keys; left out: "
            f"{', '.join(names[len(shown):])} (choose with --entries)")
    return shown
