"""A LogReport file (Chainer's ``result/log``, pytorch-pfn-extras' ``log``) read while its
job rewrites it: a JSON list of rows, written anew as a whole for each new row."""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from .common import say

__all__ = ["LogFile", "keys"]


class LogFile:
    """A LogReport file, rewritten as a whole when a row is added.

    Args:
        path (str): The file; it may not exist yet.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = None  # what the file was when last looked at
        self._warned = False
        #: True once the file has existed at a look (:meth:`changed`).
        self.appeared = False

    def changed(self) -> bool:
        """True if the file is not as it was at the previous call (it appeared, grew…)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        changed, self._stamp = stamp != self._stamp, stamp
        self.appeared = self.appeared or stamp is not None
        return changed

    def rows(self) -> Optional[List[dict]]:
        """Every row, or None while the file is missing, empty or half written.

        A file that holds JSON but no list is said once, as a warning of the tool's.
        """
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            return None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None  # written right now: read it again at the next look
        if not isinstance(data, list):
            if not self._warned:
                self._warned = True
                say(f"warning: {self.path} is not a LogReport file (a JSON list of "
                    f"rows); waiting for one")
            return None
        return [row for row in data if isinstance(row, dict)]


def keys(rows: List[dict]) -> List[str]:
    """The keys of ``rows`` in first-seen order, ``epoch`` and ``iteration`` first."""
    seen: Dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    first = [k for k in ("epoch", "iteration") if k in seen]
    return first + [k for k in seen if k not in first]
