"""Slack faults never hurt training or lose the final report.

Each test runs a real Trainer against the emulator with a fault injected and
asserts: training ended with its own result, nothing was raised by the
reporter, the final message (or the local output) holds the newest row and the
right status, and requests stayed within the rate limit (one in flight).
Bounds on time come from what a test injected or measured, never from the
machine's speed; the emulator enforces no rate limits of its own here (the
faults are injected).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings

import pytest
from chainer import training
from conftest import ENTRIES, Boom, make_trainer, table_rows
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from chainer_slack_report import SlackReport, SlackReportWarning, wait_for_final_reports
from chainer_slack_report.transport.live_message import CONTINUATION_NOTE
from chainer_slack_report.transport.slack_errors import CONFIG_ERRORS

EPOCHS = 30  # 4 iterations each: 120 rows when logging every iteration
LAST_ITERATION = EPOCHS * 4
#: ``update_limit`` of the tests that count steady-state updates: its fair share,
#: 1 s / 40 usable calls, is below their ``min_interval``, so ``min_interval`` alone
#: paces (the default Tier 3 budget would allow one update in 1.5 s).
FAST_BUDGET = (50, 1.0)


class _At(training.Extension):
    """Calls ``action(trainer)`` at given iterations (emulator knobs mid-run)."""

    trigger = (1, "iteration")
    priority = training.PRIORITY_WRITER

    def __init__(self, actions, sleep=0.01):
        self.actions = dict(actions)
        self.sleep = sleep  # seconds, or fn(iteration) -> seconds
        self.stamps = []  # time.monotonic() at each iteration

    def __call__(self, trainer):
        self.stamps.append(time.monotonic())
        iteration = trainer.updater.iteration
        action = self.actions.get(iteration)
        if action:
            action()
        # ~1.2 s of "training" over 120 iterations with the default
        time.sleep(self.sleep(iteration) if callable(self.sleep) else self.sleep)

    def gaps(self):
        """Seconds between the starts of consecutive iterations."""
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def run(report, actions=(), sleep=0.01, **kwargs):
    """Train with the report; return (warnings caught, the _At extension)."""
    at = _At(actions, sleep)
    trainer = make_trainer(report, epochs=EPOCHS, log_trigger=(1, "iteration"), extra=[at],
                           **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.run()
    return [str(w.message) for w in caught if issubclass(w.category, SlackReportWarning)], at


def last_row_iteration(text):
    return int(table_rows(text)[-1].split()[1])


def assert_final(emulator, status="[Completed]", message_index=-1):
    message = emulator.messages("general")[message_index]
    body = message.text.replace(CONTINUATION_NOTE, "")
    assert body.startswith(status)
    assert last_row_iteration(body) == LAST_ITERATION
    return message


def assert_rate_ok(emulator, min_gap):
    """Steady-state updates (all but the final one, at least three of them) are at
    least ``min_gap`` seconds apart; one request in flight."""
    updates = emulator.calls_to("chat.update")
    gaps = [b.started - a.started for a, b in zip(updates, updates[1:-1])]
    assert len(gaps) >= 2, f"{len(updates)} chat.update calls: too few to check their rate"
    assert all(g >= min_gap * 0.95 for g in gaps), gaps
    assert emulator.max_in_flight == 1


def assert_training_never_waited(at, slow_starts, seconds):
    """Requests that took ``seconds`` to answer started (``slow_starts``, monotonic) while
    the training ran, and no two iterations are that far apart: had the training thread
    waited for one of them, the iterations around that wait would be."""
    assert slow_starts and slow_starts[0] < at.stamps[-1], \
        "no slow request while the training ran: nothing was tested"
    assert max(at.gaps()) < seconds, f"training waited for a slow Slack: {max(at.gaps()):.2f} s"


@pytest.fixture(autouse=True)
def no_emulator_limits(slack_emulator):
    """The faults are injected: the emulator enforces no rate limits of its own."""
    slack_emulator.clear_limits()


@pytest.fixture
def build(slack_emulator):
    def factory(**kwargs):
        kwargs.setdefault("client", slack_emulator.client(timeout=5))
        kwargs.setdefault("min_interval", 0.1)
        kwargs.setdefault("flush_timeout", 8.0)
        return SlackReport(None, "general", ENTRIES, **kwargs)

    return factory


def test_rate_limit_waits_retry_after_widens_interval_keeps_newest(slack_emulator, build):
    retry_after = 0.4
    slack_emulator.rate_limit("chat.update", retry_after=retry_after, times=2)
    report = build(update_limit=FAST_BUDGET)
    # After the second 429 the interval is 2 s; 4.8 s of training leaves room for
    # steady-state updates after it.
    caught, _ = run(report, sleep=0.04)
    assert_final(slack_emulator)
    calls = slack_emulator.calls_to("chat.update")
    limited = [i for i, c in enumerate(calls) if c.status == 429]
    assert len(limited) == 2 and limited[-1] < len(calls) - 2  # then steady updates again
    waited = [calls[i + 1].started - calls[i].started for i in limited]
    assert all(w >= retry_after * 0.95 for w in waited), waited  # Retry-After honoured
    # widened: after two 429s (the rate halved twice) the next update waits for
    # the steady interval, longer than Retry-After alone would make it
    assert waited[-1] > 2 * retry_after, waited
    assert report.live.pacing.rate_limited == 2
    assert any("Retry-After" in w for w in caught)
    assert_rate_ok(slack_emulator, 0.1)


def test_slack_sdks_rate_limit_retries_do_not_hide_429s(slack_emulator, build):
    # slack_sdk's RateLimitErrorRetryHandler would sleep Retry-After inside the worker's
    # call and resend a stale text, hiding the 429 from the budget the runs share.
    handler = RateLimitErrorRetryHandler(max_retry_count=5)
    client = slack_emulator.client(timeout=5, retry_handlers=[handler])
    slack_emulator.rate_limit("chat.update", retry_after=1, times=1)
    report = build(client=client)
    run(report)
    assert_final(slack_emulator)
    assert slack_emulator.count("chat.update", status=429) == 1
    assert report.live.pacing.rate_limited == 1  # the report saw Slack's 429 itself
    assert client.retry_handlers == [handler]  # the user's client is as it was


def test_429_storm(slack_emulator, build):
    storm, retry_after = 12, 0.2
    slack_emulator.rate_limit("*", retry_after=retry_after, times=storm)
    report = build()
    run(report)
    assert_final(slack_emulator)
    assert slack_emulator.count(status=429) == storm  # every injected 429 was served
    assert report.live.pacing.rate_limited == storm  # and seen by the report
    calls = slack_emulator.calls
    limited = [i for i, call in enumerate(calls) if call.status == 429]
    assert limited[-1] < len(calls) - 1  # the final delivery came after the storm
    for i in limited:  # each Retry-After honoured: the next request waited it out
        assert calls[i + 1].started - calls[i].started >= retry_after * 0.95, i
    assert len(slack_emulator.messages("general")) == 1
    assert slack_emulator.max_in_flight == 1


@pytest.mark.parametrize("error, status", [
    ("fatal_error", 200), ("service_unavailable", 200), ("request_timeout", 200),
    ("internal_error", 200), (None, 500), (None, 502), (None, 503),
])
def test_transient_errors_are_retried_with_backoff(slack_emulator, build, error, status):
    slack_emulator.fail("chat.update", error, status=status, times=2)
    report = build()
    caught, _ = run(report)
    assert_final(slack_emulator)
    failed = [c for c in slack_emulator.calls_to("chat.update") if c.status != 200 or c.error]
    assert len(failed) == 2
    assert any("retries with backoff" in w for w in caught)
    assert len(slack_emulator.messages("general")) == 1
    last = slack_emulator.calls_to("chat.update")[-1]
    assert last.status == 200 and last.error is None  # retried until Slack took it


def test_outage_in_the_middle_third(slack_emulator, build):
    hang = 1.0  # seconds a request hangs during the outage before its connection is closed
    third = LAST_ITERATION // 3
    down = threading.Event()
    hung = []  # time.monotonic() of each request that hung

    def latency(method):
        if not down.is_set():
            return 0.0
        hung.append(time.monotonic())
        return hang

    def outage(on):
        def act():
            (down.set if on else down.clear)()
            slack_emulator.set_down(on)
        return act

    slack_emulator.latency = latency
    # Without slack_sdk's own connection retry, our backoff is what recovers.
    report = build(client=slack_emulator.client(timeout=5, retry_handlers=[]),
                   update_limit=FAST_BUDGET)
    # The middle third lasts 40 × 0.05 s = 2 s, longer than a hung request: the
    # first one is still down when it ends, so its connection is dropped.
    caught, at = run(report, {third: outage(True), 2 * third: outage(False)},
                     sleep=lambda iteration: 0.05 if third <= iteration < 2 * third else 0.01)
    assert_final(slack_emulator)
    assert any(c.dropped for c in slack_emulator.calls)
    assert any("unreachable" in w for w in caught)
    assert_training_never_waited(at, hung, hang)
    assert_rate_ok(slack_emulator, 0.1)


def test_latency_spikes_of_seconds_do_not_stall_training(slack_emulator, build):
    spike = 2.5  # seconds the 2nd and 3rd requests take
    requests, slow = [], []

    def latency(method):
        requests.append(method)
        if len(requests) not in (2, 3):
            return 0.0
        slow.append(time.monotonic())
        return spike

    slack_emulator.latency = latency
    report = build(flush_timeout=10.0)
    _, at = run(report)
    assert_final(slack_emulator)
    assert_training_never_waited(at, slow, spike)
    assert slack_emulator.max_in_flight == 1


def test_http_timeout_is_a_transient_error(slack_emulator, build):
    spikes = {"n": 0}

    def latency(method):
        spikes["n"] += 1
        return 1.5 if spikes["n"] == 2 else 0.0

    slack_emulator.latency = latency
    report = build(client=slack_emulator.client(timeout=0.5))
    # The timed-out call still completes in the emulator 1.5 s after it began (as a slow
    # server may): the run lasts at least 120 × 0.025 = 3 s, so that stale edit lands
    # before the final one (a stale edit landing after it is a known gap, see the notes).
    caught, _ = run(report, sleep=0.025)
    assert_final(slack_emulator)
    assert any("unreachable" in w for w in caught)


def test_message_deleted_mid_run_continues_in_a_new_message(slack_emulator, build):
    def delete():
        (message,) = slack_emulator.messages("general")
        slack_emulator.delete_message("general", message.ts)

    report = build()
    caught, _ = run(report, {LAST_ITERATION // 2: delete})
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith(CONTINUATION_NOTE)
    assert_final(slack_emulator)
    assert report.live.ts == message.ts
    assert any("message_not_found" in w for w in caught)


@pytest.mark.parametrize("error", ["cant_update_message", "edit_window_closed"])
def test_uneditable_message_continues_in_a_new_message(slack_emulator, build, error):
    slack_emulator.fail("chat.update", error, times=1)
    run(build())
    messages = slack_emulator.messages("general")
    assert len(messages) == 2 and messages[1].text.startswith(CONTINUATION_NOTE)
    assert_final(slack_emulator)


def test_msg_too_long_lowers_the_budget(slack_emulator, build):
    slack_emulator.max_text_chars = 1500
    report = build()
    caught, _ = run(report)
    message = assert_final(slack_emulator)
    assert len(message.text) <= 1500
    assert report.live.max_bytes < 4000
    assert any("msg_too_long" in w for w in caught)


@pytest.mark.parametrize("error", sorted(CONFIG_ERRORS))
def test_configuration_errors_stop_calls_and_report_locally(slack_emulator, build, error,
                                                            capsys):
    slack_emulator.fail("*", error, times=float("inf"))
    report = build()
    caught, _ = run(report)
    assert len(slack_emulator.calls) == 1  # the first post, then never again
    (warning,) = [w for w in caught if error in w]
    assert CONFIG_ERRORS[error].split(";")[0] in warning
    out, err = capsys.readouterr()
    assert int(out.replace("\033[J", "").strip().splitlines()[-1].split()[1]) == LAST_ITERATION
    assert "[Completed]" in err and last_row_iteration(err) == LAST_ITERATION


def test_real_configuration_states(slack_emulator, capsys):
    """The emulator's own checks (not injected faults) give the same outcome."""
    slack_emulator.add_channel("closed", member=False)
    for channel, client in [("nowhere", slack_emulator.client()),
                            ("closed", slack_emulator.client()),
                            ("general", slack_emulator.client(token="xoxb-1-wrong"))]:
        report = SlackReport(None, channel, ENTRIES, client=client, min_interval=0.1)
        caught, _ = run(report)
        assert any("stops calling Slack" in w for w in caught)
        assert "[Completed]" in capsys.readouterr().err
    assert slack_emulator.messages("general") == []


