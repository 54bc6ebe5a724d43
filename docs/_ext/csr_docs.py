"""Sphinx extension of the chainer_slack_report docs: pages generated from the package's code.

Directives (usable from reStructuredText and, as ```` ```{name} ```` fences, from MyST):

``slack-error-codes``
    The troubleshooting tables (``:which: config`` or ``other``): every Slack
    error code the package knows
    (:data:`~chainer_slack_report.transport.slack_errors.CONFIG_ERRORS`,
    :data:`~chainer_slack_report.transport.slack_errors.TRANSIENT_ERRORS`,
    :data:`~chainer_slack_report.transport.slack_errors.MESSAGE_GONE_ERRORS`, rate limits,
    HTTP failures), what :func:`~chainer_slack_report.transport.slack_errors.classify`
    makes of it, and the fix from ``CONFIG_ERRORS`` itself.
``fair-share-table``
    Seconds between two updates of each of N runs that share a token, computed
    by :class:`~chainer_slack_report.transport.budget.SharedBudget` itself.
``template-placeholders``
    The built-in ``template`` placeholders
    (:data:`~chainer_slack_report.rendering.message.BUILTIN_PLACEHOLDERS`), each with its
    description below; a placeholder without one is a build warning.
``program-help``
    The ``--help`` output of ``python -m MODULE [ARGS]``, run at build time.
``argparse-help``
    The help of an ``argparse`` parser (``module:function`` returning it) and
    of each of its subcommands.
``channel-screenshot``
    ``_static/channel.png`` if that file exists, else nothing.

Attribute, data and property docstrings are shown as written (napoleon would
read "text: more text" on their first line as a type).

Pages whose module does not exist yet (``csr_missing_pages``, set by
``conf.py``) are excluded, and a ``source-read`` hook drops their toctree lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Sequence, Union

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

Cell = Union[str, nodes.Node, Sequence[nodes.Node]]


# -- helpers -------------------------------------------------------------------------------

def _cell(content: Cell) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, str):
        entry += nodes.paragraph(text=content)
    elif isinstance(content, nodes.Inline):
        entry += nodes.paragraph("", "", content)
    elif isinstance(content, nodes.Node):
        entry += content
    else:
        entry += nodes.paragraph("", "", *content)
    return entry


def _table(headers: Sequence[str], rows: Iterable[Sequence[Cell]],
           widths: Sequence[int]) -> nodes.table:
    table = nodes.table(classes=["csr-generated"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in headers:
        row += _cell(title)
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for content in cells:
            row += _cell(content)
        body += row
    return table


def _code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def _note_module(directive: SphinxDirective, module) -> None:
    """Rebuild the page when ``module``'s source changes."""
    path = getattr(module, "__file__", None)
    if path:
        directive.env.note_dependency(os.path.abspath(path))


# -- slack-error-codes ---------------------------------------------------------------------

def _action_texts() -> Dict[object, str]:
    from chainer_slack_report.transport.slack_errors import Action

    return {
        Action.RATE_LIMITED: (
            "Waits the Retry-After seconds (every run of the token on this host waits), "
            "then sends less often: the interval widens and the host's share of the "
            "budget halves, and both recover step by step. One warning."),
        Action.RETRY: (
            "Retries with exponential backoff and jitter; training goes on. One warning "
            "for the first failure, and one naming a code this version does not know."),
        Action.REPOST: (
            "Posts a new message that says it continues the earlier one, and keeps "
            "updating that. One warning."),
        Action.SHORTEN: (
            "Shrinks the message budget to three quarters and sends again (fewer table "
            "rows). One warning."),
        Action.DROP_BLOCKS: (
            "In the blocks layout: one warning naming what Slack said was wrong, then "
            "the message goes on in the text layout for the rest of the run, with every "
            "row."),
        Action.STOP: (
            "Stops calling Slack for this run: one warning with the fix, then the table "
            "is printed to out as PrintReport prints it, and the final text goes to "
            "stderr."),
    }


_NOTHING_TO_DO = "Nothing, unless it persists (then check Slack's status page)."
_USER_ACTIONS = {
    "RATE_LIMITED": ("Nothing. If it happens often, fewer runs share the token, or give "
                     "each group of runs its own Slack app (see Rate limits)."),
    "RETRY": ("Nothing, unless it persists: then check Slack's status page, and the network "
              "or proxy between the machine and Slack (a proxy goes into your own client=). "
              "Look an unknown code up in Slack's reference of chat.update."),
    "REPOST": "Nothing (someone deleted the message, or it can no longer be edited).",
    "SHORTEN": "Nothing; a smaller max_bytes or fewer entries avoid it.",
    "DROP_BLOCKS": ("Nothing for this run; if it recurs, keep layout=\"text\" (a workspace "
                    "or client without the 2026 blocks), or report the warning's reasons."),
}


