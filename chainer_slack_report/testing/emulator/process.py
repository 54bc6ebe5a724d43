"""The emulator as a process of its own, shared by the processes of a job.

``python -m chainer_slack_report.testing.emulator`` and the CLI's
``chainer-slack-report emulator`` both build their options with
:func:`add_arguments` and run :func:`serve`: it prints one JSON line (``url``,
``token``, ``channels``, ``state_url``, ``view_url``, ``pid``) and serves until
SIGTERM/SIGINT.  Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from typing import Callable, Optional, Sequence, Tuple

from ...transport.budget.limits import Limit
from .core import SlackEmulator
from .limits import NO_LIMITS, SLACK_LIMITS
from .methods import DEFAULT_SCOPES

__all__ = ["add_arguments", "serve", "main"]


def _limit_arg(text: str) -> Tuple[int, float]:
    try:
        limit = Limit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return limit.calls, limit.per


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's options to ``parser`` (``python -m …emulator`` and the CLI)."""
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument("--token", default="xoxb-0000-emulator-token",
                        help="the bot token it accepts")
    parser.add_argument("--channels", default="general,random",
                        help="comma-separated channel names (default: general,random)")
    parser.add_argument("--scopes", default=",".join(DEFAULT_SCOPES),
                        help="comma-separated OAuth scopes of the token, sent in "
                             "x-oauth-scopes; a method needing another answers "
                             "missing_scope (default: %(default)s)")
    parser.add_argument("--update-limit", type=_limit_arg, nargs="?", metavar="CALLS/SECONDS",
                        const=SLACK_LIMITS["chat.update"],
                        help="limit chat.update per app (default, or without a value: 50/60, "
                             "Slack's Tier 3)")
    parser.add_argument("--post-limit", type=_limit_arg, nargs="?", metavar="CALLS/SECONDS",
                        const=SLACK_LIMITS["chat.postMessage"],
                        help="limit chat.postMessage per channel (default, or without a "
                             "value: 5/5, Slack's ~1 per second per channel with short bursts)")
    parser.add_argument("--no-limits", action="store_true",
                        help="not Slack's: enforce no rate limit except --update-limit and "
                             "--post-limit when given (by default every method has Slack's)")
    parser.add_argument("--retry-after-resolution", type=float, default=1.0, metavar="SECONDS",
                        help="Retry-After is rounded up to a multiple of this (default 1: "
                             "whole seconds, as Slack sends; less is not Slack's)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="seconds each API call waits before answering")
    parser.add_argument("--state-file", metavar="PATH",
                        help="on exit, write the final state (as GET /_emulator/state?history=1)")
    return parser


def _announce_json(info: dict) -> None:
    print(json.dumps(info), flush=True)


def serve(args: argparse.Namespace, announce: Callable[[dict], None] = _announce_json) -> int:
    """Serve a :class:`SlackEmulator` built from ``args`` (see :func:`add_arguments`)
    until SIGTERM/SIGINT; returns the exit code 0.

    ``announce(info)`` is called once it listens, with ``url`` (the WebClient
    ``base_url``), ``token``, ``channels`` (name → ID), ``state_url`` and
    ``pid``; by default it prints them as one JSON line.
    """
    limits = dict(NO_LIMITS if args.no_limits else SLACK_LIMITS)
    if args.update_limit:
        limits["chat.update"] = args.update_limit
    if args.post_limit:
        limits["chat.postMessage"] = args.post_limit
    names = [n.strip() for n in args.channels.split(",") if n.strip()]
    emulator = SlackEmulator(token=args.token, channels=names, port=args.port, limits=limits,
                             retry_after_resolution=args.retry_after_resolution,
                             scopes=args.scopes.split(","))
    emulator.latency = args.latency
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with emulator:
            base = emulator.url.rsplit("/api/", 1)[0]
            announce({"url": emulator.url, "token": emulator.token,
                      "channels": {c.name: c.id for c in emulator.channels.values()},
                      "state_url": f"{base}/_emulator/state", "view_url": f"{base}/",
                      "pid": os.getpid()})
            while not stop.wait(1.0):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if args.state_file:
        with open(args.state_file, "w", encoding="utf-8") as out:
            json.dump(emulator.state(history=True), out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve a :class:`SlackEmulator` until SIGTERM/SIGINT; returns the exit code 0.

    Prints one JSON line to stdout first: ``url`` (the WebClient
    ``base_url``), ``token``, ``channels`` (name → ID), ``state_url`` and ``pid``.
    """
    parser = add_arguments(argparse.ArgumentParser(
        prog="python -m chainer_slack_report.testing.emulator",
        description="A local Slack Web API emulator on 127.0.0.1, shared by processes."))
    return serve(parser.parse_args(argv))
