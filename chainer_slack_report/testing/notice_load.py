"""Many runs' lost-host notices in one channel, on the emulator's clock: :func:`notice_load`.

Each of ``runs`` runs posts its message with ``chat.postMessage`` through the
host's shared rate budget (:class:`~chainer_slack_report.transport.budget.RunBudget`,
as a :class:`~chainer_slack_report.transport.live_message.LiveMessage` does for
its first post), then keeps a
:class:`~chainer_slack_report.transport.lost_notice.LostNotice` in that
message's thread, as its watchdog would.  Every call is real HTTP to a
:class:`~chainer_slack_report.testing.SlackEmulator`; the emulator's clock is
frozen and moved (:meth:`~chainer_slack_report.testing.SlackEmulator.advance`)
from one due call to the next, and the budget and the notices read that clock,
so an hour of runs takes seconds and nothing depends on the machine's speed.

What it counts (:class:`NoticeLoad`): after every call, the most messages of
the channel pending to post within one 5-minute window (sliding, Slack's
``restricted_too_many`` rule of the ``chat.scheduleMessage`` page, every pending
one: a moved notice's old one too, until its delete); Slack's answers to the
notices' calls; how long each run's message went without a notice pending; and
whether a notice was scheduled while a run's first post was waiting for the
budget (the budget's queue ranks a first post before a notice).
"""

from __future__ import annotations

import collections
import heapq
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from slack_sdk.errors import SlackApiError

from ..transport.budget import CHAT_POST_MESSAGE, CHAT_UPDATE, RunBudget, SharedBudget
from ..transport.lost_notice import LostNotice, most_in_a_window

__all__ = ["NoticeLoad", "notice_load"]


@dataclass
class NoticeLoad:
    """What :func:`notice_load` measured.  Times are the emulator clock's seconds."""

    runs: int
    #: the most messages of the channel pending to post within one 5-minute window,
    #: after any call (Slack refuses a 31st: ``restricted_too_many``)
    most_in_a_window: int = 0
    #: the calls of the notices, by method and answer (``"ok"``, a Slack error, ``"429"``)
    answers: Dict[str, collections.Counter] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    #: ``chat.postMessage`` first posts that met HTTP 429
    post_429s: int = 0
    #: per run: seconds from its first post to its first notice pending
    first_cover: List[float] = field(default_factory=list)
    #: per run: the longest time after its first notice with none pending (0.0: never)
    longest_gap: List[float] = field(default_factory=list)
    #: per run: seconds its first post waited for the budget
    post_waits: List[float] = field(default_factory=list)
    #: ``chat.scheduleMessage`` calls made while a run's first post waited for a slot
    notices_before_waiting_posts: int = 0
    #: first posts that waited for a slot while a notice's call made within
    #: ``chat.postMessage``'s window (5 s) before their first ask held one
    posts_behind_notices: int = 0
    #: per run: notices pending at the end (one each)
    pending_at_end: List[int] = field(default_factory=list)
    #: the runs' ``SlackReportWarning`` texts
    warnings: List[str] = field(default_factory=list)

    def count(self, method: str, answer: str) -> int:
        """How many calls of ``method`` got ``answer``."""
        return self.answers[method][answer]


class _Run:
    def __init__(self, index: int, budget: RunBudget, start: float) -> None:
        self.index = index
        self.budget = budget
        self.start = start
        self.asked: Optional[float] = None  # its first post's first ask of the budget
        self.posted: Optional[float] = None
        self.ts: Optional[str] = None
        self.notice: Optional[LostNotice] = None
        self.covered_at: Optional[float] = None  # its first notice pending since
        self.uncovered_since: Optional[float] = None
        self.longest_gap = 0.0


class _Watched:
    """The client the notices use: every call goes to Slack (the emulator), and what the
    channel holds afterwards is looked at."""

    def __init__(self, client, after) -> None:
        self._client = client
        self._after = after

    def __getattr__(self, name):
        call = getattr(self._client, name)

        def watched(**kwargs):
            method = name.replace("_", ".", 1)
            try:
                response = call(**kwargs)
            except SlackApiError as exc:
                status = exc.response.status_code
                self._after(method, "429" if status == 429 else exc.response.get("error"))
                raise
            self._after(method, "ok")
            return response
        return watched


