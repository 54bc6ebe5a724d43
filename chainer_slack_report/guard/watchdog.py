"""The watchdog: a small process that reports the run if the run dies without doing so.

A process that is killed (SIGKILL: the kernel's OOM killer, ``kill -9``,
``scancel --signal=KILL``), dies of a fatal signal in native code (SIGSEGV,
SIGBUS, SIGABRT, SIGFPE, SIGILL) or leaves by ``os._exit`` runs no
``finally`` and no exit handler: its message would show ``[Training]``
forever.  The reporting rank therefore starts one watchdog process
(:func:`start_watchdog`, at the report's start) and tells it, through a pipe,
everything the message shows — the rows, the status, where the message is —
at no Slack call; the report itself arrives as its
:class:`~chainer_slack_report.assembly.ReportDescription`, so the watchdog
builds the run's message (layout, table, charts) the way the run does.
When the training process disappears without having said
that its final state is delivered, the watchdog edits the message to
``[Killed]`` (a fatal signal that ``faulthandler`` reported, or an OOM kill the
kernel counted) or ``[Lost]`` (no trace of why) and posts the thread reply
that notifies ``finish_mentions``.  It also keeps the "lost host" notice
scheduled (:mod:`~chainer_slack_report.transport.lost_notice`).

The watchdog (:mod:`~chainer_slack_report.guard.watchdog_main`) imports neither
Chainer nor PyTorch, gets the token through the pipe (never on its command
line or in its environment), runs in a session of its own (the terminal's
Ctrl-C does not reach it: the training process reports ``[Interrupted]``
itself), watches the training process by its PID (a forked DataLoader worker
that exits is not the training process), and exits within seconds of every
normal end.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..assembly import ReportDescription
from .base import Guard

__all__ = ["Watchdog", "start_watchdog", "jsonable", "FEED_DELAY"]

logger = logging.getLogger(__name__)

#: Seconds the feeder gathers rows before it sends them: the training thread wakes it at
#: most once per this time (a row every iteration costs it one ``deque.extend``).
FEED_DELAY = 0.1


def jsonable(value: Any) -> Any:
    """An observation value as JSON carries it: numbers as float or int, the rest as
    the ``str`` the table would show (``format_row`` falls back to ``str``)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if number == number and abs(number) != float("inf") else str(value)


