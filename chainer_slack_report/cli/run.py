"""``run``: start a command, stand in for it towards signals and the exit status, and
report it in one live message (its output's last lines, then how it ended)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time
from typing import Dict, List, Optional

from ..job.oom import oom_counters, oom_verdict
from ..job.ranks import Process
from ..job.signals import SignalHandlers, end_with_signal, signal_name
from ..outcome import Outcome, Status
from ..rendering.normalizers import FIFO
from ..run_report import RunReport
from .common import PROG, positive_int, say
from .output_rows import OUTPUT, OutputRows
from .reporting import end_report, make_report, report_options, say_where, slack_or_emulator
from .streams import Source, open_sources, pump

__all__ = ["RUNNING", "add_parser", "cmd_run"]

#: The status of a command that is running (public as ``chainer_slack_report.cli.RUNNING``).
RUNNING = Status.RUNNING

_MAX_BYTES = 4000  # UTF-8 bytes; Slack's chat.postMessage: text best kept to 4,000 characters
# Signals after which a dead command counts as crashed rather than stopped from outside.
_CRASH_SIGNALS = frozenset(getattr(signal, n) for n in (
    "SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGSYS", "SIGTRAP")
    if hasattr(signal, n))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``run`` to the tool's subcommands (``ArgumentParser.add_subparsers()``)."""
    run = subparsers.add_parser(
        "run", parents=[report_options()], help="run a command and report it",
        description="Run CMD; its output reaches the terminal unchanged while one Slack "
                    "message shows [Running], then [Completed], [Failed] (exit code), "
                    "[Terminated] or [Interrupted] (the signal), the elapsed time and the "
                    "last lines of its output.  Exits with CMD's status (a command killed "
                    "by signal N: the tool ends itself with signal N).  Ctrl-C reaches "
                    "CMD, and the tool waits for it; SIGTERM and SIGHUP sent to the tool "
                    "are forwarded to CMD.  CMD's output goes through a terminal of its "
                    "own when the tool's is one, else through pipes; Python commands get "
                    "PYTHONUNBUFFERED=1 (unless it is set) so that their lines reach the "
                    "message promptly.  In --template, {output} is the last output line.")
    run.add_argument("--tail", type=positive_int, default=20, metavar="N",
                     help="show the last N lines of output (default: %(default)s)")
    # The usage line: argparse's own for every option (so none is left out), then the
    # command, which argparse would draw as "..." (REMAINDER).
    options = run.format_usage().split(" ", 1)[1].rstrip()
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                     help="the command to run, after --")
    run.usage = f"{options} -- CMD [ARGS...]"
    run.set_defaults(handler=cmd_run, subparser=run)
    return run


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``run``: the command's exit status (or the process ends with its signal)."""
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("give the command to run after --, e.g. "
                     f"{PROG} run -- python train.py")
    tail = FIFO(_MAX_BYTES, max_rows=args.tail)
    with slack_or_emulator(args):
        report = make_report(args, parser, [OUTPUT],
                             options={"len_normalizer": tail, "max_bytes": _MAX_BYTES},
                             command=command, show_header=False, process=Process(0, 1))
        return _Runner(command, report, tail).run()


