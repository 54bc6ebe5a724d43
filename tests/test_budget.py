"""The shared rate budget: real files, a real Redis, real processes, no mocks.

Pure arithmetic (window, reserve, fair interval, AIMD, expiry) runs in this
process with an injected clock, so it is exact, against both stores (the
``store`` fixture): a real state file, and a real redis-server.  The
cross-process tests start tests/budget_worker.py processes and check
invariants over the grant times they record — never absolute durations; with
Redis the processes are split over two "hosts" (state directories of their own).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import List

import pytest

from chainer_slack_report.transport.budget import (
    CHAT_POST_MESSAGE,
    CHAT_UPDATE,
    STATE_DIR_ENV,
    Limit,
    Rank,
    SharedBudget,
    default_state_dir,
)
from chainer_slack_report.transport.budget.rank import PENDING_GRACE
from chainer_slack_report.transport.budget.redis_store import KEY_PREFIX
from chainer_slack_report.warning import SlackReportWarning

WORKER = Path(__file__).with_name("budget_worker.py")
API_URL = "https://slack.invalid/api/"  # the worker's default
KEY = "chat.update"


class Clock:
    """A settable clock (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def token() -> str:
    return f"xoxb-{uuid.uuid4().hex}-SECRET"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["file", "redis"])
def store(request):
    """Where the budgets of a test keep their state: None (each host's state file), or
    a real redis-server of the test (tests/redis_server.py)."""
    return request.getfixturevalue("redis_server") if request.param == "redis" else None


@pytest.fixture
def make(tmp_path, token, clock, store):
    def make(**kwargs) -> SharedBudget:
        kwargs.setdefault("state_dir", str(tmp_path))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("store", store.url if store is not None else None)
        return SharedBudget(token, API_URL, **kwargs)
    return make


def stored(budget: SharedBudget, store) -> dict:
    """The budget's state as kept: its state file, or its Redis key."""
    if store is None:
        return json.loads(Path(budget.path).read_text())
    return json.loads(store.client().get(KEY_PREFIX + budget.name))


def store_raw(budget: SharedBudget, store, content: bytes) -> None:
    """Put ``content`` where the budget keeps its state."""
    if store is None:
        Path(budget.path).write_bytes(content)
    else:
        store.client().set(KEY_PREFIX + budget.name, content)


# -- helpers for processes ----------------------------------------------------------

def _env(token: str) -> dict:
    env = dict(os.environ, BUDGET_TEST_TOKEN=token)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _spawn(mode: str, cfg: dict, token: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), mode, json.dumps(cfg)],
                            env=_env(token), **kwargs)


def _host_state(tmp_path: Path, store, i: int) -> dict:
    """Worker ``i``'s state directory and store: with Redis, two "hosts" that share no
    directory (even and odd workers), only the server; else one directory."""
    if store is None:
        return {"state_dir": str(tmp_path / "state")}
    return {"state_dir": str(tmp_path / f"host{i % 2}"), "store": store.url}


def _run_greedy(tmp_path: Path, token: str, cfgs: List[dict], store=None) -> List[list]:
    """Start one greedy worker per cfg, let them all go at once, return their grants."""
    procs = []
    for i, cfg in enumerate(cfgs):
        cfg = dict(cfg, **_host_state(tmp_path, store, i), run_id=f"run{i}",
                   go=str(tmp_path / "go"),
                   ready=str(tmp_path / f"ready{i}"), out=str(tmp_path / f"out{i}.json"))
        procs.append(_spawn("greedy", cfg, token))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{i}").exists() for i in range(len(cfgs))):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), "a worker died"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for p in procs:
        assert p.wait(timeout=120) == 0
    return [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(len(cfgs))]


def _max_in_window(times: List[float], per: float) -> int:
    """The most grants that any window (t - per, t] holds (the budget's own boundary)."""
    times = sorted(times)
    most, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - per:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)  # reaped: its pid is gone, not a zombie
    if proc.stdout is not None:
        proc.stdout.close()


