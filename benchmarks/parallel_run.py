"""One training run of bench_parallel.py: a tiny model paced to a given wall time.

    SLACK_BOT_TOKEN=… python parallel_run.py BASE_URL CHANNEL NAME --seconds 30 --rows epoch

Each iteration sleeps so that the run trains for about ``--seconds`` (the
machine's speed does not matter: 32 of these share 2 cores).  An epoch is
33 iterations of ~0.15 s (~5 s).  Prints one JSON line at the end: the
message's ts, when training started and ended (Unix time, as the emulator's
calls carry it), and the run's own counts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from chainer import training
from chainer.training import extensions
from slack_sdk import WebClient

from chainer_slack_report import SlackReport, SlackReportWarning

ITERATION_SECONDS = 0.15
ITERATIONS_PER_EPOCH = 33


class Pace(training.Extension):
    trigger = (1, "iteration")
    priority = training.PRIORITY_WRITER

    def __init__(self) -> None:
        self.started = self.ended = None

    def __call__(self, trainer) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        time.sleep(max(0.0, self.started + trainer.updater.iteration * ITERATION_SECONDS - now))
        self.ended = time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("channel")
    parser.add_argument("name")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rows", choices=["epoch", "iteration"], default="epoch")
    parser.add_argument("--board", default=None, help="the sweep's board (board=)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    warnings.simplefilter("default", SlackReportWarning)  # bench_parallel counts them

    iterations = int(args.seconds / ITERATION_SECONDS)
    rng = np.random.RandomState(0)
    x = rng.randn(ITERATIONS_PER_EPOCH * 10, 4).astype(np.float32)
    dataset = chainer.datasets.TupleDataset(x, (x.sum(axis=1) > 0).astype(np.int32))
    model = L.Classifier(L.Linear(4, 2), lossfun=F.softmax_cross_entropy)
    optimizer = chainer.optimizers.SGD(lr=0.1)
    optimizer.setup(model)
    updater = training.updaters.StandardUpdater(
        chainer.iterators.SerialIterator(dataset, 10, shuffle=False), optimizer)
    trainer = training.Trainer(updater, (iterations, "iteration"),
                               out=os.path.join("/tmp", "bench_parallel", args.name))
    trigger = (1, args.rows)
    pace = Pace()
    trainer.extend(pace)
    trainer.extend(extensions.LogReport(trigger=trigger, log_name=None))
    client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=args.url, timeout=30)
    report = SlackReport(None, args.channel, ["epoch", "iteration", "main/loss"],
                         client=client, template="{status} {elapsed} {args}\n{content}",
                         board=args.board)
    trainer.extend(report, trigger=trigger)
    trainer.run()
    live = report.live
    unix = time.time() - time.monotonic()  # the emulator's calls carry Unix times
    print(json.dumps({"name": args.name, "ts": live.ts, "started": unix + pace.started,
                      "trained": unix + pace.ended, "finalized": unix + time.monotonic(),
                      "posts": live.posts, "updates": live.updates,
                      "rate_limited": live.pacing.rate_limited}), flush=True)


if __name__ == "__main__":
    main()
