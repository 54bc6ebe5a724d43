"""Sphinx configuration of the chainer_slack_report documentation.

Build (CI runs exactly this; warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is fetched from the network: no intersphinx, and the theme (furo)
ships its own assets.
"""

from __future__ import annotations

import importlib.util
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, os.path.join(DOCS, "_ext"))
sys.path.insert(0, ROOT)  # document this checkout, installed or not

import chainer_slack_report  # noqa: E402

project = "chainer_slack_report"
author = "chainer_slack_report contributors"
copyright = f"2026, {author}"
version = release = chainer_slack_report.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "csr_docs",  # docs/_ext/csr_docs.py: tables generated from the package's own code
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list = []

# -- Pages of modules that may not exist yet ---------------------------------------------
# The pytorch-pfn-extras flavour and the command-line tool are written alongside
# these docs.  While a module's file is missing, its page is left out (and its
# toctree line dropped, see docs/_ext/csr_docs.py); once the file exists the
# page is built, and any problem with it fails the build like everywhere else.
OPTIONAL_PAGES = {
    "api/ppe": "chainer_slack_report.ppe",
    "api/cli": "chainer_slack_report.cli",
}


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# csr_docs excludes these pages and prints a note (``-D csr_missing_pages=api/ppe``
# simulates a missing module).
csr_missing_pages = sorted(doc for doc, module in OPTIONAL_PAGES.items()
                           if not _module_exists(module))

def _imports(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - ImportError, or a framework broken on this Python
        return False
    return True


# Frameworks that do not import here are stood in for, so every flavour's page
# builds without them.  Chainer, ChainerMN and NumPy by autodoc's mocks: Chainer
# 7.8.1 does not import on Python >= 3.12, where the package installs neither it
# nor NumPy.  pytorch-pfn-extras (it needs PyTorch) by docs/_ext/ppe_stub.py:
# chainer_slack_report.ppe computes with its priority constants at import time,
# which a mock cannot do.
autodoc_mock_imports = [name for name in ("chainer", "chainermn", "numpy", "torch")
                        if not _imports(name)]
import ppe_stub  # noqa: E402 - docs/_ext is on sys.path from here on

if _module_exists("chainer_slack_report.ppe") and not _imports("pytorch_pfn_extras"):
    ppe_stub.install()
# Lightning and transformers: the flavours subclass their callback classes; where a
# framework does not import, plain stand-in classes of the same names take their place.
for _framework, _names in ppe_stub.FRAMEWORK_MODULES.items():
    if not _imports(_framework):
        ppe_stub.stub_modules(_names)

# -- autodoc / napoleon --------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
# False: the flavours' signatures are made from ReportOptions (flavour_signature), so
# their source has no defaults to preserve.
autodoc_preserve_defaults = False
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = True
napoleon_attr_annotations = True

# -- MyST (Markdown pages, benchmarks.md included) ----------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = "chainer_slack_report"
html_static_path = ["_static"] if os.path.isdir(os.path.join(DOCS, "_static")) else []
html_css_files = ["custom.css"] if html_static_path else []
html_show_sourcelink = False