# -- Limit and defaults -------------------------------------------------------------

def test_slack_limits():
    assert (CHAT_UPDATE.calls, CHAT_UPDATE.per) == (50, 60.0)
    assert (CHAT_POST_MESSAGE.calls, CHAT_POST_MESSAGE.per) == (5, 5.0)
    assert Limit(3, 2).per == 2.0
    for calls, per in [(0, 1.0), (1.5, 1.0), (True, 1.0), (1, 0.0), (1, -1.0),
                       (1, float("inf")), (1, float("nan"))]:
        with pytest.raises(ValueError):
            Limit(calls, per)


def test_limit_parse_reads_calls_per_seconds():
    assert Limit.parse("50/60") == CHAT_UPDATE
    assert Limit.parse(" 5 / 2.5 ") == Limit(5, 2.5)
    for text in ["", "50", "50/", "/60", "50/60/1", "1.5/60", "0/60", "50/0", "50/-1",
                 "50/inf", "50/nan", "fifty/60", None]:
        with pytest.raises(ValueError, match=r"CALLS/SECONDS.*like 50/60; not " +
                           re.escape(repr(text))):
            Limit.parse(text)


def test_state_dir_from_environment(tmp_path, monkeypatch, token):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    assert default_state_dir() == str(tmp_path / "xdg" / "chainer_slack_report")
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "env"))
    budget = SharedBudget(token, API_URL)
    assert budget.path is not None and Path(budget.path).parent == tmp_path / "env"
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r") == 0.0
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(STATE_DIR_ENV, "~/budget")
    assert Path(SharedBudget(token, API_URL).path).parent == tmp_path / "home" / "budget"


def test_one_state_per_url_and_token(make, token, store):
    a = make()
    a.join("r")
    if store is None:
        assert Path(a.path).stem == a.name
    else:  # the same name under the prefix; nothing on disk while the server answers
        assert a.path is None and not list(Path(a.state_dir).iterdir())
        assert store.client().keys("*") == [(KEY_PREFIX + a.name).encode()]
        assert 0 < store.client().ttl(KEY_PREFIX + a.name) <= 7200
    assert SharedBudget(token, API_URL.rstrip("/")).name == a.name
    assert SharedBudget(token, "https://other.invalid/api/").name != a.name
    assert SharedBudget(token + "x", API_URL).name != a.name
    assert len(a.name) == 16


# -- window, reserve, fair interval (injected clock) -------------------------------

def test_sliding_window_counts_grants_of_the_last_per_seconds(make, clock):
    budget = make(reserve=0.0)
    limit = Limit(10, 1.0)
    for i in range(10):
        clock.now = 1000.0 + 0.05 * i
        assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0
    clock.now = 1000.95
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == pytest.approx(0.05)
    clock.now = 1001.0  # the grant at 1000.0 leaves the window (t > now - per stays)
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == pytest.approx(0.05)


def test_priority_calls_leave_one_call_in_25_for_the_way_to_slack(make, clock):
    """Slack counts a call when it arrives: of Tier 3's 50 a minute, priority calls take
    48, so that calls granted in a burst at a window's edge still arrive within 50."""
    budget = make()
    for i in range(48):
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id=f"r{i}", priority=True) == 0.0
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r48", priority=True) == \
        pytest.approx(60.0)
    small = Limit(24, 60.0)  # under 25 calls a window: no margin
    for i in range(24):
        assert budget.try_acquire("small", small, run_id=f"r{i}", priority=True) == 0.0


