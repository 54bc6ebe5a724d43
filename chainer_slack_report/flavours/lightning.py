"""``SlackReport`` for PyTorch Lightning: a ``Callback`` that keeps one live Slack message.

>>> from chainer_slack_report.lightning import SlackReport
>>> trainer = Trainer(callbacks=[SlackReport(token, channel_id, entries)])  # doctest: +SKIP

The Lightning flavour of :class:`chainer_slack_report.SlackReport`: the same
arguments, message, statuses and rate limits (all of it in
:class:`~chainer_slack_report.run_report.RunReport`), glued to Lightning's
callback hooks.  No Chainer here.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Union

from ..job.ranks import Process
from ..options import ReportOptions
from ..outcome import Outcome
from ..rendering.progress import Progress
from .base import keyword, missing_framework
from .loop import LoopReport, loop_flavour, message_ref_of, outcome_of

try:
    from lightning.pytorch.callbacks import Callback
except ImportError as _exc:  # tested in a subprocess
    raise missing_framework("chainer_slack_report.lightning",
                            "PyTorch Lightning: pip install lightning", _exc) from _exc

__all__ = ["SlackReport"]


@loop_flavour(keyword("every", "epoch", "Union[str, int]"))
class SlackReport(LoopReport, Callback):
    """PyTorch Lightning callback that shows the run's logged metrics in one live Slack message.

    ``Trainer(callbacks=[SlackReport(token, channel_id, ["epoch", "train_loss",
    "val_loss"])])``.  The message is posted with ``chat.postMessage`` when
    training starts (``on_train_start``) and then edited with ``chat.update``
    from a background worker: the hooks only hand over rows.  A row is what
    ``trainer.callback_metrics`` holds at the end of each training epoch
    (what ``self.log`` logged in ``training_step``, aggregated over the
    epoch, and the validation's metrics), with ``epoch`` (from 1: the epoch
    that ended) and ``step`` (``trainer.global_step``).  While training, the
    status line shows the progress and ETA from ``max_steps`` when set, else
    ``max_epochs``.  At the end the status becomes ``[Completed]``
    (``on_train_end``, early stopping included), ``[Failed]`` (an exception,
    through ``on_exception``), ``[Interrupted]`` (Ctrl-C, which Lightning
    passes to ``on_exception`` before it exits) or ``[Terminated]``
    (SIGTERM/SIGHUP); a reply in the message's thread notifies
    ``finish_mentions``.

    Args:
        {first}
        every (str or int): ``"epoch"`` (default): a row at the end of each
            training epoch.  An int N: a row every N optimizer steps
            (``trainer.global_step``) instead, with the metrics logged so far.
        {out}
        {rest}

    Distributed training: the callback runs on every process; Lightning's
    ``trainer.global_rank`` and ``world_size`` decide.  Rank 0 reports; the
    other ranks report only their own failure, in a message of their own that
    names the rank.  Resuming: the message's channel ID and ``ts`` are the
    callback's :meth:`state_dict`, which Lightning keeps in its checkpoints;
    ``trainer.fit(model, ckpt_path=...)`` with such a checkpoint edits the
    same message and says so in its thread.  Metric values that are tensors
    are shown as numbers (``.item()``).  ``plots`` takes file paths.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries=None, *, every: Union[str, int] = "epoch", out=None,
                 options: Optional[ReportOptions] = None, **kwargs) -> None:
        if every != "epoch" and (isinstance(every, bool) or not isinstance(every, int)
                                 or every < 1):
            raise (ValueError if isinstance(every, str) else TypeError)(
                f"every must be 'epoch' or a number of steps (int >= 1), got {every!r}")
        super().__init__(access_token, channel_id, entries, options, kwargs, out=out)
        self._every = every
        self._last_step: Optional[int] = None  # the step of the newest row

    # -- Lightning's hooks -------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        """Lightning's rank and world size decide which process reports."""
        self._in_process(Process(trainer.global_rank, trainer.world_size))

    def on_train_start(self, trainer, pl_module) -> None:
        """Post the ``[Started]`` message (or continue the checkpoint's)."""
        self._begin(progress=_progress(trainer),
                    where=f"epoch {trainer.current_epoch}, step {trainer.global_step}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Sample the progress; with ``every=N``, a row every N steps."""
        self._step(trainer.global_step, _epoch_detail(trainer, batch_idx))
        every = self._every
        if every != "epoch" and trainer.global_step % every == 0 \
                and trainer.global_step != self._last_step:
            self._row(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """With ``every="epoch"``, a row of the epoch's metrics."""
        if self._every == "epoch":
            self._row(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        """Deliver ``[Completed]``; wait at most ``flush_timeout`` seconds."""
        self._finish(Outcome.completed())

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """Deliver ``[Failed]`` (or ``[Interrupted]`` for Ctrl-C) with every row logged."""
        self._finish(outcome_of(exception))

    def state_dict(self) -> Dict[str, Any]:
        """The message's channel ID and ``ts`` (kept in Lightning's checkpoints)."""
        return LoopReport.state_dict(self)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Continue the message of the run whose checkpoint this is (before it starts)."""
        if not self._started:
            self._resume = message_ref_of(state_dict)

    # -- rows ----------------------------------------------------------------------------
    def _row(self, trainer) -> None:
        self._last_step = trainer.global_step
        self._log({"epoch": trainer.current_epoch + 1, "step": trainer.global_step,
                   **trainer.callback_metrics})


def _progress(trainer) -> Optional[Progress]:
    """The run's length from ``max_steps`` (if set), else ``max_epochs``; None if endless."""
    if trainer.max_steps is not None and trainer.max_steps > 0:
        return Progress(trainer.max_steps, "iteration", position=trainer.global_step)
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        return Progress(trainer.max_epochs, "epoch", position=trainer.current_epoch)
    return None


def _epoch_detail(trainer, batch_idx: int) -> float:
    """Epochs done, with the fraction of this one (whole epochs if its length is unknown)."""
    batches = trainer.num_training_batches
    fraction = (batch_idx + 1) / batches if batches and not math.isinf(batches) else 0.0
    return trainer.current_epoch + min(1.0, fraction)
