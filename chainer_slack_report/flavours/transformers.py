"""``SlackReport`` for Hugging Face transformers: a ``TrainerCallback`` that keeps one live
Slack message.

>>> from chainer_slack_report.transformers import SlackReport
>>> trainer = Trainer(model, args, callbacks=[SlackReport(token, channel_id, entries)])
... # doctest: +SKIP

The transformers flavour of :class:`chainer_slack_report.SlackReport`: the same
arguments, message, statuses and rate limits (all of it in
:class:`~chainer_slack_report.run_report.RunReport`), glued to the ``Trainer``'s
callback events.  No Chainer here.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..job.ranks import Process
from ..options import ReportOptions
from ..outcome import Outcome
from ..rendering.progress import Progress
from .base import missing_framework
from .loop import LoopReport, loop_flavour, message_ref_of

try:
    from transformers.trainer_callback import ExportableState, TrainerCallback
except ImportError as _exc:  # tested in a subprocess
    raise missing_framework("chainer_slack_report.transformers",
                            "Hugging Face transformers >= 4.41 (and PyTorch): pip install "
                            "transformers accelerate", _exc) from _exc

__all__ = ["SlackReport"]


@loop_flavour()
class SlackReport(LoopReport, TrainerCallback, ExportableState):
    """transformers ``TrainerCallback`` that shows what the Trainer logs in one live Slack message.

    ``Trainer(..., callbacks=[SlackReport(token, channel_id, ["epoch", "step",
    "loss", "eval_loss"])])``.  The message is posted with
    ``chat.postMessage`` when training begins (``on_train_begin``) and then
    edited with ``chat.update`` from a background worker: the events only
    hand over rows.  Each ``on_log`` (every ``logging_steps``, each
    evaluation, the final summary) is a row: the logged values (``loss``,
    ``grad_norm``, ``learning_rate``, ``eval_loss``, …) with ``epoch``
    (``state.epoch``, fractional) and ``step`` (``state.global_step``).
    While training, the status line shows the progress and ETA from
    ``num_train_epochs`` (or ``max_steps`` when it is set) and the Trainer's
    own counters.  ``on_train_end`` makes it ``[Completed]``; a reply in the
    message's thread notifies ``finish_mentions``.

    The Trainer has no event for a failure.  An exception (or Ctrl-C) that
    ends the program is delivered when the interpreter exits, as
    ``[Failed]`` with the exception (or ``[Interrupted]``); SIGTERM/SIGHUP as
    ``[Terminated]``.  To deliver it at once instead, and to keep it right
    when the program goes on after catching it, use the callback as a
    context manager around the training::

        report = SlackReport(token, channel_id, entries)
        trainer = Trainer(model, args, train_dataset=data, callbacks=[report])
        with report:
            trainer.train()

    Args:
        {first}
        {out}
        {rest}

    Distributed training (``torchrun``, ``accelerate launch``): the callback
    runs on every process; the Trainer's ``args.process_index`` and
    ``args.world_size`` decide.  Rank 0 reports; the other ranks report
    only their own failure, in a message of their own that names the rank.
    Resuming: the callback is an ``ExportableState``, so the message's
    channel ID and ``ts`` are saved in each checkpoint's
    ``trainer_state.json`` (``stateful_callbacks``; no token, no rows);
    ``trainer.train(resume_from_checkpoint=...)`` edits the same message and
    says so in its thread.  Leave ``restore_callback_states_from_checkpoint``
    False (its default): it would build a new callback from the saved state,
    without your token and options.  ``plots`` takes file paths.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries=None, *, out=None, options: Optional[ReportOptions] = None,
                 **kwargs) -> None:
        super().__init__(access_token, channel_id, entries, options, kwargs, out=out)

    # -- the Trainer's events ------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs) -> None:
        """Post the ``[Started]`` message (or continue the checkpoint's)."""
        self._in_process(Process(args.process_index, args.world_size))
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, list):
            saved = saved[0] if saved else None
        if isinstance(saved, dict) and not self._started:
            self._resume = message_ref_of(saved.get("attributes"))
        if (not args.max_steps or args.max_steps <= 0) and args.num_train_epochs > 0:
            progress = Progress(args.num_train_epochs, "epoch", position=state.epoch or 0.0)
        elif state.max_steps and state.max_steps > 0:
            progress = Progress(state.max_steps, "iteration", position=state.global_step)
        else:
            progress = None
        self._begin(progress=progress,
                    where=f"step {state.global_step}, epoch {state.epoch or 0:g}")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        """Sample the progress (cheap: no I/O)."""
        self._step(state.global_step, state.epoch or 0.0)

    def on_log(self, args, state, control, logs: Optional[Dict[str, Any]] = None,
               **kwargs) -> None:
        """A row of what was logged."""
        if logs:
            self._log({"epoch": state.epoch, "step": state.global_step, **logs})

    def on_train_end(self, args, state, control, **kwargs) -> None:
        """Deliver ``[Completed]``; wait at most ``flush_timeout`` seconds."""
        self._finish(Outcome.completed())

    # -- ExportableState: the message's place in trainer_state.json -------------------------
    def state(self) -> Dict[str, Any]:
        """``{"args": {}, "attributes": {"slack_channel_id": …, "slack_ts": …}}`` once
        posted (the Trainer saves it in each checkpoint)."""
        return {"args": {}, "attributes": self.state_dict()}
