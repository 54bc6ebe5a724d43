"""Train an MLP on scikit-learn's digits with PyTorch Lightning, watched in Slack.

``chainer_slack_report.lightning.SlackReport`` is one more callback of the
``Trainer`` (CPU only).  With SLACK_BOT_TOKEN and SLACK_CHANNEL_ID set, the
report goes to your Slack; without them, to the bundled local Slack emulator,
and the final message is printed as it was posted.

    python examples/train_lightning.py --epochs 20
"""

from __future__ import annotations

import argparse
import sys

try:  # first, so that a missing Lightning is said clearly
    from chainer_slack_report.lightning import SlackReport
except ImportError as exc:
    raise SystemExit(f"{exc}\n\nInstall the lightning extra: "
                     f"pip install -e \".[lightning,examples]\"") from exc

import lightning.pytorch as pl
import slack_or_emulator
import torch
import torch.nn.functional as F
from digits_torch import digits_loaders, mlp

ENTRIES = ["epoch", "train_loss", "val_loss", "val_accuracy"]


class Digits(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = mlp()

    def training_step(self, batch, batch_idx):
        x, t = batch
        loss = F.cross_entropy(self.model(x), t)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, t = batch
        y = self.model(x)
        self.log("val_loss", F.cross_entropy(y, t))
        self.log("val_accuracy", (y.argmax(dim=1) == t).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.001)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    slack_or_emulator.add_arguments(parser)
    args = parser.parse_args(argv)
    target = slack_or_emulator.Target(args)
    torch.manual_seed(0)
    train_loader, test_loader = digits_loaders(64)
    report = SlackReport(None, target.channel, ENTRIES, finish_mentions=args.mentions,
                         **target.options)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", callbacks=[report],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    try:
        trainer.fit(Digits(), train_loader, test_loader)
    finally:
        target.summarize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
