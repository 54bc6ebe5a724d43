"""``SlackReportWarning``, the one warning category of this package, and :func:`warn`."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from typing import Iterator, NamedTuple, Optional, Tuple

__all__ = ["SlackReportWarning", "warn", "user_site", "UserSite", "pointing_at"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Frames of these packages are skipped too: a warning raised while a trainer
# runs points at the user's ``trainer.run()`` line, not at the framework.
_FRAMEWORKS = ("chainer", "pytorch_pfn_extras")


class SlackReportWarning(UserWarning):
    """Something went wrong reporting to Slack; training goes on regardless.

    Every warning of this package has this category, so that one filter
    (``warnings.filterwarnings("ignore", category=SlackReportWarning)``)
    silences, or ``"error"`` surfaces, all of them.
    """


class UserSite(NamedTuple):
    """A line of the user's code that warnings given later, on a thread with no frame of
    the user's (the worker that talks to Slack), point at: see :func:`user_site`."""

    filename: str
    lineno: int
    module_globals: dict  #: the globals of the line's module (its warning registry, source)


def user_site() -> Optional[UserSite]:
    """The user's line that calls this now (e.g. the constructor call of a report), as
    :func:`warn` would point at it; None when no frame of the user's calls (a thread)."""
    found = _user_frame(sys._getframe(1))
    if found is None:
        return None
    frame = found[0]
    return UserSite(frame.f_code.co_filename, frame.f_lineno, frame.f_globals)


_THREAD = threading.local()  # .site: where this thread's warnings point (pointing_at)


@contextlib.contextmanager
def pointing_at(site: Optional[UserSite]) -> Iterator[None]:
    """Within the block, :func:`warn` on this thread points at ``site`` when no frame of
    the user's calls it (code of the package's that knows no site itself)."""
    previous = getattr(_THREAD, "site", None)
    _THREAD.site = site
    try:
        yield
    finally:
        _THREAD.site = previous


def warn(message: str, *, site: Optional[UserSite] = None) -> None:
    """Give a :class:`SlackReportWarning` that points at the user's code.

    The warning's location is the innermost calling frame outside this
    package and outside Chainer's and pytorch-pfn-extras' own code (e.g. the
    line that built the extension, or the ``trainer.run()`` line).  On a
    background thread, where no user frame exists, it is ``site`` (captured
    by :func:`user_site` where the user's code called; else the one of
    :func:`pointing_at`), else this package's frame.
    """
    found = _user_frame(sys._getframe(1))
    site = site or getattr(_THREAD, "site", None)
    if found is None and site is not None:
        registry = site.module_globals.setdefault("__warningregistry__", {})
        warnings.warn_explicit(message, SlackReportWarning, site.filename, site.lineno,
                               module=site.module_globals.get("__name__"), registry=registry,
                               module_globals=site.module_globals)
        return
    warnings.warn(message, SlackReportWarning, stacklevel=found[1] if found else 2)


def _user_frame(frame) -> Optional[Tuple[object, int]]:
    """The innermost frame from ``frame`` outward that is the user's, and its
    ``stacklevel`` for a ``warnings.warn`` called one frame inside ``frame``; None when
    there is none (only this package, the frameworks, and a thread's bootstrap)."""
    skip = [_PACKAGE_DIR]
    for name in _FRAMEWORKS:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            skip.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    level = 2
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(tuple(skip)):
            return (frame, level) if filename != threading.__file__ else None
        frame = frame.f_back
        level += 1
    return None
