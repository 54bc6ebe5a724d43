"""``SlackReportWarning``, the one warning category of this package, and :func:`warn`."""

from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = ["SlackReportWarning", "warn"]

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


def warn(message: str) -> None:
    """Give a :class:`SlackReportWarning` that points at the user's code.

    The warning's location is the innermost calling frame outside this
    package and outside Chainer's and pytorch-pfn-extras' own code (e.g. the
    line that built the extension, or the ``trainer.run()`` line).  On a
    background thread, where no user frame exists, it is this package's frame.
    """
    warnings.warn(message, SlackReportWarning, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    skip = [_PACKAGE_DIR]
    for name in _FRAMEWORKS:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            skip.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    frame = sys._getframe(2)  # the caller of warn()
    level = 2
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(tuple(skip)):
            return level if filename != threading.__file__ else 2
        frame = frame.f_back
        level += 1
    return 2