def test_reserve_is_for_priority_calls(make, clock):
    budget = make(reserve=0.2)
    limit = Limit(10, 1.0)
    for i in range(8):  # eight runs, one intermediate update each: the usable 80 %
        assert budget.try_acquire(KEY, limit, run_id=f"r{i}") == 0.0
    assert budget.try_acquire(KEY, limit, run_id="r8") == pytest.approx(1.0)
    assert budget.try_acquire(KEY, limit, run_id="r8", priority=True) == 0.0
    assert budget.try_acquire(KEY, limit, run_id="r0", priority=True) == 0.0
    assert budget.try_acquire(KEY, limit, run_id="r1", priority=True) == pytest.approx(1.0)
    clock.now += 1.0
    assert budget.try_acquire(KEY, limit, run_id="r8") == 0.0


def test_fair_interval_shares_the_usable_window(make, clock):
    budget = make(reserve=0.2)
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(1.5)  # nobody yet: one run
    budget.join("r0")
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(60 / 40)
    for i in range(1, 16):
        budget.join(f"r{i}")
    assert budget.active_runs() == 16
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(24.0)
    for i in range(8):
        budget.leave(f"r{i}")
    assert budget.active_runs() == 8
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(12.0)
    assert make(reserve=0.0).fair_interval(KEY, CHAT_UPDATE) == pytest.approx(8 * 60 / 50)


def test_try_acquire_holds_a_run_to_its_fair_interval(make, clock):
    budget = make()
    budget.join("a")
    budget.join("b")  # two runs: 2 × 60 / 40 = 3 s apart
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="a") == 0.0
    clock.now += 1.0
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="a") == pytest.approx(2.0)
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="b") == 0.0  # its own interval
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="a", priority=True) == 0.0
    budget.leave("b")  # alone: 1.5 s
    clock.now += 0.5
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="a") == 0.0


# -- the queue: which waiting call a freed slot goes to (injected clock) ---------------

def _fill(budget, limit: Limit, calls: int, clock) -> None:
    """``calls`` grants 0.1 s apart, of priority (held to no fair interval)."""
    for _ in range(calls):
        assert budget.try_acquire(KEY, limit, run_id="filler", rank=Rank.FINAL) == 0.0
        clock.now += 0.1


def test_a_freed_slot_goes_to_the_stalest_run_not_the_first_to_ask(make, clock):
    """Two runs wait in a full window: the one whose last update is older gets the next
    slot, although the fresher one asks first when it frees."""
    budget = make(reserve=0.0)
    limit = Limit(3, 10.0)  # three runs (with the filler): 10 s between a run's updates
    assert budget.try_acquire(KEY, limit, run_id="stale") == 0.0  # its last update: 1000
    clock.now = 1002.0
    assert budget.try_acquire(KEY, limit, run_id="fresh") == 0.0
    clock.now = 1012.0  # both past their fair interval
    _fill(budget, limit, 3, clock)  # the window is full: 1012.0, 1012.1, 1012.2
    clock.now = 1012.5
    assert budget.try_acquire(KEY, limit, run_id="fresh") == pytest.approx(9.5)
    assert budget.try_acquire(KEY, limit, run_id="stale") == pytest.approx(9.5)
    clock.now = 1022.0  # 1012.0's slot frees; the fresh run asks first
    assert budget.try_acquire(KEY, limit, run_id="fresh") == pytest.approx(0.1)  # 2nd in line
    assert budget.try_acquire(KEY, limit, run_id="stale") == 0.0
    assert budget.try_acquire(KEY, limit, run_id="fresh") == pytest.approx(0.1)
    clock.now = 1022.1
    assert budget.try_acquire(KEY, limit, run_id="fresh") == 0.0


def test_finals_then_the_board_then_first_posts_then_updates_then_notices(make, clock):
    """One slot frees at a time: the waiting calls get them in the order of their rank,
    whatever the order they ask in."""
    budget = make(reserve=0.0)
    limit = Limit(3, 10.0)
    _fill(budget, limit, 3, clock)  # grants at 1000.0, 1000.1, 1000.2
    order = [Rank.NOTICE, Rank.UPDATE, Rank.POST, Rank.BOARD, Rank.FINAL, Rank.BOARD_FINAL]
    for rank in order:  # the worst first: each better one queues ahead of it
        assert budget.try_acquire(KEY, limit, run_id=f"r-{rank.name}", rank=rank) > 0.0
    served = []
    for free_at in (1010.0, 1010.1, 1010.2, 1020.0, 1020.1, 1030.0):  # a notice: 2 free
        clock.now = free_at
        for rank in order:  # each asks again, in the same (worst-first) order
            if rank not in served and budget.try_acquire(
                    KEY, limit, run_id=f"r-{rank.name}", rank=rank) == 0.0:
                served.append(rank)
        assert len(served) == len({*served}) and len(served) >= 1
    assert served == sorted(order)


