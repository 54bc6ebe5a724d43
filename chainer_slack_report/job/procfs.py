"""Another process (not our child), as Linux's /proc shows it: whether it still
runs, how old it is, its command line.  Without /proc only ``kill(pid, 0)`` is known."""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

__all__ = ["OtherProcess", "cpu_seconds"]


class OtherProcess:
    """A process that is not our child: alive until it is gone, a zombie, or its PID
    is reused (a different start time).

    Args:
        pid (int): Its process ID.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        stat = _stat(pid)
        #: Its start, in clock ticks after boot (None without /proc).
        self.start_ticks: Optional[int] = stat[1] if stat else None

    def alive(self) -> bool:
        """True while the process runs (a zombie has ended; another user's counts)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's: it exists
        stat = _stat(self.pid)
        if stat is None:
            return True
        state, start = stat
        return state not in ("Z", "X") and start == (self.start_ticks or start)

    def age(self) -> Optional[float]:
        """Seconds since the process started, or None where /proc does not say."""
        if self.start_ticks is None:
            return None
        try:
            with open("/proc/uptime", encoding="utf-8") as file:
                uptime = float(file.read().split()[0])
            return max(0.0, uptime - self.start_ticks / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    def cmdline(self) -> Optional[List[str]]:
        """Its command line (argv), or None where /proc does not say."""
        try:
            with open(f"/proc/{self.pid}/cmdline", "rb") as file:
                parts = file.read().split(b"\0")
        except OSError:
            return None
        argv = [p.decode("utf-8", "replace") for p in parts if p]
        return argv or None


def _stat(pid: int) -> Optional[Tuple[str, int]]:
    """``(state, start time in clock ticks)`` from /proc, or None where there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> Optional[float]:
    """CPU time, user + system, in seconds, that process ``pid`` (all its threads) has
    used (``utime`` + ``stime`` of ``/proc/<pid>/stat``); None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return None
