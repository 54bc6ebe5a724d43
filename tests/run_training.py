"""One training process for the tests that need real processes.

Usage: SLACK_BOT_TOKEN=… python run_training.py BASE_URL CHANNEL RUN_NAME [options]

Trains the tiny model of conftest.py with a SlackReport whose ``{args}`` (and
so its message) carries RUN_NAME.  Prints ``READY`` once the trainer runs and,
at the end, ``TS <ts> UPDATES <n>``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chainer import training  # noqa: E402
from conftest import ENTRIES, make_trainer  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from chainer_slack_report import SlackReport  # noqa: E402


class Pace(training.Extension):
    """Sleeps each iteration; prints READY at the first one."""

    trigger = (1, "iteration")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, trainer) -> None:
        if trainer.updater.iteration == 1:
            print("READY", flush=True)
        time.sleep(self.seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("channel")
    parser.add_argument("name")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--per-iteration", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--min-interval", type=float, default=0.02)
    parser.add_argument("--flush-timeout", type=float, default=10.0)
    parser.add_argument("--exit-timeout", type=float, default=120.0)
    parser.add_argument("--user-handler", action="store_true",
                        help="install a SIGTERM handler of the user's that exits with 3")
    args = parser.parse_args()

    if args.user_handler:
        def handler(signum, frame):
            print("USER HANDLER", flush=True)
            sys.exit(3)

        signal.signal(signal.SIGTERM, handler)
    client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=args.url)
    report = SlackReport(None, args.channel, ENTRIES, client=client,
                         min_interval=args.min_interval, flush_timeout=args.flush_timeout,
                         exit_timeout=args.exit_timeout,
                         template="{status} {args}\n{content}")
    trainer = make_trainer(report, epochs=args.epochs,
                           log_trigger=(1, "iteration") if args.per_iteration else (1, "epoch"),
                           extra=[Pace(args.sleep)])
    trainer.run()
    print("TS", report.live.ts, "UPDATES", report.live.updates, flush=True)


if __name__ == "__main__":
    main()
