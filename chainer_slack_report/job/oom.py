"""Did the kernel's OOM killer end a process?  Its counters, read before and after.

A process killed by the OOM killer gets SIGKILL like any ``kill -9``: its exit
leaves no trace of why.  The kernel counts its OOM kills, though, and the
count is readable by anyone:

* the process's memory cgroup (``/proc/PID/cgroup``): cgroup v2
  ``memory.events`` (``oom_kill N``; also counts kills in child cgroups), or
  cgroup v1 ``memory.oom_control`` (``oom_kill N``, since Linux 4.13);
* the whole host: ``/proc/vmstat`` (``oom_kill N``, since Linux 4.13).

:func:`oom_counters` reads them for a PID while it lives; after it died,
:func:`oom_verdict` compares a new reading with the old one.  A rise of the
process's own cgroup counter says the OOM killer ended something in its
cgroup as it died (in a job's own cgroup or container: the job); a rise of the
host's counter alone says only that it ended some process on the host.  No
counter on other systems: no verdict.
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple, Optional

__all__ = ["OomCounters", "oom_counters", "oom_verdict", "OOM_DETAIL", "OOM_HOST_DETAIL"]

_CGROUP_ROOT = "/sys/fs/cgroup"

#: What a rise of the process's own cgroup counter means for the run.
OOM_DETAIL = "out of memory: the kernel's OOM killer ended it"
#: What a rise of the host's counter alone means.
OOM_HOST_DETAIL = ("probably out of memory: the kernel's OOM killer ended a process on this "
                   "host as it died")


class OomCounters(NamedTuple):
    """OOM kill counts: of a process's memory cgroup (None: unknown) and of the host."""

    cgroup_path: Optional[str]  #: the counter file of the process's memory cgroup
    cgroup: Optional[int]
    host: Optional[int]


def oom_counters(pid: int, *, cgroup_path: Optional[str] = None) -> OomCounters:
    """The OOM kill counters for process ``pid`` now.

    Args:
        pid: A living process (its cgroup is read from ``/proc/PID/cgroup``).
        cgroup_path: The counter file to read instead (the one an earlier
            reading found: a dead process has no ``/proc/PID/cgroup`` any more).
    """
    path = cgroup_path or _cgroup_counter_file(pid)
    return OomCounters(path, _read_oom_kill(path) if path else None,
                       _read_oom_kill("/proc/vmstat"))


def oom_verdict(before: OomCounters, after: OomCounters) -> Optional[str]:
    """:data:`OOM_DETAIL` if the cgroup's counter rose, :data:`OOM_HOST_DETAIL` if only
    the host's did (or the cgroup's is unknown), None if neither."""
    if before.cgroup is not None and after.cgroup is not None:
        return OOM_DETAIL if after.cgroup > before.cgroup else None
    if before.host is not None and after.host is not None and after.host > before.host:
        return OOM_HOST_DETAIL
    return None


def _cgroup_counter_file(pid: int) -> Optional[str]:
    """``memory.events`` (v2) or ``memory.oom_control`` (v1) of ``pid``'s memory cgroup."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    paths: Dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    candidates = []
    if "memory" in paths:  # cgroup v1
        candidates.append(os.path.join(_CGROUP_ROOT, "memory", paths["memory"].lstrip("/"),
                                       "memory.oom_control"))
    if "" in paths:  # cgroup v2 (the unified hierarchy)
        candidates.append(os.path.join(_CGROUP_ROOT, paths[""].lstrip("/"), "memory.events"))
        candidates.append(os.path.join(_CGROUP_ROOT, "unified", paths[""].lstrip("/"),
                                       "memory.events"))
    for candidate in candidates:
        if _read_oom_kill(candidate) is not None:
            return candidate
    return None


def _read_oom_kill(path: str) -> Optional[int]:
    """The ``oom_kill N`` line of a counter file, or None if it has none."""
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        return None
    return None
