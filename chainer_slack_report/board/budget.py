"""The board message's draw on a run's shared rate budget: :class:`BoardBudget`."""

from __future__ import annotations

from typing import FrozenSet, Iterable

from ..transport.budget import Rank, RunBudget
from ..transport.budget.shared import BOARD_PREFIX

__all__ = ["BoardBudget"]


class BoardBudget(RunBudget):
    """The board's calls, asked as ``board:<run id>`` (which does not count as a run) from
    its first ask until the board message's worker ends.

    An edit that shows a run's end for the first time goes first in the budget
    (:attr:`~..transport.budget.Rank.BOARD_FINAL`: one edit carries every run's end that
    came since the last one); other edits go after the runs' final states and before
    their own messages (:attr:`~..transport.budget.Rank.BOARD`), held to no fair
    interval; their pace is ``interval`` seconds.

    Args:
        budget (RunBudget): The keeping run's budget.
        interval (float): Seconds between two edits of the board at least.
    """

    def __init__(self, budget: RunBudget, interval: float) -> None:
        super().__init__(budget.shared, budget.update_limit, BOARD_PREFIX + budget.run_id,
                         channel=budget.channel)
        self.interval = interval
        self._showing: FrozenSet[str] = frozenset()  # ended runs in the text being sent
        self._shown: FrozenSet[str] = frozenset()  # ended runs Slack shows

    def rendering(self, ended: Iterable[str]) -> None:
        """The text about to be sent shows the end of the runs ``ended`` (run ids; called
        by the board's renderer)."""
        self._showing = frozenset(ended)

    @property
    def news(self) -> bool:
        """True while the text being sent shows an end Slack does not show yet."""
        return bool(self._showing - self._shown)

    def join(self) -> None:
        pass

    def wait(self, method: str, channel: str, *, priority: bool) -> float:
        """As :meth:`RunBudget.wait`, but a wait is at most ``interval`` seconds: a run's
        end may come meanwhile, and raise the next edit's rank."""
        key, limit = self._bucket(method, channel)
        rank = Rank.BOARD_FINAL if priority or self.news else Rank.BOARD
        wait = self.shared.try_acquire(key, limit, run_id=self.run_id, rank=rank)
        return min(wait, self.interval)

    def succeeded(self, method: str, channel: str) -> None:
        self._shown = self._showing
        super().succeeded(method, channel)

    def update_interval(self) -> float:
        return self.interval