class SlackErrorCodes(SphinxDirective):
    """The error-code tables of the troubleshooting page, from ``slack_errors``.

    ``:which: config`` — the configuration errors (``CONFIG_ERRORS``) with their
    fixes; ``:which: other`` — every other answer, one row per action.
    """

    has_content = False
    option_spec = {"which": lambda arg: directives.choice(arg, ("config", "other"))}

    def run(self) -> List[nodes.Node]:
        from chainer_slack_report.transport import slack_errors as se

        _note_module(self, se)
        if self.options.get("which", "config") == "config":
            rows = []
            for code in sorted(se.CONFIG_ERRORS):
                if se.classify(error=code).action is not se.Action.STOP:
                    logger.warning("slack-error-codes: %s is in CONFIG_ERRORS but does not "
                                   "stop reporting", code, location=self.get_location())
                rows.append([_code(code), se.CONFIG_ERRORS[code]])
            return [_table(["Slack error code", "What to do"], rows, [25, 75])]

        texts = _action_texts()
        for action in se.Action:
            if action not in (se.Action.OK, se.Action.STOP) and (
                    action not in texts or action.name not in _USER_ACTIONS):
                logger.warning("slack-error-codes: no text for %s; describe it in "
                               "docs/_ext/csr_docs.py", action, location=self.get_location())
        # (what is shown, the verdict classify gives it), in the order of the page
        answers = [([_code("ratelimited"), nodes.Text(" (HTTP 429)")],
                    se.classify(status=429, headers={"Retry-After": "30"}))]
        answers += [([_code(code)], se.classify(error=code))
                    for code in sorted(se.MESSAGE_GONE_ERRORS)]
        answers.append(([_code("msg_too_long")], se.classify(error="msg_too_long")))
        answers += [([_code(code)], se.classify(error=code))
                    for code in sorted(se.BLOCKS_REFUSED)]
        answers += [([_code(code)], se.classify(error=code))
                    for code in sorted(se.TRANSIENT_ERRORS)]
        answers.append(([nodes.Text("HTTP 5xx without a code")], se.classify(status=503)))
        answers.append(([nodes.Text("no answer (connection refused or reset, timeout)")],
                        se.classify_exception(ConnectionError("refused"))))
        answers.append(([nodes.Text("any other code")], se.classify(error="some_new_code")))
        groups: Dict[object, List[List[nodes.Node]]] = {}
        for shown, verdict in answers:
            groups.setdefault(verdict.action, []).append(shown)
        rows = []
        for action, shown in groups.items():
            cell = nodes.bullet_list()
            for parts in shown:
                cell += nodes.list_item("", nodes.paragraph("", "", *parts))
            rows.append([cell, texts.get(action, action.name),
                         _USER_ACTIONS.get(action.name, "")])
        return [_table(["Slack answer", "What SlackReport does", "What you do"], rows,
                       [30, 40, 30])]


# -- fair-share-table ----------------------------------------------------------------------

class FairShareTable(SphinxDirective):
    """N runs → seconds between updates of each, as ``SharedBudget`` computes it."""

    has_content = False
    option_spec = {"runs": directives.positive_int_list}

    def run(self) -> List[nodes.Node]:
        from chainer_slack_report.options import ReportOptions
        from chainer_slack_report.transport import budget as bmod

        _note_module(self, bmod)
        runs_list = self.options.get("runs", [1, 2, 4, 8, 16, 32, 64])
        min_interval = ReportOptions().min_interval
        limit = bmod.CHAT_UPDATE
        rows = []
        with tempfile.TemporaryDirectory() as state_dir:
            shared = bmod.SharedBudget("xoxb-docs", "https://docs.invalid/api/",
                                       state_dir=state_dir, clock=lambda: 1000.0)
            joined = 0
            for runs in runs_list:
                while joined < runs:
                    shared.join(f"run-{joined}")
                    joined += 1
                fair = shared.fair_interval("chat.update", limit)
                interval = max(min_interval, fair)
                rows.append([str(runs), f"{interval:g} s", f"{60.0 / interval:.3g}",
                             f"{runs * 60.0 / interval:.3g}"])
        return [_table(["runs sharing the token", "seconds between updates of each run",
                        "updates a minute of each run", "updates a minute, all runs"],
                       rows, [25, 25, 25, 25])]