def test_a_waiting_call_that_does_not_come_back_stops_holding_the_others(make, clock):
    budget = make(reserve=0.0)
    limit = Limit(1, 10.0)
    _fill(budget, limit, 1, clock)  # the window is full until 1010.0
    assert budget.try_acquire(KEY, limit, run_id="gone", rank=Rank.FINAL) == \
        pytest.approx(10.0 - 0.1)
    clock.now = 1010.0
    assert budget.try_acquire(KEY, limit, run_id="here") > 0.0  # "gone" keeps its place
    clock.now = 1010.0 + PENDING_GRACE  # ... until it is late by the grace
    assert budget.try_acquire(KEY, limit, run_id="here") == 0.0


def test_a_free_slot_is_taken_while_enough_are_left_for_the_better_calls(make, clock):
    """A worse call need not wait behind a better one when the window has room for both."""
    budget = make(reserve=0.0)
    limit = Limit(4, 10.0)
    _fill(budget, limit, 4, clock)
    assert budget.try_acquire(KEY, limit, run_id="final", rank=Rank.FINAL) > 0.0
    clock.now = 1010.15  # two slots free (1000.0's and 1000.1's): one for each
    assert budget.try_acquire(KEY, limit, run_id="update") == 0.0
    assert budget.try_acquire(KEY, limit, run_id="final", rank=Rank.FINAL) == 0.0


def test_a_notice_leaves_a_slot_for_a_first_post_not_yet_asked(make, clock):
    budget = make(reserve=0.0)
    limit = Limit(3, 10.0)
    _fill(budget, limit, 2, clock)
    assert budget.try_acquire(KEY, limit, run_id="notice", rank=Rank.NOTICE) > 0.0
    assert budget.try_acquire(KEY, limit, run_id="post", rank=Rank.POST) == 0.0  # the last
    clock.now = 1010.05  # the first grant left the window: one slot again
    assert budget.try_acquire(KEY, limit, run_id="notice", rank=Rank.NOTICE) > 0.0
    clock.now = 1010.15  # two slots
    assert budget.try_acquire(KEY, limit, run_id="notice", rank=Rank.NOTICE) == 0.0


def test_the_queue_survives_the_state_round_trip(make, clock, store):
    budget = make(reserve=0.0)
    _fill(budget, Limit(1, 10.0), 1, clock)
    budget.try_acquire(KEY, Limit(1, 10.0), run_id="r", rank=Rank.BOARD)
    kept = stored(budget, store)["buckets"][KEY]["waiting"]
    assert kept == {"r/2": [2, pytest.approx(clock.now), pytest.approx(1010.0 + PENDING_GRACE)]}


def test_runs_that_stop_asking_stop_counting(make, clock):
    budget = make(horizon=120.0)
    budget.join("idle")
    budget.join("busy")
    clock.now += 100.0
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="busy") == 0.0  # a heartbeat
    clock.now += 19.9
    assert budget.active_runs() == 2
    clock.now += 0.2  # 120.1 s after idle's last word
    assert budget.active_runs() == 1
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(1.5)
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="idle") == 0.0  # back: counts again
    assert budget.active_runs() == 2


def test_a_clock_set_back_does_not_block_for_the_difference(make, clock):
    budget = make()
    limit = Limit(1, 1.0)
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0
    clock.now -= 500.0
    assert 0.0 < budget.try_acquire(KEY, limit, run_id="r", priority=True) <= 1.0
    clock.now += 1.0
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0


