"""A host-wide Slack rate budget shared by every run that uses the same token.

Slack counts Web API rate limits per method, per app, per workspace (Slack's
"Rate limits" page, https://docs.slack.dev/apis/web-api/rate-limits):
``chat.update`` is Tier 3, "50+ per minute", for every process that uses the
app's token together; ``chat.postMessage`` allows about one message a second
per channel, with short bursts tolerated.  A call over the limit is answered
with HTTP 429 and a ``Retry-After`` header in seconds.  Runs that each pace
themselves alone exceed that as soon as there are more than a few of them, so
:class:`SharedBudget` keeps one small JSON state file per (Web API base URL,
token) on this host, and every run asks it before each call:

* a **sliding-window log** per bucket (``"chat.update"``, or
  ``"chat.postMessage:C123"`` for one channel): in any window of ``per``
  seconds, at most the bucket's effective number of calls is granted, by all
  processes together;
* a **reserve** (default a fifth of the window) that only *priority* calls
  (final updates, finish mentions) may use, so intermediate updates never
  crowd out the last state of a run;
* a **fair share**: each active run spaces its non-priority calls at
  :meth:`SharedBudget.fair_interval` (active runs × window / usable calls),
  which :meth:`~SharedBudget.try_acquire` enforces; a run that stops asking
  for ``horizon`` seconds, whose process is gone, or that left, stops counting;
* **Slack's answers**: a 429 blocks the bucket for every run on the host until
  ``Retry-After`` has passed and halves its effective limit (floor: one call
  a window); successes add one call back per window (AIMD, as TCP does), so
  hosts that share no state directory still settle on what Slack accepts.

Only the first 16 hex digits of the SHA-256 of ``api_url + "\\0" + token`` name the
state; the token itself is never kept, written, logged or shown.

Choice of the locking library (measured on a 2-core Linux/ext4 machine with
CPython 3.9, 3.11 and 3.13; with each, a waiter got the lock 1.5-1.9 ms after
the holder was SIGKILLed: the kernel drops a flock with its last descriptor):

* ``filelock`` (tox-dev) — chosen.  Already installed as a Chainer dependency
  (no new weight); ``FileLock``/``Timeout``/``acquire(timeout, poll_interval)``
  unchanged from 3.x to 4.x; 3.12-3.19 serve Python 3.9, 4.x 3.11+.  Lock +
  unlock 32 µs (3.19.1) / 154 µs (4.2.11); lock + JSON read, modify and
  ``os.replace`` 0.63 ms median.
* ``portalocker`` 3.2/4.4 — the same flock semantics, the same transaction
  0.97 ms median, but one more dependency (4.x needs 3.10+).
* ``pyrate-limiter`` — its SQLite bucket (WAL, 0.18 ms a call) locks with
  filelock anyway; 4.5.1 raises ``TypeError`` with filelock 4.2.11 (it passes
  a bool timeout); ``try_acquire`` changed between 3.x and 4.x; 4.x needs
  3.10+; no reserve, Retry-After block, AIMD or fair share, so we would keep
  our own state beside it anyway.

Cost of one operation of this module (``tests/budget_worker.py bench``;
Python 3.11, filelock 4.2.11): one process, 1-16 runs and a full 50-call
window in the state, 0.25-0.39 ms median for a call that only reads under
the lock, 0.45-0.70 ms for one that writes, p99 < 0.8 ms; 16 processes at 2
or 20 calls a second each, 0.8-0.9 ms (read) and 1.4-1.5 ms (write) median,
p99 ≤ 4.1 ms; 16 processes back to back (pure queueing on 2 cores) 14 ms
median.  With filelock 3.12.4 on Python 3.9: 0.14 ms and 0.31 ms.

If the state directory cannot be used, the budget falls back to the same
logic in this process only (one :class:`~.warning.SlackReportWarning`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

import filelock

from ..warning import SlackReportWarning

__all__ = ["Limit", "CHAT_UPDATE", "CHAT_POST_MESSAGE", "SharedBudget", "RunBudget",
           "STATE_DIR_ENV",
           "default_state_dir"]

logger = logging.getLogger(__name__)

#: Environment variable naming the directory of the shared state files.
STATE_DIR_ENV = "CHAINER_SLACK_REPORT_STATE_DIR"

_T = TypeVar("_T")
_VERSION = 1  # of the state file's layout; a file of another version is started afresh
_POLL = 0.001  # seconds between two tries of a contended file lock
_MIN_WAIT = 0.001  # seconds: the least wait try_acquire returns when it refuses
_BUSY_WAIT = 0.5  # seconds to wait when the file lock could not be had in time
_HEARTBEAT = 1.0  # seconds: a run's "seen" is rewritten at most this often
_MAX_RETRY_AFTER = 3600.0  # seconds: a longer Retry-After is taken as this
_EPS = 1e-9
# On Windows os.replace fails while another process has the target open, so
# there readers take the lock too; elsewhere they read without it.
_LOCKED_READS = os.name == "nt"


@dataclass(frozen=True)
class Limit:
    """A rate limit: at most ``calls`` calls in any window of ``per`` seconds."""

    calls: int
    per: float

    def __post_init__(self) -> None:
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) or self.calls < 1:
            raise ValueError(f"Limit.calls must be an int >= 1, not {self.calls!r}")
        per = self.per
        if isinstance(per, bool) or not isinstance(per, (int, float)) or not (
                math.isfinite(per) and per > 0):
            raise ValueError(f"Limit.per must be a positive number of seconds, not {per!r}")
        object.__setattr__(self, "per", float(per))


#: ``chat.update``: Tier 3, "50+ per minute", per app per workspace (Slack's
#: ``chat.update`` reference page and "Rate limits" page; Slack's Java SDK
#: ``MethodsRateLimitTier.Tier3`` assumes the same 50 a minute).
CHAT_UPDATE = Limit(50, 60.0)
#: ``chat.postMessage``: "generally allows posting one message per second per
#: channel", short bursts allowed (Slack's "Rate limits" page and the
#: ``chat.postMessage`` reference page) — one bucket per channel; one a
#: second on average, bursts of at most five.
CHAT_POST_MESSAGE = Limit(5, 5.0)


def default_state_dir() -> str:
    """The directory of the shared state files.

    ``$CHAINER_SLACK_REPORT_STATE_DIR`` if set, else
    ``$XDG_CACHE_HOME/chainer_slack_report``, else
    ``~/.cache/chainer_slack_report`` (XDG Base Directory specification).
    """
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache or not os.path.isabs(cache):  # the XDG spec ignores a relative path
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "chainer_slack_report")


def _state_name(api_url: str, token: str) -> str:
    base = api_url.rstrip("/")
    return hashlib.sha256(f"{base}\0{token}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------
# The state: plain JSON-able dicts, so that one layout serves file and memory.
#
# {"v": 1,
#  "runs": {run_id: {"pid": int, "host": str, "seen": t, "last": {key: t}}},
#  "keys": {key: {"log": [t, ...], "calls": int, "per": s, "eff": float,
#                 "until": t, "ra": s, "mark": t}}}
#
# "log" holds the grant times within the window, oldest first; "eff" is the
# effective limit (AIMD); "until" ends the Retry-After block of "ra" seconds;
# "mark" is the earliest time of the next additive increase.  A bucket with
# calls == 0 only carries a block (a 429 on a key not asked for yet).
# ---------------------------------------------------------------------------

def _fresh() -> Dict[str, Any]:
    return {"v": _VERSION, "runs": {}, "keys": {}}


def _num(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _finite(values: Any) -> bool:
    """Whether ``values`` (an iterable) holds only finite numbers; cheap for long lists."""
    try:
        return math.isfinite(sum(values, 0.0))
    except TypeError:
        return False


def _sanitize(raw: Any) -> Dict[str, Any]:
    """A well-formed state from whatever a file held; malformed parts are dropped."""
    state = _fresh()
    if not isinstance(raw, dict) or raw.get("v") != _VERSION:
        return state
    runs, keys = raw.get("runs"), raw.get("keys")
    if isinstance(runs, dict):
        for run_id, run in runs.items():
            if not (isinstance(run, dict) and isinstance(run.get("pid"), int)
                    and isinstance(run.get("host"), str) and _num(run.get("seen"))):
                continue
            last = run.get("last")
            last = (dict(zip(last, map(float, last.values())))
                    if isinstance(last, dict) and _finite(last.values()) else {})
            state["runs"][run_id] = {"pid": run["pid"], "host": run["host"],
                                     "seen": float(run["seen"]), "last": last}
    if isinstance(keys, dict):
        for key, bucket in keys.items():
            if not (isinstance(bucket, dict) and isinstance(bucket.get("log"), list)
                    and isinstance(bucket.get("calls"), int) and bucket["calls"] >= 0
                    and _finite([bucket.get(f) for f in ("per", "eff", "until", "ra", "mark")])
                    and _finite(bucket["log"])):
                continue
            state["keys"][key] = {
                "log": sorted(map(float, bucket["log"])), "calls": bucket["calls"],
                "per": max(0.0, float(bucket["per"])),
                "eff": min(max(1.0, float(bucket["eff"])), float(max(1, bucket["calls"]))),
                "until": float(bucket["until"]), "ra": max(0.0, float(bucket["ra"])),
                "mark": float(bucket["mark"])}
    return state


def _parse(data: bytes) -> Dict[str, Any]:
    try:
        return _sanitize(json.loads(data))
    except (ValueError, RecursionError):  # empty, truncated or not JSON: start afresh
        return _fresh()


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


def _cap(eff: float, reserve: float, priority: bool) -> int:
    """Calls per window a priority (all of it) or other call (1 - reserve) may use."""
    if priority:
        return max(1, int(math.floor(eff + _EPS)))
    return max(1, int(math.floor(eff * (1.0 - reserve) + _EPS)))


# ---------------------------------------------------------------------------
# Stores: where the state lives and how a change to it is made atomic.
# ---------------------------------------------------------------------------

class _Guard:
    """A threading lock that a fork replaces (a child must not inherit a held one)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


