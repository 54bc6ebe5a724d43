"""Shared test helpers: a real Chainer trainer on a tiny model, and the groups of tests
that need something this machine may lack (each skipped group is named, with why and how to
include it, at the end of the run)."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import sys
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import pytest
from redis_server import REDIS_SERVER, RedisServer

from chainer_slack_report import wait_for_final_reports
from chainer_slack_report.testing import SlackEmulator
from chainer_slack_report.testing.emulator import NO_LIMITS

try:  # Chainer 7.8.1 installs only on Python <= 3.11
    import chainer
    import chainer.functions as F
    import chainer.links as L
    import numpy as np
    from chainer import training
    from chainer.training import extensions

    from chainer_slack_report import SlackReport
except ImportError:
    chainer = None

HERE = os.path.dirname(os.path.abspath(__file__))
#: Debian's Chromium (``apt-get install chromium``), or $CHROMIUM, for the browser tests.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing_modules(*names: str) -> Optional[str]:
    absent = [n for n in names if importlib.util.find_spec(n) is None]
    return f"{' and '.join(absent)} not installed" if absent else None


@dataclass(frozen=True)
class Group:
    """Tests that need something the machine may not have."""

    title: str
    missing: Callable[[], Optional[str]]  #: why they cannot run here; None: they can
    how: str  #: how to include them
    in_ci: bool = False  #: CI must run them: there a missing need fails instead of skipping


GROUPS = {
    "chainer": Group(
        "Chainer tests", lambda: (f"Chainer 7.8.1 needs Python <= 3.11, this is "
                                  f"{sys.version_info.major}.{sys.version_info.minor}"
                                  if chainer is None else None),
        "run them on Python 3.9 - 3.11: python3 dev.py test"),
    "ppe": Group(
        "pytorch-pfn-extras flavour", lambda: _missing_modules("torch", "pytorch_pfn_extras"),
        "install the ppe extra (pip install torch pytorch-pfn-extras; next to Chainer also "
        "pip install \"setuptools<74\": README, PyTorch and Chainer in one environment)"),
    "torch": Group("plain PyTorch loop", lambda: _missing_modules("torch"),
                   "pip install torch"),
    "lightning": Group(
        "PyTorch Lightning flavour", lambda: _missing_modules("torch", "lightning"),
        "install the lightning extra (pip install -e \".[lightning]\"; next to Chainer also "
        "pip install \"setuptools<74\")"),
    "transformers": Group(
        "Hugging Face transformers flavour",
        lambda: _missing_modules("torch", "transformers", "accelerate"),
        "install the transformers extra (pip install -e \".[transformers]\"; next to Chainer "
        "also pip install \"setuptools<74\")"),
    "browser": Group(
        "channel view in a real browser",
        lambda: (_missing_modules("playwright")
                 or (None if os.path.exists(CHROMIUM) else f"no Chromium at {CHROMIUM}")),
        "sudo apt-get install chromium (Debian; or set CHROMIUM to a Chromium binary)",
        in_ci=True),
    "redis": Group(
        "the rate budget in a real Redis",
        lambda: (_missing_modules("redis")
                 or (None if os.access(REDIS_SERVER, os.X_OK) else f"no redis-server at "
                                                                  f"{REDIS_SERVER}")),
        "sudo apt-get install redis-server (Debian; or set REDIS_SERVER to its binary) and "
        "pip install redis", in_ci=True),
    "docs": Group("docs build", lambda: _missing_modules("sphinx"),
                  "install the docs extra: pip install -e \".[docs]\""),
    "oom": Group(
        "real OOM kills",
        lambda: (None if os.access("/sys/fs/cgroup/memory", os.W_OK)
                 else "no writable cgroup-v1 memory hierarchy at /sys/fs/cgroup/memory"),
        "run the tests as root on a host with cgroup v1's memory controller"),
}
#: Test modules that cannot even be imported without their group's needs.
MODULE_GROUPS = {
    **dict.fromkeys(["test_bad_input.py", "test_drop_in.py", "test_faults.py",
                     "test_glance.py", "test_lifecycle.py", "test_slack_report.py",
                     "test_view.py", "test_examples.py", "test_compat.py", "test_endings.py",
                     "run_mpi.py", "run_training.py", "test_assembly.py", "test_final_text.py",
                     "test_board.py", "test_false_alarms.py", "test_one_ending.py",
                     "test_stalls.py"],
                    "chainer"),
    "test_ppe.py": "ppe", "run_ppe.py": "ppe", "test_docs.py": "docs",
    "test_lightning.py": "lightning", "test_transformers.py": "transformers",
}
collect_ignore = [name for name, group in MODULE_GROUPS.items() if GROUPS[group].missing()]


def needs(group: str) -> None:
    """Skip the calling test unless the machine has what ``group`` needs (in CI, a
    group CI must run fails instead)."""
    why = GROUPS[group].missing()
    if why:
        fail = GROUPS[group].in_ci and os.environ.get("CI")
        (pytest.fail if fail else pytest.skip)(f"[{group}] {why}")


def _tests_in(filename: str) -> int:
    """How many tests a module that was not collected holds: its test functions, each
    counted once per case of its literal ``pytest.mark.parametrize`` lists."""
    with open(os.path.join(HERE, filename), encoding="utf-8") as file:
        tree = ast.parse(file.read())
    total = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name.startswith("test"):
            cases = 1
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and len(decorator.args) >= 2
                        and getattr(decorator.func, "attr", None) == "parametrize"
                        and isinstance(decorator.args[1], (ast.List, ast.Tuple))):
                    cases *= len(decorator.args[1].elts)
            total += cases
    return total


def pytest_terminal_summary(terminalreporter) -> None:
    """Name each group of tests this machine did not run: why, and how to include it."""
    counts: Counter = Counter()
    for name in collect_ignore:
        counts[MODULE_GROUPS[name]] += _tests_in(name)
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        tag = reason.split("Skipped: ", 1)[-1]
        if tag.startswith("[") and tag[1:].split("]", 1)[0] in GROUPS:
            counts[tag[1:].split("]", 1)[0]] += 1
    if not counts:
        return
    terminalreporter.section("not run on this machine")
    for group, count in counts.items():
        info = GROUPS[group]
        terminalreporter.write_line(
            f"{info.title}: {count} test{'s' if count != 1 else ''} not run "
            f"({info.missing()}). To include: {info.how}")

ENTRIES = ["epoch", "iteration", "main/loss", "main/accuracy"]


class Boom(RuntimeError):
    """The exception a test's training raises on purpose."""


