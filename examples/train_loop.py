"""Train an MLP on scikit-learn's digits in a plain PyTorch loop, watched in Slack with ``Run``.

No framework but PyTorch (Python 3.9 - 3.13, CPU only): the loop is yours,
``chainer_slack_report.Run`` keeps the message.  With SLACK_BOT_TOKEN and
SLACK_CHANNEL_ID set, the report goes to your Slack; without them, to the
bundled local Slack emulator, and the final message is printed as it was
posted.  ``--serve`` keeps the emulator's channel view up for a browser.

    python examples/train_loop.py --epochs 20
"""

from __future__ import annotations

import sys

import slack_or_emulator
import torch
import torch.nn.functional as F
from digits_torch import digits_loaders, mlp

from chainer_slack_report import Run

ENTRIES = ["epoch", "train/loss", "val/loss", "val/accuracy"]


def train(run: Run, epochs: int, batchsize: int = 64, seed: int = 0) -> None:
    """Train for ``epochs``, one row of ``run`` per epoch."""
    torch.manual_seed(seed)
    train_loader, test_loader = digits_loaders(batchsize, seed)
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for epoch in range(1, epochs + 1):
        model.train()
        for x, t in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            x, t = test_loader.dataset.tensors
            y = model(x)
            run.log({"epoch": epoch, "train/loss": loss.item(),
                     "val/loss": F.cross_entropy(y, t).item(),
                     "val/accuracy": (y.argmax(dim=1) == t).float().mean().item()})


def main(argv=None) -> int:
    args, target = slack_or_emulator.start(__doc__, argv)
    with target, Run(None, target.channel, ENTRIES, total=args.epochs,
                     finish_mentions=args.mentions, **target.options) as run:
        train(run, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
