"""A stand-in for pytorch-pfn-extras, so ``chainer_slack_report.ppe`` can be documented
where PyTorch is not installed (the docs build needs no PyTorch); and for the Lightning
and transformers base classes (:func:`stub_modules`, :data:`FRAMEWORK_MODULES`).

Sphinx's ``autodoc_mock_imports`` cannot do this: ``chainer_slack_report.ppe``
computes its priority from ``PRIORITY_SNAPSHOT`` at import time, and a mock is
no number.  :func:`install` puts modules into :data:`sys.modules` that carry
pytorch-pfn-extras' real priority constants and, for any other name, a plain
class of that name (so base classes and ``isinstance`` checks work).  Used by
``conf.py`` only when the real package does not import.
"""

from __future__ import annotations

import sys
import types

PACKAGE = "pytorch_pfn_extras"

# pytorch_pfn_extras/training/extension.py
PRIORITIES = {"PRIORITY_WRITER": 300, "PRIORITY_EDITOR": 200, "PRIORITY_READER": 100,
              "PRIORITY_SNAPSHOT": -100}


class _StubModule(types.ModuleType):
    """A module whose missing attributes are classes (or submodules) of that name."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {"__module__": self.__name__,
                                "__doc__": f"Stand-in for {self.__name__}.{name}."})
        setattr(self, name, value)
        return value


def install() -> None:
    """Register the stand-in modules (only those not imported yet)."""
    stub_modules([PACKAGE, f"{PACKAGE}.training", f"{PACKAGE}.training.extension",
                  f"{PACKAGE}.training.extensions", f"{PACKAGE}.training.manager"])
    extension = sys.modules[f"{PACKAGE}.training.extension"]
    for key, value in PRIORITIES.items():
        setattr(extension, key, value)


#: The modules the Lightning and transformers flavours import from (their base classes).
FRAMEWORK_MODULES = {
    "lightning": ["lightning", "lightning.pytorch", "lightning.pytorch.callbacks"],
    "transformers": ["transformers", "transformers.trainer_callback"],
}


def stub_modules(names) -> None:
    """Register stand-in modules of these dotted ``names`` (parents first; only those not
    imported yet): any attribute of them is a plain class of that name."""
    for name in names:
        if name in sys.modules:
            continue
        module = _StubModule(name, "Stand-in used to build the documentation.")
        module.__path__ = []  # a package: submodules may be imported
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
