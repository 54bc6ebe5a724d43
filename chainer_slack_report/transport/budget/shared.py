"""The logic of the shared rate budget: who may call Slack now, and what Slack's answers change.

:class:`SharedBudget` answers, for every run on the host that uses one
token, whether a call of a bucket may go now (a sliding window, a reserve
for priority calls, a fair interval per run, Slack's ``Retry-After`` and an
AIMD cut of the limit); :class:`RunBudget` is one run's view of it, which
names the bucket of each Slack method.  How it is meant to work is on the
"Rate limits and parallel runs" page of the docs (``docs/rate-limits.md``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from typing import Callable, Optional, Tuple, Union

from .limits import CHAT_DELETE_SCHEDULED, CHAT_POST_MESSAGE, Limit
from .rank import PENDING_GRACE, Rank, Waiting
from .redis_store import RedisStore
from .state import Bucket, Run, State, is_number
from .store import BudgetStore, Busy, default_state_dir, state_name
from .store_url import StoreURL, store_url

__all__ = ["SharedBudget", "RunBudget"]

logger = logging.getLogger(__name__)

_MIN_WAIT = 0.001  # seconds: the least wait try_acquire returns when it refuses
_BUSY_WAIT = 0.5  # seconds to wait when the file lock could not be had in time
_HEARTBEAT = 1.0  # seconds: a run's "seen" is rewritten at most this often
_MAX_RETRY_AFTER = 3600.0  # seconds: a longer Retry-After is taken as this
_EPS = 1e-9
# Slack counts a call when it arrives, the budget when it grants it; the delay between
# the two varies (more on a busy host), so a call granted just as the oldest grant left
# the budget's window can reach Slack before the oldest call left Slack's.  One call in
# this many of a full window is left unused for that (50 a minute: priority calls take 48).
_ARRIVAL_MARGIN = 25
#: Run ids of this prefix are a sweep's board (its keeper's calls): they do not count as
#: runs, and while one is active the runs' own non-priority calls leave it
#: :data:`BOARD_SHARE` of each window.
BOARD_PREFIX = "board:"
#: Fraction of each window the runs' own calls (their finals too) leave free for an
#: active board: headroom, so that a board edit seldom waits for a slot (it is served
#: before them anyway, :class:`~.rank.Rank`), and an edit that shows runs' ends finds one
#: when they all end at once.  10 of :data:`.CHAT_UPDATE`'s 50 a minute: a board edited
#: every 3 s takes 20, finals fill the window to 38, and the board has 10 more edits
#: (30 s) to show the ends of runs that all end together.
BOARD_SHARE = 0.2


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def _cap(effective: float, reserve: float, priority: bool, kept: float = 0.0) -> int:
    """Calls per window a priority call (all of it, less one call in
    :data:`_ARRIVAL_MARGIN`) or another call (1 - reserve) may use, less ``kept`` of
    the window (left to a board)."""
    if priority:
        calls = int(math.floor(effective + _EPS))
        keep = int(math.floor(effective * kept + _EPS))
        return max(1, calls - calls // _ARRIVAL_MARGIN - keep)
    return max(1, int(math.floor(effective * max(0.0, 1.0 - reserve - kept) + _EPS)))


def _slot_wait(grants: list, cap: int, needed: int, per: float, now: float) -> float:
    """Seconds until ``needed`` more calls fit in a window of ``per`` seconds that
    holds at most ``cap`` calls and holds ``grants`` (times, oldest first); 0.0: now."""
    # Once the oldest len - (cap - needed) grants have left the window, needed more fit.
    index = len(grants) - cap + needed - 1
    if index < 0:
        return 0.0
    if index < len(grants):
        return max(0.0, grants[index] + per - now)
    # More calls wait ahead than one window holds: at least the rest of this window.
    last = grants[-1] + per - now if grants else 0.0
    return max(0.0, last) + per * (index - len(grants) + 1) / max(1, cap)


class SharedBudget:
    """The Slack rate budget of all runs that share a token and API URL: on this host,
    or on every host that names the same Redis ``store``.

    Args:
        token (str): The bot token.  Only a hash of it is kept (it names the
            state file); the token is never stored, written or shown.
        api_url (str): The Web API base URL (``WebClient.base_url``, e.g.
            ``"https://slack.com/api/"``); a trailing ``/`` does not matter.
            Different URLs (say, a test emulator) never share a budget.
        state_dir (str, optional): Directory of the state files; default
            :func:`.default_state_dir`.  If it cannot be created or written,
            the budget is kept in this process only, with one
            :class:`~chainer_slack_report.SlackReportWarning`.  With a
            ``store``, it holds the state only while the Redis server does not answer.
        store (str, StoreURL or None): A Redis URL (``redis://[:password@]host:port/db``,
            ``rediss://…``, ``unix://…``) to keep the state in, shared by every
            host; None reads ``$CHAINER_SLACK_REPORT_STORE``; neither: the state
            file.  See :mod:`.redis_store`; needs redis-py.
        reserve (float): Fraction of each window (0 ≤ reserve < 1) that only
            priority calls may use.  Default 0.2: intermediate ``chat.update``
            calls get 40 of 50 a minute, 10 are always left for finals.
        horizon (float): Seconds after its last ask or :meth:`join` that a run
            still counts as active (default 120: two ``chat.update`` windows).
        lock_timeout (float): Seconds to wait for the state's file lock before
            giving up on one operation (a holder stopped with SIGSTOP, say).
        clock (callable or None): Wall-clock time in seconds, the same in every
            process; None: :func:`time.time` (the Redis server's ``TIME`` in
            Redis); tests inject their own.

    Raises:
        TypeError: ``token`` or ``api_url`` is not a str.
        ValueError: ``reserve``, ``horizon`` or ``lock_timeout`` is out of range;
            ``store`` (or the variable) is not a Redis URL.
        ImportError: A ``store`` is named but redis-py is not installed.

    Every method is thread-safe and safe across processes.  Times are in
    seconds.  A ``run_id`` must be unique per run on the host (e.g. a UUID).
    """

    def __init__(self, token: str, api_url: str, *, state_dir: Optional[str] = None,
                 store: Union[str, StoreURL, None] = None, reserve: float = 0.2,
                 horizon: float = 120.0, lock_timeout: float = 5.0,
                 clock: Optional[Callable[[], float]] = None) -> None:
        if not isinstance(token, str) or not isinstance(api_url, str):
            raise TypeError("SharedBudget needs the token and the API URL as str")
        if not (is_number(reserve) and 0.0 <= reserve < 1.0):
            raise ValueError(f"reserve must be in [0, 1), not {reserve!r}")
        if not (is_number(horizon) and horizon > 0):
            raise ValueError(f"horizon must be a positive number of seconds, not {horizon!r}")
        if not (is_number(lock_timeout) and lock_timeout >= 0):
            raise ValueError(f"lock_timeout must be >= 0 seconds, not {lock_timeout!r}")
        self.reserve = float(reserve)
        self.horizon = float(horizon)
        self._name = state_name(api_url, token)
        self._host = socket.gethostname()
        directory = state_dir if state_dir is not None else default_state_dir()
        self.state_dir = os.path.expanduser(directory)
        url = store if isinstance(store, StoreURL) else store_url(store)

        def host_file() -> BudgetStore:
            return BudgetStore(self.state_dir, self._name, lock_timeout=lock_timeout,
                               clock=clock or time.time)
        if url is None:
            self._store: Union[BudgetStore, RedisStore] = host_file()
        else:
            self._store = RedisStore(url, self._name, fallback=host_file,
                                     lock_timeout=lock_timeout, clock=clock)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "in-process"
        if self.store is not None:
            where = self._store.where()
        return f"<SharedBudget {self._name} {where}>"

    @property
    def name(self) -> str:
        """The state's name (16 hex digits of a hash of the API URL and token): the state
        file's name, and the Redis key's after its prefix."""
        return self._name

    @property
    def store(self) -> Optional[StoreURL]:
        """The Redis server the state is kept in, or None for the host's state file."""
        return getattr(self._store, "url", None)

    @property
    def path(self) -> Optional[str]:
        """The state file, or None while the budget is kept in this process only."""
        return self._store.path

    # -- the logic, on a state and a time ----------------------------------

    def _alive(self, run: Run, now: float) -> bool:
        if min(run.seen, now) <= now - self.horizon:
            return False
        return run.host != self._host or not self._store.checks_pids or _pid_alive(run.pid)

    def _prune(self, state: State, now: float) -> bool:
        """Drop runs no longer active and grants out of their window; True if changed."""
        changed = False
        for run_id, run in list(state.runs.items()):
            if not self._alive(run, now):
                del state.runs[run_id]
                changed = True
                continue
            if run.seen > now:  # the clock was set back
                run.seen = now
                changed = True
            last = run.last_call
            for key, at in list(last.items()):
                if at > now:
                    last[key] = now
                    changed = True
                elif at <= now - self.horizon:
                    del last[key]
                    changed = True
        for key, bucket in list(state.buckets.items()):
            start = now - bucket.per
            # A time after now means the clock was set back: count it as now.
            kept = [t if t <= now else now for t in bucket.grants if t > start]
            if kept != bucket.grants:
                bucket.grants = kept
                changed = True
            # Times after now (a clock set back, another process's clock ahead) are
            # clamped, so that no clock can block the others for the difference.
            if bucket.block_seconds > _MAX_RETRY_AFTER:
                bucket.block_seconds = _MAX_RETRY_AFTER
                changed = True
            if bucket.blocked_until > now + bucket.block_seconds:
                bucket.blocked_until = now + bucket.block_seconds
                changed = True
            latest_increase = bucket.blocked_until + bucket.per  # what on_rate_limited sets
            if bucket.next_increase > max(latest_increase, now + bucket.per):
                bucket.next_increase = max(latest_increase, now + bucket.per)
                changed = True
            for who, entry in list(bucket.waiting.items()):
                if entry.until <= now or entry.until > now + _MAX_RETRY_AFTER + PENDING_GRACE:
                    del bucket.waiting[who]  # it did not come back (or a clock was off)
                    changed = True
            if (not kept and not bucket.waiting and bucket.blocked_until <= now
                    and bucket.effective >= bucket.calls):
                del state.buckets[key]  # nothing left to remember
                changed = True
        return changed

    def _heartbeat(self, state: State, now: float, run_id: str, force: bool) -> bool:
        run = state.runs.get(run_id)
        pid = os.getpid()
        if run is None or run.pid != pid or run.host != self._host:
            last = run.last_call if run is not None else {}
            state.runs[run_id] = Run(pid=pid, host=self._host, seen=now, last_call=last)
            return True
        if force or abs(now - run.seen) >= _HEARTBEAT:
            run.seen = now
            return True
        return False

    @staticmethod
    def _bucket(state: State, key: str, limit: Limit) -> Tuple[Bucket, bool]:
        """Bucket ``key`` held to ``limit`` (made if missing); True if it changed."""
        bucket = state.buckets.get(key)
        if bucket is None:
            bucket = state.buckets[key] = Bucket.fresh(calls=limit.calls, per=limit.per)
            return bucket, True
        if bucket.calls != limit.calls or bucket.per != limit.per:
            if bucket.calls == 0:  # only a block was known: start at the full limit
                bucket.effective = float(limit.calls)
            bucket.calls, bucket.per = limit.calls, limit.per
            bucket.effective = min(bucket.effective, float(limit.calls))
            return bucket, True
        return bucket, False

    def _active(self, state: State, now: float) -> int:
        return sum(1 for run_id, run in state.runs.items()
                   if not run_id.startswith(BOARD_PREFIX) and self._alive(run, now))

    def _effective(self, state: State, key: str, limit: Limit) -> float:
        """``limit.calls``, cut by the 429s bucket ``key`` met."""
        bucket = state.buckets.get(key)
        if bucket is None or not bucket.calls:
            return float(limit.calls)
        return min(float(limit.calls), bucket.effective)

    def _interval(self, state: State, runs: int, key: str, limit: Limit) -> float:
        effective = self._effective(state, key, limit)
        return max(1, runs) * limit.per / _cap(effective, self.reserve, priority=False)

    # -- the API -----------------------------------------------------------

    def join(self, run_id: str) -> None:
        """Count ``run_id`` (of this process) as active now; call it again as a heartbeat.

        Every :meth:`try_acquire` is a heartbeat too, so a run that asks at
        least every ``horizon`` seconds need not call this again.
        """
        def fn(state: State, now: float) -> Tuple[None, bool]:
            changed = self._prune(state, now)
            return None, self._heartbeat(state, now, run_id, force=True) or changed
        self._quiet(fn, "join")

    def leave(self, run_id: str) -> None:
        """Stop counting ``run_id`` at once; its share goes to the others.

        Call it after the run's last call: a later :meth:`try_acquire` under
        the same ``run_id`` counts the run again.
        """
        def fn(state: State, now: float) -> Tuple[None, bool]:
            changed = self._prune(state, now)
            return None, state.runs.pop(run_id, None) is not None or changed
        self._quiet(fn, "leave")

    def try_acquire(self, key: str, limit: Limit, *, run_id: str, priority: bool = False,
                    rank: Optional[Rank] = None) -> float:
        """Take one call of bucket ``key`` now, if the budget allows it.

        Args:
            key (str): The bucket: ``"chat.update"`` (per app) or
                ``"chat.postMessage:<channel ID>"`` (per channel).
            limit (Limit): The bucket's limit, e.g. :data:`.CHAT_UPDATE`.
            run_id (str): The asking run (this also heartbeats it); a sweep's
                board asks as ``board:<run id>`` (:data:`BOARD_PREFIX`), which
                does not count as a run.
            priority (bool): Short for ``rank=Rank.FINAL``.
            rank (Rank or None): The call's place in the bucket's queue
                (:class:`~.rank.Rank`); None: ``FINAL`` if ``priority``, else
                ``UPDATE``.  Priority ranks (a final update, a finish mention)
                may use the reserve, are not held to the run's fair interval,
                and count against the nominal ``limit`` rather than the limit
                cut by 429s (less one call in 25, for the time a call takes to
                reach Slack: 48 of :data:`.CHAT_UPDATE`'s 50).  A board's ranks
                are held only to the window less the reserve; while a board is
                active, the runs' own non-priority calls leave it
                :data:`BOARD_SHARE` of the window.

        A call that must wait for a slot keeps its place in the bucket's queue
        until it asks again (plus :data:`~.rank.PENDING_GRACE`): a slot goes to
        the best-ranked call waiting — among a run's own intermediate updates,
        to the run whose last one is oldest (stalest first) — and a call of a
        worse rank may take a free slot only while enough are left for every
        better one waiting (a lost-host notice, one more: a first post may come).

        Returns:
            float: ``0.0`` if a slot was taken (make the call now); otherwise
            the seconds to wait before asking again: until Slack's
            ``Retry-After`` ends (for priority calls too), until the slot that
            this call's place in the queue awaits frees, or — for a run's own
            non-priority call — until its fair interval since its last one has passed.
        """
        rank = rank if rank is not None else (Rank.FINAL if priority else Rank.UPDATE)
        fair = not (rank.priority or rank.board)

        def fn(state: State, now: float) -> Tuple[float, bool]:
            changed = self._prune(state, now)
            changed = self._heartbeat(state, now, run_id, force=False) or changed
            bucket, made = self._bucket(state, key, limit)
            changed = changed or made
            who = f"{run_id}/{int(rank)}"
            if bucket.blocked_until > now:
                return bucket.blocked_until - now, changed
            run = state.runs[run_id]  # state.runs holds only active runs now
            if fair and key in run.last_call:
                interval = self._interval(state, self._active(state, now), key, limit)
                held = run.last_call[key] + interval - now
                if held > 0.0:  # not asking yet: it holds no place in the queue
                    changed = bucket.waiting.pop(who, None) is not None or changed
                    return max(held, _MIN_WAIT), changed
            # A priority call is held to Slack's own limit, not to the AIMD guess:
            # only Retry-After and the nominal window delay a final report.
            board = not rank.board and any(r.startswith(BOARD_PREFIX) for r in state.runs)
            cap = _cap(bucket.calls if rank.priority else bucket.effective, self.reserve,
                       rank.priority, BOARD_SHARE if board else 0.0)
            entry = bucket.waiting.get(who)
            since = (run.last_call.get(key, 0.0) if rank is Rank.UPDATE
                     else entry.since if entry is not None else now)
            mine = Waiting(rank=rank, since=since, until=now)
            ahead = sum(1 for other, waiting in bucket.waiting.items()
                        if other != who and waiting.key() < mine.key())
            # A notice leaves one slot free: a run's first post may ask any moment.
            needed = ahead + 1 + (rank is Rank.NOTICE)
            wait = _slot_wait(bucket.grants, cap, needed, limit.per, now)
            if wait > 0.0:
                mine.until = now + wait + PENDING_GRACE
                bucket.waiting[who] = mine
                return max(wait, _MIN_WAIT), True
            bucket.waiting.pop(who, None)
            bucket.grants.append(now)
            if fair:
                run.last_call[key] = now
            return 0.0, True
        try:
            return self._store.update(fn)
        except Busy:
            logger.debug("shared Slack rate budget busy; asking again in %.1f s", _BUSY_WAIT)
            return _BUSY_WAIT

    def fair_interval(self, key: str, limit: Limit) -> float:
        """Seconds one run should leave between its own non-priority calls of ``key``.

        ``active runs × limit.per / usable calls``, where usable calls are
        ``floor(effective calls × (1 - reserve))`` (at least 1), so that all
        active runs together fill the non-reserved part of the window: 16 runs
        on :data:`.CHAT_UPDATE` with reserve 0.2 → 24 s; one run → 1.5 s.  The
        active runs are counted over all keys (every run updates its message).
        """
        return self._store.view(
            lambda state, now: self._interval(state, self._active(state, now), key, limit))

    def effective_calls(self, key: str, limit: Limit) -> float:
        """The calls per window that bucket ``key`` allows now (``limit.calls`` cut by 429s)."""
        return self._store.view(lambda state, now: self._effective(state, key, limit))

    def on_rate_limited(self, key: str, retry_after: float) -> None:
        """Record Slack's HTTP 429 for bucket ``key`` with ``Retry-After`` in seconds.

        Every run on the host then waits until ``now + retry_after`` (an
        invalid or negative value counts as 1 s, one above an hour as an
        hour).  The first 429 of a block halves the bucket's effective limit
        (floor 1 call per window); 429s that arrive while that block lasts
        were caused by the same burst and only extend it.  The refused call's
        slot is given back (Slack did not count it), so a run that meets
        several 429s in a row is not also held back by its own refused attempts.
        """
        seconds = float(retry_after) if is_number(retry_after) and retry_after >= 0 else 1.0
        seconds = min(seconds, _MAX_RETRY_AFTER)

        def fn(state: State, now: float) -> Tuple[None, bool]:
            self._prune(state, now)
            bucket = state.buckets.get(key)
            if bucket is None:  # a 429 before any ask: remember the block only
                bucket = state.buckets[key] = Bucket.fresh(calls=0, per=0.0)
            if bucket.grants:
                bucket.grants.pop()  # the newest grant: (about) the refused call's
            if bucket.blocked_until <= now and bucket.calls:
                bucket.effective = max(1.0, bucket.effective / 2.0)
            if now + seconds > bucket.blocked_until:
                bucket.blocked_until, bucket.block_seconds = now + seconds, seconds
            bucket.next_increase = max(bucket.next_increase, bucket.blocked_until + bucket.per)
            return None, True
        self._quiet(fn, "on_rate_limited")

    def on_success(self, key: str) -> None:
        """Record a successful call of bucket ``key``.

        Additive increase: the effective limit grows by one call, up to
        ``limit.calls``, at most once a window (``per`` seconds) and only
        once a window has passed since the end of the last 429's block.  Most
        calls only read the state (no lock, no write).
        """
        def due(state: State, now: float) -> bool:
            bucket = state.buckets.get(key)
            return (bucket is not None and bucket.calls > 0
                    and bucket.effective < bucket.calls and now >= bucket.next_increase)
        if not self._store.view(due):
            return

        def fn(state: State, now: float) -> Tuple[None, bool]:
            if not due(state, now):
                return None, False
            bucket = state.buckets[key]
            bucket.effective = min(float(bucket.calls), bucket.effective + 1.0)
            bucket.next_increase = now + bucket.per
            return None, True
        self._quiet(fn, "on_success")

    def active_runs(self) -> int:
        """How many runs count now: joined or asked within ``horizon`` seconds,
        did not leave, and (on this host) whose process is alive."""
        return self._store.view(self._active)

    def _quiet(self, fn: Callable[[State, float], Tuple[None, bool]], what: str) -> None:
        try:
            self._store.update(fn)
        except Busy:
            logger.debug("shared Slack rate budget busy; %s skipped", what)


class RunBudget:
    """One run's use of a :class:`SharedBudget`: which bucket each Slack call draws from.

    ``chat.update`` calls draw from the app-wide ``update_limit`` bucket;
    ``chat.postMessage`` calls (new messages and thread replies) and
    ``chat.scheduleMessage`` calls (which "follow chat.postMessage's rate
    limits", its reference page) from one bucket per channel
    (:data:`.CHAT_POST_MESSAGE`); ``chat.deleteScheduledMessage`` from its own
    app-wide Tier 3 bucket (:data:`.CHAT_DELETE_SCHEDULED`).

    Args:
        shared (SharedBudget): The host-wide budget of the token.
        update_limit (Limit): ``chat.update`` calls per window for all runs.
        run_id (str): This run's id, unique on the host.
        channel (str or None): The channel as the run names it (an ID or a name):
            the key of its ``chat.postMessage`` bucket whatever a call names — a
            first post names the channel as given, replies and notices the channel
            ID it returned, and Slack counts them together.  None: the channel
            each call names.
    """

    def __init__(self, shared: SharedBudget, update_limit: Limit, run_id: str, *,
                 channel: Optional[str] = None) -> None:
        self.shared = shared
        self.update_limit = update_limit
        self.run_id = run_id
        self.channel = channel

    def _bucket(self, method: str, channel: str) -> Tuple[str, Limit]:
        if method == "chat.update":
            return "chat.update", self.update_limit
        if method == "chat.deleteScheduledMessage":
            return method, CHAT_DELETE_SCHEDULED
        return f"chat.postMessage:{self.channel or channel}", CHAT_POST_MESSAGE

    def join(self) -> None:
        """Count this run as active now (see :meth:`SharedBudget.join`)."""
        self.shared.join(self.run_id)

    def leave(self) -> None:
        """Stop counting this run; call it after its last call (see :meth:`SharedBudget.leave`)."""
        self.shared.leave(self.run_id)

    def wait(self, method: str, channel: str, *, priority: bool) -> float:
        """0.0 if a call of ``method`` may go now (its slot is taken), else seconds to wait.

        ``priority``: a final update, a thread reply or a delete (:attr:`.Rank.FINAL`);
        otherwise the method's rank: a first post (``chat.postMessage``) before an
        intermediate ``chat.update``, before a ``chat.scheduleMessage``.
        """
        key, limit = self._bucket(method, channel)
        return self.shared.try_acquire(key, limit, run_id=self.run_id,
                                       rank=self.rank(method, priority))

    @staticmethod
    def rank(method: str, priority: bool) -> Rank:
        """The :class:`~.rank.Rank` of a run's own call of ``method``."""
        if priority:
            return Rank.FINAL
        return {"chat.postMessage": Rank.POST,
                "chat.scheduleMessage": Rank.NOTICE}.get(method, Rank.UPDATE)

    def rate_limited(self, method: str, channel: str, retry_after: float) -> None:
        """Slack answered a call of ``method`` with HTTP 429 and ``Retry-After`` (seconds)."""
        self.shared.on_rate_limited(self._bucket(method, channel)[0], retry_after)

    def succeeded(self, method: str, channel: str) -> None:
        """Slack took a call of ``method`` (see :meth:`SharedBudget.on_success`)."""
        self.shared.on_success(self._bucket(method, channel)[0])

    def update_interval(self) -> float:
        """This run's fair share: seconds between its intermediate ``chat.update`` calls."""
        return self.shared.fair_interval("chat.update", self.update_limit)
