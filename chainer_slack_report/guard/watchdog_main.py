"""The watchdog process: ``python -m chainer_slack_report.guard.watchdog_main`` (started by
:func:`~chainer_slack_report.guard.watchdog.start_watchdog`, never by hand).

It reads JSON lines on stdin — first the configuration (the report's
:class:`~chainer_slack_report.assembly.ReportDescription`, the token, the PID),
then what the report shows: ``rows``, ``shown``, ``status``, ``posted``,
``ended``, ``done`` — and keeps a replica of the run's message, built by the
same :class:`~chainer_slack_report.assembly.Assembly` as the run's and fed the
same rows: its final edit keeps the run's layout (the blocks' data table and
charts), normalizer and client settings.
It watches the training process by PID (a pidfd where Linux has one,
else a poll of ``/proc``), reads what ``faulthandler`` writes on a fatal
signal, and notes the OOM kill counters (:mod:`~chainer_slack_report.job.oom`).

* ``done``: the run delivered its final state: cancel the lost-host notice, exit.
* The training process is gone without ``done``: edit the message to how it
  ended — the outcome it had announced (``ended``) but not delivered, else
  ``[Killed]`` (faulthandler's fatal error, or an OOM kill) or ``[Lost]`` —
  with the elapsed time stopped at the death, the host and PID; post the reply
  that notifies ``finish_mentions``; cancel the notice; exit.

Its Slack calls go through a
:class:`~chainer_slack_report.transport.live_message.LiveMessage` and the host's
shared rate budget, like the run's own.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import Any, Dict, List, Optional

from ..assembly import Assembly, ReportDescription
from ..board.member import BOARD_RUN, board_spec, keeper_of
from ..job.fatal import parse_fatal_error
from ..job.oom import oom_counters, oom_verdict
from ..job.procfs import OtherProcess
from ..outcome import Outcome, Status
from ..transport.lost_notice import LostNotice
from .watchdog import ACK

__all__ = ["main", "FAULT_WINDOW", "OOM_GRACE"]

#: Seconds: faulthandler's text counts as the cause only if it came this soon before the
#: death (a forked worker that crashed earlier wrote to the same pipe).
FAULT_WINDOW = 5.0
#: Seconds to wait after the death before reading the OOM counters again.
OOM_GRACE = 0.2
_POLL = 0.5  # seconds between two looks at /proc where there is no pidfd


class _Parent:
    """The training process, watched by PID: a pidfd (readable once it has ended) where
    Linux has one, else :class:`~chainer_slack_report.job.procfs.OtherProcess` polled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd: Optional[int] = None
        self._other = OtherProcess(pid)
        # Started by it: if our parent is another by now, it died before we looked
        # (and its PID may already be another process's).
        self._gone = os.getppid() != pid
        try:
            self.fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here (or it has already gone)
            self.fd = None

    def alive(self) -> bool:
        if self._gone:
            return False
        if self.fd is not None:
            return not select.select([self.fd], [], [], 0)[0]
        return self._other.alive()


class _Run:
    """The replica of the run's report, from what the pipe says."""

    def __init__(self, config: Dict[str, Any]) -> None:
        self.description = ReportDescription.from_json(config["description"])
        self.assembly = Assembly(self.description)
        self.options = self.assembly.options
        self.message = self.assembly.message
        self.ref: Optional[List[str]] = None  # [channel ID, ts] once posted
        self.ended: Optional[Outcome] = None
        self.done = False
        self._elapsed = (0.0, time.time())  # (the run's elapsed seconds, at this time)
        self.message.clock = self.elapsed_at

    def elapsed_at(self, when: Optional[float] = None) -> float:
        seconds, at = self._elapsed
        return seconds + max(0.0, (time.time() if when is None else when) - at)

    def apply(self, item: Dict[str, Any]) -> None:
        if "elapsed" in item:
            self._elapsed = (float(item["elapsed"]), float(item.get("time") or time.time()))
        if "rows" in item:
            self.assembly.push(item["rows"])
        if "shown" in item:
            self.assembly.give_rows(item["shown"])
        if "status" in item:
            self.message.show(Status(item["status"]))
        if "posted" in item:
            self.ref = list(item["posted"])
        if "ended" in item:
            status, detail = item["ended"]
            self.ended = Outcome(Status(status), detail)
        if item.get("done"):
            self.done = True


