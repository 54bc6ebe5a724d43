"""``chainer-slack-report``: one live Slack message for any command or log file.

Subcommands::

    chainer-slack-report run [--channel C] [--mention WHO ...] [--tail N] [--template T]
                             -- CMD [ARGS...]
    chainer-slack-report watch LOGFILE [--entries KEY ...] [--pid PID] [--idle S] [--interval S]
    chainer-slack-report check [--channel C] [--post]
    chainer-slack-report emulator [--port P] [--json] [emulator options]

The token is read from ``SLACK_BOT_TOKEN`` (never from the command line, and
never printed), the channel from ``--channel`` or ``SLACK_CHANNEL_ID``;
``SLACK_API_URL`` points the client at another Web API base URL (e.g. the
emulator's).  ``python -m chainer_slack_report`` is the same tool.

Exit status: ``run`` exits with the command's status; a command killed by a
signal makes the tool end itself with the same signal (so a calling shell sees
exactly what it would have seen without the tool: ``$?`` is 128 + N and a
script stops on Ctrl-C); if that signal cannot end it, the tool exits with
128 + N.  127: the command was not found, 126: it could not be executed.
``watch`` exits 0 when the process ends or the file stays idle, 1 without a
token or channel, and ends itself with the signal that stopped it (Ctrl-C,
SIGTERM, SIGHUP).  ``check`` exits 0 when a run can report, 1 when it cannot.
``emulator`` exits 0 on Ctrl-C or SIGTERM.  Bad arguments: 2 with a usage
message.

Hidden options (tests, benchmarks): ``--min-interval S``, ``--update-limit
CALLS/SECONDS|none``, ``--flush-timeout S`` on ``run`` and ``watch``.

No Chainer is imported here: the tool runs wherever Python and slack_sdk do.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from . import __version__
from .job.ranks import Process
from .options import ReportOptions
from .outcome import Outcome, Status
from .rendering.mentions import Mentions
from .rendering.message import BUILTIN_PLACEHOLDERS, DEFAULT_TEMPLATE, format_row
from .rendering.mrkdwn import escape, redact_tokens, utf8_len
from .rendering.normalizers import FIFO
from .rendering.template import Template
from .run_report import Mode, RunReport
from .transport.client import API_URL_ENV
from .transport.slack_errors import CONFIG_ERRORS
from .warning import SlackReportWarning

__all__ = ["main", "build_parser", "RUNNING"]

PROG = "chainer-slack-report"
#: The status of a command that is running.
RUNNING = Status.RUNNING
#: The one table column of ``run``: the command's output lines (``{output}``: the latest).
OUTPUT = "output"

_SLACK_API_URL = "https://slack.com/api/"
_MAX_LINE_CHARS = 1000  # a longer output line is cut in the message (not on the terminal)
_DRAIN_QUIET = 0.25  # after the command ends: stop reading once its pipes are quiet this long
_DRAIN_MAX = 5.0  # … or after this long (a background process still writing)
# Signals after which a dead command counts as crashed rather than stopped from outside.
_CRASH_SIGNALS = frozenset(getattr(signal, n) for n in (
    "SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGSYS", "SIGTRAP")
    if hasattr(signal, n))
# Signals that dump core by default: re-raised without writing a core file.
_CORE_SIGNALS = _CRASH_SIGNALS | frozenset(getattr(signal, n) for n in (
    "SIGQUIT", "SIGXCPU", "SIGXFSZ") if hasattr(signal, n))
# Terminal escape sequences (colours, cursor movement): shown on the terminal, not in Slack.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


# -- entry point -------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    ``run`` may instead end the process with the signal that killed its command.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.subcommand is None:
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{PROG}: error: choose a subcommand: run, watch, check or emulator\n")
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return args.handler(args, args.subparser)
    finally:
        warnings.showwarning = previous


def build_parser() -> argparse.ArgumentParser:
    """The tool's argument parser (each subparser is kept as ``args.subparser``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keep one live Slack message per run: of any command (run), of a "
                    "running job's LogReport file (watch).  Token: SLACK_BOT_TOKEN; "
                    "channel: SLACK_CHANNEL_ID or --channel; SLACK_API_URL: another "
                    "Web API base URL.",
        epilog="Run 'chainer-slack-report check' before a long run.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="{run,watch,check,emulator}")

    report = argparse.ArgumentParser(add_help=False)
    report.add_argument("--channel", metavar="C",
                        help="channel ID (C0123456789) or name (default: $SLACK_CHANNEL_ID)")
    report.add_argument("--mention", action="append", metavar="WHO", default=None,
                        help="notify at the end, in the message's thread: a member ID "
                             "(U…), @name (needs users:read), here, channel, a user "
                             "group (S…); repeatable")
    report.add_argument("--template", metavar="T", default=DEFAULT_TEMPLATE,
                        help=f"the message layout (str.format_map): "
                             f"{_placeholders()}, {{output}} (run: the last output line) and "
                             f"any key of the log (watch); default: %(default)r")
    report.add_argument("--emulator", action="store_true",
                        help="report to a local Slack emulator started for this run instead "
                             "of Slack (no token needed): prints its channel view's URL, "
                             "and the message as posted at the end")
    hidden = argparse.SUPPRESS
    report.add_argument("--min-interval", type=_non_negative, default=1.2, help=hidden)
    report.add_argument("--update-limit", type=_update_limit, default=(50, 60.0), help=hidden)
    report.add_argument("--flush-timeout", type=_non_negative, default=10.0, help=hidden)

    run = sub.add_parser(
        "run", parents=[report], help="run a command and report it",
        usage=f"{PROG} run [-h] [--channel C] [--mention WHO] [--tail N] [--template T] "
              f"-- CMD [ARGS...]",
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
    run.add_argument("--tail", type=_positive_int, default=20, metavar="N",
                     help="show the last N lines of output (default: %(default)s)")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                     help="the command to run, after --")
    run.set_defaults(handler=_cmd_run, subparser=run)

    watch = sub.add_parser(
        "watch", parents=[report], help="follow a running job's LogReport file",
        description="Follow a LogReport JSON file (Chainer's result/log, "
                    "pytorch-pfn-extras' log) of a job that is already running, in one "
                    "live message, until process PID ends or the file stays unchanged "
                    "for --idle seconds (or Ctrl-C/SIGTERM).")
    watch.add_argument("logfile", metavar="LOGFILE", help="the LogReport file (a JSON list)")
    watch.add_argument("--entries", action="extend", nargs="+", metavar="KEY",
                       help="the keys to show as columns (default: the keys found, epoch "
                            "and iteration first); commas also separate keys")
    watch.add_argument("--pid", type=_positive_int, metavar="PID",
                       help="stop when this process ends ([Completed]: its exit status "
                            "cannot be known)")
    watch.add_argument("--idle", type=_positive_float, metavar="SECONDS",
                       help="stop when LOGFILE has not changed for this long")
    watch.add_argument("--interval", type=_positive_float, default=1.0, metavar="S",
                       help="seconds between two looks at LOGFILE (default: %(default)s)")
    watch.set_defaults(handler=_cmd_watch, subparser=watch)

    check = sub.add_parser(
        "check", help="check the token, channel and scopes before a long run",
        description="Check SLACK_BOT_TOKEN (auth.test), its scopes (chat:write needed; "
                    "users:read and files:write optional) and the channel (exists, the "
                    "bot is a member, not archived).  Exit status 0: a run can report; "
                    "1: it cannot (what to fix is printed).")
    check.add_argument("--channel", metavar="C",
                       help="channel ID or name (default: $SLACK_CHANNEL_ID)")
    check.add_argument("--post", action="store_true",
                       help="also post a test message to the channel and delete it (the "
                            "only check possible without channels:read)")
    check.set_defaults(handler=_cmd_check, subparser=check)

    from .testing import emulator as emulator_module

    emulator = sub.add_parser(
        "emulator", help="serve a local Slack emulator for trying things out",
        description="Serve the bundled Slack Web API emulator on 127.0.0.1 until Ctrl-C "
                    "or SIGTERM, and print the SLACK_API_URL, token and channels that "
                    "other processes use to share it.")
    emulator_module.add_arguments(emulator)
    emulator.add_argument("--json", action="store_true",
                          help="print one JSON line instead (url, token, channels, "
                               "state_url, pid)")
    emulator.set_defaults(handler=_cmd_emulator, subparser=emulator)
    return parser


