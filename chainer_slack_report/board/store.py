"""Where a board's state is kept: the same kinds of store as the rate budget.

A board's :class:`~.state.BoardState` lives where the budget of the runs' token
lives — a file of the state directory, changed under ``filelock``
(:class:`~..transport.budget.store.BudgetStore`), or one Redis key when a
``store`` URL is given (:class:`~..transport.budget.redis_store.RedisStore`,
``chainer_slack_report:board:<16 hex digits>``) — through the same
``update(fn(state, now))`` / ``view`` operations, so that nothing of the
storage is written twice.  The name hashes the API URL, the token, the channel
and the board's name: the token is never stored.
"""

from __future__ import annotations

import os
import time
from typing import Optional, Union

from ..transport.budget.redis_store import RedisStore
from ..transport.budget.store import BudgetStore, default_state_dir, state_name
from ..transport.budget.store_url import store_url
from .state import BoardState

__all__ = ["KEY_PREFIX", "board_name", "open_board_store"]

#: Prefix of the boards' Redis keys: ``chainer_slack_report:board:<16 hex digits>``.
KEY_PREFIX = "chainer_slack_report:board:"
_WHAT = "a sweep's board"


def board_name(api_url: str, token: str, channel: str, board: str) -> str:
    """The board state's name: 16 hex digits of a hash of the API URL, the token, the
    channel and the board's name (the runs of one token and channel with one board
    name share it)."""
    return "board-" + state_name(api_url, f"{token}\0{channel}\0{board}")


def open_board_store(api_url: str, token: str, channel: str, board: str, *,
                     store: Optional[str] = None, state_dir: Optional[str] = None,
                     lock_timeout: float = 2.0) -> Union[BudgetStore, RedisStore]:
    """The store of a board's state: Redis if ``store`` (or ``$CHAINER_SLACK_REPORT_STORE``)
    names a server, else the host's state directory (``state_dir``, default
    :func:`~..transport.budget.store.default_state_dir`).

    Raises:
        ValueError: ``store`` (or the variable) is not a Redis URL.
    """
    name = board_name(api_url, token, channel, board)
    directory = os.path.expanduser(state_dir if state_dir is not None else default_state_dir())

    def host_file() -> BudgetStore:
        return BudgetStore(directory, name, lock_timeout=lock_timeout, clock=time.time,
                           document=BoardState, what=_WHAT)
    url = store_url(store)
    if url is None:
        return host_file()
    return RedisStore(url, name, fallback=host_file, lock_timeout=lock_timeout,
                      prefix=KEY_PREFIX, document=BoardState, what=_WHAT)
