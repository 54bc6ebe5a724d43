"""``Run``: the live Slack message for a training loop of one's own (plain PyTorch, JAX, …).

>>> from chainer_slack_report import Run
>>> with Run(token, channel_id, ["epoch", "loss"], total=10) as run:  # doctest: +SKIP
...     for epoch in range(1, 11):
...         run.log({"epoch": epoch, "loss": train_one_epoch()})

No framework here.
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Optional, Tuple, Union

from ..options import ReportOptions
from ..rendering.progress import Progress
from .base import keyword
from .loop import LoopReport, loop_flavour, message_ref_of, torch_process

__all__ = ["Run"]

_UNITS = ("epoch", "iteration")


@loop_flavour(keyword("total", None, "Union[float, Tuple[float, str], None]"),
              keyword("resume", None, "Optional[Mapping[str, str]]"))
class Run(LoopReport):
    """One training run shown in one live Slack message, for any loop.

    ``with Run(token, channel_id, entries) as run:`` posts the message with
    ``chat.postMessage`` (from a background worker: nothing here waits for
    Slack) and each ``run.log({...})`` adds a row to its table, edited in with
    ``chat.update``.  The same message, options, statuses, watchdog and
    shared rate budget as the trainer extensions.  When the block ends, the
    status becomes ``[Completed]``; an exception leaving the block makes it
    ``[Failed]`` (with the exception and the end of its traceback), Ctrl-C
    ``[Interrupted]`` — the exception goes on as it would without the block;
    SIGTERM or SIGHUP ``[Terminated]`` before the process ends with that
    signal.  A reply in the message's thread notifies ``finish_mentions``.
    The end waits at most ``flush_timeout`` seconds for Slack.

    Args:
        {first}
        total (float, tuple or None): The training length, for ``{progress}``
            and ``{eta}``: a number of epochs (``total=10``), or
            ``(length, "epoch")`` / ``(length, "iteration")``.  Where the run
            is comes from each row's ``epoch`` (or ``iteration``) value, or
            :meth:`log`'s ``position``.  None (default): no progress is shown.
        resume (dict or None): :meth:`state_dict` of an earlier run, e.g. as
            saved in its checkpoint: this run edits that run's message instead
            of posting a new one, and says so in its thread.  A dict without
            the message's keys (``{}``) posts a new message.
        {out}
        {rest}

    Without a token or a channel, one warning is given and the table is
    printed to ``out``.  Distributed training: make the ``Run`` on every
    process; rank 0 reports, the other ranks only their own failure (the rank
    comes from an initialized ``torch.distributed``, else from the launcher's
    environment, see :mod:`chainer_slack_report.job.ranks`).  ``plots`` takes
    file paths (there is no PlotReport to find images of).  A ``Run`` left
    without a ``with`` block is ended when the interpreter exits.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries=None, *, total: Union[float, Tuple[float, str], None] = None,
                 resume: Optional[Mapping[str, str]] = None, out=None,
                 options: Optional[ReportOptions] = None, **kwargs) -> None:
        self._length = _length(total)
        if resume is not None and not isinstance(resume, Mapping):
            raise TypeError(f"resume must be a dict (an earlier run's state_dict()) or None, "
                            f"got {type(resume).__name__}")
        super().__init__(access_token, channel_id, entries, options, kwargs, out=out,
                         process=torch_process())
        self._resume = message_ref_of(resume)

    def __enter__(self) -> Run:
        """Start: the worker posts the ``[Started]`` message (or continues ``resume``'s)."""
        self._start()
        return self

    def log(self, observation: Mapping[str, Any], *, position: Optional[float] = None) -> None:
        """Add one row to the table (O(1), no I/O: the worker edits the message).

        Args:
            observation: Observation keys and their values, e.g. ``{"epoch": 1,
                "loss": 0.31}``; the keys in ``entries`` are the table's
                columns, and any key is a template placeholder.  0-d tensors
                and NumPy scalars are taken as their Python number
                (``.item()``).
            position: Where the run is, in ``total``'s unit (default: the
                row's ``epoch`` or ``iteration`` value).

        Raises:
            TypeError: ``observation`` is not a mapping.
        """
        if not isinstance(observation, Mapping):
            raise TypeError(f"Run.log takes a dict of observations such as "
                            f"{{'epoch': 1, 'loss': 0.3}}, got {type(observation).__name__}")
        self._start()
        self._log(observation)
        if position is None and self._length is not None:
            position = observation.get(self._length[1])
        if isinstance(position, numbers.Real):
            self._step(float(position), float(position))

    def _start(self) -> None:
        if self._started:
            return
        progress = None
        if self._length is not None:
            progress = Progress(*self._length)
            if self._resume is None:
                progress.sample(0, 0.0)  # the speed is measured from here
        self._begin(progress=progress)


def _length(total) -> Optional[Tuple[float, str]]:
    """``total`` as ``(length, unit)``, checked."""
    if total is None:
        return None
    length, unit = total if isinstance(total, tuple) else (total, "epoch")
    if isinstance(length, bool) or not isinstance(length, numbers.Real) or unit not in _UNITS:
        raise TypeError(f"total must be a number of epochs or (length, 'epoch' | "
                        f"'iteration'), got {total!r}")
    if not length > 0:
        raise ValueError(f"total must be a positive training length, got {total!r}")
    return float(length), unit

