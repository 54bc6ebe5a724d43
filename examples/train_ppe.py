"""Train an MLP on scikit-learn's digits with PyTorch and pytorch-pfn-extras, watched in Slack.

The PyTorch twin of ``train_digits.py`` (Python 3.9 - 3.13, CPU only): an
``ExtensionsManager`` with an Evaluator, a LogReport and
``chainer_slack_report.ppe.SlackReport``.  With SLACK_BOT_TOKEN and
SLACK_CHANNEL_ID set, the report goes to your Slack; without them, to the
bundled local Slack emulator, and the final message is printed as it was
posted.  ``--serve`` keeps the emulator's channel view up for a browser.

    python examples/train_ppe.py --epochs 20
"""

from __future__ import annotations

import argparse
import os
import sys

try:  # first, so that a missing PyTorch or pytorch-pfn-extras is said clearly
    from chainer_slack_report.ppe import SlackReport
except ImportError as exc:
    raise SystemExit(f"{exc}\n\nInstall the ppe extra: pip install -e \".[ppe,examples]\"") \
        from exc

import pytorch_pfn_extras as ppe
import slack_or_emulator
import torch
import torch.nn.functional as F
from digits_torch import digits_loaders, mlp
from pytorch_pfn_extras.training import extensions

ENTRIES = ["epoch", "train/loss", "val/loss", "val/accuracy", "elapsed_time"]


def train(report, epochs: int = 20, batchsize: int = 64, out: str = "result",
          seed: int = 0) -> None:
    """Train with ``report`` (any ppe extension, e.g. SlackReport) on the manager."""
    torch.manual_seed(seed)
    train_loader, test_loader = digits_loaders(batchsize, seed)
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)

    def evaluate(x, t):
        y = model(x)
        ppe.reporting.report({"val/loss": F.cross_entropy(y, t).item(),
                              "val/accuracy": (y.argmax(dim=1) == t).float().mean().item()})

    manager = ppe.training.ExtensionsManager(model, optimizer, epochs,
                                             iters_per_epoch=len(train_loader), out_dir=out)
    manager.extend(extensions.Evaluator(test_loader, model, eval_func=evaluate),
                   trigger=(1, "epoch"))
    manager.extend(extensions.LogReport(trigger=(1, "epoch")))
    manager.extend(report, trigger=(1, "epoch"))
    while not manager.stop_trigger:
        for x, t in train_loader:
            with manager.run_iteration():
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), t)
                ppe.reporting.report({"train/loss": loss.item()})
                loss.backward()
                optimizer.step()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batchsize", type=int, default=64)
    parser.add_argument("--out", default=os.path.join("result", "digits_ppe"))
    slack_or_emulator.add_arguments(parser)
    args = parser.parse_args(argv)
    target = slack_or_emulator.Target(args)
    report = SlackReport(None, target.channel, ENTRIES, finish_mentions=args.mentions,
                         **target.options)
    try:
        train(report, args.epochs, args.batchsize, args.out)
    finally:
        target.summarize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
