"""Keys a run shows but never reports: one early warning that names them.

A typo in ``entries`` (``"main/los"``), ``sparklines=`` or ``chart=`` would
otherwise be an empty column, curve or series for the whole run.
:class:`UnreportedKeys` looks at the first rows of a run and warns once about
each key asked for but not reported in them, with the closest key that was
reported (``difflib``): "did you mean 'main/loss'?".  After its last check it
costs nothing.
"""

from __future__ import annotations

import difflib
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set

from .warning import warn

__all__ = ["UnreportedKeys", "FIRST_ROWS", "LATER_ROWS"]

#: Rows after which a key asked for and not reported is warned about.
FIRST_ROWS = 5
#: Rows after which a key of a phase that has reported nothing yet (``validation/…``,
#: ``val/…``) is warned about: an evaluator often reports less often than the log.
LATER_ROWS = 50


class UnreportedKeys:
    """Warns once about each key asked for and not reported in a run's first rows.

    Args:
        asked (mapping of str to sequence of str): The argument that asks for
            keys (``"entries"``, ``"sparklines"``, ``"chart"``) → its keys.
        first_rows (int): Rows seen before the check of every key.
        later_rows (int): Rows seen before the check of a key whose phase has
            reported nothing yet but whose name was reported in another phase
            (``validation/main/loss`` while ``main/loss`` is reported: an
            evaluator that runs every few epochs).

    A key is "reported" when a row has it, whatever its value.
    """

    def __init__(self, asked: Mapping[str, Sequence[str]], *, first_rows: int = FIRST_ROWS,
                 later_rows: int = LATER_ROWS) -> None:
        self._asked: Dict[str, List[str]] = {}  # key -> the arguments that ask for it
        for argument, keys in asked.items():
            for key in keys:
                self._asked.setdefault(key, [])
                if argument not in self._asked[key]:
                    self._asked[key].append(argument)
        self._checks = [first_rows, max(first_rows, later_rows)]
        self._rows = 0
        self._reported: Set[str] = set()

    @property
    def done(self) -> bool:
        """True once every check is made (nothing more is looked at)."""
        return not self._checks or not self._asked

    def see(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Look at new rows; warn when a check is due.  O(keys of the rows) until done."""
        if self.done:
            return
        for row in rows:
            self._reported.update(row)
            self._rows += 1
        while self._checks and self._rows >= self._checks[0]:
            self._checks.pop(0)
            self._check(final=not self._checks)
        if self.done:
            self._reported = set()

    def _check(self, *, final: bool) -> None:
        for key in [k for k in self._asked if k in self._reported]:
            del self._asked[key]
        due = [key for key in self._asked if final or not self._later(key)]
        if not due:
            return
        names = "; ".join(self._describe(key) for key in due)
        for key in due:
            del self._asked[key]
        warn(f"SlackReport: {names}: not reported in the first {self._rows} rows, so "
             f"{'it shows' if len(due) == 1 else 'they show'} nothing until reported")

    def _later(self, key: str) -> bool:
        """``validation/main/loss`` while ``main/loss`` is reported but nothing of
        ``validation/`` is: an evaluator's key, likely reported later."""
        phase, _, name = key.partition("/")
        last = key.rpartition("/")[2]
        return bool(name) and phase not in {k.partition("/")[0] for k in self._reported} and any(
            k.rpartition("/")[2] == last for k in self._reported)

    def _describe(self, key: str) -> str:
        arguments = " and ".join(self._asked[key])
        guess = _closest(key, self._reported)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        return f"{key!r} of {arguments}{hint}"


def _closest(key: str, reported: Iterable[str]) -> Optional[str]:
    """The reported key most like ``key`` (``difflib``), if any is alike enough."""
    found = difflib.get_close_matches(key, sorted(reported), n=1, cutoff=0.6)
    return found[0] if found else None
