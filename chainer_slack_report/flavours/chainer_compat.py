"""The Chainer 7 internals the Chainer flavour relies on, in one place.

Each is a private attribute of Chainer 7.8.1 (its last release, so they will
not move); ``tests/test_compat.py`` checks each against the installed Chainer.
"""

from __future__ import annotations

import functools

from chainer.training.extensions import LogReport, PlotReport

from . import internals

__all__ = ["plot_report_files", "log_report_of"]


#: ``plot_report_files(trainer)``: the image paths of the trainer's PlotReport extensions
#: (``trainer.out/loss.png``, …), from ``Trainer._extensions`` and ``PlotReport._file_name``.
plot_report_files = functools.partial(internals.plot_report_files, plot_report=PlotReport)
#: ``log_report_of(print_report, trainer)``: the LogReport a PrintReport reads
#: (``PrintReport._log_report``) and whether it owns it (:func:`.internals.log_report_of`).
log_report_of = functools.partial(internals.log_report_of, log_report=LogReport)
