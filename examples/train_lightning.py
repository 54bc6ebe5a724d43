"""Train an MLP on scikit-learn's digits with PyTorch Lightning, watched in Slack.

``chainer_slack_report.lightning.SlackReport`` is one more callback of the
``Trainer`` (CPU only).  With SLACK_BOT_TOKEN and SLACK_CHANNEL_ID set, the
report goes to your Slack; without them, to the bundled local Slack emulator,
and the final message is printed as it was posted.

    python examples/train_lightning.py --epochs 20
"""

from __future__ import annotations

import sys

import slack_or_emulator

# first, so that a missing Lightning is said clearly
SlackReport = slack_or_emulator.flavour("chainer_slack_report.lightning", "lightning")

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from digits_torch import digits_loaders, mlp  # noqa: E402

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
    args, target = slack_or_emulator.start(__doc__, argv)
    torch.manual_seed(0)
    train_loader, test_loader = digits_loaders(64)
    report = SlackReport(None, target.channel, ENTRIES, finish_mentions=args.mentions,
                         **target.options)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", callbacks=[report],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    with target:
        trainer.fit(Digits(), train_loader, test_loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
