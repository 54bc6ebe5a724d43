"""Where a shared state lives, and how a change to it is made atomic.

:class:`BudgetStore` keeps one shared document — a budget's
:class:`~.state.State`, or any type with the same ``from_json(bytes)`` /
``to_json() -> bytes`` pair (a sweep's board,
:class:`~chainer_slack_report.board.state.BoardState`) — in a file of
the state directory, changed only under a ``filelock`` lock (so processes on
the host take turns) and a threading lock (so threads of one process do);
if the directory cannot be used it keeps the state in this process's memory
instead, with one :class:`~chainer_slack_report.SlackReportWarning`.  The
locks of this module are replaced in a forked child, which must not inherit
one held by a thread that did not fork with it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from typing import Callable, Dict, Optional, Tuple, TypeVar, Union

import filelock

from ...warning import SlackReportWarning
from .state import State

__all__ = ["STATE_DIR_ENV", "default_state_dir", "state_name", "Busy", "BudgetStore", "Document"]

#: Environment variable naming the directory of the shared state files.
STATE_DIR_ENV = "CHAINER_SLACK_REPORT_STATE_DIR"

_T = TypeVar("_T")
#: The type of the document a store keeps: ``Document.from_json(data: bytes)`` reads what
#: ``to_json()`` wrote (anything malformed, or ``b""``, gives a fresh document) and
#: ``Document()`` is a fresh one.  Default :class:`~.state.State`.
Document = type
#: ``fn(state, now) -> (result, changed)``: a change; ``state`` is written back if changed.
Change = Callable[[State, float], Tuple[_T, bool]]
#: ``fn(state, now) -> result``: a look that changes nothing.
Look = Callable[[State, float], _T]

_POLL = 0.001  # seconds between two tries of a contended file lock
# On Windows os.replace fails while another process has the target open, so
# there readers take the lock too; elsewhere they read without it.
_LOCKED_READS = os.name == "nt"


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


def state_name(api_url: str, token: str) -> str:
    """The state's file name (without extension): the first 16 hex digits of the
    SHA-256 of ``api_url`` (without a trailing ``/``), a NUL and ``token``."""
    base = api_url.rstrip("/")
    return hashlib.sha256(f"{base}\0{token}".encode()).hexdigest()[:16]


class Busy(Exception):
    """The file lock could not be had within the lock timeout."""


class _Guard:
    """A threading lock that a fork replaces (a child must not inherit a held one)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


_REGISTRY_LOCK = threading.Lock()
_GUARDS: Dict[str, _Guard] = {}  # state file path -> guard of the threads of this process
_MEMORY: Dict[str, _MemoryStore] = {}  # state name -> in-process state
_WARNED: set = set()  # directories (and reset state files) already warned about


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for guard in _GUARDS.values():
        guard.lock = threading.Lock()
    for store in _MEMORY.values():
        store.guard.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _MemoryStore:
    """The state in this process only (shared by its budgets of the same name)."""

    path: Optional[str] = None

    def __init__(self, document: Document = State) -> None:
        self.guard = _Guard()
        self.state = document()

    def update(self, fn: Change[_T], clock: Callable[[], float]) -> _T:
        with self.guard.lock:
            return fn(self.state, clock())[0]

    def view(self, fn: Look[_T], clock: Callable[[], float]) -> _T:
        with self.guard.lock:
            return fn(self.state, clock())


class _FileStore:
    """The state in ``<name>.json``, changed only under ``filelock`` on ``<name>.lock``.

    A change is written to ``<name>.json.tmp`` and moved over the state with
    ``os.replace``, so readers never see half a file and may read without the
    lock; a process killed mid-write leaves the old state.
    """

    def __init__(self, directory: str, name: str, lock_timeout: float,
                 document: Document = State) -> None:
        self._document = document
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
            raise Busy() from None

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                state = self._document.from_json(f.read())
        except FileNotFoundError:
            return self._document()
        reset = getattr(state, "reset", None)
        if reset and self.path not in _WARNED:
            _WARNED.add(self.path)
            warnings.warn(f"chainer_slack_report: the shared Slack rate budget's state file "
                          f"{self.path!r} held a value out of range ({reset}); it is "
                          f"started afresh", SlackReportWarning, stacklevel=2)
        return state

    def update(self, fn: Change[_T], clock: Callable[[], float]) -> _T:
        with self._guard.lock:
            self._acquire()
            try:
                state = self._read()
                result, changed = fn(state, clock())  # the clock is read under the lock
                if changed or state.reset:  # a reset state is written back at once
                    with open(self._tmp, "wb") as f:
                        f.write(state.to_json())
                    os.replace(self._tmp, self.path)
                return result
            finally:
                self._lock.release()

    def view(self, fn: Look[_T], clock: Callable[[], float]) -> _T:
        if _LOCKED_READS:
            return self.update(lambda state, now: (fn(state, now), False), clock)
        return fn(self._read(), clock())


