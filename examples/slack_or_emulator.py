"""Where the examples report: your Slack, or the bundled emulator standing in for it.

With ``SLACK_BOT_TOKEN`` and ``SLACK_CHANNEL_ID`` set, the examples report to
your Slack.  Without them, :func:`connect` starts the package's local Slack
emulator, and :func:`summarize` prints, at the end, every message exactly as
it was posted, its thread replies, and what the runs asked of Slack.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Optional


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every example shares."""
    parser.add_argument("--mentions", default=None,
                        help="finish_mentions, e.g. '@here' or 'U0123456789'")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="seconds of emulated Slack latency per call (emulator only)")
    parser.add_argument("--serve", action="store_true",
                        help="emulator only: serve its channel view (a web page) and keep "
                             "it up after training until Ctrl-C")


def start(doc: str, argv=None, epochs: int = 20):
    """An example's command line (``--epochs`` and the options every example shares) and
    where it reports: ``(args, target)``; ``with target:`` prints the summary at the end."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=epochs)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args, Target(args)


def flavour(module: str, extra: str):
    """``SlackReport`` of ``module`` (e.g. ``"chainer_slack_report.lightning"``); a missing
    framework ends the example with how to install it (``pip install -e ".[EXTRA,examples]"``)."""
    import importlib

    try:
        return importlib.import_module(module).SlackReport
    except ImportError as exc:
        raise SystemExit(f"{exc}\n\nInstall the {extra} extra: "
                         f"pip install -e \".[{extra},examples]\"") from exc


class Target:
    """The channel and client options a SlackReport gets, and the emulator if any."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.emulator = None
        self.channel: Optional[str] = None  # None: SLACK_CHANNEL_ID
        self.options: dict = {}
        if os.environ.get("SLACK_BOT_TOKEN") and os.environ.get("SLACK_CHANNEL_ID"):
            return
        from chainer_slack_report.testing import SlackEmulator

        print("SLACK_BOT_TOKEN / SLACK_CHANNEL_ID not set: reporting to the local Slack "
              "emulator", file=sys.stderr)
        self.emulator = SlackEmulator(users={"U0DEMO0001": "demo"}).start()
        self.emulator.latency = args.latency
        self.channel = "general"
        self.options["client"] = self.emulator.client()
        if args.serve:
            print(f"Watch the channel at {self.emulator.view_url}", flush=True)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc) -> None:
        self.summarize()

    def summarize(self) -> None:
        """Print what the channel shows and count the Slack calls (emulator only), then
        keep the channel view up until Ctrl-C if ``--serve`` asked for it."""
        emulator = self.emulator
        if emulator is None:
            return
        # Each run's watchdog deletes its lost-host notice once the run has ended: let it
        # before the emulator goes away (at most a few seconds).
        deadline = time.monotonic() + 10.0
        while emulator.scheduled(self.channel) and time.monotonic() < deadline:
            time.sleep(0.05)
        messages = emulator.messages(self.channel)
        for message in messages:
            print(message.text)
            for reply in message.replies:
                print(f"  ↳ thread reply: {reply.text}")
        methods = emulator.state()["methods"]
        updates = methods.get("chat.update", {}).get("ok", 0)
        replies = sum(len(m.replies) for m in messages)
        print(f"messages posted: {len(messages)}, updates sent: {updates}, thread replies: "
              f"{replies} (Slack calls in all: {len(emulator.calls)})")
        if self.args.serve:
            print(f"Training is over; the channel view stays up at {emulator.view_url} "
                  f"until Ctrl-C", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        emulator.stop()