if chainer is not None:
    class _Crash(training.Extension):
        trigger = (1, "iteration")
        priority = training.PRIORITY_WRITER

        def __init__(self, at: int, exc: BaseException) -> None:
            self.at = at
            self.exc = exc

        def __call__(self, trainer) -> None:
            if trainer.updater.iteration >= self.at:
                raise self.exc


def make_trainer(report=None, *, epochs: int = 3, log_trigger=(1, "epoch"),
                 report_trigger=None, crash_at=None, crash=None, n: int = 40, extra=(),
                 out: str = "/tmp/chainer_slack_report_test"):
    """A real Trainer: a linear classifier on ``n`` random 4-d points, batch 10."""
    np.random.seed(0)  # Chainer draws initial weights from NumPy's global generator
    rng = np.random.RandomState(0)
    x = rng.randn(n, 4).astype(np.float32)
    t = (x.sum(axis=1) > 0).astype(np.int32)
    model = L.Classifier(L.Linear(4, 2), lossfun=F.softmax_cross_entropy)
    optimizer = chainer.optimizers.SGD(lr=0.1)
    optimizer.setup(model)
    iterator = chainer.iterators.SerialIterator(
        chainer.datasets.TupleDataset(x, t), 10, shuffle=False)
    updater = training.updaters.StandardUpdater(iterator, optimizer)
    trainer = training.Trainer(updater, (epochs, "epoch"), out=out)
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    if report is not None:
        trainer.extend(report, trigger=report_trigger or log_trigger)
    if crash_at is not None:
        trainer.extend(_Crash(crash_at, crash or Boom("boom at the given iteration")))
    for extension in extra:
        trainer.extend(extension)
    return trainer


def posted_first(report):
    """An extension for ``make_trainer(extra=...)``: at iteration 1 it waits until the
    report's message is posted, as it is long before a real epoch ends (a snapshot
    carries the message's ts only once Slack has answered the post)."""

    @training.make_extension(trigger=(1, "iteration"))
    def wait_posted(trainer):
        if trainer.updater.iteration == 1:
            assert report.report.wait_posted(30) is not None

    return wait_posted


