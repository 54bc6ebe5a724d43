"""Tiny real trainings of the callback flavours, for tests/test_lightning.py,
tests/test_transformers.py and their subprocesses.

Usage: SLACK_BOT_TOKEN=… SLACK_API_URL=… python run_loops.py FRAMEWORK CHANNEL [options]

FRAMEWORK is ``lightning`` or ``transformers``.  ``--devices 2`` runs a job of two
processes on CPU (Lightning: its own DDP launcher; transformers: run it under
``torchrun``).  ``--end crash`` raises Boom at step 5 on ``--fail-rank`` (default
0); ``--end interrupt`` raises KeyboardInterrupt there.  Nothing is caught.

A run of a sweep: ``--board NAME`` (and ``--run-name TEMPLATE``) report on a board;
``--lr`` is the learning rate the sweep varies (transformers: a constant schedule);
``--hold-at STEP --go PATH`` make the training wait at step STEP until PATH exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

ENTRIES = ["epoch", "step", "train_loss", "val_loss"]


class Boom(RuntimeError):
    """The exception a test's training raises on purpose."""


def data(n: int = 64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return x, (x.sum(dim=1) > 0).long()


def stop_at(step: int, end: str, rank: int, fail_rank: int):
    """What a training step does at ``step``: raise as ``end`` says (on ``fail_rank``)."""
    def check(global_step: int) -> None:
        if global_step == step and rank == fail_rank:
            if end == "crash":
                raise Boom(f"loss exploded at step {step}")
            if end == "interrupt":
                raise KeyboardInterrupt
    return check


def hold_at(step: int, path: str, timeout: float = 300.0):
    """What a training step does at ``step``: wait until the file ``path`` exists (raise
    Boom after ``timeout`` seconds: only against a test that never lets it go)."""
    def check(global_step: int) -> None:
        if global_step == step:
            deadline = time.monotonic() + timeout
            while not os.path.exists(path):
                if time.monotonic() > deadline:
                    raise Boom(f"held at step {step}: {path} never appeared")
                time.sleep(0.05)
    return check


def both(*checks):
    """The checks of a training step, in order (None: no check)."""
    def check(global_step: int) -> None:
        for each in checks:
            if each is not None:
                each(global_step)
    return check


def lightning_module(check=None, lr: float = 0.5):
    """A linear classifier that logs ``train_loss`` (per epoch) and ``val_loss``."""
    import lightning.pytorch as pl

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def training_step(self, batch, batch_idx):
            if check is not None:
                check(self.trainer.global_step)
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.layer(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=lr)

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data()),
                                               batch_size=16)

        def val_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data(32, 1)),
                                               batch_size=16)

    torch.manual_seed(0)
    return Tiny()


def lightning_trainer(callbacks, **kwargs):
    import lightning.pytorch as pl

    options = dict(max_epochs=3, accelerator="cpu", devices=1, logger=False,
                   enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0)
    options.update(kwargs)
    return pl.Trainer(callbacks=callbacks, **options)


HF_ENTRIES = ["epoch", "step", "loss", "eval_loss"]


def hf_model():
    """A 1-layer BERT of 8 hidden units for 2 classes, built from a config (no download)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=16, num_labels=2))


class TokenData(torch.utils.data.Dataset):
    """``n`` sequences of 6 token IDs; the label says whether their sum is even."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 32, (n, 6), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": int(self.ids[i].sum()) % 2}


def transformers_trainer(callbacks, out: str, **kwargs):
    """A Trainer of :func:`hf_model` on CPU: 3 epochs of 4 steps, a log every 2 steps,
    an evaluation each epoch, no checkpoints (unless ``kwargs`` say so), no reporting."""
    from transformers import Trainer, TrainingArguments

    options = dict(output_dir=out, num_train_epochs=3, per_device_train_batch_size=16,
                   per_device_eval_batch_size=32, logging_steps=2, eval_strategy="epoch",
                   save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
                   learning_rate=0.05, seed=0)
    options.update(kwargs)
    return Trainer(model=hf_model(), args=TrainingArguments(**options),
                   train_dataset=TokenData(), eval_dataset=TokenData(32, 1), callbacks=callbacks)


def stop_callback(check):
    """A TrainerCallback that calls ``check(global_step)`` after each step."""
    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            check(state.global_step)

    return Stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=["lightning", "transformers"])
    parser.add_argument("channel")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--end", choices=["complete", "crash", "interrupt"], default="complete")
    parser.add_argument("--fail-rank", type=int, default=0)
    parser.add_argument("--out", default="/tmp/chainer_slack_report_loops")
    parser.add_argument("--board")
    parser.add_argument("--run-name")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--hold-at", type=int)
    parser.add_argument("--go")
    args = parser.parse_args(argv)
    options = {"min_interval": 0.0, "update_limit": None, "flush_timeout": 30.0}
    if args.board:
        options.update(board=args.board, run_name=args.run_name)
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    check = both(stop_at(5, args.end, rank, args.fail_rank),
                 hold_at(args.hold_at, args.go) if args.hold_at is not None else None)
    if args.framework == "lightning":
        from chainer_slack_report.lightning import SlackReport

        report = SlackReport(None, args.channel, ENTRIES, **options)
        trainer = lightning_trainer([report], devices=args.devices,
                                    strategy="ddp" if args.devices > 1 else "auto")
        trainer.fit(lightning_module(check, **({} if args.lr is None else {"lr": args.lr})))
    else:
        from chainer_slack_report.transformers import SlackReport

        report = SlackReport(None, args.channel, HF_ENTRIES, **options)
        sweep = {} if args.lr is None else {"learning_rate": args.lr,
                                            "lr_scheduler_type": "constant"}
        transformers_trainer([report, stop_callback(check)], args.out, **sweep).train()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