def _placeholders() -> str:
    """Every built-in template placeholder, as ``--template``'s help lists them."""
    return " ".join("{" + name + "}" for name in sorted(BUILTIN_PLACEHOLDERS))


# -- argument types ------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, not {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, not {text!r}")
    return value


def _update_limit(text: str) -> Optional[Tuple[int, float]]:
    if text.lower() == "none":
        return None
    try:
        calls, per = text.split("/")
        return int(calls), float(per)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CALLS/SECONDS like 50/60, or none, not {text!r}") from None


# -- output of the tool itself ---------------------------------------------------------------
def _say(text: str) -> None:
    """A line of the tool's own on stderr (the command's output keeps stdout)."""
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, SlackReportWarning):
        _say(f"warning: {message}")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _make_report(args, parser: argparse.ArgumentParser, entries: List[str], *,
                 options=None, **kwargs) -> RunReport:
    """A RunReport from the shared options; a bad value is a usage error (exit 2)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            options = ReportOptions.of(PROG, None, {
                "client": args.client, "template": args.template,
                "finish_mentions": args.mention, "min_interval": args.min_interval,
                "update_limit": args.update_limit, "flush_timeout": args.flush_timeout,
                **(options or {})})
            report = RunReport(None, args.channel, entries, options, **kwargs)
        except (TypeError, ValueError) as exc:
            parser.error(str(exc))
    for warning in caught:
        text = str(warning.message)
        if report.mode is Mode.LOCAL and text.startswith("SlackReport has no"):
            continue  # said below, in the tool's words
        _say(f"warning: {text}")
    if report.mode is Mode.LOCAL:
        missing = [name for name, value in (
            ("bot token (SLACK_BOT_TOKEN)", os.environ.get("SLACK_BOT_TOKEN")),
            ("channel (SLACK_CHANNEL_ID or --channel)", report.channel)) if not value]
        _say(f"no {' and no '.join(missing)}: the command runs without a Slack report "
             f"(see {PROG} check)")
    return report


@contextlib.contextmanager
def _slack_or_emulator(args):
    """``--emulator``: a local Slack emulator for the duration (``args.client``,
    ``args.channel``); at the end the messages are printed as posted."""
    args.client = None
    if not args.emulator:
        yield
        return
    from .testing import SlackEmulator

    with SlackEmulator() as emulator:
        args.client, args.channel = emulator.client(), "general"
        _say(f"reporting to a local Slack emulator; watch it at {emulator.view_url}")
        try:
            yield
        finally:
            for message in emulator.messages("general"):
                _say(f"the message as posted:\n{message.text}")
                for reply in message.replies:
                    _say(f"its thread reply: {reply.text}")


_WHERE_WAIT = 3.0  # seconds the tool waits for the post before it goes on (and says it later)


def _end_report(report: RunReport, outcome: Outcome) -> None:
    """End the report and wait for its final text (before the process may end with a
    signal); Ctrl-C gives up waiting."""
    try:
        report.end(outcome)
        report.settle()
    except KeyboardInterrupt:
        report.give_up()


def _say_where(report: RunReport) -> None:
    """Say once, on stderr, which channel and message the report keeps up to date.

    Waits up to a few seconds for the post, so that the line comes before the command's
    own output; a slower Slack gets it said from the background once the post is done.
    """
    def say(ref) -> None:
        _say(f"reporting in channel {ref.channel_id}, message ts {ref.ts} (edited until the "
             f"end)")

    if report.mode is not Mode.SLACK:
        return
    ref = report.wait_posted(_WHERE_WAIT)
    if ref is not None:
        say(ref)
        return

    def later() -> None:
        ref = report.wait_posted(None)
        if ref is not None:
            say(ref)

    threading.Thread(target=later, name=f"{PROG}-where", daemon=True).start()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _end_with_signal(signum: int) -> int:
    """End this process with ``signum`` (no core file); 128 + signum if it survives."""
    sys.stdout.flush()
    sys.stderr.flush()
    if signum in _CORE_SIGNALS:
        try:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        except (ImportError, ValueError, OSError):
            pass
    try:
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # these need no reset
            signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        time.sleep(0.5)  # delivery to another thread of this process can take a moment
    except (OSError, ValueError):
        pass
    return 128 + signum


# -- run -----------------------------------------------------------------------------------
class _OutputTail(FIFO):
    """The last lines of a command's output, and the line being written (a progress bar).

    A FIFO with ``max_rows``; :attr:`partial` (escaped, set by the reading
    thread) is shown as the newest line until its newline arrives.
    """

    def __init__(self, capacity: int, max_rows: int) -> None:
        self._lines = 0
        super().__init__(capacity, max_rows=max_rows)
        self.partial = ""

    @property
    def count(self) -> int:  # lines shown or left out, the unfinished one included
        return self._lines + (1 if self.partial else 0)

    @count.setter
    def count(self, value: int) -> None:
        self._lines = value

    def add(self, row: str) -> None:
        lines = self._lines
        super().add(row)
        self._lines = lines + 1

    def select(self, budget: int) -> List[str]:
        partial = self.partial
        cost = utf8_len(partial) + 1
        if not partial or cost > budget:
            return super().select(budget)
        rows = super().select(budget - cost)
        if self.max_rows is not None:
            rows = rows[max(0, len(rows) - (self.max_rows - 1)):]
        return [*rows, partial]


def _visible(line: str) -> str:
    """What a terminal leaves of a line: the text after its last carriage return,
    without escape sequences; cut to a sane length."""
    line = _ANSI.sub("", line.rstrip("\r"))
    line = line.rsplit("\r", 1)[-1]
    if len(line) > _MAX_LINE_CHARS:
        line = line[:_MAX_LINE_CHARS] + " …"
    return line


class _Lines:
    """Turns the command's output bytes into report rows, stream by stream."""

    def __init__(self, report: RunReport, tail: _OutputTail) -> None:
        self.report = report
        self.tail = tail
        self._decoders: Dict[int, codecs.IncrementalDecoder] = {}
        self._buffers: Dict[int, str] = {}
        self._partial_of: Optional[int] = None  # the stream whose unfinished line shows

    def feed(self, stream: int, data: bytes, final: bool = False) -> None:
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
            if self._partial_of == stream:
                self.tail.partial = ""
            self.report.add([{OUTPUT: _visible(line)} for line in lines])
        shown = _visible(rest) if rest else ""
        if shown:
            self._partial_of = stream
            self._set_partial(escape(format_row([OUTPUT], {OUTPUT: shown})))
        elif self._partial_of == stream:
            self._partial_of = None
            self._set_partial("")

    def _set_partial(self, text: str) -> None:
        if text != self.tail.partial:
            self.tail.partial = text
            self.report.refresh()

    def close(self) -> None:
        for stream in list(self._decoders):
            self.feed(stream, b"", final=True)