class Watchdog(Guard):
    """The training process's side of the watchdog: feeds it, and tells it the end.

    Built by :func:`start_watchdog`.  A feeder thread writes the pipe; the
    calling threads never block on the watchdog.  Rows cost the training
    thread one ``deque.extend`` (:meth:`rows`) and, at most once per
    :data:`FEED_DELAY` seconds, a wake-up of the feeder, which sends every row
    gathered by then; status changes and the end are sent at once.

    Args:
        process (subprocess.Popen): The watchdog process (stdin a pipe).
        fault_fd (int or None): Our end of the ``faulthandler`` pipe, if we
            enabled it.
        config (dict): The watchdog's configuration, its first line (the
            description, the token, our PID).
        elapsed (callable): ``elapsed() -> float``, the run's elapsed seconds
            (read on the feeder thread).
        shown (callable or None): ``shown() -> dict or None``, the rows a
            callable ``len_normalizer`` last picked (read on the feeder thread).
    """

    def __init__(self, process: subprocess.Popen, fault_fd: Optional[int],
                 config: Dict[str, Any], *, elapsed: Callable[[], float] = lambda: 0.0,
                 shown: Optional[Callable[[], Any]] = None) -> None:
        self.process = process
        self._config = config  # the first line the feeder writes
        self._fault_fd = fault_fd  # our end of the faulthandler pipe, if we enabled it
        self._elapsed = elapsed
        self._shown = shown
        self._rows: deque = deque()  # observations not sent yet (training thread appends)
        self._queue: deque = deque()  # other messages, in order
        self._cond = threading.Condition()
        self._armed = False  # the feeder sends the rows soon: no need to wake it
        self._flush = False  # send now
        self._closed = False
        self._last_shown: Any = None  # (feeder thread) the shown rows last sent
        self._feeder = threading.Thread(target=self._feed, name="SlackReport-watchdog-feeder",
                                        daemon=True)
        self._feeder.start()

    # -- what the report tells it ----------------------------------------------------
    def rows(self, rows: List[Mapping[str, object]]) -> None:
        """New table rows (observations): sent within :data:`FEED_DELAY` seconds."""
        self._rows.extend(rows)
        if not self._armed:
            self._wake(now=False)

    def rendered(self) -> None:
        """Send what is new (the rows, the elapsed time, the rows shown) now, without
        waiting :data:`FEED_DELAY` (the report's worker calls it after each rendering: the
        watchdog then holds what Slack is sent)."""
        self._wake(now=True)

    def _wake(self, *, now: bool) -> None:
        """Wake the feeder: to send at once (``now``), or after :data:`FEED_DELAY`."""
        with self._cond:
            self._flush = self._flush or now
            self._armed = True
            self._cond.notify()

    def status(self, status: str, elapsed: float) -> None:
        self._send({"status": str(status), "elapsed": elapsed})

    def posted(self, channel_id: str, ts: str) -> None:
        """The message exists (or continues in a new one) at ``channel_id``, ``ts``."""
        self._send({"posted": [channel_id, ts]})

    def ended(self, status: str, detail: Optional[str], elapsed: float) -> None:
        """The run ended so; if it dies before :meth:`done`, the watchdog delivers this."""
        self._send({"ended": [str(status), detail], "elapsed": elapsed})

    def done(self) -> None:
        """The final state is in Slack (or given up): the watchdog cancels the lost-host
        notice and exits; it is reaped in the background."""
        self._send({"done": True})
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._fault_fd is not None:
            faulthandler.disable()
            os.close(self._fault_fd)
            self._fault_fd = None

    # -- the feeder thread -----------------------------------------------------------
    def _send(self, message: Dict[str, Any]) -> None:
        message["time"] = time.time()
        with self._cond:
            if self._closed:
                return
            self._queue.append(message)
            self._cond.notify()

    def _take(self) -> List[Dict[str, Any]]:
        """What to write now: the new rows (with the elapsed time and the rows shown),
        then the queued messages."""
        rows, batch = self._rows, []
        taken = [rows.popleft() for _ in range(len(rows))]
        if taken or self._shown is not None:
            item: Dict[str, Any] = {"time": time.time(), "elapsed": self._elapsed()}
            if taken:
                item["rows"] = [{k: jsonable(v) for k, v in row.items()} for row in taken]
            shown = self._shown() if self._shown is not None else None
            if shown is not None and shown != self._last_shown:
                item["shown"] = self._last_shown = shown
            batch.append(item)
        with self._cond:
            batch += self._queue
            self._queue.clear()
        return batch

    def _feed(self) -> None:
        pipe = self.process.stdin
        try:
            config, self._config = self._config, None  # the token is not kept
            pipe.write((json.dumps({"config": config}) + "\n").encode("utf-8"))
            pipe.flush()
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._armed or self._flush or self._queue
                                        or self._closed)
                    # rows gather for FEED_DELAY seconds; a status change, the end or a
                    # flush goes now
                    self._cond.wait_for(lambda: self._flush or self._queue or self._closed,
                                        FEED_DELAY)
                    self._armed = self._flush = False
                    last = self._closed
                batch = self._take()
                for message in batch:
                    pipe.write((json.dumps(message) + "\n").encode("utf-8"))
                pipe.flush()
                if last or any("done" in m for m in batch):
                    break
        except (OSError, ValueError) as exc:  # the watchdog is gone: nothing to feed
            logger.info("the watchdog stopped reading (%s)", exc)
        finally:
            try:
                pipe.close()
            except OSError:
                pass
            self.process.wait()  # reaped: no zombie is left behind


def start_watchdog(description: ReportDescription, token: Optional[str], *,
                   elapsed: Callable[[], float] = lambda: 0.0,
                   shown: Optional[Callable[[], Any]] = None) -> Watchdog:
    """Start the watchdog process for this process and hand it the report's description.

    Args:
        description: The report (:class:`~chainer_slack_report.assembly.ReportDescription`):
            the watchdog builds the same message from it.
        token: The bot token: it goes through the pipe, never onto the
            command line or into the environment.
        elapsed, shown: As :class:`Watchdog`'s.

    Returns:
        Watchdog: The feeding side.

    Raises:
        OSError: The process could not be started.
    """
    fault_read = fault_write = None
    if not faulthandler.is_enabled():  # a user's own faulthandler file is left alone
        fault_read, fault_write = os.pipe()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    for name in ("SLACK_BOT_TOKEN", "SLACK_USER_TOKEN"):
        env.pop(name, None)  # the token goes through the pipe only
    config = {"description": description.to_json(), "token": token, "pid": os.getpid(),
              "fault_fd": fault_read}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "chainer_slack_report.guard.watchdog_main"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
            pass_fds=(fault_read,) if fault_read is not None else (),
            start_new_session=True, close_fds=True)
    except OSError:
        for fd in (fault_read, fault_write):
            if fd is not None:
                os.close(fd)
        raise
    if fault_read is not None:
        os.close(fault_read)
        faulthandler.enable(file=fault_write, all_threads=True)
    return Watchdog(process, fault_write, config, elapsed=elapsed, shown=shown)