# Opting out of two Slack behaviours for the project's own tests.  The package's
# ``slack_emulator`` fixture answers as Slack does; this one overrides it:
# * limits=NO_LIMITS: these tests drive the library far faster than Slack allows
#   (update_limit=None, intervals of 0.05 s, dozens of runs in one test); the
#   library's own rate budget is tested on its own (test_budget.py) and against
#   Slack's numbers in test_emulator*.py;
# * retry_after_resolution=0.01: injected 429s ask for fractions of a second so
#   that tests of the library's back-off take tenths of a second, not seconds.
#   Slack sends whole seconds; the library's client parses both (slack_sdk's own
#   RateLimitErrorRetryHandler, which it does not use, takes whole seconds only).
@pytest.fixture
def slack_emulator():
    """The package's ``slack_emulator`` without Slack's rate limits, with fast Retry-After."""
    with SlackEmulator(limits=NO_LIMITS, retry_after_resolution=0.01) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def budget_state_dir(tmp_path_factory, monkeypatch):
    """Each test's shared rate budgets live in a directory of their own; and no test's
    run starts a watchdog process unless the test asks for one (tests/test_endings.py):
    hundreds of short runs would each start one."""
    path = tmp_path_factory.mktemp("budget_state")
    monkeypatch.setenv("CHAINER_SLACK_REPORT_STATE_DIR", str(path))
    monkeypatch.setenv("CHAINER_SLACK_REPORT_WATCHDOG", "0")
    monkeypatch.delenv("CHAINER_SLACK_REPORT_STORE", raising=False)  # a test names its own
    yield path
    # A final report a test left on its way (its emulator is gone) is given up
    # here, not counted by a later test's wait_for_final_reports().
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wait_for_final_reports(timeout=0)


@pytest.fixture
def redis_server(tmp_path_factory):
    """A real redis-server of this test (tests/redis_server.py); CI must have one."""
    needs("redis")  # CI installs redis-server (.ci/run); elsewhere it is optional
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_server_with_password(tmp_path_factory):
    """A real redis-server that asks for a password (``requirepass``)."""
    needs("redis")
    password = f"pw-{uuid.uuid4().hex}"
    with RedisServer(tmp_path_factory.mktemp("redis"), password=password) as server:
        yield server


@pytest.fixture
def report_factory(slack_emulator):
    """Build SlackReports wired to the emulator with a real WebClient."""

    def build(entries=None, channel="general", **kwargs):
        kwargs.setdefault("client", slack_emulator.client(timeout=5))
        kwargs.setdefault("min_interval", 0.05)
        kwargs.setdefault("flush_timeout", 5.0)
        return SlackReport(None, channel, entries or ENTRIES, **kwargs)

    return build


def table_rows(text: str) -> list:
    """The rows of the table in a message text: header and any "… not shown" note dropped."""
    blocks = text.split("```")
    if len(blocks) < 3:  # no table yet ("[Started]" before the first row)
        return []
    lines = blocks[1].strip("\n").splitlines()[1:]
    return [line for line in lines if not line.startswith("… ")]


def text_now(emulator, channel: str = "general") -> str:
    """The text of the run's one message in ``channel`` as it is now; "" before it is posted.

    For ``wait_until`` predicates, which must not raise while the post is on its way."""
    messages = emulator.messages(channel)
    assert len(messages) <= 1, [m.text for m in messages]  # a second post is a bug
    return messages[0].text if messages else ""


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# -- a memory cgroup for real OOM kills ---------------------------------------------------------
CGROUP_ROOT = "/sys/fs/cgroup/memory"


@pytest.fixture
def memory_cgroup():
    """A cgroup-v1 memory cgroup limited to 1 GiB, without swap (root only)."""
    needs("oom")
    path = os.path.join(CGROUP_ROOT, f"csr-test-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as file:
            file.write(str(1 << 30))
    except OSError as exc:
        pytest.skip(f"[oom] no memory cgroup can be made here ({exc.strerror})")
    for name, value in (("memory.swappiness", "0"),):
        try:
            with open(os.path.join(path, name), "w") as file:
                file.write(value)
        except OSError:
            pass
    yield path
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


@pytest.fixture
def browser():
    """A headless Chromium (Playwright), closed after the test (the browser tests)."""
    needs("browser")  # CI installs Chromium (.ci/run); elsewhere it is optional
    from playwright import sync_api as playwright

    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()