class TimedFinalize(SlackReport):
    """Records how long ``finalize`` (the wait for the final delivery) took."""

    finalize_seconds = None

    def finalize(self, trainer=None):
        start = time.monotonic()
        super().finalize(trainer)
        self.finalize_seconds = time.monotonic() - start


def run_into_an_outage_at_the_end(slack_emulator, **kwargs):
    flush_timeout = 1.0
    report = TimedFinalize(None, "general", ENTRIES, client=slack_emulator.client(timeout=5),
                           min_interval=0.1, flush_timeout=flush_timeout, **kwargs)
    at = _At({LAST_ITERATION: lambda: slack_emulator.set_down(True)})
    trainer = make_trainer(report, epochs=EPOCHS, log_trigger=(1, "iteration"), extra=[at])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.run()
    # finalize waits flush_timeout for Slack, which is down, and no longer: beyond
    # it, finalize's own work (less than an iteration's: take the rows, hand over,
    # warn) and one timed wait's wake-up (as each iteration's sleep has), so less
    # than twice the slowest iteration this machine just ran.
    margin = 2 * max(at.gaps())
    assert flush_timeout - 1e-3 <= report.finalize_seconds < flush_timeout + margin, margin
    return report, [str(w.message) for w in caught]


def test_final_report_not_taken_in_time_is_delivered_in_the_background(slack_emulator,
                                                                       capsys):
    report, caught = run_into_an_outage_at_the_end(slack_emulator)
    assert any("delivered in the background" in w for w in caught)
    assert not report.live.delivered
    slack_emulator.set_down(False)  # Slack is back before the interpreter exits
    assert wait_for_final_reports(timeout=30)
    assert_final(slack_emulator)
    assert "[Completed]" not in capsys.readouterr().err  # nothing was given up


