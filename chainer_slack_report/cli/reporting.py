"""The one live message of ``run`` and ``watch``: their shared options, the report
built from them, where it goes (Slack or ``--emulator``), and how it ends.

The subcommands reach the report only through its own methods
(:class:`~chainer_slack_report.run_report.RunReport` is the one door).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import warnings
from typing import Iterator, List, Optional

from ..job.signals import SignalHandlers
from ..options import ReportOptions
from ..outcome import Outcome
from ..rendering.message import BUILTIN_PLACEHOLDERS, DEFAULT_TEMPLATE
from ..run_report import Mode, RunReport
from .common import PROG, non_negative, say, store, update_limit

__all__ = ["report_options", "missing_settings", "make_report", "slack_or_emulator",
           "say_where", "end_report"]

_WHERE_WAIT = 3.0  # seconds the tool waits for the post before it goes on (and says it later)


def report_options() -> argparse.ArgumentParser:
    """The options ``run`` and ``watch`` share, as a parent parser (``parents=[...]``)."""
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
    report.add_argument("--store", type=store, metavar="URL", default=None,
                        help="a Redis server that the runs of the token on every host share "
                             "Slack's rate budget in: redis://host:port/db (default: "
                             "$CHAINER_SLACK_REPORT_STORE, which is where a URL with a "
                             "password goes; else this host's state file)")
    report.add_argument("--board", metavar="NAME", default=None,
                        help="show this run as one row of the sweep's board NAME: one "
                             "message for every run of the token and channel with that "
                             "name, this run's own message a reply in its thread")
    report.add_argument("--run-name", metavar="T", default=None,
                        help="the run's name on the board, a template as --template's "
                             "(default: the arguments the board's runs differ in, else "
                             "host and PID)")
    hidden = argparse.SUPPRESS
    report.add_argument("--min-interval", type=non_negative, default=1.2, help=hidden)
    report.add_argument("--update-limit", type=update_limit, default=(50, 60.0), help=hidden)
    report.add_argument("--flush-timeout", type=non_negative, default=10.0, help=hidden)
    return report


def _placeholders() -> str:
    """Every built-in template placeholder, as ``--template``'s help lists them."""
    return " ".join("{" + name + "}" for name in sorted(BUILTIN_PLACEHOLDERS))


def missing_settings(channel: Optional[str]) -> Optional[str]:
    """What keeps a report from Slack, as the tool says it; None when nothing does.

    Args:
        channel: ``--channel`` (None: ``SLACK_CHANNEL_ID`` is looked at).

    Returns:
        str or None: e.g. ``"no bot token (SLACK_BOT_TOKEN) and no channel
        (SLACK_CHANNEL_ID or --channel)"``; a value of blanks counts as none.
        The token itself is never part of it.
    """
    missing = [name for name, value in (
        ("bot token (SLACK_BOT_TOKEN)", os.environ.get("SLACK_BOT_TOKEN")),
        ("channel (SLACK_CHANNEL_ID or --channel)",
         channel or os.environ.get("SLACK_CHANNEL_ID"))) if not (value or "").strip()]
    return f"no {' and no '.join(missing)}" if missing else None


def make_report(args: argparse.Namespace, parser: argparse.ArgumentParser,
                entries: List[str], *, options: Optional[dict] = None, **kwargs) -> RunReport:
    """A RunReport from the shared options (see :func:`report_options`), more
    ``options`` of :class:`~chainer_slack_report.ReportOptions`, and ``kwargs`` of
    :class:`~chainer_slack_report.run_report.RunReport`.

    The tool's runs start no watchdog: ``run`` sees how its command ends itself,
    and ``watch`` only follows a file.

    A bad option value is a usage error (``parser.error``: exit status 2).  The
    report's warnings are said as the tool's own lines; without a token or
    channel the tool says what is missing (the report is then local: nothing
    is posted).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            options = ReportOptions.of(PROG, None, {
                "client": args.client, "template": args.template,
                "finish_mentions": args.mention, "min_interval": args.min_interval,
                "update_limit": args.update_limit, "flush_timeout": args.flush_timeout,
                "store": args.store, "board": args.board, "run_name": args.run_name,
                "watchdog": False, **(options or {})})
            report = RunReport(None, args.channel, entries, options, **kwargs)
        except (TypeError, ValueError) as exc:
            parser.error(str(exc))
    for warning in caught:
        text = str(warning.message)
        if report.mode is Mode.LOCAL and text.startswith("SlackReport has no"):
            continue  # said below, in the tool's words
        say(f"warning: {text}")
    if report.mode is Mode.LOCAL:
        missing = missing_settings(args.channel) or "no Slack settings"
        say(f"{missing}: the command runs without a Slack report (see {PROG} check)")
    return report


@contextlib.contextmanager
def slack_or_emulator(args: argparse.Namespace) -> Iterator[None]:
    """Set ``args.client`` for the duration: None (Slack, as the environment says),
    or with ``--emulator`` a client of a local Slack emulator (and ``args.channel``
    its ``general``), whose messages are said as posted at the end."""
    args.client = None
    if not args.emulator:
        yield
        return
    from ..testing import SlackEmulator

    with SlackEmulator() as emulator:
        args.client, args.channel = emulator.client(), "general"
        say(f"reporting to a local Slack emulator; watch it at {emulator.view_url}")
        try:
            yield
        finally:
            for message in emulator.messages("general"):
                say(f"the message as posted:\n{message.text}")
                for reply in message.replies:
                    say(f"its thread reply: {reply.text}")


def say_where(report: RunReport) -> None:
    """Say once, on stderr, which channel and message the report keeps up to date.

    Waits up to 3 seconds for the post, so that the line comes before the
    command's own output; a slower Slack gets it said from a background thread
    once the post is done.  Nothing is said unless the report goes to Slack.
    """
    def say_ref(ref) -> None:
        say(f"reporting in channel {ref.channel_id}, message ts {ref.ts} (edited until the "
            f"end)")

    if report.mode is not Mode.SLACK:
        return
    ref = report.wait_posted(_WHERE_WAIT)
    if ref is not None:
        say_ref(ref)
        return

    def later() -> None:
        ref = report.wait_posted(None)
        if ref is not None:
            say_ref(ref)

    threading.Thread(target=later, name=f"{PROG}-where", daemon=True).start()


def end_report(report: RunReport, outcome: Outcome) -> Optional[int]:
    """Deliver how the run ended and wait for Slack to take it.

    Waits up to the report's ``flush_timeout``, then for its delivery in the
    background (:meth:`~chainer_slack_report.run_report.RunReport.settle`),
    so that the process may end right after, even with a signal.  SIGINT
    (Ctrl-C) or SIGTERM meanwhile gives up waiting (a signal ignored when this
    is called stays ignored).

    Returns:
        int or None: The signal that made it give up, or None.
    """
    if report.mode is Mode.LOCAL:
        return None
    given_up: List[int] = []

    def give_up(signum: int, frame) -> None:
        given_up.append(signum)
        raise KeyboardInterrupt

    try:
        with SignalHandlers({signal.SIGINT: give_up, signal.SIGTERM: give_up}):
            report.end(outcome)
            report.settle()
    except KeyboardInterrupt:
        report.give_up()
    return given_up[0] if given_up else None
