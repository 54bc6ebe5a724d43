"""The pytorch-pfn-extras internals the ppe flavour relies on, in one place.

Each is a private attribute of pytorch-pfn-extras (checked from 0.9.0 on, the
lowest version the package declares; ``tests/test_ppe.py`` checks each
against the installed version).
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, Tuple

from pytorch_pfn_extras.training import manager as _manager_module
from pytorch_pfn_extras.training.extensions import LogReport, PlotReport

from . import internals

__all__ = ["plot_report_files", "log_report_of", "new_looker", "training_length",
           "restoring"]


#: ``plot_report_files(manager)``: the image paths of the manager's PlotReport
#: extensions (``manager.out/loss.png``, …), from ``ExtensionsManager._extensions``
#: and ``PlotReport._file_name``.
plot_report_files = functools.partial(internals.plot_report_files, plot_report=PlotReport)
#: ``log_report_of(print_report, manager)``: the LogReport a PrintReport reads
#: (``PrintReport._log_report``) and whether it owns it (:func:`.internals.log_report_of`).
log_report_of = functools.partial(internals.log_report_of, log_report=LogReport)


def new_looker(log_report: LogReport):
    """A reader of the LogReport's rows of its own, as ppe's PrintReport has
    (``LogReport._log_buffer.emit_new_looker()``): ``get()`` gives the rows since its
    last ``clear()``, also after LogReport wrote them out with ``append=True``."""
    return log_report._log_buffer.emit_new_looker()


def training_length(manager) -> Callable[[], Tuple[float, str]]:
    """The stop trigger's ``get_training_length`` (``ExtensionsManager._stop_trigger``:
    the public ``stop_trigger`` is its evaluation, a bool)."""
    return manager._stop_trigger.get_training_length


def restoring(manager) -> bool:
    """True while ``manager.load_state_dict`` runs: ppe starts the extensions from
    within it (reading ``manager.models`` does) before it hands them their state."""
    code = _manager_module._BaseExtensionsManager.load_state_dict.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code and frame.f_locals.get("self") is manager:
            return True
        frame = frame.f_back
    return False