class _Source:
    """One output stream of the command: where it is read, where it is passed on."""

    def __init__(self, stream: int) -> None:
        self.stream = stream  # 1 or 2: our own fd it is passed on to
        self.read_fd = -1
        self.child_fd = -1  # the end given to the command
        self.is_pty = False
        self.passing = True  # False once our own end broke (EPIPE): the data is dropped

    def open(self) -> None:
        """A pty when our own stream is a terminal (the command sees one, as without
        the tool: line buffering, colours, progress bars); a pipe otherwise."""
        if os.isatty(self.stream) and hasattr(os, "openpty"):
            try:
                self.read_fd, self.child_fd = os.openpty()
                self.is_pty = True
                _configure_pty(self.child_fd, self.stream)
                return
            except OSError:
                self.close()
                self.is_pty = False
        self.read_fd, self.child_fd = os.pipe()

    def close_child_end(self) -> None:
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1

    def close(self) -> None:
        self.close_child_end()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def pass_on(self, data: bytes) -> None:
        """Write ``data`` to our own stream, all of it; on EPIPE stop passing on."""
        view = memoryview(data)
        while view and self.passing:
            try:
                written = os.write(self.stream, view)
            except BrokenPipeError:
                self.passing = False  # as without the tool, the command gets SIGPIPE
                return
            except InterruptedError:
                continue
            view = view[written:]


