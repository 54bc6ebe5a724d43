"""Lost-host notices scale: many runs in one channel stay within Slack's 30 scheduled
messages per 5-minute window (``chat.scheduleMessage``, ``restricted_too_many``), each run
keeps its notice pending, and no run's first post waits on them.

Real ``slack_sdk.WebClient`` calls over HTTP to the emulator with Slack's rate limits; the
emulator's clock is frozen and moved from one due call to the next (the shared budget and
the notices read it), so hours of notices take seconds and no bound assumes a speed.
"""

from __future__ import annotations

import warnings

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.testing import SlackEmulator
from chainer_slack_report.testing.emulator.clock import Clock
from chainer_slack_report.testing.notice_load import notice_load
from chainer_slack_report.transport.budget import CHAT_UPDATE, RunBudget, SharedBudget
from chainer_slack_report.transport.lost_notice import LostNotice, most_in_a_window

START = 1_800_000_000.0  # the emulator clock's start: the same message ts in every run


def frozen_emulator():
    return SlackEmulator(clock=Clock(start=START, frozen=True))


def test_32_runs_notices_stay_within_30_per_window_and_never_hold_a_first_post(tmp_path):
    lost_after = 900.0
    with frozen_emulator() as emulator:
        load = notice_load(emulator, runs=32, lost_after=lost_after, duration=2 * 3600.0,
                           state_dir=str(tmp_path))
        pending = emulator.scheduled("general")
    # after every call, counting every pending message (a moved notice's old one too)
    assert load.most_in_a_window <= 30
    # spread over the windows: the runs that started together met no full window
    assert load.count("chat.scheduleMessage", "restricted_too_many") == 0
    assert sum(load.answers[m]["429"] for m in load.answers) == 0 and load.post_429s == 0
    assert load.warnings == []
    # every run has its notice pending from its first schedule on, and at the end
    assert load.pending_at_end == [1] * 32 and max(load.longest_gap) == 0.0
    assert max(load.first_cover) < lost_after / 2  # in place long before it could matter
    moves = load.count("chat.scheduleMessage", "ok") - 32
    assert moves >= 32 * 2 * 3600 / lost_after * 0.9  # each moved every lost_after / 2
    assert load.count("chat.deleteScheduledMessage", "ok") == moves  # each old one deleted
    # the budget's queue ranks a first post before a notice: no notice took a slot while
    # a first post waited, nor in the window before one that waited
    assert load.notices_before_waiting_posts == 0 and load.posts_behind_notices == 0
    first = min(n.post_at for n in pending)
    assert most_in_a_window([n.post_at for n in pending]) <= 30
    assert all(first <= n.post_at <= first + 2 * lost_after for n in pending)


def test_more_runs_than_a_window_holds_are_moved_to_later_windows_without_a_warning(
        tmp_path):
    # lost_after = 300: every pending notice posts within one 5-minute window, so 32 runs
    # are more than Slack lets one channel hold: some meet restricted_too_many at each move
    with frozen_emulator() as emulator:
        load = notice_load(emulator, runs=32, lost_after=300.0, duration=1800.0,
                           state_dir=str(tmp_path))
    assert load.most_in_a_window <= 30
    assert load.count("chat.scheduleMessage", "restricted_too_many") > 0
    assert load.warnings == []  # a full window is normal here: the notice goes later
    # the old notice stays until the new one is scheduled: no run is left without one
    assert load.pending_at_end == [1] * 32 and max(load.longest_gap) == 0.0
    assert load.notices_before_waiting_posts == 0


def test_a_full_window_is_stepped_over_once_even_when_the_budget_holds_the_retry(tmp_path):
    lost_after = 60.0
    with frozen_emulator() as emulator:
        client = emulator.client()
        clock = emulator.clock
        posted = client.chat_postMessage(channel="general", text="[Training]")
        now = clock.now()
        for _ in range(30):  # other messages fill every window the first notice may ask for
            client.chat_scheduleMessage(channel="general", post_at=int(now + 45), text="x")
        shared = SharedBudget(emulator.token, emulator.url, clock=clock.now,
                              state_dir=str(tmp_path))
        budget = RunBudget(shared, CHAT_UPDATE, "run", channel="general")
        notice = LostNotice(client, posted["channel"], posted["ts"], lost_after=lost_after,
                            text=lambda t: "No news", budget=budget, clock=clock.now)
        with warnings.catch_warnings():
            warnings.simplefilter("error", SlackReportWarning)
            wait = notice.keep()  # refused; the budget holds the next try (fair interval)
            assert notice.scheduled_id is None and 0 < wait < lost_after / 2
            emulator.advance(wait)
            notice.keep()
        refused = [c for c in emulator.calls_to("chat.scheduleMessage")
                   if c.error == "restricted_too_many"]
        assert len(refused) == 1  # the retry asked for the next window at once
        (mine,) = [m for m in emulator.scheduled("general") if m.thread_ts == posted["ts"]]
        assert mine.post_at >= now + 45 + 300  # past the full window
        assert mine.post_at <= now + lost_after + 300 + wait + 1
        # it moves half of lost_after before it posts, not half of lost_after after it
        # was scheduled (it would then have two pending in the same window)
        assert notice.keep() == mine.post_at - lost_after / 2 - clock.now()
