"""A run's part in a sweep's board: its row published, and the board kept while it leads.

Every run with ``board=`` has one :class:`BoardKeeper`, a daemon thread of its
own (never the training thread).  About once a second it publishes the run's
newest row with a heartbeat to the board's shared state and tries to take or
renew the lease (:meth:`~.state.BoardState.lead`).  The run that holds the lease
keeps ONE board message — posted with ``chat.postMessage``, then edited with
``chat.update`` at most every ``edit_interval`` seconds, through a
:class:`~..transport.live_message.LiveMessage` that draws on the run's shared
rate budget (:class:`BoardBudget`: after final states, before the runs' own
messages).  When the holder ends it lets the lease go; when it dies the lease
runs out (:data:`~.state.LEASE` seconds) — either way another run takes over.

At its end a run publishes its final row; the run that finds every run of the
board ended shows the board's final status, posts one reply in the board's
thread with the counts (notifying ``finish_mentions``) and closes the board.
The run's own message is posted in the board's thread (:meth:`BoardKeeper.thread_ts`),
also when the run ends before the board message exists: the board's ``ts`` is
read from the store until the message is posted (by whichever run leads) or
:data:`THREAD_WAIT` seconds passed.  Each run says in the store when its own
message is posted (:meth:`BoardKeeper.own_posted`), and the reply that the whole
board ended waits for every run's message (a dead run's excepted), so that it
comes last in the thread: as long as they keep being posted (under Slack's
``chat.postMessage`` limit, one a second or so in a channel, a sweep's posts
take a while), never :data:`THREAD_WAIT` seconds without one, and at most half
the time left for the close.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence, Tuple

from ..rendering.board import BoardRow, board_blocks, board_text, headline
from ..rendering.mentions import Mentions
from ..transport.budget import RunBudget
from ..transport.budget.store import Busy
from ..transport.deliveries import FINAL_DELIVERIES
from ..transport.live_message import LiveMessage
from ..transport.pacing import Pacing
from ..transport.user_lookup import resolve_mentions
from .budget import BoardBudget
from .state import BoardState

__all__ = ["BoardKeeper", "BoardLook", "TICK", "EDIT_INTERVAL", "THREAD_WAIT"]

logger = logging.getLogger(__name__)

#: Seconds between two rows a run publishes (and two tries of the lease).
TICK = 1.0
#: Seconds between two edits of the board message at least (its pacing).
EDIT_INTERVAL = 3.0
#: Seconds a run's first post waits for the board message (from the run's start),
#: before it is posted top-level instead; and seconds the reply that the whole board
#: ended waits for the runs' own messages at most.
THREAD_WAIT = 15.0
#: Seconds between two looks at the store for what a keeper waits for.
_POLL = 0.1


@dataclass(frozen=True)
class BoardLook:
    """What the board message shows: the board's name, its entries and layout.

    Attributes:
        board (str): The board's name.
        entries (tuple of str): Observation keys shown (at most 15 in the blocks layout).
        layout (str): ``"text"`` or ``"blocks"``.
        chart (str or None): In the blocks layout, a key charted across runs.
        max_bytes (int): UTF-8 bytes of the board's text at most.
    """

    board: str
    entries: Tuple[str, ...]
    layout: str = "text"
    chart: Optional[str] = None
    max_bytes: int = 4000

    def text(self, rows: Sequence[BoardRow], max_bytes: int) -> str:
        return board_text(self.board, self.entries, rows, max_bytes=max_bytes)

    def blocks(self, rows: Sequence[BoardRow]) -> list:
        return board_blocks(self.board, self.entries, rows, chart=self.chart)


class BoardKeeper:
    """One run's part in board ``board``.

    Args:
        look (BoardLook): What the board message shows.
        store: The board's store (:func:`~.store.open_board_store`).
        client (slack_sdk.WebClient): Calls Slack (from this keeper's thread only).
        channel (str): Channel ID or name of the board message.
        row (callable): ``row() -> BoardRow``, the run's newest row (``name`` "" for
            the default name); called on the keeper's thread.
        run_id (str): This run's id, unique across the board's hosts.
        argv (list of str): The run's command line (default names compare them).
        budget (RunBudget or None): The run's shared rate budget.
        mentions (Mentions or None): Notified by the reply that the board ended.
        tick (float): Seconds between two publications.
        edit_interval (float): Seconds between two edits of the board message at least.
        thread_wait (float): Seconds :meth:`thread_ts` waits for the board message, and
            the reply that the board ended for the next of the runs' own messages.
        http_timeout (float): Seconds one Slack request may take.
        finish_timeout (float): Seconds an ended run's keeper waits at most for the
            board to show its end — and, for the run that closes the board, for the
            close (the run's ``exit_timeout``: the interpreter waits as long at exit).
        spec (dict or None): What made this keeper (:func:`~.member.keeper_of`), kept as
            :attr:`spec` for the run's watchdog.
    """

    def __init__(self, look: BoardLook, store, client, channel: str,
                 row: Callable[[], BoardRow], *, run_id: str, argv: Sequence[str] = (),
                 budget: Optional[RunBudget] = None, mentions: Optional[Mentions] = None,
                 tick: float = TICK, edit_interval: float = EDIT_INTERVAL,
                 thread_wait: float = THREAD_WAIT, http_timeout: float = 10.0,
                 finish_timeout: float = 120.0,
                 spec: Optional[dict] = None) -> None:
        self.look = look
        self.board = look.board
        self.spec = spec  #: JSON-friendly: how to make this keeper again (the watchdog)
        self.run_id = run_id
        self._store, self._client, self._channel = store, client, channel
        self._row = row
        self._argv = list(argv)
        self._fallback = f"{socket.gethostname()}:{os.getpid()}"
        self._budget = budget
        self._mentions = mentions if mentions is not None else Mentions(None)
        self._tick = tick
        self._edit_interval = edit_interval
        self._thread_wait = thread_wait
        self._http_timeout = http_timeout
        self._finish_timeout = finish_timeout
        self._started = time.monotonic()
        self._ending = threading.Event()
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._snapshot: Optional[BoardState] = None  # the state as last published
        self._now = 0.0
        self._live: Optional[LiveMessage] = None  # the board message, while leading
        self._board_budget: Optional[BoardBudget] = None  # its draw on the budget
        self._rendered_ended: list = []  # the ended runs the last rendering showed
        self._ts: Optional[str] = None  # the board message's ts, once known
        self._own_posted = False  # the run's own message is posted
        self.leading = False  #: this run holds the lease now
        self.closed = False  #: this run closed the board (every run had ended)

    # -- the run's side -------------------------------------------------------------
    def start(self) -> None:
        """Start the keeper's thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"SlackReport-board-{self.board}")
            self._thread.start()

    def thread_ts(self) -> Optional[str]:
        """For the run's own message (``LiveMessage(thread_ts=…)``, asked on its worker):
        the board message's ``ts`` once known; ``""`` (top-level) once ``thread_wait``
        seconds passed since the keeper was made without one; None meanwhile.  Once the
        keeper has finished (a run that ended before the board message was posted), the
        ``ts`` is read from the store: the run that leads posts the board moments later."""
        if self._ts:
            return self._ts
        if time.monotonic() - self._started >= self._thread_wait:
            return ""
        if self._done.is_set():
            self._ts = self._stored_ts()
        return self._ts

    def own_posted(self, *, write: bool = True) -> None:
        """The run's own message is posted (called on its worker once it is, or at once for
        a message continued): said with each row, and in the store now unless ``write`` is
        False (a caller on the training thread, before :meth:`start`: the first row says
        it), for the reply that the whole board ended, which waits for it.  Never raises."""
        self._own_posted = True
        if not write:
            return

        def fn(state: BoardState, now: float):
            member = state.members.get(self.run_id)
            if member is None or member.posted:
                return None, False  # not published yet: its first row says it
            member.posted = True
            return None, True
        try:
            self._store.update(fn)
        except Exception:  # noqa: BLE001 - the next row says it; the board never harms the run
            logger.info("the board %r: this run's post could not be written now", self.board)

    def end(self) -> None:
        """The run ended: publish its final row (``row()`` now says so) and, if it leads or
        is the last, show the board once more.  Returns at once."""
        self._ending.set()

    def end_now(self) -> None:
        """The run ended: publish its final row and show the board, on the calling thread
        (a watchdog reporting the run's death; the keeper's thread never started)."""
        self._ending.set()
        self._run()

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` seconds for the keeper to finish after :meth:`end`."""
        return self._done.wait(timeout)

    def finish_at_exit(self, exit_timeout: float) -> None:
        """If the keeper has not finished yet (the final row, the board's last edit), let
        the interpreter wait for it at exit, as for a final report still on its way
        (:data:`~chainer_slack_report.transport.deliveries.FINAL_DELIVERIES`)."""
        if not self._done.is_set():
            FINAL_DELIVERIES.add(_KeeperEnding(self, exit_timeout))

    # -- the keeper's thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._ending.is_set():
                self._step()
                self._ending.wait(self._tick)
            self._finish()
        except Exception:  # noqa: BLE001 - the board never harms the run
            logger.exception("the board %r keeper stopped", self.board)
        finally:
            self._stop_live(abandon=True)
            self._done.set()

    def _publish(self, ending: bool = False) -> Optional[_Published]:
        """Publish the row and try the lease (None if the store stayed locked).  An
        ``ending`` run that holds the lease and finds every run ended claims the close."""
        row = self._row()

        def fn(state: BoardState, now: float):
            state.publish(now, self.run_id, row, argv=self._argv, fallback=self._fallback,
                          posted=self._own_posted)
            leading = state.lead(now, self.run_id)
            ended = state.all_ended(now)
            closing = ending and leading and ended and state.closed_at is None
            if closing:
                state.closed_at = now  # one run closes the board, however long it takes
            self._snapshot, self._now = _copy(state), now
            return _Published(leading=leading, ended=ended, closing=closing,
                              closed=state.closed_at is not None,
                              shown=self.run_id in state.shown), True
        try:
            return self._store.update(fn)
        except Busy:
            return None  # not published: the store stayed locked for its lock timeout

    def _step(self) -> None:
        published = self._publish()
        self._learn_ts()
        if published is None:  # the store stayed locked: nothing learnt, nothing lost
            if self._live is not None:
                self._live.touch()
            return
        self.leading = published.leading
        if self.leading:
            self._keep()
        else:
            self._stop_live(abandon=True)

    def _keep(self) -> None:
        """Lead: post the board, or edit it with the newest rows."""
        if self._live is None:
            snapshot = self._snapshot
            self._board_budget = (BoardBudget(self._budget, self._edit_interval)
                                  if self._budget is not None else None)
            pacing = Pacing(min_interval=self._edit_interval)
            # A new holder keeps the pace of the board's edits, whoever made the last one.
            pacing.hold(snapshot.edited_at + self._edit_interval - self._now)
            self._live = LiveMessage(
                self._client, self._channel, self._render, render_blocks=(
                    self._render_blocks if self.look.layout == "blocks" else None),
                pacing=pacing, max_bytes=self.look.max_bytes,
                prepare=([lambda c: resolve_mentions(self._mentions, c)]
                         if self._mentions.names else []),
                name=f"SlackReport-board-{self.board}",
                budget=self._board_budget,
                channel_id=snapshot.channel_id, ts=snapshot.ts, on_posted=self._posted,
                on_sent=self._sent)
            self._live.start()
        else:
            self._live.touch()

    def _finish(self) -> None:
        """The run ended: its final row, until the board shows it.

        Whoever holds the lease shows it with its next edit (every edit renders the
        board's newest rows).  The run that holds the lease when it ends makes one last
        edit and lets the lease go; the run that finds every run ended when it holds
        the lease closes the board.
        """
        deadline = time.monotonic() + self._finish_timeout
        while True:
            published = self._publish(ending=True)
            if published is not None:
                self._learn_ts()
                if published.closing:
                    self._close(deadline)
                    return
                if published.closed:
                    return
                if published.shown and not published.ended:
                    if published.leading:
                        self._release()  # a run that still trains keeps the board
                    return
                if published.leading and not published.ended:
                    self._last_edit()
                    return
            if time.monotonic() >= deadline:  # never hold the run's exit for long
                return
            time.sleep(self._tick / 2)

    def _last_edit(self) -> None:
        """This run ended holding the lease: one edit with the newest rows, then the
        lease goes to a run that still trains (or to the last one to end)."""
        self._keep()
        live, self._live = self._live, None
        live.close()
        live.wait(self._http_timeout)
        self._release()

    def _close(self, deadline: float) -> None:
        """Every run ended: the board's final status and the reply with the counts (a
        window of ``chat.update`` spent by the runs' finals may hold it up to a minute;
        it is given up at ``deadline``, a ``time.monotonic()`` time)."""
        self._keep()
        live, self._live = self._live, None
        rows = self._rows()
        text = headline(self.board, rows)
        mentions = self._mentions

        def reply() -> str:
            who = mentions.render()
            return f"{who + ' ' if who else ''}Every run has ended: {text}"
        now = time.monotonic()  # the runs' own messages first; half the time left at most
        self._await_posts(now + (deadline - now) / 2)
        live.close(reply)
        if not live.wait(max(0.0, deadline - time.monotonic())):
            live.abandon()
        self._release()
        self.closed = live.delivered

    def _await_posts(self, deadline: float) -> None:
        """Wait until every run's own message is posted (a dead run's excepted); or until
        none has been posted for ``thread_wait`` seconds (the posts left are stuck), or the
        ``time.monotonic()`` time ``deadline``."""
        left, moved = None, time.monotonic()
        while time.monotonic() < min(deadline, moved + self._thread_wait):
            try:
                unposted = self._store.view(lambda state, now: state.unposted(now))
            except Exception:  # noqa: BLE001 - Busy, Redis gone: looked at again
                unposted = left
            if unposted == 0:
                return
            if unposted is not None and (left is None or unposted < left):
                left, moved = unposted, time.monotonic()
            time.sleep(_POLL)

    def _stored_ts(self) -> Optional[str]:
        """The board message's ts as the store holds it; None while it is not posted."""
        try:
            return self._store.view(lambda state, now: state.ts)
        except Exception:  # noqa: BLE001 - Busy, Redis gone: asked again
            return None

    def _learn_ts(self) -> None:
        """The board message's ts from the state as last published (a ts known stays)."""
        snapshot = self._snapshot
        self._ts = (snapshot.ts if snapshot is not None else None) or self._ts

    def _release(self) -> None:
        def fn(state: BoardState, now: float):
            state.release(self.run_id)
            return None, True
        try:
            self._store.update(fn)
        except Busy:
            pass  # the lease runs out by itself

    def _posted(self, channel_id: str, ts: str) -> None:
        """(the board message's worker) The board message was posted: every run learns it."""
        self._ts = ts

        def fn(state: BoardState, now: float):
            if state.holder == self.run_id or state.ts is None:
                state.channel_id, state.ts = channel_id, ts
            return None, True
        try:
            self._store.update(fn)
        except Busy:
            logger.info("the board %r: its ts could not be written now", self.board)

    def _stop_live(self, abandon: bool) -> None:
        live, self._live = self._live, None
        if live is not None and abandon:
            live.abandon()
            live.close()

    # -- rendering (the board message's worker thread) --------------------------------------
    def _rows(self):
        """The board's newest rows, read from the store at each rendering (the keeper's
        own snapshot when the store stays locked)."""
        def look(state: BoardState, now: float):
            return state.rows(now), state.ended(now)
        try:
            rows, ended = self._store.view(look)
        except Exception:  # noqa: BLE001 - Busy, Redis gone: the last publication's rows
            snapshot = self._snapshot
            rows, ended = look(snapshot, self._now) if snapshot is not None else ([], [])
        self._rendered_ended = ended
        if self._board_budget is not None:
            self._board_budget.rendering(ended)  # an edit showing a new end goes first
        return rows

    def _sent(self) -> None:
        """(the board message's worker) Slack took an edit: the ends it showed are shown,
        and the next holder paces its first edit from now."""
        ended = self._rendered_ended

        def fn(state: BoardState, now: float):
            state.show(ended)
            state.edited_at = now
            return None, True
        try:
            self._store.update(fn)
        except Exception:  # noqa: BLE001 - the next edit writes it again
            logger.info("the board %r: what it shows could not be written now", self.board)

    def _render(self, max_bytes: int) -> str:
        return self.look.text(self._rows(), max_bytes)

    def _render_blocks(self, prefix: str) -> list:
        return self.look.blocks(self._rows())


class _Published(NamedTuple):
    """What a run learnt when it published its row."""

    leading: bool  #: it holds the lease
    ended: bool  #: every run of the board has ended
    closing: bool  #: it claimed the board's close (it shows the final status)
    closed: bool  #: the board is closed (or being closed)
    shown: bool  #: the board message shows this run's end


class _KeeperEnding:
    """A keeper's end as a final delivery (waited for at exit)."""

    def __init__(self, keeper: BoardKeeper, exit_timeout: float) -> None:
        self.keeper = keeper
        self.exit_timeout = exit_timeout

    @property
    def delivered(self) -> bool:
        return self.keeper._done.is_set()

    def settle(self, timeout: float) -> bool:
        return self.keeper.wait(timeout)


def _copy(state: BoardState) -> BoardState:
    return BoardState.from_json(state.to_json())
