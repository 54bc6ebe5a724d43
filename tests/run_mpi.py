"""One rank of a ChainerMN job for the MPI tests (run it under ``mpiexec -n N``).

Usage: SLACK_BOT_TOKEN=… mpiexec -n 4 python run_mpi.py BASE_URL CHANNEL [options]

Data-parallel training of a tiny linear classifier with ChainerMN's ``naive``
communicator (CPU), LogReport and SlackReport on every rank.
"""

from __future__ import annotations

import argparse
import os
import sys

import chainer
import chainer.functions as F
import chainer.links as L
import chainermn
import numpy as np
from chainer import training
from chainer.training import extensions
from slack_sdk import WebClient

from chainer_slack_report import SlackReport

ENTRIES = ["epoch", "iteration", "main/loss"]


class Boom(RuntimeError):
    pass


class Crash(training.Extension):
    trigger = (1, "iteration")
    priority = training.PRIORITY_WRITER

    def __init__(self, rank: int, at: int) -> None:
        self.rank, self.at = rank, at

    def __call__(self, trainer) -> None:
        if trainer.updater.iteration >= self.at:
            raise Boom(f"boom on rank {self.rank} at iteration {trainer.updater.iteration}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("channel")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-comm", action="store_true",
                        help="do not pass comm: the rank comes from the environment")
    parser.add_argument("--crash-rank", type=int, default=None)
    parser.add_argument("--crash-at", type=int, default=5)
    parser.add_argument("--except-hook", action="store_true",
                        help="chainermn.global_except_hook(): abort the job on a failure")
    args = parser.parse_args()

    comm = chainermn.create_communicator("naive")
    if args.except_hook:
        chainermn.global_except_hook.add_hook()
    np.random.seed(0)
    if comm.rank == 0:
        rng = np.random.RandomState(0)
        x = rng.randn(160, 4).astype(np.float32)
        dataset = chainer.datasets.TupleDataset(x, (x.sum(axis=1) > 0).astype(np.int32))
    else:
        dataset = None
    dataset = chainermn.scatter_dataset(dataset, comm, shuffle=False)
    model = L.Classifier(L.Linear(4, 2), lossfun=F.softmax_cross_entropy)
    optimizer = chainermn.create_multi_node_optimizer(chainer.optimizers.SGD(lr=0.1), comm)
    optimizer.setup(model)
    iterator = chainer.iterators.SerialIterator(dataset, 10, shuffle=False)
    updater = training.updaters.StandardUpdater(iterator, optimizer)
    trainer = training.Trainer(updater, (args.epochs, "epoch"),
                               out=os.path.join("/tmp", f"mpi_rank{comm.rank}"))
    trainer.extend(extensions.LogReport(trigger=(1, "iteration"), log_name=None))
    client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=args.url)
    trainer.extend(SlackReport(None, args.channel, ENTRIES, client=client, min_interval=0.05,
                               comm=None if args.no_comm else comm),
                   trigger=(1, "iteration"))
    if args.crash_rank == comm.rank:
        trainer.extend(Crash(comm.rank, args.crash_at))
    trainer.run()
    print(f"rank {comm.rank} done", flush=True)


if __name__ == "__main__":
    sys.exit(main())