_REGISTRY_LOCK = threading.Lock()
_GUARDS: Dict[str, _Guard] = {}  # state file path -> guard of the threads of this process
_MEMORY: Dict[str, _MemoryStore] = {}  # state name -> in-process state
_WARNED: set = set()  # directories already warned about


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for guard in _GUARDS.values():
        guard.lock = threading.Lock()
    for store in _MEMORY.values():
        store.guard.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Busy(Exception):
    """The file lock could not be had within the lock timeout."""


class _MemoryStore:
    path: Optional[str] = None

    def __init__(self) -> None:
        self.guard = _Guard()
        self.state = _fresh()

    def update(self, fn: Callable[[Dict[str, Any], float], Tuple[_T, bool]],
               clock: Callable[[], float]) -> _T:
        with self.guard.lock:
            return fn(self.state, clock())[0]

    def view(self, fn: Callable[[Dict[str, Any], float], _T], clock: Callable[[], float]) -> _T:
        with self.guard.lock:
            return fn(self.state, clock())


class _FileStore:
    """The state in ``<name>.json``, changed only under ``filelock`` on ``<name>.lock``.

    A change is written to ``<name>.json.tmp`` and moved over the state with
    ``os.replace``, so readers never see half a file and may read without the
    lock; a process killed mid-write leaves the old state.
    """

    def __init__(self, directory: str, name: str, lock_timeout: float) -> None:
        self.path = os.path.join(directory, name + ".json")
        self._tmp = self.path + ".tmp"
        self._lock = filelock.FileLock(os.path.join(directory, name + ".lock"))
        self._lock_timeout = lock_timeout
        key = os.path.realpath(self.path)
        with _REGISTRY_LOCK:
            self._guard = _GUARDS.setdefault(key, _Guard())

    def probe(self) -> None:
        """Raise OSError unless the lock can be taken and the directory written."""
        with self._guard.lock:
            self._acquire()
            try:
                with open(self._tmp, "wb"):
                    pass
                os.remove(self._tmp)
            finally:
                self._lock.release()

    def _acquire(self) -> None:
        try:
            self._lock.acquire(timeout=self._lock_timeout, poll_interval=_POLL)
        except filelock.Timeout:
            raise _Busy() from None

    def _read(self) -> Dict[str, Any]:
        try:
            with open(self.path, "rb") as f:
                return _parse(f.read())
        except FileNotFoundError:
            return _fresh()

    def update(self, fn: Callable[[Dict[str, Any], float], Tuple[_T, bool]],
               clock: Callable[[], float]) -> _T:
        with self._guard.lock:
            self._acquire()
            try:
                state = self._read()
                result, dirty = fn(state, clock())  # the clock is read under the lock
                if dirty:
                    data = json.dumps(state, separators=(",", ":")).encode()
                    with open(self._tmp, "wb") as f:
                        f.write(data)
                    os.replace(self._tmp, self.path)
                return result
            finally:
                self._lock.release()

    def view(self, fn: Callable[[Dict[str, Any], float], _T], clock: Callable[[], float]) -> _T:
        if _LOCKED_READS:
            return self.update(lambda state, now: (fn(state, now), False), clock)
        return fn(self._read(), clock())


