"""Faults a test injects: error answers, HTTP 429 and 5xx, latency, outages.

:class:`Faults` is what ``SlackEmulator.fail``, ``rate_limit``, ``set_down``
and ``latency`` set; the emulator asks it, for each request, how long to wait,
whether the connection is dropped and which injected answer (if any) to give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Union

__all__ = ["Fault", "Faults"]


@dataclass
class Fault:
    """An injected answer for the next ``remaining`` calls of ``method`` (``"*"``: any)."""

    method: str
    error: Optional[str]  #: Slack error code; None: a non-JSON body (a load balancer's)
    status: int  #: HTTP status
    retry_after: Optional[float]  #: seconds for ``Retry-After``; None: no header
    remaining: float  #: answers left; ``float("inf")``: until cleared
    dropped: bool = False  #: close the connection without an answer instead


class Faults:
    """The injected faults, the outage switch and the latency.

    Not thread-safe on its own: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        self._faults: List[Fault] = []
        #: True while every connection is closed without an answer
        self.down = False
        #: Seconds each API call waits before answering, or fn(method) -> seconds.
        self.latency: Union[float, Callable[[str], float]] = 0.0

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str) -> Optional[Fault]:
        """The first fault that applies to ``method``, counted as used; None if none does."""
        for fault in self._faults:
            if fault.method in ("*", method) and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    def delay(self, method: str) -> float:
        """Seconds a call of ``method`` waits before it is answered."""
        latency = self.latency
        return float(latency(method) if callable(latency) else latency)