class _Runner:
    """Runs the command, passes its output on, and reports it."""

    def __init__(self, command: List[str], report: RunReport, tail: FIFO) -> None:
        self.command = command
        self.report = report
        self.rows = OutputRows(report, tail)
        self.sources: List[Source] = []  # opened when the command starts
        self.proc: Optional[subprocess.Popen] = None
        self.interrupts: List[int] = []  # SIGINT/SIGQUIT the tool got (the terminal's)
        self.forwarded: List[int] = []  # SIGTERM/SIGHUP forwarded to the command
        self._done = threading.Event()
        handlers = {"SIGINT": self._on_interrupt, "SIGQUIT": self._on_interrupt,
                    "SIGTERM": self._on_terminate, "SIGHUP": self._on_terminate,
                    "SIGWINCH": self._on_resize}
        winch = getattr(signal, "SIGWINCH", None)  # a resize is never ignored for the pty
        self._signals = SignalHandlers(
            {getattr(signal, n): h for n, h in handlers.items() if hasattr(signal, n)},
            replace_ignored=[winch] if winch else [])

    def run(self) -> int:
        started = time.monotonic()
        self._signals.install()
        try:
            self.report.start(lambda: time.monotonic() - started, watch_signals=False,
                              status=RUNNING)
            say_where(self.report)
            if self.interrupts or self.forwarded:  # before the command existed: not started
                return self._stopped_before_start()
            counters = oom_counters(os.getpid())  # the command starts in our cgroup
            try:
                self.sources = open_sources()
                out, err = self.sources[0], self.sources[-1]
                self.proc = subprocess.Popen(self.command, stdout=out.child_fd,
                                             stderr=err.child_fd, env=_child_env())
            except OSError as exc:
                return self._not_started(exc)
            finally:
                for source in self.sources:
                    source.close_child_end()
            for signum in self.forwarded:  # a signal that came while it was being started
                self.proc.send_signal(signum)
            reader = threading.Thread(target=pump, args=(self.sources, self.rows.feed,
                                                         self._done),
                                      name=f"{PROG}-output", daemon=True)
            reader.start()
            returncode = self.proc.wait()
            self._done.set()
            reader.join()
            self.rows.close()
            outcome = self._outcome(returncode)
            if returncode == -getattr(signal, "SIGKILL", 9):
                oom = oom_verdict(counters, oom_counters(os.getpid(),
                                                         cgroup_path=counters.cgroup_path))
                if oom is not None:
                    outcome = Outcome.killed(f"Killed by SIGKILL ({-returncode}): {oom}")
        finally:
            self._signals.restore()
        end_report(self.report, outcome)
        if returncode < 0:
            return end_with_signal(-returncode)
        return returncode

    # -- signals ---------------------------------------------------------------------------
    def _on_interrupt(self, signum, frame) -> None:
        # Ctrl-C (Ctrl-\) goes to the terminal's whole foreground process group, the
        # command included: it decides; the tool waits for it and reports.
        self.interrupts.append(signum)

    def _on_terminate(self, signum, frame) -> None:
        self.forwarded.append(signum)
        if self.proc is not None:
            self.proc.send_signal(signum)

    def _on_resize(self, signum, frame) -> None:
        for source in self.sources:
            source.resize()

    # -- the outcome -----------------------------------------------------------------------
    def _outcome(self, returncode: int) -> Outcome:
        if returncode < 0:
            signum = -returncode
            name = f"{signal_name(signum)} ({signum})"
            if signum == signal.SIGINT or signum in self.interrupts:  # Ctrl-C, Ctrl-\
                return Outcome.interrupted(f"Interrupted by {name}")
            if signum in _CRASH_SIGNALS:
                return Outcome.failed(detail=f"Killed by {name}")
            verb = "Killed" if signum == getattr(signal, "SIGKILL", None) else "Terminated"
            return Outcome.terminated(signum, f"{verb} by {name}")
        if self.interrupts:
            signum = self.interrupts[0]
            return Outcome.interrupted(f"Interrupted by {signal_name(signum)} ({signum}): "
                                       f"exit code {returncode}")
        if self.forwarded:
            signum = self.forwarded[0]
            return Outcome.terminated(signum, f"Terminated by {signal_name(signum)} "
                                              f"({signum}), forwarded to the command: exit "
                                              f"code {returncode}")
        if returncode == 0:
            return Outcome.completed()
        return Outcome.failed(detail=f"Failed with exit code {returncode}")

    def _stopped_before_start(self) -> int:
        signum = (self.interrupts or self.forwarded)[0]
        interrupted = signum in self.interrupts
        self._signals.restore()
        detail = (f"{'Interrupted' if interrupted else 'Terminated'} by "
                  f"{signal_name(signum)} ({signum}) before the command started")
        end_report(self.report, Outcome.interrupted(detail) if interrupted else
                   Outcome.terminated(signum, detail))
        return end_with_signal(signum)

    def _not_started(self, exc: OSError) -> int:
        name = self.command[0]
        if isinstance(exc, FileNotFoundError):
            code, reason = 127, "command not found"
        else:
            code, reason = 126, exc.strerror or type(exc).__name__
        say(f"{name}: {reason}")
        for source in self.sources:
            source.close()
        self._signals.restore()
        end_report(self.report, Outcome.failed(
            detail=f"Could not run {name}: {reason} (exit code {code})"))
        return code


def _child_env() -> Dict[str, str]:
    """The command's environment: ours, and Python output unbuffered so that a Python
    command's lines reach the message while they happen even through a pipe."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