# -- template-placeholders -----------------------------------------------------------------

#: Built-in placeholder → (example, description).  A placeholder of
#: BUILTIN_PLACEHOLDERS missing here is a build warning, so the page cannot fall behind.
PLACEHOLDERS = {
    "status": ("[Training]", "[Started], [Training], then [Completed], [Failed], "
               "[Interrupted] or [Terminated]."),
    "elapsed": ("0:12:05", "Time since the trainer started (a resumed run continues its "
                "clock), H:MM:SS."),
    "hostname": ("gpu-node-3", "The machine's host name."),
    "pwd": ("/home/alice/exp", "The working directory."),
    "pwdshort": ("~/exp", "The working directory with ~ for the home directory."),
    "cmd": ("train.py", "sys.argv[0]."),
    "args": ("--epochs 20", "The rest of sys.argv (quoted where needed)."),
    "command": ("train.py --epochs 20", "{cmd} and {args}, with no trailing blank when there "
                "are no arguments (used by the default template)."),
    "ranks": (" · 4 processes", "In a job of several processes, their number; else empty."),
    "content": ("```…```", "The log table in a code block, and after a crash the error "
                "with the end of its traceback."),
    "finish_mentions": ("<!here>", "The mentions, filled in at the end only."),
    "progress": ("epoch 12/50 · 24 %", "How far the run is, from the trainer's stop trigger, "
                 "while training; empty when unknown and once the run has ended."),
    "eta": ("0:04:20", "Estimated time left, H:MM:SS (as Chainer's ProgressBar estimates "
            "it, counting down between updates); empty when unknown and at the end."),
    "progress_eta": (" · epoch 12/50 · 24 % · ETA 0:04:20", "\" · {progress} · ETA {eta}\" "
                     "while training, else empty (used by the default template)."),
    "sparklines": ("main/loss  █▆▄▃▂▁  0.0312", "The sparklines= curves in a code block, one "
                   "line per key; without this placeholder they follow the table in "
                   "{content}."),
}


class TemplatePlaceholders(SphinxDirective):
    """The built-in placeholders of ``template``, from ``BUILTIN_PLACEHOLDERS``."""

    has_content = False

    def run(self) -> List[nodes.Node]:
        from chainer_slack_report.rendering import message

        _note_module(self, message)
        builtin = message.BUILTIN_PLACEHOLDERS
        for name in sorted(builtin - set(PLACEHOLDERS)):
            logger.warning("template-placeholders: {%s} is built in but not described; add "
                           "it to PLACEHOLDERS in docs/_ext/csr_docs.py", name,
                           location=self.get_location())
        for name in sorted(set(PLACEHOLDERS) - builtin):
            logger.warning("template-placeholders: {%s} is described but no longer built in; "
                           "remove it from PLACEHOLDERS in docs/_ext/csr_docs.py", name,
                           location=self.get_location())
        rows = [[_code("{" + name + "}"), _code(example), text]
                for name, (example, text) in PLACEHOLDERS.items() if name in builtin]
        return [_table(["placeholder", "example", "value"], rows, [20, 30, 50])]


# -- program-help --------------------------------------------------------------------------

class ProgramHelp(SphinxDirective):
    """``python -m MODULE [ARGS] --help``, run at build time, as a literal block."""

    required_arguments = 1
    optional_arguments = 10
    has_content = False

    def run(self) -> List[nodes.Node]:
        module, *args = self.arguments
        command = [sys.executable, "-m", module, *args, "--help"]
        env = dict(os.environ, COLUMNS="88", PYTHONIOENCODING="utf-8")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                  env=env, cwd=os.path.dirname(self.env.srcdir))
        except (OSError, subprocess.SubprocessError) as exc:
            logger.warning("program-help: %s failed: %s", " ".join(command[1:]), exc,
                           location=self.get_location())
            return []
        if done.returncode != 0:
            logger.warning("program-help: %s exited with %d: %s", " ".join(command[2:]),
                           done.returncode, done.stderr.strip()[-500:],
                           location=self.get_location())
            return []
        return [_help_block("python -m " + " ".join([module, *args, "--help"]), done.stdout)]


# -- argparse-help -------------------------------------------------------------------------

