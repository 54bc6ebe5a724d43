"""Shared test helpers: a real Chainer trainer on a tiny model."""

from __future__ import annotations

import warnings

import pytest

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

# Modules that train with Chainer: not collected where Chainer cannot be installed.
CHAINER_TESTS = ["test_bad_input.py", "test_drop_in.py", "test_faults.py", "test_glance.py",
                 "test_lifecycle.py", "test_slack_report.py", "test_view.py", "run_mpi.py",
                 "run_training.py", "run_ppe.py"]
collect_ignore = CHAINER_TESTS if chainer is None else []

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
    """Each test's shared rate budgets live in a directory of their own."""
    path = tmp_path_factory.mktemp("budget_state")
    monkeypatch.setenv("CHAINER_SLACK_REPORT_STATE_DIR", str(path))
    yield path
    # A final report a test left on its way (its emulator is gone) is given up
    # here, not counted by a later test's wait_for_final_reports().
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wait_for_final_reports(timeout=0)


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
    lines = text.split("```")[1].strip("\n").splitlines()[1:]
    return [line for line in lines if not line.startswith("… ")]


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