class BudgetStore:
    """One shared document: in ``<state_dir>/<name>.json``, or in this process only.

    Args:
        state_dir (str): The directory of the state files; created if missing.
        name (str): The state's name (:func:`state_name`; a board's state has its own).
        lock_timeout (float): Seconds to wait for the file lock before one
            operation gives up with :class:`Busy`.
        clock (callable): Time in seconds, read once per operation, under the lock.
        document (type): What the file holds (:data:`Document`); default the
            budget's :class:`~.state.State`.
        what (str): What the state is, as the warning names it.

    If the directory cannot be created or written — now, or later (it went
    away, the disk is full) — the state is kept in this process only, and
    the first budget of each directory to meet that warns once
    (:class:`~chainer_slack_report.SlackReportWarning`).
    """

    #: Runs on this host whose process is gone stop counting at once.
    checks_pids = True

    def __init__(self, state_dir: str, name: str, *, lock_timeout: float,
                 clock: Callable[[], float], document: Document = State,
                 what: str = "the shared Slack rate budget") -> None:
        self.state_dir = state_dir
        self._name = name
        self._clock = clock
        self._document = document
        self._what = what
        self._store = self._open(lock_timeout)

    @property
    def path(self) -> Optional[str]:
        """The state file, or None while the state is kept in this process only."""
        return self._store.path

    def where(self) -> str:
        """The state file, or where the state is kept instead, as messages show it."""
        return self.path or f"this process only (cannot use {self.state_dir})"

    def update(self, fn: Change[_T]) -> _T:
        """``fn(state, now)``'s result; the state is written back if it says it changed.

        Raises:
            Busy: The file lock could not be had within the lock timeout.
        """
        try:
            return self._store.update(fn, self._clock)
        except Busy:
            raise
        except OSError as exc:  # the directory went away, the disk is full, ...
            self._store = self._fall_back(exc)
            return self._store.update(fn, self._clock)

    def view(self, fn: Look[_T]) -> _T:
        """``fn(state, now)``'s result (the state as the last change left it, read
        without the lock where the platform allows)."""
        try:
            return self._store.view(fn, self._clock)
        except OSError as exc:
            self._store = self._fall_back(exc)
            return self._store.view(fn, self._clock)

    def _open(self, lock_timeout: float) -> Union[_FileStore, _MemoryStore]:
        directory = self.state_dir
        try:
            if directory.startswith("~"):  # expanduser found no home directory
                raise OSError(f"no home directory to expand {directory!r}")
            os.makedirs(directory, exist_ok=True)
            store = _FileStore(directory, self._name, lock_timeout, self._document)
        except OSError as exc:
            return self._fall_back(exc)
        try:
            store.probe()
        except Busy:
            pass  # held by a stopped process just now; the directory itself works
        except OSError as exc:
            return self._fall_back(exc)
        return store

    def _fall_back(self, exc: OSError) -> _MemoryStore:
        with _REGISTRY_LOCK:
            store = _MEMORY.get(self._name)
            if store is None:
                store = _MEMORY[self._name] = _MemoryStore(self._document)
            first = self.state_dir not in _WARNED
            _WARNED.add(self.state_dir)
        if first:
            reason = exc.strerror or str(exc)
            warnings.warn(
                f"chainer_slack_report: cannot keep {self._what} in "
                f"{self.state_dir!r} ({type(exc).__name__}: {reason}); keeping it in this "
                f"process only, so other processes on this host do not coordinate their Slack "
                f"calls with it. Set {STATE_DIR_ENV} to a writable directory.",
                SlackReportWarning, stacklevel=5)
        return store