def test_a_clock_an_hour_ahead_neither_starves_nor_bursts_the_others(make, clock):
    """Times another process's clock put an hour ahead (or a clock stepped back) are
    clamped to what they can mean now: a window's grants count as now, a 429's block
    lasts its Retry-After, and its recovery starts a window after that."""
    ahead = Clock(clock.now + 3600.0)
    fast, budget = make(clock=ahead), make()
    assert fast.try_acquire(KEY, CHAT_UPDATE, run_id="fast") == 0.0
    fast.on_rate_limited(KEY, 10.0)  # a block and a cut, an hour ahead
    fast.leave("fast")
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="me", priority=True) == \
        pytest.approx(10.0)
    assert budget.effective_calls(KEY, CHAT_UPDATE) == 25.0
    clock.now += 10.0 + 60.0  # a window after the block's end: recovery begins
    budget.on_success(KEY)
    assert budget.effective_calls(KEY, CHAT_UPDATE) == 26.0
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="me") == 0.0
    ahead.now = clock.now + 3600.0
    for _ in range(48):  # the fast one fills the window, at its own time
        assert fast.try_acquire(KEY, CHAT_UPDATE, run_id="fast", priority=True) == 0.0
    # ... which counts as now for the others: they wait, but at most a window
    assert 0.0 < budget.try_acquire(KEY, CHAT_UPDATE, run_id="me", priority=True) <= 60.0


# -- Slack's answers: Retry-After and AIMD (injected clock) -------------------------

def test_rate_limited_blocks_halves_and_success_recovers(make, clock):
    budget = make()
    limit = Limit(50, 60.0)
    assert budget.try_acquire(KEY, limit, run_id="r") == 0.0
    budget.on_rate_limited(KEY, 10.0)
    assert budget.effective_calls(KEY, limit) == 25.0
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == pytest.approx(10.0)
    clock.now += 4.0
    assert budget.try_acquire(KEY, limit, run_id="other") == pytest.approx(6.0)
    budget.on_rate_limited(KEY, 20.0)  # same burst: the block grows, no second cut
    assert budget.effective_calls(KEY, limit) == 25.0
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == pytest.approx(20.0)
    clock.now += 20.0  # block over at 1024
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0
    assert budget.fair_interval(KEY, limit) == pytest.approx(2 * 60 / 20)  # 2 runs, 25 × 0.8
    budget.on_success(KEY)  # recovery starts one window after the block's end
    assert budget.effective_calls(KEY, limit) == 25.0
    clock.now = 1024.0 + 60.0
    budget.on_success(KEY)
    budget.on_success(KEY)  # at most one call a window
    assert budget.effective_calls(KEY, limit) == 26.0
    for _ in range(30):
        clock.now += 60.0
        budget.on_success(KEY)
    assert budget.effective_calls(KEY, limit) == 50.0  # never above the limit


def test_cuts_stop_at_one_call_a_window(make, clock):
    budget = make()
    limit = Limit(10, 1.0)
    budget.try_acquire(KEY, limit, run_id="r")
    for _ in range(8):
        budget.on_rate_limited(KEY, 1.0)
        clock.now += 1.0  # each 429 after the last block: a new cut
    assert budget.effective_calls(KEY, limit) == 1.0
    clock.now += 1.0
    assert budget.try_acquire(KEY, limit, run_id="r") == 0.0
    assert budget.try_acquire(KEY, limit, run_id="other") == pytest.approx(1.0)
    # a priority call is held only to Slack's nominal limit and its Retry-After
    for _ in range(9):
        assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == 0.0
    assert budget.try_acquire(KEY, limit, run_id="r", priority=True) == pytest.approx(1.0)