# ---------------------------------------------------------------------------


class SharedBudget:
    """The Slack rate budget of all runs on this host that share a token and API URL.

    Args:
        token (str): The bot token.  Only a hash of it is kept (it names the
            state file); the token is never stored, written or shown.
        api_url (str): The Web API base URL (``WebClient.base_url``, e.g.
            ``"https://slack.com/api/"``); a trailing ``/`` does not matter.
            Different URLs (say, a test emulator) never share a budget.
        state_dir (str, optional): Directory of the state files; default
            :func:`default_state_dir`.  If it cannot be created or written,
            the budget is kept in this process only, with one
            :class:`~chainer_slack_report.SlackReportWarning`.
        reserve (float): Fraction of each window (0 ≤ reserve < 1) that only
            priority calls may use.  Default 0.2: intermediate ``chat.update``
            calls get 40 of 50 a minute, 10 are always left for finals.
        horizon (float): Seconds after its last ask or :meth:`join` that a run
            still counts as active (default 120: two ``chat.update`` windows).
        lock_timeout (float): Seconds to wait for the state's file lock before
            giving up on one operation (a holder stopped with SIGSTOP, say).
        clock (callable): Wall-clock time in seconds, the same in every
            process (default :func:`time.time`); tests inject their own.

    Every method is thread-safe and safe across processes.  Times are in
    seconds.  A ``run_id`` must be unique per run on the host (e.g. a UUID).
    """

    def __init__(self, token: str, api_url: str, *, state_dir: Optional[str] = None,
                 reserve: float = 0.2, horizon: float = 120.0, lock_timeout: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(token, str) or not isinstance(api_url, str):
            raise TypeError("SharedBudget needs the token and the API URL as str")
        if not (_num(reserve) and 0.0 <= reserve < 1.0):
            raise ValueError(f"reserve must be in [0, 1), not {reserve!r}")
        if not (_num(horizon) and horizon > 0):
            raise ValueError(f"horizon must be a positive number of seconds, not {horizon!r}")
        if not (_num(lock_timeout) and lock_timeout >= 0):
            raise ValueError(f"lock_timeout must be >= 0 seconds, not {lock_timeout!r}")
        self.reserve = float(reserve)
        self.horizon = float(horizon)
        self._clock = clock
        self._name = _state_name(api_url, token)
        self._host = socket.gethostname()
        directory = state_dir if state_dir is not None else default_state_dir()
        self.state_dir = os.path.expanduser(directory)
        self._store: Any = self._open(lock_timeout)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "in-process"
        return f"<SharedBudget {self._name} {where}>"

    @property
    def path(self) -> Optional[str]:
        """The state file, or None while the budget is kept in this process only."""
        return self._store.path

    # -- stores ------------------------------------------------------------

    def _open(self, lock_timeout: float) -> Any:
        directory = self.state_dir
        try:
            if directory.startswith("~"):  # expanduser found no home directory
                raise OSError(f"no home directory to expand {directory!r}")
            os.makedirs(directory, exist_ok=True)
            store = _FileStore(directory, self._name, lock_timeout)
        except OSError as exc:
            return self._fall_back(exc)
        try:
            store.probe()
        except _Busy:
            pass  # held by a stopped process just now; the directory itself works
        except OSError as exc:
            return self._fall_back(exc)
        return store

    def _fall_back(self, exc: OSError) -> _MemoryStore:
        with _REGISTRY_LOCK:
            store = _MEMORY.setdefault(self._name, _MemoryStore())
            first = self.state_dir not in _WARNED
            _WARNED.add(self.state_dir)
        if first:
            reason = exc.strerror or str(exc)
            warnings.warn(
                f"chainer_slack_report: cannot keep the shared Slack rate budget in "
                f"{self.state_dir!r} ({type(exc).__name__}: {reason}); keeping it in this "
                f"process only, so other processes on this host do not coordinate their Slack "
                f"calls with it. Set {STATE_DIR_ENV} to a writable directory.",
                SlackReportWarning, stacklevel=4)
        return store

    def _update(self, fn: Callable[[Dict[str, Any], float], Tuple[_T, bool]]) -> _T:
        try:
            return self._store.update(fn, self._clock)
        except _Busy:
            raise
        except OSError as exc:  # the directory went away, the disk is full, ...
            self._store = self._fall_back(exc)
            return self._store.update(fn, self._clock)

    def _view(self, fn: Callable[[Dict[str, Any], float], _T]) -> _T:
        try:
            return self._store.view(fn, self._clock)
        except OSError as exc:
            self._store = self._fall_back(exc)
            return self._store.view(fn, self._clock)

    # -- the logic, on a state dict and a time ------------------------------

    def _alive(self, run: Dict[str, Any], now: float) -> bool:
        if min(run["seen"], now) <= now - self.horizon:
            return False
        return run["host"] != self._host or _pid_alive(run["pid"])

    def _prune(self, state: Dict[str, Any], now: float) -> bool:
        """Drop runs no longer active and grants out of their window; True if changed."""
        dirty = False
        runs = state["runs"]
        for run_id in list(runs):
            run = runs[run_id]
            if not self._alive(run, now):
                del runs[run_id]
                dirty = True
                continue
            if run["seen"] > now:  # the clock was set back
                run["seen"] = now
                dirty = True
            last = run["last"]
            for key in list(last):
                if last[key] > now:
                    last[key] = now
                    dirty = True
                elif last[key] <= now - self.horizon:
                    del last[key]
                    dirty = True
        keys = state["keys"]
        for key in list(keys):
            bucket = keys[key]
            log = bucket["log"]
            start = now - bucket["per"]
            # A time after now means the clock was set back: count it as now.
            kept = [t if t <= now else now for t in log if t > start]
            if kept != log:
                bucket["log"] = kept
                dirty = True
            if bucket["until"] > now + bucket["ra"]:  # clock set back during a block
                bucket["until"] = now + bucket["ra"]
                dirty = True
            if not kept and bucket["until"] <= now and bucket["eff"] >= bucket["calls"]:
                del keys[key]  # nothing left to remember
                dirty = True
        return dirty

    def _heartbeat(self, state: Dict[str, Any], now: float, run_id: str, force: bool) -> bool:
        run = state["runs"].get(run_id)
        pid = os.getpid()
        if run is None or run["pid"] != pid or run["host"] != self._host:
            last = run["last"] if run is not None else {}
            state["runs"][run_id] = {"pid": pid, "host": self._host, "seen": now, "last": last}
            return True
        if force or abs(now - run["seen"]) >= _HEARTBEAT:
            run["seen"] = now
            return True
        return False

    @staticmethod
    def _bucket(state: Dict[str, Any], key: str, limit: Limit) -> Tuple[Dict[str, Any], bool]:
        bucket = state["keys"].get(key)
        if bucket is None:
            bucket = {"log": [], "calls": limit.calls, "per": limit.per,
                      "eff": float(limit.calls), "until": 0.0, "ra": 0.0, "mark": 0.0}
            state["keys"][key] = bucket
            return bucket, True
        if bucket["calls"] != limit.calls or bucket["per"] != limit.per:
            if bucket["calls"] == 0:  # only a block was known: start at the full limit
                bucket["eff"] = float(limit.calls)
            bucket["calls"], bucket["per"] = limit.calls, limit.per
            bucket["eff"] = min(bucket["eff"], float(limit.calls))
            return bucket, True
        return bucket, False

    def _active(self, state: Dict[str, Any], now: float) -> int:
        return sum(1 for run in state["runs"].values() if self._alive(run, now))

    def _interval(self, state: Dict[str, Any], runs: int, key: str, limit: Limit) -> float:
        bucket = state["keys"].get(key)
        eff = float(limit.calls)
        if bucket is not None and bucket["calls"]:
            eff = min(eff, bucket["eff"])
        return max(1, runs) * limit.per / _cap(eff, self.reserve, priority=False)

    # -- the API -----------------------------------------------------------

    def join(self, run_id: str) -> None:
        """Count ``run_id`` (of this process) as active now; call it again as a heartbeat.

        Every :meth:`try_acquire` is a heartbeat too, so a run that asks at
        least every ``horizon`` seconds need not call this again.
        """
        def fn(state: Dict[str, Any], now: float) -> Tuple[None, bool]:
            dirty = self._prune(state, now)
            return None, self._heartbeat(state, now, run_id, force=True) or dirty
        self._quiet(fn, "join")

    def leave(self, run_id: str) -> None:
        """Stop counting ``run_id`` at once; its share goes to the others.

        Call it after the run's last call: a later :meth:`try_acquire` under
        the same ``run_id`` counts the run again.
        """
        def fn(state: Dict[str, Any], now: float) -> Tuple[None, bool]:
            dirty = self._prune(state, now)
            return None, state["runs"].pop(run_id, None) is not None or dirty
        self._quiet(fn, "leave")

    def try_acquire(self, key: str, limit: Limit, *, run_id: str, priority: bool = False) -> float:
        """Take one call of bucket ``key`` now, if the budget allows it.

        Args:
            key (str): The bucket: ``"chat.update"`` (per app) or
                ``"chat.postMessage:<channel ID>"`` (per channel).
            limit (Limit): The bucket's limit, e.g. :data:`CHAT_UPDATE`.
            run_id (str): The asking run (this also heartbeats it).
            priority (bool): A call that must not be crowded out (a final
                update, a finish mention): it may use the reserve, is not
                held to the run's fair interval, and counts against the
                nominal ``limit`` rather than the limit cut by 429s.

        Returns:
            float: ``0.0`` if a slot was taken (make the call now); otherwise
            the seconds to wait before asking again: until Slack's
            ``Retry-After`` ends (for priority calls too), until a slot of the
            window frees, or — for a non-priority call — until this run's fair
            interval since its last non-priority call has passed.
        """
        def fn(state: Dict[str, Any], now: float) -> Tuple[float, bool]:
            dirty = self._prune(state, now)
            dirty = self._heartbeat(state, now, run_id, force=False) or dirty
            bucket, created = self._bucket(state, key, limit)
            dirty = dirty or created
            if bucket["until"] > now:
                return bucket["until"] - now, dirty
            log = bucket["log"]
            # A priority call is held to Slack's own limit, not to the AIMD guess:
            # only Retry-After and the nominal window delay a final report.
            cap = _cap(bucket["calls"] if priority else bucket["eff"], self.reserve, priority)
            wait = 0.0
            if len(log) >= cap:  # the oldest grant that must leave the window first
                wait = log[len(log) - cap] + limit.per - now
            run = state["runs"][run_id]
            if not priority and key in run["last"]:  # state["runs"] holds only active runs now
                interval = self._interval(state, len(state["runs"]), key, limit)
                wait = max(wait, run["last"][key] + interval - now)
            if wait > 0.0:
                return max(wait, _MIN_WAIT), dirty
            log.append(now)
            if not priority:
                run["last"][key] = now
            return 0.0, True
        try:
            return self._update(fn)
        except _Busy:
            logger.debug("shared Slack rate budget busy; asking again in %.1f s", _BUSY_WAIT)
            return _BUSY_WAIT

    def fair_interval(self, key: str, limit: Limit) -> float:
        """Seconds one run should leave between its own non-priority calls of ``key``.

        ``active runs × limit.per / usable calls``, where usable calls are
        ``floor(effective calls × (1 - reserve))`` (at least 1), so that all
        active runs together fill the non-reserved part of the window: 16 runs
        on :data:`CHAT_UPDATE` with reserve 0.2 → 24 s; one run → 1.5 s.  The
        active runs are counted over all keys (every run updates its message).
        """
        return self._view(
            lambda state, now: self._interval(state, self._active(state, now), key, limit))

    def effective_calls(self, key: str, limit: Limit) -> float:
        """The calls per window that bucket ``key`` allows now (``limit.calls`` cut by 429s)."""
        def fn(state: Dict[str, Any], now: float) -> float:
            bucket = state["keys"].get(key)
            if bucket is None or not bucket["calls"]:
                return float(limit.calls)
            return min(float(limit.calls), bucket["eff"])
        return self._view(fn)

    def on_rate_limited(self, key: str, retry_after: float) -> None:
        """Record Slack's HTTP 429 for bucket ``key`` with ``Retry-After`` in seconds.

        Every run on the host then waits until ``now + retry_after`` (an
        invalid or negative value counts as 1 s).  The first 429 of a block
        halves the bucket's effective limit (floor 1 call per window); 429s
        that arrive while that block lasts were caused by the same burst and
        only extend it.  The refused call's slot is given back (Slack did not
        count it), so a run that meets several 429s in a row is not also
        held back by its own refused attempts.
        """
        ra = float(retry_after) if _num(retry_after) and retry_after >= 0 else 1.0
        ra = min(ra, _MAX_RETRY_AFTER)

        def fn(state: Dict[str, Any], now: float) -> Tuple[None, bool]:
            self._prune(state, now)
            bucket = state["keys"].get(key)
            if bucket is None:  # a 429 before any ask: remember the block only
                bucket = {"log": [], "calls": 0, "per": 0.0, "eff": 1.0, "until": 0.0,
                          "ra": 0.0, "mark": 0.0}
                state["keys"][key] = bucket
            if bucket["log"]:
                bucket["log"].pop()  # the newest grant: (about) the refused call's
            if bucket["until"] <= now and bucket["calls"]:
                bucket["eff"] = max(1.0, bucket["eff"] / 2.0)
            if now + ra > bucket["until"]:
                bucket["until"], bucket["ra"] = now + ra, ra
            bucket["mark"] = max(bucket["mark"], bucket["until"] + bucket["per"])
            return None, True
        self._quiet(fn, "on_rate_limited")

    def on_success(self, key: str) -> None:
        """Record a successful call of bucket ``key``.

        Additive increase: the effective limit grows by one call, up to
        ``limit.calls``, at most once a window (``per`` seconds) and only
        once a window has passed since the end of the last 429's block.  Most
        calls only read the state (no lock, no write).
        """
        def due(state: Dict[str, Any], now: float) -> bool:
            bucket = state["keys"].get(key)
            return (bucket is not None and bucket["calls"] > 0
                    and bucket["eff"] < bucket["calls"] and now >= bucket["mark"])
        if not self._view(due):
            return

        def fn(state: Dict[str, Any], now: float) -> Tuple[None, bool]:
            if not due(state, now):
                return None, False
            bucket = state["keys"][key]
            bucket["eff"] = min(float(bucket["calls"]), bucket["eff"] + 1.0)
            bucket["mark"] = now + bucket["per"]
            return None, True
        self._quiet(fn, "on_success")

    def active_runs(self) -> int:
        """How many runs count now: joined or asked within ``horizon`` seconds,
        did not leave, and (on this host) whose process is alive."""
        return self._view(self._active)

    def _quiet(self, fn: Callable[[Dict[str, Any], float], Tuple[None, bool]], what: str) -> None:
        try:
            self._update(fn)
        except _Busy:
            logger.debug("shared Slack rate budget busy; %s skipped", what)


class RunBudget:
    """One run's use of a :class:`SharedBudget`: which bucket each Slack call draws from.

    ``chat.update`` calls draw from the app-wide ``update_limit`` bucket,
    ``chat.postMessage`` calls (new messages and thread replies) from one
    bucket per channel (:data:`CHAT_POST_MESSAGE`).

    Args:
        shared (SharedBudget): The host-wide budget of the token.
        update_limit (Limit): ``chat.update`` calls per window for all runs.
        run_id (str): This run's id, unique on the host.
    """

    def __init__(self, shared: SharedBudget, update_limit: Limit, run_id: str) -> None:
        self.shared = shared
        self.update_limit = update_limit
        self.run_id = run_id

    def _bucket(self, method: str, channel: str) -> Tuple[str, Limit]:
        if method == "chat.update":
            return "chat.update", self.update_limit
        return f"chat.postMessage:{channel}", CHAT_POST_MESSAGE

    def join(self) -> None:
        self.shared.join(self.run_id)

    def leave(self) -> None:
        self.shared.leave(self.run_id)

    def wait(self, method: str, channel: str, *, priority: bool) -> float:
        """0.0 if a call of ``method`` may go now (its slot is taken), else seconds to wait."""
        key, limit = self._bucket(method, channel)
        return self.shared.try_acquire(key, limit, run_id=self.run_id, priority=priority)

    def rate_limited(self, method: str, channel: str, retry_after: float) -> None:
        self.shared.on_rate_limited(self._bucket(method, channel)[0], retry_after)

    def succeeded(self, method: str, channel: str) -> None:
        self.shared.on_success(self._bucket(method, channel)[0])

    def update_interval(self) -> float:
        """This run's fair share: seconds between its intermediate ``chat.update`` calls."""
        return self.shared.fair_interval("chat.update", self.update_limit)
