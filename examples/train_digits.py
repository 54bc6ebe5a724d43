"""Train an MLP on scikit-learn's digits and watch it in one live Slack message.

With SLACK_BOT_TOKEN and SLACK_CHANNEL_ID set, the report goes to your Slack.
Without them, the bundled local Slack emulator stands in for Slack, and at the
end the script prints the final message exactly as it was posted, and a
one-line summary of the Slack calls.  ``--serve`` also prints the address of
the emulator's channel view and keeps it up while and after training, so that
you can watch the messages update in a browser; ``--runs 3`` trains three
models side by side, each with its own message.

    python examples/train_digits.py --epochs 30
    python examples/train_digits.py --serve --runs 3 --epochs 60
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

try:  # first, so that a Python without Chainer says so clearly
    from chainer_slack_report import SlackReport
except ImportError as exc:
    raise SystemExit(f"{exc}\n\nOn this Python, try examples/train_ppe.py (PyTorch with "
                     f"pytorch-pfn-extras) or the chainer-slack-report command.") from exc

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import slack_or_emulator
from chainer import training
from chainer.training import extensions
from sklearn.datasets import load_digits

from chainer_slack_report import DEFAULT_TEMPLATE

ENTRIES = ["epoch", "main/loss", "validation/main/loss", "main/accuracy",
           "validation/main/accuracy", "elapsed_time"]


class MLP(chainer.Chain):
    def __init__(self, n_units: int = 100, n_out: int = 10) -> None:
        super().__init__()
        with self.init_scope():
            self.l1 = L.Linear(None, n_units)
            self.l2 = L.Linear(None, n_units)
            self.l3 = L.Linear(None, n_out)

    def forward(self, x):
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))


def digits_datasets(seed: int = 0):
    """scikit-learn's bundled 1797 8×8 digits, scaled to [0, 1]; 80/20 split."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    t = digits.target.astype(np.int32)
    order = np.random.RandomState(seed).permutation(len(x))
    split = int(len(x) * 0.8)
    train, test = order[:split], order[split:]
    return (chainer.datasets.TupleDataset(x[train], t[train]),
            chainer.datasets.TupleDataset(x[test], t[test]))


def build_trainer(report, epochs: int = 30, batchsize: int = 64,
                  log_trigger=(1, "epoch"), out: str = "result", seed: int = 0,
                  alpha: float = 0.001):
    """A trainer with Evaluator, LogReport and ``report`` (any PrintReport-like extension)."""
    np.random.seed(seed)
    train, test = digits_datasets(seed)
    model = L.Classifier(MLP())
    optimizer = chainer.optimizers.Adam(alpha=alpha)
    optimizer.setup(model)
    train_iter = chainer.iterators.SerialIterator(train, batchsize)
    test_iter = chainer.iterators.SerialIterator(test, batchsize, repeat=False, shuffle=False)
    updater = training.updaters.StandardUpdater(train_iter, optimizer)
    trainer = training.Trainer(updater, (epochs, "epoch"), out=out)
    trainer.extend(extensions.Evaluator(test_iter, model), trigger=(1, "epoch"))
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    if report is not None:
        trainer.extend(report, trigger=log_trigger)
    return trainer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batchsize", type=int, default=64)
    parser.add_argument("--per-iteration", action="store_true",
                        help="log a table row every iteration instead of every epoch")
    slack_or_emulator.add_arguments(parser)
    parser.add_argument("--out", default=os.path.join("result", "digits"))
    parser.add_argument("--runs", type=int, default=1,
                        help="train this many models side by side (learning rates differ)")
    parser.add_argument("--board", metavar="NAME", default=None,
                        help="show the runs on one sweep board NAME (each run's message a "
                             "reply in its thread)")
    args = parser.parse_args(argv)
    log_trigger = (1, "iteration") if args.per_iteration else (1, "epoch")

    target = slack_or_emulator.Target(args)
    options = {"finish_mentions": args.mentions, "sparklines": ["validation/main/accuracy"],
               **target.options}
    trainers = []
    for i in range(args.runs):
        lr = 0.001 * 2 ** i  # Adam's alpha
        template = (DEFAULT_TEMPLATE if args.runs == 1 else
                    DEFAULT_TEMPLATE.replace("{command}`", "{command}` · " + f"alpha={lr:g}"))
        board = {"board": args.board, "run_name": f"alpha={lr:g}"} if args.board else {}
        report = SlackReport(None, target.channel, ENTRIES, template=template, **options,
                             **board)
        trainers.append(build_trainer(report, args.epochs, args.batchsize, log_trigger,
                                      os.path.join(args.out, str(i)), alpha=lr))
    try:
        threads = [threading.Thread(target=t.run) for t in trainers[1:]]
        for thread in threads:
            thread.start()
        trainers[0].run()
        for thread in threads:
            thread.join()
    finally:
        target.summarize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