class ArgparseHelp(SphinxDirective):
    """The help of an ``argparse`` parser and of each of its subcommands.

    The argument is ``module:function``, a function that returns the parser
    (e.g. ``chainer_slack_report.cli:build_parser``).
    """

    required_arguments = 1
    has_content = False

    def run(self) -> List[nodes.Node]:
        import argparse
        import importlib

        target = self.arguments[0]
        module_name, _, function = target.partition(":")
        try:
            module = importlib.import_module(module_name)
            parser = getattr(module, function)()
        except Exception as exc:  # noqa: BLE001 - any failure is a build warning
            logger.warning("argparse-help: %s failed: %s: %s", target, type(exc).__name__, exc,
                           location=self.get_location())
            return []
        _note_module(self, module)
        result: List[nodes.Node] = []
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width
        try:
            result.append(_help_block(parser.prog + " --help", parser.format_help()))
            for action in parser._actions:  # argparse keeps subcommands only here
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        result.append(_help_block(f"{parser.prog} {name} --help",
                                                  sub.format_help()))
        finally:
            if previous is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = previous
        return result


def _help_block(command: str, text: str) -> nodes.container:
    text = text.rstrip()
    block = nodes.literal_block(text, text, language="text")
    caption = nodes.caption(command, "", _code(command))
    return nodes.container("", caption, block, literal_block=True)


# -- channel-screenshot --------------------------------------------------------------------

SCREENSHOT = "_static/channel.png"


class ChannelScreenshot(SphinxDirective):
    """The emulator's web view of a channel, once ``docs/_static/channel.png`` exists."""

    has_content = False

    def run(self) -> List[nodes.Node]:
        path = os.path.join(self.env.srcdir, SCREENSHOT)
        if not os.path.isfile(path):
            logger.info("channel-screenshot: %s does not exist yet; leaving it out", path)
            return []
        self.env.note_dependency(path)
        image = nodes.image(uri="/" + SCREENSHOT,
                            alt="A training run's live message in a Slack channel")
        return [nodes.figure("", image)]


# -- leave out the pages of modules that do not exist yet -----------------------------------

def _exclude_missing_pages(app, config) -> None:
    for page in config.csr_missing_pages:
        config.exclude_patterns.append(page + ".rst")
        logger.info("note: the module of page %s does not exist (yet); the page is left out",
                    page)


def _drop_missing_toctree_lines(app, docname: str, source: List[str]) -> None:
    missing = app.config.csr_missing_pages
    if not missing:
        return
    folder = docname.rsplit("/", 1)[0] + "/" if "/" in docname else ""
    names = set()
    for page in missing:
        names.add("/" + page)
        if page.startswith(folder):
            names.add(page[len(folder):])
    lines = source[0].split("\n")
    kept = [line for line in lines if line.strip() not in names]
    if len(kept) != len(lines):
        source[0] = "\n".join(kept)


# -- attribute docstrings as written ---------------------------------------------------------
# napoleon reads the first line of an attribute's docstring as "type: description"
# (Google style).  This package never writes types there, and its ``#:`` comments
# often hold a colon ("``chat.update``: Tier 3, ...", "HTTP 429: wait ..."), which
# napoleon would turn into a bogus type.  So attribute, data and property
# docstrings bypass napoleon: they are kept before it runs and put back after.

_AS_WRITTEN = {"attribute", "data", "property"}
_originals: Dict[tuple, List[str]] = {}


def _keep_docstring(app, what, name, obj, options, lines: List[str]) -> None:
    if what in _AS_WRITTEN:
        _originals[(what, name)] = list(lines)


def _restore_docstring(app, what, name, obj, options, lines: List[str]) -> None:
    original = _originals.pop((what, name), None)
    if original is not None:
        lines[:] = original


def setup(app):
    app.add_config_value("csr_missing_pages", [], "env")
    app.add_directive("slack-error-codes", SlackErrorCodes)
    app.add_directive("fair-share-table", FairShareTable)
    app.add_directive("template-placeholders", TemplatePlaceholders)
    app.add_directive("program-help", ProgramHelp)
    app.add_directive("argparse-help", ArgparseHelp)
    app.add_directive("channel-screenshot", ChannelScreenshot)
    app.connect("autodoc-process-docstring", _keep_docstring, priority=400)  # napoleon: 500
    app.connect("autodoc-process-docstring", _restore_docstring, priority=600)
    app.connect("config-inited", _exclude_missing_pages)
    app.connect("source-read", _drop_missing_toctree_lines)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