def _configure_pty(child_fd: int, our_fd: int) -> None:
    """Bytes pass unchanged (no \\n → \\r\\n) and the size is the terminal's."""
    import termios

    attrs = termios.tcgetattr(child_fd)
    attrs[1] &= ~termios.OPOST  # oflag: no output processing
    termios.tcsetattr(child_fd, termios.TCSANOW, attrs)
    _copy_window_size(our_fd, child_fd)


def _copy_window_size(src: int, dst: int) -> None:
    try:
        import fcntl
        import termios

        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except (ImportError, OSError):
        pass


class _Runner:
    """Runs the command, passes its output on, and reports it."""

    def __init__(self, command: List[str], report: RunReport, tail: _OutputTail) -> None:
        self.command = command
        self.report = report
        self.lines = _Lines(report, tail)
        self.sources = [_Source(1), _Source(2)]
        self.proc: Optional[subprocess.Popen] = None
        self.interrupts: List[int] = []  # SIGINT/SIGQUIT the tool got (the terminal's)
        self.forwarded: List[int] = []  # SIGTERM/SIGHUP forwarded to the command
        self._done = threading.Event()
        self._previous: Dict[int, object] = {}

    def run(self) -> int:
        started = time.monotonic()
        self._install_handlers()
        try:
            self.report.start(lambda: time.monotonic() - started, watch_signals=False,
                              status=RUNNING)
            _say_where(self.report)
            if self.interrupts or self.forwarded:  # before the command existed: not started
                signum = (self.interrupts or self.forwarded)[0]
                interrupted = signum in self.interrupts
                self._restore_handlers()
                self._finish(Status.INTERRUPTED if interrupted else Status.TERMINATED,
                             f"{'Interrupted' if interrupted else 'Terminated'} by "
                             f"{_signal_name(signum)} ({signum}) before the command started")
                return _end_with_signal(signum)
            try:
                for source in self.sources:
                    source.open()
                self.proc = subprocess.Popen(
                    self.command, stdout=self.sources[0].child_fd,
                    stderr=self.sources[1].child_fd, env=_child_env())
            except OSError as exc:
                return self._not_started(exc)
            finally:
                for source in self.sources:
                    source.close_child_end()
            for signum in self.forwarded:  # a signal that came while it was being started
                self.proc.send_signal(signum)
            pump = threading.Thread(target=self._pump, name=f"{PROG}-output", daemon=True)
            pump.start()
            returncode = self.proc.wait()
            self._done.set()
            pump.join()
            self.lines.close()
            status, detail = self._outcome(returncode)
        finally:
            self._restore_handlers()
        self._finish(status, detail)
        if returncode < 0:
            return _end_with_signal(-returncode)
        return returncode

    # -- the command's output --------------------------------------------------------------
    def _pump(self) -> None:
        """Pass each chunk on at once (no line buffering) and hand it to the report."""
        selector = selectors.DefaultSelector()
        for source in self.sources:
            selector.register(source.read_fd, selectors.EVENT_READ, source)
        done_at = None
        try:
            while selector.get_map():
                if done_at is None and self._done.is_set():
                    done_at = time.monotonic()
                if done_at is not None and time.monotonic() - done_at > _DRAIN_MAX:
                    break  # something the command started still writes: stop here
                events = selector.select(_DRAIN_QUIET)
                if not events and done_at is not None:
                    break  # the command has ended and its pipes are quiet
                for key, _ in events:
                    source: _Source = key.data
                    try:
                        data = os.read(source.read_fd, 65536)
                    except InterruptedError:
                        continue
                    except OSError:  # EIO: a pty whose other end is closed
                        data = b""
                    if not data:
                        selector.unregister(source.read_fd)
                        continue
                    source.pass_on(data)
                    if not source.passing:  # our own end broke: so does the command's
                        selector.unregister(source.read_fd)
                        os.close(source.read_fd)
                        source.read_fd = -1
                    self.lines.feed(source.stream, data)
        finally:
            selector.close()
            for source in self.sources:
                source.close()

    # -- signals ---------------------------------------------------------------------------
    def _install_handlers(self) -> None:
        handlers = {"SIGINT": self._on_interrupt, "SIGQUIT": self._on_interrupt,
                    "SIGTERM": self._on_terminate, "SIGHUP": self._on_terminate,
                    "SIGWINCH": self._on_resize}
        for name, handler in handlers.items():
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN and name != "SIGWINCH":
                continue  # ignored by whoever started us (nohup): the command inherits that
            self._previous[signum] = previous
            signal.signal(signum, handler)

    def _restore_handlers(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

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
            if source.is_pty and source.read_fd >= 0:
                _copy_window_size(source.stream, source.read_fd)

    # -- the outcome -----------------------------------------------------------------------
    def _outcome(self, returncode: int) -> Tuple[str, Optional[str]]:
        if returncode < 0:
            signum = -returncode
            name = f"{_signal_name(signum)} ({signum})"
            if signum == signal.SIGINT or signum in self.interrupts:  # Ctrl-C, Ctrl-\
                return Status.INTERRUPTED, f"Interrupted by {name}"
            if signum in _CRASH_SIGNALS:
                return Status.FAILED, f"Killed by {name}"
            verb = "Killed" if signum == getattr(signal, "SIGKILL", None) else "Terminated"
            return Status.TERMINATED, f"{verb} by {name}"
        if self.interrupts:
            signum = self.interrupts[0]
            return Status.INTERRUPTED, (f"Interrupted by {_signal_name(signum)} ({signum}): "
                                 f"exit code {returncode}")
        if self.forwarded:
            signum = self.forwarded[0]
            return Status.TERMINATED, (f"Terminated by {_signal_name(signum)} ({signum}), "
                                f"forwarded to the command: exit code {returncode}")
        if returncode == 0:
            return Status.COMPLETED, None
        return Status.FAILED, f"Failed with exit code {returncode}"

    def _not_started(self, exc: OSError) -> int:
        name = self.command[0]
        if isinstance(exc, FileNotFoundError):
            code, reason = 127, "command not found"
        else:
            code, reason = 126, exc.strerror or type(exc).__name__
        _say(f"{name}: {reason}")
        for source in self.sources:
            source.close()
        self._restore_handlers()
        self._finish(Status.FAILED, f"Could not run {name}: {reason} (exit code {code})")
        return code

    def _finish(self, status: Status, detail: Optional[str]) -> None:
        """Deliver the final text; Ctrl-C or SIGTERM now gives up waiting for Slack."""
        report = self.report
        if report.mode is Mode.LOCAL:
            return
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            _end_report(report, Outcome(status, detail))
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)