def test_final_report_given_up_at_exit_goes_to_stderr(slack_emulator, capsys):
    report, caught = run_into_an_outage_at_the_end(slack_emulator)
    assert not wait_for_final_reports(timeout=0.5)  # Slack stays down
    err = capsys.readouterr().err
    assert "[Completed]" in err and last_row_iteration(err) == LAST_ITERATION


def test_exit_timeout_zero_writes_stderr_at_finalize(slack_emulator, capsys):
    _, caught = run_into_an_outage_at_the_end(slack_emulator, exit_timeout=0)
    err = capsys.readouterr().err
    assert "[Completed]" in err and last_row_iteration(err) == LAST_ITERATION
    assert any("written to stderr" in w for w in caught)


def test_failure_during_outage_keeps_the_training_exception(slack_emulator, build, capsys):
    slack_emulator.set_down(True)
    report = build(flush_timeout=0.5)
    trainer = make_trainer(report, epochs=EPOCHS, log_trigger=(1, "iteration"), crash_at=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Boom):
            trainer.run()
        assert not wait_for_final_reports(timeout=0)  # still down: given up
    err = capsys.readouterr().err
    assert "[Failed]" in err and "Boom" in err


def test_token_never_leaks(slack_emulator, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    token = slack_emulator.token
    report = SlackReport(token, "general", ENTRIES, client=slack_emulator.client(),
                         min_interval=0.05)
    slack_emulator.fail("chat.update", "ratelimited", status=429, times=1, retry_after=0.1)
    slack_emulator.fail("chat.update", "fatal_error", times=1)
    caught, _ = run(report)
    bad = SlackReport(token, "nowhere", ENTRIES, client=slack_emulator.client(),
                      min_interval=0.05)
    caught += run(bad)[0]
    out, err = capsys.readouterr()
    emitted = [repr(report), repr(bad), out, err, caplog.text, *caught,
               *(m.text for m in slack_emulator.messages("general")),
               repr(slack_emulator.calls)]
    assert caught and caplog.text  # there was something to leak into
    assert all(token not in text for text in emitted)
    assert all(token[5:] not in text for text in emitted)
