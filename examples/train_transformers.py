"""Train a classifier on scikit-learn's digits with Hugging Face's ``Trainer``, watched in Slack.

``chainer_slack_report.transformers.SlackReport`` is one more callback of the
``Trainer`` (CPU only; the model is a small MLP, so nothing is downloaded).
With SLACK_BOT_TOKEN and SLACK_CHANNEL_ID set, the report goes to your Slack;
without them, to the bundled local Slack emulator, and the final message is
printed as it was posted.

    python examples/train_transformers.py --epochs 20
"""

from __future__ import annotations

import sys
import tempfile

import slack_or_emulator

# first, so that a missing transformers is said clearly
SlackReport = slack_or_emulator.flavour("chainer_slack_report.transformers", "transformers")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from digits_torch import digits_datasets, mlp  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

ENTRIES = ["epoch", "step", "loss", "eval_loss"]


class Digits(torch.nn.Module):
    """The MLP as the Trainer calls a model: keyword inputs, a dict with the loss."""

    def __init__(self) -> None:
        super().__init__()
        self.model = mlp()

    def forward(self, x, labels=None):
        logits = self.model(x)
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


class Pairs(torch.utils.data.Dataset):
    """A TensorDataset of (x, t) as the dicts the Trainer's collator stacks."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        x, t = self.dataset[i]
        return {"x": x, "labels": t}


def main(argv=None) -> int:
    args, target = slack_or_emulator.start(__doc__, argv)
    torch.manual_seed(0)
    train, test = digits_datasets()
    report = SlackReport(None, target.channel, ENTRIES, finish_mentions=args.mentions,
                         **target.options)
    with tempfile.TemporaryDirectory() as out, target:
        trainer = Trainer(
            model=Digits(), train_dataset=Pairs(train), eval_dataset=Pairs(test),
            callbacks=[report],
            args=TrainingArguments(output_dir=out, num_train_epochs=args.epochs,
                                   per_device_train_batch_size=64, learning_rate=0.001,
                                   logging_strategy="epoch", eval_strategy="epoch",
                                   save_strategy="no", report_to="none", use_cpu=True,
                                   disable_tqdm=True))
        with report:  # the Trainer has no failure event: the block delivers [Failed]
            trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
