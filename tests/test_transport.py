"""The transport's pure parts: classifying Slack's answer, pacing, the worker.

No HTTP here: ``classify`` and ``Pacing`` are arithmetic (a fake clock), and
the worker is driven by a plain function that knows nothing of Slack.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import wait_until

from chainer_slack_report.transport.pacing import Pacing
from chainer_slack_report.transport.slack_errors import (
    CONFIG_ERRORS,
    MESSAGE_GONE_ERRORS,
    TRANSIENT_ERRORS,
    Action,
    classify,
    classify_exception,
)
from chainer_slack_report.transport.worker import LatestWorker, StopSending


# -- classify ---------------------------------------------------------------------
@pytest.mark.parametrize("status, error, headers, action, retry_after", [
    (200, None, None, Action.OK, None),
    (429, "ratelimited", {"Retry-After": "7"}, Action.RATE_LIMITED, 7.0),
    (429, None, {"retry-after": "3"}, Action.RATE_LIMITED, 3.0),  # header case ignored
    (200, "ratelimited", {}, Action.RATE_LIMITED, 1.0),  # no header: 1 s
    (429, "ratelimited", {"Retry-After": "soon"}, Action.RATE_LIMITED, 1.0),
    (429, "ratelimited", {"Retry-After": ["2"]}, Action.RATE_LIMITED, 2.0),
    (503, None, None, Action.RETRY, None),  # a load balancer's HTML page
    (500, "whatever", None, Action.RETRY, None),
    (200, "msg_too_long", None, Action.SHORTEN, None),
])
def test_classify_answers(status, error, headers, action, retry_after):
    verdict = classify(status=status, error=error, headers=headers)
    assert verdict.action is action
    assert verdict.retry_after == retry_after


@pytest.mark.parametrize("error", sorted(CONFIG_ERRORS))
def test_configuration_errors_stop_with_a_hint(error):
    verdict = classify(error=error)
    assert verdict.action is Action.STOP and verdict.hint == CONFIG_ERRORS[error]


def test_missing_scope_names_the_scope_slack_asked_for():
    verdict = classify(error="missing_scope", needed="chat:write")
    assert verdict.action is Action.STOP and "chat:write" in verdict.hint


@pytest.mark.parametrize("error", sorted(TRANSIENT_ERRORS))
def test_transient_errors_are_retried(error):
    assert classify(error=error) == classify(error=error)  # frozen, comparable
    assert classify(error=error).action is Action.RETRY and classify(error=error).known


@pytest.mark.parametrize("error", sorted(MESSAGE_GONE_ERRORS))
def test_uneditable_message_is_reposted(error):
    assert classify(error=error).action is Action.REPOST


def test_unknown_error_is_retried_and_flagged_unknown():
    verdict = classify(error="something_new")
    assert verdict.action is Action.RETRY and not verdict.known


def test_exception_without_an_answer_is_retried():
    verdict = classify_exception(ConnectionResetError("reset"))
    assert verdict.action is Action.RETRY and verdict.error == "ConnectionResetError"


# -- pacing -------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_steady_interval_after_success():
    clock = Clock()
    pacing = Pacing(min_interval=1.2, clock=clock)
    assert pacing.ready_at() <= clock.now  # the first request goes at once
    pacing.on_success()
    assert pacing.ready_at() == pytest.approx(clock.now + 1.2)
    assert pacing.ready_at(final=True) <= clock.now  # the final one skips the interval


def test_429_honours_retry_after_halves_the_rate_and_recovers_additively():
    clock = Clock()
    pacing = Pacing(min_interval=1.2, clock=clock)
    pacing.on_rate_limited(5.0)
    assert pacing.ready_at(final=True) == pytest.approx(clock.now + 5.0)  # finals wait too
    assert pacing.ready_at() == pytest.approx(clock.now + 5.0)
    assert pacing.interval == pytest.approx(2.4)  # half the rate
    pacing.on_rate_limited(5.0)
    assert pacing.interval == pytest.approx(4.8)
    intervals = []
    for _ in range(20):
        clock.now += 10
        pacing.on_success()
        intervals.append(pacing.interval)
    # additive increase of the rate by a tenth of 1/1.2 per success, back to the floor
    rates = [1 / i for i in intervals]
    steps = [b - a for a, b in zip(rates, rates[1:]) if b > a + 1e-9]
    assert all(s == pytest.approx(0.1 / 1.2) for s in steps[:-1])
    assert intervals[-1] == pytest.approx(1.2)
    assert pacing.rate_limited == 2


def test_interval_never_exceeds_max_and_never_goes_below_the_floor():
    clock = Clock()
    pacing = Pacing(min_interval=1.0, max_interval=8.0, clock=clock)
    for _ in range(10):
        pacing.on_rate_limited(0.0)
    assert pacing.interval == 8.0
    pacing.floor = 20.0  # e.g. a fair share of a budget shared with other runs
    assert pacing.interval == 20.0
    for _ in range(50):
        pacing.on_success()
    assert pacing.interval == 20.0


def test_backoff_grows_is_capped_and_final_rechecks_within_a_second():
    clock = Clock()
    pacing = Pacing(min_interval=0.0, max_backoff=3.0, clock=clock)
    delays = [pacing.on_failure() for _ in range(8)]
    assert all(0 <= d <= 3.0 for d in delays)
    assert max(delays) > min(delays)  # it grows (0.5 s × 2^k with jitter)
    assert pacing.ready_at() == pytest.approx(clock.now + delays[-1])
    assert pacing.ready_at(final=True) <= clock.now + 1.0
    pacing.on_success()
    assert pacing.failures == 0 and pacing.ready_at(final=True) <= clock.now


def test_a_budget_wait_for_an_intermediate_text_does_not_hold_the_final_one():
    """The budget told an intermediate update to wait 30 s (its place in the queue);
    the run ends meanwhile: its final text has a place of its own and goes at once."""
    clock = Clock()
    pacing = Pacing(min_interval=1.0, clock=clock)
    pacing.hold(30.0, final=False)
    assert pacing.ready_at() == pytest.approx(clock.now + 30.0)
    assert pacing.ready_at(final=True) <= clock.now
    pacing.hold(2.0)  # a wait the budget gave a final text holds both
    assert pacing.ready_at(final=True) == pytest.approx(clock.now + 2.0)
    assert pacing.ready_at() == pytest.approx(clock.now + 30.0)


# -- the worker -----------------------------------------------------------------------
class Sink:
    """A ``send`` that records what it was asked, and fails on demand."""

    def __init__(self, fail_first=0, stop_at=None):
        self.calls = []
        self.fail_first = fail_first
        self.stop_at = stop_at
        self.state = 0
        self.gate = threading.Event()
        self.gate.set()

    def send(self, final):
        self.gate.wait(5)
        self.calls.append((final, self.state))
        if self.stop_at is not None and len(self.calls) >= self.stop_at:
            raise StopSending("refused")
        if self.fail_first:
            self.fail_first -= 1
            return False
        return True


def test_news_arriving_during_a_send_is_coalesced_into_one_more_send():
    sink = Sink()
    worker = LatestWorker(sink.send, lambda final: 0.0, name="test")
    sink.gate.clear()  # the first send blocks, as a slow Slack would
    worker.start()
    for state in range(1, 101):
        sink.state = state
        worker.touch()
    sink.gate.set()
    worker.close()
    assert worker.wait(5)
    intermediate = [state for final, state in sink.calls if not final]
    assert len(intermediate) <= 3  # the first, then the newest state once, not 100
    assert sink.calls[-1] == (True, 100)


def test_failed_send_is_retried_and_the_final_repeats_until_delivered():
    sink = Sink(fail_first=3)
    worker = LatestWorker(sink.send, lambda final: 0.0, name="test")
    worker.start()
    worker.close()
    assert worker.wait(5) and worker.delivered
    assert sink.calls[-1][0] is True


def test_stop_sending_ends_the_worker_without_delivery():
    sink = Sink(stop_at=1)
    worker = LatestWorker(sink.send, lambda final: 0.0, name="test")
    worker.start()
    worker.close()
    assert not worker.wait(5)
    assert worker.ended and str(worker.stopped) == "refused" and len(sink.calls) == 1


def test_abandon_ends_a_final_delivery_that_cannot_start():
    sink = Sink()
    asked = [threading.Event(), threading.Event()]  # set by the worker's 1st, 2nd final ask
    asks = []

    def ready_at(final):
        if not final:
            return 0.0
        asks.append(final)
        if len(asks) <= len(asked):
            asked[len(asks) - 1].set()
        return time.monotonic() + 3600.0  # the final may not start within this test

    worker = LatestWorker(sink.send, ready_at, name="test")
    worker.start()
    assert wait_until(lambda: sink.calls)  # the first state went
    worker.close()
    assert asked[0].wait(5)  # the worker holds the final, not allowed yet
    worker.touch()  # news wakes it: it asks again, and still may not send
    assert asked[1].wait(5)
    assert not worker.delivered and not worker.ended
    worker.abandon()
    assert not worker.wait(5) and worker.ended
    assert worker.stopped is None  # ended by abandon(), not by a crash
    assert [final for final, _ in sink.calls] == [False]  # counted once the thread ended


def test_no_news_no_send_unless_refresh_is_due():
    sink = Sink()
    quiet = LatestWorker(sink.send, lambda final: 0.0, name="quiet")
    quiet.start()
    assert wait_until(lambda: sink.calls)
    # The control: a worker that refreshes every 0.05 s without news, on the same
    # machine at the same time.  While it sends seven times (six refreshes: 0.3 s or
    # however long that takes here), the quiet worker must not send again.
    ticking_sink = Sink()
    ticking = LatestWorker(ticking_sink.send, lambda final: 0.0, refresh_after=0.05,
                           name="ticking")
    ticking.start()
    assert wait_until(lambda: len(ticking_sink.calls) >= 7, timeout=60)  # refreshed
    assert len(sink.calls) == 1  # the first state only
    for worker in (quiet, ticking):
        worker.close()
        assert worker.wait(5)
    assert [final for final, _ in sink.calls] == [False, True]  # and then the final only
