"""The private attributes Chainer 7 and pytorch-pfn-extras share.

pytorch-pfn-extras' training classes are Chainer's, ported: both keep a
trainer's (manager's) extensions in ``_extensions`` (name → entry with an
``extension``), a PlotReport's file name in ``_file_name``, and a
PrintReport's LogReport (or its name) in ``_log_report``.  The compat module of
each framework (:mod:`.chainer_compat`, :mod:`.ppe_compat`) passes its own
classes to these.
"""

from __future__ import annotations

import os
from typing import List, Tuple

__all__ = ["plot_report_files", "log_report_of"]


def plot_report_files(host, plot_report: type) -> List[str]:
    """``host.out/<file name>`` of each of the host's extensions that is a ``plot_report``."""
    return [os.path.join(host.out, entry.extension._file_name)
            for entry in host._extensions.values() if isinstance(entry.extension, plot_report)]


def log_report_of(print_report, host, log_report: type) -> Tuple[object, bool]:
    """The LogReport a PrintReport reads, and whether the PrintReport owns it (and so must
    run it) rather than naming an extension of ``host``.

    Raises:
        ValueError: ``host`` has no extension of the name given.
        TypeError: The extension of that name is no ``log_report``.
    """
    own = print_report._log_report
    if not isinstance(own, str):
        return own, True
    found = host.get_extension(own)
    if not isinstance(found, log_report):
        raise TypeError(f"log_report {own!r} must name a LogReport, got {type(found).__name__}")
    return found, False
