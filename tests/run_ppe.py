"""A real pytorch-pfn-extras training loop, for tests/test_ppe.py and its subprocesses.

Usage: SLACK_BOT_TOKEN=… python run_ppe.py BASE_URL CHANNEL RUN_NAME [options]

Trains a tiny linear classifier on random data with an ExtensionsManager, a
LogReport and chainer_slack_report.ppe.SlackReport, whose ``{args}`` (and so
its message) carries RUN_NAME.  ``--end`` says how the run ends:

- ``complete``: the stop trigger fires (``[Completed]``);
- ``interrupt``: KeyboardInterrupt inside ``run_iteration`` at iteration 6,
  not caught, no ``manager.finalize()`` (ppe calls neither on_error nor finalize);
- ``crash-outside``: an exception between two iterations (outside
  ``run_iteration``, so ppe never calls on_error), not caught;
- ``crash``: an exception inside ``run_iteration`` at iteration 6 (on_error);
- ``early``: the loop stops after iteration 6 without the stop trigger,
  and the script ends normally.

``--dist RANK SIZE PORT`` initializes ``torch.distributed`` (gloo, TCP on
127.0.0.1) first; ``--end`` then applies to ``--fail-rank`` only, the other
ranks complete.  Prints ``TS <ts>`` (or ``TS -``) at a normal end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Optional, Sequence

import pytorch_pfn_extras as ppe
import torch
import torch.nn.functional as F
from pytorch_pfn_extras.training import extensions

ENTRIES = ["epoch", "iteration", "main/loss", "main/accuracy"]
BATCH = 10


class Boom(RuntimeError):
    """The exception a test's training raises on purpose."""


class Run:
    """A tiny model, its data and an ExtensionsManager with a LogReport.

    Args:
        report: The extension under test (or any extension), added with
            ``report_trigger`` (default: ``log_trigger``); None adds none.
        epochs, iters: ``max_epochs`` and ``iters_per_epoch`` (batches of 10).
        log_trigger: The LogReport's trigger; ``log_report=False`` adds none.
        extra: More ``(extension, kwargs)`` or extensions to add.
    """

    def __init__(self, report=None, *, epochs: int = 3, iters: int = 4, log_trigger=(1, "epoch"),
                 report_trigger=None, out: str = "/tmp/chainer_slack_report_ppe_test",
                 extra: Sequence = (), log_report: bool = True, name: Optional[str] = None):
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(0)
        self.iters = iters
        self.x = torch.randn(iters * BATCH, 4, generator=generator)
        self.t = (self.x.sum(dim=1) > 0).long()
        self.model = torch.nn.Linear(4, 2)
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.manager = ppe.training.ExtensionsManager(
            self.model, optimizer, epochs, iters_per_epoch=iters, out_dir=out)
        if log_report:
            self.manager.extend(extensions.LogReport(trigger=log_trigger))
        if report is not None:
            self.manager.extend(report, trigger=report_trigger or log_trigger, name=name)
        for item in extra:
            extension, kwargs = item if isinstance(item, tuple) else (item, {})
            self.manager.extend(extension, **kwargs)

    def train(self, *, crash_at: Optional[int] = None, crash: Optional[BaseException] = None,
              stop_after: Optional[int] = None, sleep: float = 0.0,
              after: Optional[Callable[[int], None]] = None) -> None:
        """Train until the stop trigger fires (the usual ppe loop).

        Args:
            crash_at: Raise ``crash`` inside ``run_iteration`` during this iteration
                (1-based), so the rows logged are those of the earlier ones.
            stop_after: Leave the loop after this iteration, stop trigger or not.
            sleep: Seconds each iteration takes at least.
            after: ``after(iteration)`` outside ``run_iteration``, after each one.
        """
        manager = self.manager
        while True:
            for i in range(self.iters):
                with manager.run_iteration(step_optimizers=["main"]):
                    if crash_at is not None and manager.iteration + 1 == crash_at:
                        raise crash if crash is not None else Boom("boom")
                    x = self.x[i * BATCH:(i + 1) * BATCH]
                    t = self.t[i * BATCH:(i + 1) * BATCH]
                    y = self.model(x)
                    loss = F.cross_entropy(y, t)
                    ppe.reporting.report({
                        "main/loss": loss.item(),
                        "main/accuracy": (y.argmax(dim=1) == t).float().mean().item()})
                    loss.backward()
                    if sleep:
                        time.sleep(sleep)
                if after is not None:
                    after(manager.iteration)
                if stop_after is not None and manager.iteration >= stop_after:
                    return
            if manager.stop_trigger:
                return


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from slack_sdk import WebClient

    from chainer_slack_report.ppe import SlackReport

    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("channel")
    parser.add_argument("name")
    parser.add_argument("--end", default="complete",
                        choices=["complete", "interrupt", "crash-outside", "crash", "early",
                                 "hang"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--dist", nargs=3, type=int, metavar=("RANK", "SIZE", "PORT"))
    parser.add_argument("--fail-rank", type=int, default=0)
    parser.add_argument("--out", default="/tmp/chainer_slack_report_ppe_test")
    args = parser.parse_args()

    rank = 0
    if args.dist:
        import torch.distributed as dist

        rank, size, port = args.dist
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=size)
    end = args.end if rank == args.fail_rank else "complete"
    client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=args.url)
    report = SlackReport(None, args.channel, ENTRIES, client=client, min_interval=0.02,
                         flush_timeout=10.0, update_limit=None,
                         template="{status} {args}\n{content}")
    run = Run(report, epochs=args.epochs, out=os.path.join(args.out, f"rank{rank}"))

    def outside(iteration: int) -> None:
        if end == "crash-outside" and iteration == 6:
            raise Boom("between iterations")
        if end == "hang" and iteration == 9:  # after 2 epochs' rows: wait to be killed
            print("HANGING", flush=True)
            time.sleep(3600)

    run.train(crash_at=6 if end in ("interrupt", "crash") else None,
              crash=KeyboardInterrupt() if end == "interrupt" else None,
              stop_after=6 if end == "early" else None, after=outside)
    ref = report.report.message_ref
    print("TS", ref.ts if ref else "-", flush=True)
    if args.dist:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