def test_rate_limited_before_any_ask_and_odd_retry_after(make, clock):
    budget = make()
    budget.on_rate_limited("chat.postMessage:C1", 5.0)
    assert budget.try_acquire("chat.postMessage:C1", CHAT_POST_MESSAGE, run_id="r",
                              priority=True) == pytest.approx(5.0)
    calls = budget.effective_calls("chat.postMessage:C1", CHAT_POST_MESSAGE)
    assert calls == CHAT_POST_MESSAGE.calls
    for odd in (float("nan"), -3.0, float("inf")):
        budget.on_rate_limited("chat.postMessage:C2", odd)
        wait = budget.try_acquire("chat.postMessage:C2", CHAT_POST_MESSAGE, run_id="r")
        assert 0.0 < wait <= 3600.0
        clock.now += 3600.0


# -- state file robustness ------------------------------------------------------------

_V1_FILE = (b'{"v":1,"runs":{"r0":{"pid":1,"host":"h","seen":1000,"last":{}}},'
            b'"keys":{"chat.update":{"log":[999.5],"calls":1,"per":60,"eff":1,'
            b'"until":0,"ra":0,"mark":0}}}')  # the layout before version 2: started afresh


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"version": 99}', _V1_FILE,
    b'{"version": 2, "runs": "x"}',
    b'{"version":2,"runs":{"r":{"pid":"x"}},"buckets":{"chat.update":{"grants":["a"]}}}',
    b'{"version":2,"runs":{},"buckets":{"chat.update":{"grants":[NaN],"calls":1,"per":1,'
    b'"effective":1,"blocked_until":0,"block_seconds":0,"next_increase":0}}}',
])
def test_corrupt_state_starts_fresh(make, store, content):
    budget = make()
    budget.join("gone")  # makes the file (or key) that the content replaces
    store_raw(budget, store, content)
    assert budget.active_runs() == 0
    assert budget.try_acquire(KEY, Limit(1, 60.0), run_id="r") == 0.0
    state = stored(budget, store)
    assert state["version"] == 2
    assert len(state["buckets"][KEY]["grants"]) == 1 and list(state["runs"]) == ["r"]


