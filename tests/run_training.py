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


class Hold(training.Extension):
    """Waits at iteration ``at`` until the file ``path`` exists (the test moves on)."""

    trigger = (1, "iteration")

    def __init__(self, at: int, path: str) -> None:
        self.at, self.path = at, path

    def __call__(self, trainer) -> None:
        if trainer.updater.iteration == self.at:
            print(f"HOLDING {self.at}", flush=True)
            while not os.path.exists(self.path):
                time.sleep(0.02)


class Die(training.Extension):
    """Ends the process, without Python's ``finally``, once epoch ``at`` has been logged."""

    trigger = (1, "iteration")
    priority = training.PRIORITY_READER - 1  # after LogReport and SlackReport

    def __init__(self, how: str, at: int, until: str = "") -> None:
        self.how, self.at, self.until = how, at, until

    def __call__(self, trainer) -> None:
        if trainer.updater.epoch_detail < self.at:
            return
        print("DYING", flush=True)
        time.sleep(0.5)  # the report hands the rows over (no Slack call needed for that)
        if self.how == "segfault":
            import ctypes

            ctypes.string_at(0)  # SIGSEGV in native code
        elif self.how == "os-exit":
            os._exit(3)
        elif self.how == "oom":
            hog = []
            while True:
                hog.append(bytearray(64 << 20))  # touched: the pages are really used
        elif self.how == "hang":
            while True:
                time.sleep(3600)
        elif self.how == "hang-until":  # until the file --hang-file exists, once
            self.at = float("inf")
            while not os.path.exists(self.until):
                time.sleep(0.05)
            print("GOING ON", flush=True)


class Fail(training.Extension):
    """Raises at epoch ``at``: the run ends ``[Failed]``."""

    trigger = (1, "iteration")

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, trainer) -> None:
        if trainer.updater.epoch_detail >= self.at:
            raise RuntimeError(f"failed at epoch {self.at}")


class AtFirstIteration(training.Extension):
    """Runs :meth:`once` at the first iteration only."""

    trigger = (1, "iteration")

    def __init__(self) -> None:
        self.done = False

    def __call__(self, trainer) -> None:
        if not self.done:
            self.done = True
            self.once()

    def once(self) -> None:
        raise NotImplementedError


class ForkWorkers(AtFirstIteration):
    """Forks two worker processes at the first iteration, as a DataLoader does."""

    def once(self) -> None:
        parent = os.getpid()
        if os.fork() == 0:  # a worker that exits at once (no exit handlers, as in a fork)
            os._exit(0)
        if os.fork() == 0:  # a worker that lives until the training process is gone
            while os.getppid() == parent:
                time.sleep(0.1)
            os._exit(0)
        print("FORKED", flush=True)


def _square(x: int) -> int:
    return x * x


class PoolTerminate(AtFirstIteration):
    """At the first iteration: a ``multiprocessing.Pool`` of forked workers does some
    work, then ``Pool.terminate()`` (SIGTERM to each worker); prints ``TERMINATED <s>``."""

    def once(self) -> None:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(2)
        assert pool.map(_square, range(4)) == [0, 1, 4, 9]
        start = time.monotonic()
        pool.terminate()
        pool.join()
        print(f"TERMINATED {time.monotonic() - start:.3f}", flush=True)


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
    parser.add_argument("--hang-file", default="",
                        help="with --die hang-until: the file whose creation ends the hang")
    parser.add_argument("--stall-after", default="auto",
                        type=lambda v: v if v in ("auto", "none") else float(v))
    parser.add_argument("--die", choices=["segfault", "os-exit", "oom", "hang", "hang-until"],
                        help="at --die-at: die of SIGSEGV in native code, leave by "
                             "os._exit(3), allocate until the OOM killer ends it, or stop "
                             "logging (sleep) for good")
    parser.add_argument("--die-at", type=int, default=3, metavar="EPOCH")
    parser.add_argument("--fork-workers", action="store_true",
                        help="fork two workers as a DataLoader would: one exits at once, "
                             "one lives as long as the training process does")
    parser.add_argument("--pool", action="store_true",
                        help="start a multiprocessing.Pool at the first iteration and "
                             "terminate it")
    parser.add_argument("--lost-after", type=float, default=None)
    parser.add_argument("--no-watchdog", action="store_true",
                        help="watchdog=False: the training process keeps its notice itself")
    parser.add_argument("--mentions", default=None)
    parser.add_argument("--layout", default="text")
    parser.add_argument("--chart", nargs="*", default=None, metavar="KEY")
    parser.add_argument("--newest-rows", type=int, default=None, metavar="N",
                        help="len_normalizer: a callable that shows the newest N rows")
    parser.add_argument("--proxy", default=None, help="the client's proxy URL")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                        help="a header of the client's")
    parser.add_argument("--board", default=None, help="the board's name (board=)")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--fail-at", type=int, default=None, metavar="EPOCH",
                        help="raise an exception at that epoch (a [Failed] run)")
    parser.add_argument("--hold", nargs=2, action="append", default=[],
                        metavar=("ITERATION", "FILE"),
                        help="at ITERATION, wait until FILE exists (repeatable)")
    args = parser.parse_args()

    if args.user_handler:
        def handler(signum, frame):
            print("USER HANDLER", flush=True)
            sys.exit(3)

        signal.signal(signal.SIGTERM, handler)
    client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=args.url, proxy=args.proxy,
                       headers=dict(h.split("=", 1) for h in args.header))
    options = {}
    if args.newest_rows:
        options["len_normalizer"] = lambda rows, budget: rows[-args.newest_rows:]
    report = SlackReport(None, args.channel, ENTRIES, client=client, layout=args.layout,
                         chart=args.chart, **options,
                         min_interval=args.min_interval, flush_timeout=args.flush_timeout,
                         exit_timeout=args.exit_timeout, lost_after=args.lost_after,
                         finish_mentions=args.mentions, watchdog=not args.no_watchdog,
                         stall_after=None if args.stall_after == "none" else args.stall_after,
                         template="{status} {args}\n{content}", board=args.board,
                         run_name=args.run_name)
    extra = [Pace(args.sleep)]
    if args.die:
        extra.append(Die(args.die, args.die_at, args.hang_file))
    if args.fork_workers:
        extra.append(ForkWorkers())
    if args.pool:
        extra.append(PoolTerminate())
    extra += [Hold(int(at), path) for at, path in args.hold]
    if args.fail_at is not None:
        extra.append(Fail(args.fail_at))
    trainer = make_trainer(report, epochs=args.epochs,
                           log_trigger=(1, "iteration") if args.per_iteration else (1, "epoch"),
                           extra=extra)
    trainer.run()
    if report.live is not None:  # a silent rank has none
        print("TS", report.live.ts, "UPDATES", report.live.updates, flush=True)


if __name__ == "__main__":
    main()