def main() -> int:
    reader = _Lines(sys.stdin.buffer.fileno())
    first = reader.next(None)
    if first is None or "config" not in first:
        return 2
    config = first["config"]
    run = _Run(config)
    parent = _Parent(int(config["pid"]))
    counters = oom_counters(parent.pid)
    fault = _FaultPipe(config.get("fault_fd"))
    client = run.description.client.client(config.get("token"))
    budget = run.assembly.budget(client)
    lost_after = run.options.lost_after
    notice: Optional[LostNotice] = None
    old_notices: List[LostNotice] = []  # of earlier messages, whose delete failed once
    died_at = None
    while True:
        for item in reader.drain():  # what is buffered, and what is readable now
            run.apply(item)
        fault.read()
        if run.done:
            break
        if notice is not None and run.ref and [notice.channel_id, notice.thread_ts] != run.ref:
            if not notice.cancel():  # the run continues in a new message: so does the notice
                old_notices.append(notice)  # its failed delete is retried below
            notice = None
        if run.ref and notice is None and lost_after:
            notice = LostNotice(client, run.ref[0], run.ref[1], lost_after=lost_after,
                                text=run.message.notice_text, budget=budget)
        if not parent.alive():
            died_at = time.time()
            break
        timeout = _POLL if parent.fd is None else None
        for keeping in ([notice] if notice is not None else []) + old_notices:
            wait = keeping.keep() if keeping is notice else keeping.retry_delete()
            if wait is not None:
                timeout = wait if timeout is None else min(timeout, wait)
        old_notices = [old for old in old_notices if not old.settled]
        _wait([reader.fd, fault.fd, parent.fd], timeout)
    if died_at is not None:
        time.sleep(OOM_GRACE)  # let the kernel count the kill; let the pipes drain
        for item in reader.drain():
            run.apply(item)
        fault.read()
        if not run.done:
            _report_death(run, parent, client, budget, died_at, fault, counters)
    if notice is not None:
        notice.cancel()  # the first try; end() waits for the acknowledgement
    _acknowledge()
    for left in ([notice] if notice is not None else []) + old_notices:
        left.finish(time.time() + left.lost_after + 60.0)  # also after the run exited
    return 0


def _acknowledge() -> None:
    """Tell the training process (waiting in ``end()``) that the first delete was tried."""
    try:
        os.write(sys.stdout.fileno(), ACK)
    except OSError:  # it has gone
        pass


def _report_death(run: _Run, parent: _Parent, client, budget, died_at: float,
                  fault: _FaultPipe, counters) -> None:
    host = run.message.run_info["hostname"]
    where = f"PID {parent.pid} on {host}"
    outcome = run.ended
    if outcome is None:
        fatal = parse_fatal_error(fault.text) if fault.recent(died_at) else None
        oom = oom_verdict(counters, oom_counters(parent.pid, cgroup_path=counters.cgroup_path))
        if fatal is not None:
            outcome = Outcome.killed(fatal.detail(where))
        elif oom is not None:
            outcome = Outcome.killed(f"{where} was killed by SIGKILL: {oom}")
        else:
            outcome = Outcome.lost(f"{where} ended without a final report (SIGKILL or "
                                   f"os._exit?)")
    run.message.end(outcome, run.elapsed_at(died_at))
    if run.options.board is not None:  # the run's row on its sweep's board says how it ended
        spec = board_spec(run.options, run.description.run_info[BOARD_RUN])
        keeper = keeper_of(spec, run.message, client, run.description.channel, budget)
        if keeper is not None:
            if run.ref:  # the run's own message is posted: the board's end need not wait
                keeper.own_posted()
            keeper.end_now()
    ref = run.ref
    live = run.assembly.live_message(client, ref=tuple(ref) if ref else None, min_interval=0.0,
                                     budget=budget, name="SlackReport-watchdog")
    live.start()
    live.close(run.message.reply_text if run.message.mentions else None)
    if not live.wait(run.options.exit_timeout or 120.0):
        live.abandon()
        sys.stderr.write(f"chainer_slack_report watchdog: the final report did not reach "
                         f"Slack:\n{run.message.render(run.options.max_bytes)}\n")


class _Lines:
    """JSON lines from a descriptor, read as they come."""

    def __init__(self, fd: int) -> None:
        self.fd: Optional[int] = fd
        self._buffer = b""

    def next(self, timeout: Optional[float]) -> Optional[dict]:
        while b"\n" not in self._buffer:
            if self.fd is None or not _wait([self.fd], timeout):
                return None
            if not self._read():
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def drain(self) -> List[dict]:
        """Every complete line readable now."""
        if self.fd is not None and _wait([self.fd], 0):
            self._read()
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]

    def _read(self) -> bool:
        data = os.read(self.fd, 1 << 16)
        if not data:  # EOF: the training process closed it (it is ending)
            self.fd = None
            return False
        self._buffer += data
        return True


class _FaultPipe:
    """What faulthandler writes, kept (and passed on to stderr, where it would have gone)."""

    def __init__(self, fd: Optional[int]) -> None:
        self.fd = fd
        self.text = ""
        self.at = 0.0  # when the last of it came

    def read(self) -> None:
        while self.fd is not None and _wait([self.fd], 0):
            data = os.read(self.fd, 1 << 16)
            if not data:
                self.fd = None
                return
            chunk = data.decode("utf-8", "replace")
            self.text = (self.text + chunk)[-65536:]
            self.at = time.time()
            sys.stderr.write(chunk)
            sys.stderr.flush()

    def recent(self, died_at: float) -> bool:
        return bool(self.text) and died_at - self.at <= FAULT_WINDOW


def _wait(fds, timeout: Optional[float]) -> List[int]:
    fds = [fd for fd in fds if fd is not None]
    if not fds:
        time.sleep(timeout or 0)
        return []
    return select.select(fds, [], [], timeout)[0]


if __name__ == "__main__":
    sys.exit(main())
