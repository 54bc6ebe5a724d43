"""The Chainer 7 internals the Chainer flavour relies on, in one place.

Each is a private attribute of Chainer 7.8.1 (its last release, so they will
not move); ``tests/test_compat.py`` checks each against the installed Chainer.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from chainer.training.extensions import LogReport, PlotReport

__all__ = ["plot_report_files", "log_report_of"]


def plot_report_files(trainer) -> List[str]:
    """The image paths of the trainer's PlotReport extensions (``trainer.out/loss.png``, …).

    Chainer keeps extensions in ``Trainer._extensions`` (name → entry) and a
    PlotReport's file name in ``PlotReport._file_name``; neither is public.
    """
    entries = trainer._extensions.values()
    return [os.path.join(trainer.out, entry.extension._file_name) for entry in entries
            if isinstance(entry.extension, PlotReport)]


def log_report_of(print_report, trainer) -> Tuple[LogReport, bool]:
    """The LogReport a PrintReport reads (``PrintReport._log_report``), and whether the
    PrintReport owns it (and so must run it) rather than naming a trainer extension.

    Raises:
        ValueError: The trainer has no extension of the name given.
    """
    log_report = print_report._log_report
    if isinstance(log_report, str):
        return trainer.get_extension(log_report), False
    return log_report, True