def _child_env() -> Dict[str, str]:
    """The command's environment: ours, and Python output unbuffered so that a Python
    command's lines reach the message while they happen even through a pipe."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _cmd_run(args, parser: argparse.ArgumentParser) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("give the command to run after --, e.g. "
                     f"{PROG} run -- python train.py")
    max_bytes = 4000
    tail = _OutputTail(max_bytes, args.tail)
    with _slack_or_emulator(args):
        report = _make_report(args, parser, [OUTPUT],
                              options={"len_normalizer": tail, "max_bytes": max_bytes},
                              command=command, show_header=False, process=Process(0, 1))
        return _Runner(command, report, tail).run()


# -- watch ---------------------------------------------------------------------------------
class _LogFile:
    """A LogReport file, rewritten as a whole when a row is added."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = None  # what the file was when last looked at
        self._warned = False

    def changed(self) -> bool:
        """True if the file is not as it was at the previous call (it appeared, grew…)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        changed, self._stamp = stamp != self._stamp, stamp
        return changed

    def rows(self) -> Optional[List[dict]]:
        """Every row, or None while the file is missing, empty or half written."""
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None  # written right now: read it again at the next look
        if not isinstance(data, list):
            if not self._warned:
                self._warned = True
                _say(f"warning: {self.path} is not a LogReport file (a JSON list of "
                     f"rows); waiting for one")
            return None
        return [row for row in data if isinstance(row, dict)]


def _keys(rows: List[dict]) -> List[str]:
    """The keys of ``rows`` in first-seen order, ``epoch`` and ``iteration`` first."""
    seen: Dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    keys = [k for k in ("epoch", "iteration") if k in seen]
    return keys + [k for k in seen if k not in keys]


def _proc_stat(pid: int) -> Optional[Tuple[str, int]]:
    """``(state, start time in clock ticks)`` from /proc, or None where there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _proc_cmdline(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            parts = file.read().split(b"\0")
    except OSError:
        return None
    argv = [p.decode("utf-8", "replace") for p in parts if p]
    return argv or None


def _proc_age(start_ticks: int) -> Optional[float]:
    """Seconds since a process that started ``start_ticks`` after boot started."""
    try:
        with open("/proc/uptime", encoding="utf-8") as file:
            uptime = float(file.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class _Process:
    """A process that is not our child: alive until it is gone, a zombie, or its PID
    is reused (a different start time)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        stat = _proc_stat(pid)
        self.start_ticks = stat[1] if stat else None

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's: it exists
        stat = _proc_stat(self.pid)
        if stat is None:
            return True
        state, start = stat
        return state not in ("Z", "X") and start == (self.start_ticks or start)


class _Watcher:
    def __init__(self, args, parser: argparse.ArgumentParser) -> None:
        self.args = args
        self.parser = parser
        self.log = _LogFile(args.logfile)
        self.process = _Process(args.pid) if args.pid else None
        self.report: Optional[RunReport] = None
        self.taken = 0  # rows handed to the report
        self.stop_signal: Optional[int] = None
        self._wake = threading.Event()
        self._started = time.monotonic()
        self._elapsed_row: Optional[Tuple[float, float]] = None  # (elapsed_time, seen at)
        self._age: Optional[float] = None  # the process's age when the watch started
        if self.process is not None and self.process.start_ticks is not None:
            self._age = _proc_age(self.process.start_ticks)

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
        args = self.args
        if args.entries:
            self._start(args.entries)
        previous = {}
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
        try:
            reason = self._follow()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self._take(self.log.rows() or [])
        if self.report is None:
            self._start(["epoch", "iteration"])
        self._finish(reason)
        if self.stop_signal is not None:
            return _end_with_signal(self.stop_signal)
        return 0

    def _follow(self) -> str:
        args = self.args
        last_change = time.monotonic()
        while True:
            if self.log.changed():
                last_change = time.monotonic()
                rows = self.log.rows()
                if rows is not None:
                    self._take(rows)
            if self.stop_signal is not None:
                name = _signal_name(self.stop_signal)
                return (f"Stopped watching on {name} ({self.stop_signal}); the job may "
                        f"still be running")
            if self.process is not None and not self.process.alive():
                return f"Process {self.process.pid} ended (its exit status is unknown here)"
            idle = time.monotonic() - last_change
            if args.idle is not None and idle >= args.idle:
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
            command = _proc_cmdline(self.process.pid)
        report = _make_report(self.args, self.parser, entries, process=Process(0, 1),
                              command=command or [PROG, "watch", self.args.logfile])
        report.start(self.clock, watch_signals=False, status=Status.TRAINING)
        _say_where(report)
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
            self._start(self._fitting(_keys(rows)))
        self.report.add(new)
        self.taken = len(rows)

    @staticmethod
    def _fitting(keys: List[str]) -> List[str]:
        """As many keys as leave room for rows in the message (the rest are named)."""
        from .rendering.message import table_bytes

        shown = list(keys)
        while len(shown) > 1 and table_bytes(shown) * 4 > 4000:
            shown.pop()
        if len(shown) < len(keys):
            _say(f"showing {len(shown)} of {len(keys)} keys; left out: "
                 f"{', '.join(keys[len(shown):])} (choose with --entries)")
        return shown

    def _finish(self, reason: str) -> None:
        report = self.report
        if report.mode is Mode.LOCAL:
            return
        status = Status.INTERRUPTED if self.stop_signal is not None else Status.COMPLETED
        _end_report(report, Outcome(status, reason))


def _cmd_watch(args, parser: argparse.ArgumentParser) -> int:
    entries = [e.strip() for item in args.entries or () for e in item.split(",") if e.strip()]
    args.entries = entries or None
    if args.pid is not None and not _Process(args.pid).alive():
        parser.error(f"--pid {args.pid}: no such process is running")
    try:  # the report is built once the keys are known: check its options now
        Template(args.template)
        Mentions(args.mention)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    missing = [name for name, value in (
        ("bot token (SLACK_BOT_TOKEN)", os.environ.get("SLACK_BOT_TOKEN")),
        ("channel (SLACK_CHANNEL_ID or --channel)",
         args.channel or os.environ.get("SLACK_CHANNEL_ID"))) if not (value or "").strip()]
    if missing and not args.emulator:
        _say(f"no {' and no '.join(missing)}: nothing to report the log to "
             f"(see {PROG} check, or try --emulator)")
        return 1
    with _slack_or_emulator(args):
        return _Watcher(args, parser).run()


# -- check ---------------------------------------------------------------------------------
class _Checker:
    """Prints each finding; remembers whether any is a problem.  Never the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.problems = 0

    def _print(self, tag: str, text: str) -> None:
        if self.token:
            text = text.replace(self.token, "xoxb-…")
        print(f"{tag:<5} {redact_tokens(text)}", flush=True)

    def ok(self, text: str) -> None:
        self._print("OK", text)

    def warn(self, text: str) -> None:
        self._print("WARN", text)

    def fail(self, text: str) -> None:
        self.problems += 1
        self._print("FAIL", text)


def _header(headers, name: str) -> Optional[str]:
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return value[0] if isinstance(value, (list, tuple)) and value else value
    return None


def _api_error(exc: Exception) -> Tuple[str, str]:
    """(Slack's error code or what happened, what to do) for a failed call."""
    response = getattr(exc, "response", None)
    if response is None:
        return type(exc).__name__, f"cannot reach Slack: {exc}"
    status = getattr(response, "status_code", 200)
    try:
        code = response.get("error")
        needed = response.get("needed")
    except Exception:  # noqa: BLE001 - a body that is not JSON
        code = needed = None
    if status == 429:
        after = _header(getattr(response, "headers", None), "retry-after") or "a few"
        return "ratelimited", f"Slack rate-limits this token; try again in {after} s"
    if not code:
        return f"HTTP {status}", f"Slack answered HTTP {status}; try again later"
    hint = CONFIG_ERRORS.get(code, f"Slack answered {code}")
    if needed:
        hint += f" (Slack says it needs: {needed})"
    return str(code), hint


def _cmd_check(args, parser: argparse.ArgumentParser) -> int:
    token = (os.environ.get("SLACK_BOT_TOKEN") or "").strip()
    channel = (args.channel or os.environ.get("SLACK_CHANNEL_ID") or "").strip()
    url = os.environ.get(API_URL_ENV) or _SLACK_API_URL
    out = _Checker(token)
    print(f"Checking Slack at {url}", flush=True)
    if not token:
        out.fail("no bot token: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token "
                 "(xoxb-…, under OAuth & Permissions)")
    elif token.startswith("xoxp-"):
        out.warn("SLACK_BOT_TOKEN is a user token (xoxp-…): messages are posted as that "
                 "person; a bot token (xoxb-…) is meant for this")
    elif not token.startswith("xoxb-"):
        out.warn("SLACK_BOT_TOKEN does not look like a bot token (xoxb-…)")
    if not channel:
        out.fail("no channel: set SLACK_CHANNEL_ID or pass --channel (the channel ID, "
                 "e.g. C0123456789, is under the channel's name → About)")
    if not token:
        return _verdict(out, channel)

    from slack_sdk import WebClient

    client = WebClient(token=token, base_url=url, timeout=10)
    try:
        auth = client.auth_test()
    except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer at all
        code, hint = _api_error(exc)
        out.fail(f"token: {code}: {hint}")
        return _verdict(out, channel)
    who = f"{auth.get('user') or '?'} ({auth.get('user_id') or '?'})"
    kind = "bot token xoxb-…" if token.startswith("xoxb-") else "token"
    out.ok(f"{kind} accepted: {who} in team {auth.get('team') or '?'} "
           f"({auth.get('team_id') or '?'})")
    scopes = _check_scopes(out, auth.headers)
    if channel:
        _check_channel(out, client, channel, scopes, post=args.post)
    return _verdict(out, channel)


def _check_scopes(out: _Checker, headers) -> Optional[set]:
    header = _header(headers, "x-oauth-scopes")
    if header is None:
        out.warn("Slack did not list the token's scopes (no x-oauth-scopes header); a run "
                 "needs chat:write")
        return None
    scopes = {s.strip() for s in str(header).split(",") if s.strip()}
    if "chat:write" in scopes:
        out.ok("scope chat:write: the message can be posted and edited")
    else:
        out.fail(f"scope chat:write missing: {CONFIG_ERRORS['missing_scope']}")
    if "users:read" in scopes:
        out.ok("scope users:read: --mention @name can be looked up")
    else:
        out.warn("optional scope users:read missing: --mention @name cannot be looked up "
                 "(member IDs such as U0123456789 work); add it under OAuth & Permissions "
                 "and reinstall the app")
    if "files:write" in scopes:
        out.ok("scope files:write: files can be uploaded into the message's thread")
    else:
        out.warn("optional scope files:write missing: no file uploads into the thread; "
                 "add it under OAuth & Permissions and reinstall the app")
    return scopes


def _find_channel(client, name: str) -> Tuple[Optional[dict], Optional[Exception]]:
    """The channel named ``name`` from conversations.list (first pages only)."""
    cursor = None
    for _ in range(10):
        try:
            page = client.conversations_list(types="public_channel,private_channel",
                                             exclude_archived=False, limit=200,
                                             cursor=cursor)
        except Exception as exc:  # noqa: BLE001
            return None, exc
        for info in page.get("channels") or []:
            if info.get("name") == name:
                return info, None
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return None, None


def _check_channel(out: _Checker, client, channel: str, scopes: Optional[set], *,
                   post: bool) -> None:
    key = channel[1:] if channel.startswith("#") else channel
    if _CHANNEL_ID.match(key):
        try:
            info, error = client.conversations_info(channel=key)["channel"], None
        except Exception as exc:  # noqa: BLE001
            info, error = None, exc
    else:
        info, error = _find_channel(client, key)
        if info is None and error is None:
            out.fail(f"channel {channel}: no channel of that name is visible to the bot: "
                     f"{CONFIG_ERRORS['channel_not_found']}")
            return
    if error is not None:
        code, hint = _api_error(error)
        if code == "missing_scope":
            out.warn(f"channel {channel}: cannot be looked up without channels:read "
                     f"(groups:read for a private channel); it is checked at the first "
                     f"post (or now with --post)")
        else:
            out.fail(f"channel {channel}: {code}: {hint}")
            return
    if info is not None:
        where = f"channel {info.get('id')} (#{info.get('name')})"
        if info.get("is_archived"):
            out.fail(f"{where} is archived: {CONFIG_ERRORS['is_archived']}")
            return
        if info.get("is_member"):
            out.ok(f"{where}: the bot is a member, not archived")
        elif scopes and "chat:write.public" in scopes and not info.get("is_private"):
            out.ok(f"{where}: the bot is not a member, but chat:write.public lets it post "
                   f"to a public channel")
        else:
            out.fail(f"{where}: the bot is not a member: {CONFIG_ERRORS['not_in_channel']}")
            return
    if post:
        _check_post(out, client, info.get("id") if info else key)


def _check_post(out: _Checker, client, channel: str) -> None:
    try:
        posted = client.chat_postMessage(channel=channel, text=f"{PROG} check: the bot can "
                                                               f"post here",
                                         unfurl_links=False)
    except Exception as exc:  # noqa: BLE001
        code, hint = _api_error(exc)
        out.fail(f"test post to {channel}: {code}: {hint}")
        return
    try:
        client.chat_delete(channel=posted["channel"], ts=posted["ts"])
        out.ok(f"test message posted to {posted['channel']} and deleted")
    except Exception as exc:  # noqa: BLE001
        code, _ = _api_error(exc)
        out.warn(f"test message posted to {posted['channel']} but not deleted ({code}); "
                 f"delete it by hand")


def _verdict(out: _Checker, channel: str) -> int:
    if out.problems:
        print(f"{out.problems} problem{'s' if out.problems > 1 else ''} found: runs "
              f"cannot report to Slack until {'it is' if out.problems == 1 else 'they are'} "
              f"fixed", flush=True)
        return 1
    print(f"All set: runs can report to {channel}", flush=True)
    return 0


# -- emulator ------------------------------------------------------------------------------
def _cmd_emulator(args, parser: argparse.ArgumentParser) -> int:
    from .testing import emulator as emulator_module

    def announce(info: dict) -> None:
        if args.json:
            print(json.dumps(info), flush=True)
            return
        channels = info["channels"]
        first = next(iter(channels.values()), "")
        exports = {API_URL_ENV: info["url"], "SLACK_BOT_TOKEN": info["token"]}
        if first:
            exports["SLACK_CHANNEL_ID"] = first
        print(f"Slack emulator on {info['url']} (pid {info['pid']}); Ctrl-C or SIGTERM "
              f"stops it\n"
              f"  token:    {info['token']}\n"
              f"  channels: {', '.join(f'#{n} = {i}' for n, i in channels.items())}\n"
              f"  view:     {info['view_url']}  (the channels in a browser)\n"
              f"  state:    {info['state_url']}\n"
              f"Other shells use it after:\n"
              f"export {' '.join(f'{k}={shlex.quote(v)}' for k, v in exports.items())}",
              flush=True)

    try:
        return emulator_module.serve(args, announce=announce)
    except OSError as exc:  # e.g. the port is taken
        parser.error(f"cannot serve on port {args.port}: {exc.strerror or exc}")
    return 2