def notice_load(emulator, *, runs: int = 32, channel: str = "general",
                lost_after: float = 900.0, start_spread: float = 2.0,
                duration: float = 3600.0, state_dir: Optional[str] = None) -> NoticeLoad:
    """Run ``runs`` runs' first posts and lost-host notices in ``channel`` for ``duration``.

    Args:
        emulator (SlackEmulator): Started; its clock is frozen here (and left so).
        runs (int): How many runs (each its own message, budget share and notice).
        channel (str): The channel's name, as the runs name it.
        lost_after (float): Each notice's ``lost_after`` (seconds).
        start_spread (float): Seconds over which the runs start (evenly).
        duration (float): Seconds of the emulator's clock to run for.
        state_dir (str or None): The shared budget's state directory; None: a new
            temporary one.

    Returns:
        NoticeLoad: What was measured.
    """
    import warnings

    from ..warning import SlackReportWarning

    clock = emulator.clock
    clock.freeze()
    load = NoticeLoad(runs=runs)
    channel_id = emulator.channel(channel).id
    waiting_posts: set = set()
    notice_times: List[float] = []
    tmp = None if state_dir is not None else tempfile.TemporaryDirectory()
    shared = SharedBudget(emulator.token, emulator.url, clock=clock.now,
                          state_dir=state_dir if tmp is None else tmp.name)
    t0 = clock.now()
    members = [_Run(i, RunBudget(shared, CHAT_UPDATE, uuid.uuid4().hex, channel=channel),
                    t0 + start_spread * i / max(1, runs - 1)) for i in range(runs)]

    def look(method: str, answer: str) -> None:
        if method != "chat.postMessage":
            load.answers[method][answer] += 1
        if method == "chat.scheduleMessage":
            notice_times.append(clock.now())
            load.notices_before_waiting_posts += bool(waiting_posts)
        pending = [m.post_at for m in emulator.scheduled(channel_id)]
        load.most_in_a_window = max(load.most_in_a_window, most_in_a_window(pending))
        now = clock.now()
        held = collections.Counter(m.thread_ts for m in emulator.scheduled(channel_id))
        for run in members:
            if run.ts is None or run.notice is None:
                continue
            if held[run.ts]:
                if run.covered_at is None:
                    run.covered_at = now
                if run.uncovered_since is not None:
                    run.longest_gap = max(run.longest_gap, now - run.uncovered_since)
                    run.uncovered_since = None
            elif run.covered_at is not None and run.uncovered_since is None:
                run.uncovered_since = now

    client = _Watched(emulator.client(), look)
    queue = [(run.start, run.index, "post") for run in members]
    heapq.heapify(queue)
    end = t0 + duration
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SlackReportWarning)
        while queue and queue[0][0] <= end:
            at, index, what = heapq.heappop(queue)
            if at > clock.now():
                emulator.advance(at - clock.now())
            run = members[index]
            now = clock.now()
            if what == "post":
                again = _first_post(run, client, channel, now, waiting_posts, load)
                if again is not None:
                    heapq.heappush(queue, (now + again, index, "post"))
                    continue
                run.notice = LostNotice(client, channel_id, run.ts, lost_after=lost_after,
                                        text=lambda t: "No news", budget=run.budget,
                                        clock=clock.now)
            heapq.heappush(queue, (now + max(0.001, run.notice.keep()), index, "keep"))
        load.warnings = [str(w.message) for w in caught
                         if issubclass(w.category, SlackReportWarning)]
    now = clock.now()
    held = collections.Counter(m.thread_ts for m in emulator.scheduled(channel_id))
    for run in members:
        load.first_cover.append((run.covered_at or now) - (run.posted or now))
        if run.uncovered_since is not None:
            run.longest_gap = max(run.longest_gap, now - run.uncovered_since)
        load.longest_gap.append(run.longest_gap)
        load.post_waits.append((run.posted or now) - (run.asked or now))
        if run.asked is not None and (run.posted or now) > run.asked:
            load.posts_behind_notices += any(
                run.asked - CHAT_POST_MESSAGE.per < t <= (run.posted or now)
                for t in notice_times)
        load.pending_at_end.append(held[run.ts] if run.ts else 0)
    if tmp is not None:
        tmp.cleanup()
    return load


def _first_post(run: _Run, client, channel: str, now: float, waiting: set,
                load: NoticeLoad) -> Optional[float]:
    """One try of the run's first post, as :class:`LiveMessage` makes it: None once
    posted, else seconds until the next try."""
    if run.asked is None:
        run.asked = now
    wait = run.budget.wait("chat.postMessage", channel, priority=False)
    if wait > 0:
        waiting.add(run.index)
        return wait
    try:
        response = client.chat_postMessage(channel=channel, text=f"[Training] run {run.index}")
    except SlackApiError as exc:
        if exc.response.status_code != 429:
            raise
        load.post_429s += 1
        retry_after = float(exc.response.headers.get("Retry-After", 1))
        run.budget.rate_limited("chat.postMessage", channel, retry_after)
        waiting.add(run.index)
        return retry_after
    waiting.discard(run.index)
    run.budget.succeeded("chat.postMessage", channel)
    run.posted, run.ts = now, response["ts"]
    return None