def test_unusable_directory_falls_back_in_process_with_one_warning(tmp_path, token, clock):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    state_dir = str(blocker / "state")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = SharedBudget(token, API_URL, state_dir=state_dir, clock=clock)
        b = SharedBudget(token, API_URL, state_dir=state_dir, clock=clock)
        assert a.path is None and b.path is None
        limit = Limit(1, 60.0)
        assert a.try_acquire(KEY, limit, run_id="ra", priority=True) == 0.0
        assert b.try_acquire(KEY, limit, run_id="rb", priority=True) == pytest.approx(60.0)
        b.on_rate_limited(KEY, 5.0)
        assert a.effective_calls(KEY, limit) == 1.0 and a.active_runs() == 2
    ours = [w for w in caught if issubclass(w.category, SlackReportWarning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert state_dir in str(ours[0].message) and token not in str(ours[0].message)
    assert "in-process" in repr(a) and token not in repr(a)


def test_directory_lost_while_running_falls_back(tmp_path, token, clock):
    state_dir = tmp_path / "state"
    budget = SharedBudget(token, API_URL, state_dir=str(state_dir), clock=clock)
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r") == 0.0
    for child in state_dir.iterdir():
        child.unlink()
    state_dir.rmdir()
    state_dir.write_text("now a file")
    with pytest.warns(SlackReportWarning, match="in this process only"):
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r", priority=True) == 0.0
    assert budget.path is None


def test_token_is_never_written_or_shown(make, token, tmp_path, clock, store):
    budget = make()
    budget.join("run")
    budget.try_acquire(KEY, CHAT_UPDATE, run_id="run")
    budget.try_acquire("chat.postMessage:C1", CHAT_POST_MESSAGE, run_id="run", priority=True)
    budget.on_rate_limited(KEY, 3.0)
    clock.now += 100.0
    budget.on_success(KEY)
    secret = token.split("-")[1]
    if store is not None:
        client = store.client()
        keys = client.keys("*")
        assert keys and not any(secret.encode() in key for key in keys)
        assert not any(secret.encode() in client.get(key) for key in keys)
        return
    files = list(tmp_path.rglob("*"))
    assert files
    for path in files:
        assert secret not in str(path)
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    assert secret not in repr(budget) and secret not in str(budget)
    assert secret not in repr(vars(budget))  # not even kept in memory


def test_threads_of_one_process_share_the_window(make, tmp_path, token):
    limit = Limit(5, 0.5)
    local = threading.local()

    def recording_clock() -> float:
        local.last = time.time()
        return local.last

    budgets = [make(clock=recording_clock), make(clock=recording_clock)]
    grants: List[float] = []
    end = time.time() + 1.0

    def run(i: int) -> None:
        budget = budgets[i % 2]
        while time.time() < end:
            wait = budget.try_acquire(KEY, limit, run_id=f"t{i}", priority=True)
            if wait == 0.0:
                grants.append(local.last)
            else:
                time.sleep(min(wait, 0.05))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert grants and _max_in_window(grants, limit.per) <= limit.calls


# -- across processes -----------------------------------------------------------------

def test_limit_holds_across_8_processes(tmp_path, token, store):
    limit = Limit(10, 1.0)
    cfg = {"calls": limit.calls, "per": limit.per, "reserve": 0.2, "duration": 2.0,
           "pattern": [False, True]}
    outs = _run_greedy(tmp_path, token, [cfg] * 8, store)
    grants = [g for out in outs for g in out]
    assert len({pid for _, pid, _, _ in grants}) >= 2
    assert _max_in_window([t for t, *_ in grants], limit.per) == 10  # saturated, never more
    assert _max_in_window([t for t, _, prio, _ in grants if not prio], limit.per) <= 8


def _run_lockstep(tmp_path: Path, token: str, cfgs: List[dict], times: List[float],
                  store=None) -> List[list]:
    """Start one lockstep worker per cfg; move their shared clock through ``times``, each
    time once every worker is done with the last; return each worker's grant times."""
    procs = []
    try:
        for i, cfg in enumerate(cfgs):
            cfg = dict(cfg, **_host_state(tmp_path, store, i), run_id=f"run{i}",
                       start=times[0])
            procs.append(_spawn("lockstep", cfg, token, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True))
        for proc in procs:
            assert proc.stdout.readline() == "ready\n"
        for now in times:
            for proc in procs:  # all at once: they contend for the lock as runs do
                proc.stdin.write(f"{now!r}\n")
                proc.stdin.flush()
            for proc in procs:
                assert proc.stdout.readline() == "done\n"
        outs = []
        for proc in procs:
            proc.stdin.write("stop\n")
            proc.stdin.close()
            outs.append(json.loads(proc.stdout.readline()))
            assert proc.wait(timeout=60) == 0
        return outs
    finally:
        for proc in procs:
            _kill(proc)


def test_greedy_processes_get_fair_shares(tmp_path, token, store):
    """Six greedy processes on one clock that the test moves, so that how the machine
    schedules them cannot decide how many calls each gets."""
    limit = Limit(20, 1.0)  # 16 usable a second; 6 runs → one call each 0.375 s
    tick = 1 / 32  # seconds; 0.375 s is 12 ticks, both exact in binary
    cfg = {"calls": limit.calls, "per": limit.per, "reserve": 0.2}
    outs = _run_lockstep(tmp_path, token, [cfg] * 6, [1000.0 + i * tick for i in range(96)],
                         store)
    counts = [len(out) for out in outs]  # 3 s: 8 calls each, at 0, 0.375, ..., 2.625 s
    assert min(counts) >= 7 and max(counts) - min(counts) <= 1, counts
    for out in outs:  # no run takes more than its share
        assert all(b - a >= 6 * limit.per / 16 - 1e-9 for a, b in zip(out, out[1:])), out
    assert _max_in_window([t for out in outs for t in out], limit.per) <= 16


def test_reserve_leaves_room_for_priority_calls_across_processes(tmp_path, token, store):
    limit = Limit(10, 1.0)  # intermediate updates may fill 8 of 10
    # Intermediate updates under a new run id each time (so no fair interval
    # holds them back): together they fill the 8 usable slots of every window.
    greedy = {"calls": 10, "per": 1.0, "reserve": 0.2, "duration": 2.5, "fresh_run_ids": True}
    # A "final update" every 0.6 s or more: at most 2 in any window, so with the
    # other 8 never more than 9 grants stand before it — its first ask must pass.
    final = {"calls": 10, "per": 1.0, "reserve": 0.2, "duration": 2.5, "pattern": [True],
             "gap": 0.6}
    outs = _run_greedy(tmp_path, token, [greedy] * 5 + [final], store)
    finals = outs[-1]
    assert finals and all(first_wait == 0.0 for _, _, _, first_wait in finals), finals
    intermediate = [g[0] for out in outs[:-1] for g in out]
    # Intermediate asks are refused once 8 grants of any kind stand in the window.
    assert _max_in_window(intermediate, limit.per) <= 8
    assert 8 <= _max_in_window(intermediate + [g[0] for g in finals], limit.per) <= 10


def _probe(token: str, state_dir: Path, run_id: str, **cfg) -> dict:
    proc = _spawn("probe", dict({"state_dir": str(state_dir), "run_id": run_id, "calls": 50,
                                 "per": 60.0}, **cfg), token, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return json.loads(out)


def test_rate_limited_blocks_every_process(tmp_path, token, store):
    class Recording:
        last = 0.0

        def __call__(self) -> float:
            self.last = time.time()
            return self.last

    clock = Recording()
    url = store.url if store is not None else None
    budget = SharedBudget(token, API_URL, state_dir=str(tmp_path), clock=clock, store=url)
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="parent") == 0.0
    budget.on_rate_limited(KEY, 30.0)
    until = clock.last + 30.0
    for i, priority in enumerate([True, False, True]):  # with Redis, on another "host"
        other = tmp_path / "other" if store is not None else tmp_path
        answer = _probe(token, other, f"child{i}", priority=priority,
                        **({"store": url} if url else {}))
        assert answer["wait"] > 0.0
        assert answer["now"] + answer["wait"] == pytest.approx(until, abs=1e-6)
    assert budget.effective_calls(KEY, CHAT_UPDATE) == 25.0


def test_process_killed_holding_the_lock_does_not_block_others(tmp_path, token):
    holder = _spawn("hold", {"state_dir": str(tmp_path)}, token, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"holding"
        budget = SharedBudget(token, API_URL, state_dir=str(tmp_path), lock_timeout=0.2)
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="me", priority=True) > 0.0  # busy
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        _kill(holder)
    assert holder.returncode == -signal.SIGKILL
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="me", priority=True) == 0.0
    assert _probe(token, tmp_path, "other", priority=True)["wait"] == 0.0
    state = json.loads(Path(budget.path).read_text())
    assert len(state["buckets"][KEY]["grants"]) == 2  # the refused ask took nothing


def test_a_dead_runs_share_is_given_back(tmp_path, token):
    budget = SharedBudget(token, API_URL, state_dir=str(tmp_path))
    budget.join("alive")
    doomed = _spawn("join", {"state_dir": str(tmp_path), "run_id": "doomed"}, token,
                    stdout=subprocess.PIPE)
    try:
        assert doomed.stdout.readline().strip() == b"joined"
        assert budget.active_runs() == 2
        assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(3.0)
    finally:
        _kill(doomed)
    assert budget.active_runs() == 1  # at once, not after the horizon
    assert budget.fair_interval(KEY, CHAT_UPDATE) == pytest.approx(1.5)
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="alive") == 0.0
    runs = json.loads(Path(budget.path).read_text())["runs"]
    assert list(runs) == ["alive"]

