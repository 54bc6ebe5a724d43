"""``chainer-slack-report``: one live Slack message for any command or log file.

Subcommands::

    chainer-slack-report run [--channel C] [--mention WHO ...] [--template T] [--emulator]
                             [--tail N] -- CMD [ARGS...]
    chainer-slack-report watch [--entries KEY,...] [--pid PID] [--idle S] [--interval S]
                               [--layout L] [--chart KEY,...] [report options] LOGFILE
    chainer-slack-report check [--channel C] [--post]
    chainer-slack-report emulator [--port P] [--json] [emulator options]

The token is read from ``SLACK_BOT_TOKEN`` (never from the command line, and
never printed), the channel from ``--channel`` or ``SLACK_CHANNEL_ID``;
``SLACK_API_URL`` points the client at another Web API base URL (e.g. the
emulator's).  ``python -m chainer_slack_report`` is the same tool.  Its exit
statuses and hidden options are listed on the documentation's page of the tool
(``docs/api/cli.rst``).

This package is the tool: :func:`main` and :func:`build_parser` here, one
module per subcommand (``run``, ``watch``, ``check``, ``emulator``) and the
modules they share (``common``: the name, the tool's own output, option types;
``reporting``: the live message of ``run`` and ``watch``).  Those modules are
its parts, not an API.  No Chainer is imported: the tool runs wherever Python
and slack_sdk do.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Sequence

from .. import __version__
from . import check, emulator, run, watch
from .common import PROG, show_warning

__all__ = ["main", "build_parser", "RUNNING"]

#: The status of a command that is running: ``run``'s message shows it until the end.
RUNNING = run.RUNNING


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    ``run`` may instead end the process with the signal that killed its command,
    ``watch`` with the signal that stopped it.  Bad arguments exit with status 2
    (``SystemExit``) after a usage message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.subcommand is None:
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{PROG}: error: choose a subcommand: run, watch, check or emulator\n")
    previous = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        return args.handler(args, args.subparser)
    finally:
        warnings.showwarning = previous


def build_parser() -> argparse.ArgumentParser:
    """The tool's argument parser (each subparser is kept as ``args.subparser``, the
    subcommand's function as ``args.handler``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keep one live Slack message per run: of any command (run), of a "
                    "running job's LogReport file (watch).  Token: SLACK_BOT_TOKEN; "
                    "channel: SLACK_CHANNEL_ID or --channel; SLACK_API_URL: another "
                    "Web API base URL.",
        epilog="Run 'chainer-slack-report check' before a long run.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="{run,watch,check,emulator}")
    for subcommand in (run, watch, check, emulator):
        subcommand.add_parser(sub)
    return parser
