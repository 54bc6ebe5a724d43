"""A separate process for tests/test_budget.py (and a small benchmark).

``python tests/budget_worker.py MODE 'JSON'``; the token comes from the
environment variable ``BUDGET_TEST_TOKEN`` (never from the command line).

Modes:

* ``greedy``: join, signal ready, wait for the go file, then for ``duration``
  seconds ask ``try_acquire`` as often as it allows (``pattern`` cycles the
  priority flag from one ask to the next; ``gap`` seconds of extra sleep after each grant;
  ``fresh_run_ids`` asks under a new run id each time, escaping the fair
  interval) and write
  every grant as ``[time, pid, priority, first_wait]`` to ``out`` — ``time``
  is the clock value the budget took the slot at, ``first_wait`` what the
  first ask of that slot returned.
* ``lockstep``: like ``greedy``, but on a clock the test moves: join at
  ``start``, print ``ready``; then each line of stdin is a time (seconds) —
  set the clock to it, ask as often as the budget allows at that time, print
  ``done`` — until the line ``stop``; then leave and print the grant times
  as one JSON list.
* ``hold``: take the state's lock inside a transaction, print ``holding``,
  sleep (the test SIGKILLs it).
* ``probe``: one ``try_acquire``; print ``{"now": ..., "wait": ...}``.
* ``join``: join ``run_id``, print ``joined``, sleep (the test kills it).
* ``bench``: ``{"procs": N, "ops": M, "rate": R}`` — N processes each make M
  calls, alternately ``try_acquire`` and ``join`` (R per second each, 0 = back
  to back) on a fresh state; prints the median and p99 time per call.  With
  ``"store": URL`` the state is in that Redis server (a fresh key; the children
  read the URL from ``$CHAINER_SLACK_REPORT_STORE``).

Every mode takes ``"store"`` (a Redis URL: the state in Redis, ``state_dir``
only while it does not answer) and ``"horizon"`` (seconds).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from chainer_slack_report.transport.budget import STORE_ENV, Limit, SharedBudget

API_URL = "https://slack.invalid/api/"


class RecordingClock:
    """time.time(), remembering the last value it gave (the budget reads it once per call)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> float:
        self.last = time.time()
        return self.last


def _budget(cfg: dict, clock=None) -> SharedBudget:
    """The budget ``cfg`` names: its ``state_dir`` (this "host"'s), and a Redis ``store``
    URL if any (then the server's clock unless ``clock`` is given)."""
    return SharedBudget(os.environ["BUDGET_TEST_TOKEN"], cfg.get("api_url", API_URL),
                        state_dir=cfg["state_dir"], store=cfg.get("store"),
                        reserve=cfg.get("reserve", 0.2), horizon=cfg.get("horizon", 120.0),
                        lock_timeout=cfg.get("lock_timeout", 5.0), clock=clock)


def greedy(cfg: dict) -> None:
    clock = RecordingClock()
    budget = _budget(cfg, clock)
    limit = Limit(cfg["calls"], cfg["per"])
    key, run_id = cfg.get("key", "chat.update"), cfg["run_id"]
    pattern = cfg.get("pattern", [False])
    budget.join(run_id)
    with open(cfg["ready"], "w"):
        pass
    while not os.path.exists(cfg["go"]):
        time.sleep(0.002)
    deadline = time.time() + cfg["duration"]
    grants, first_wait, asks = [], None, 0
    while time.time() < deadline:
        priority = pattern[asks % len(pattern)]
        asking = f"{run_id}.{asks}" if cfg.get("fresh_run_ids") else run_id
        wait = budget.try_acquire(key, limit, run_id=asking, priority=priority)
        asks += 1
        if first_wait is None:
            first_wait = wait
        if wait == 0.0:
            grants.append([clock.last, os.getpid(), priority, first_wait])
            first_wait = None
            time.sleep(cfg.get("gap", 0.0))
        elif pattern[asks % len(pattern)] == priority:  # else ask the other kind at once
            time.sleep(min(wait, max(0.0, deadline - time.time())))
    if cfg.get("leave", True):
        budget.leave(run_id)
    with open(cfg["out"], "w") as f:
        json.dump(grants, f)


class SetClock:
    """A clock that stands still until set (seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lockstep(cfg: dict) -> None:
    clock = SetClock(cfg["start"])
    budget = _budget(cfg, clock)
    limit = Limit(cfg["calls"], cfg["per"])
    key, run_id = cfg.get("key", "chat.update"), cfg["run_id"]
    budget.join(run_id)
    print("ready", flush=True)
    grants, next_ask = [], clock.now
    for line in sys.stdin:
        if line.strip() == "stop":
            break
        clock.now = float(line)
        while next_ask <= clock.now:  # greedy: ask again at once after a grant
            wait = budget.try_acquire(key, limit, run_id=run_id)
            if wait == 0.0:
                grants.append(clock.now)
            else:
                next_ask = clock.now + wait
        print("done", flush=True)
    budget.leave(run_id)
    print(json.dumps(grants), flush=True)


def hold(cfg: dict) -> None:
    budget = _budget(cfg)

    def fn(state, now):
        print("holding", flush=True)
        time.sleep(600)
        return None, False

    budget._store.update(fn)  # a test hook: hold the lock the way a real transaction does


def probe(cfg: dict) -> None:
    clock = RecordingClock()
    budget = _budget(cfg, clock)
    wait = budget.try_acquire(cfg.get("key", "chat.update"), Limit(cfg["calls"], cfg["per"]),
                              run_id=cfg["run_id"], priority=cfg.get("priority", False))
    print(json.dumps({"now": clock.last, "wait": wait}), flush=True)


def join(cfg: dict) -> None:
    _budget(cfg).join(cfg["run_id"])
    print("joined", flush=True)
    time.sleep(600)


def bench_child(cfg: dict) -> None:
    """Alternate try_acquire on chat.update's limit (the window soon holds its 50
    grants, as in real use, so most calls are refused and only read) and join (a
    forced heartbeat: always a full read-modify-write of that state)."""
    budget = _budget(cfg)
    limit = Limit(50, 60.0)
    run_id = f"bench-{os.getpid()}"
    budget.join(run_id)
    while time.time() < cfg["start"]:
        time.sleep(0.001)
    period = 1.0 / cfg["rate"] if cfg["rate"] else 0.0
    time.sleep(period * cfg["phase"])  # spread the processes over the period
    times = {"try_acquire": [], "join": []}
    for i in range(cfg["ops"]):
        t0 = time.perf_counter()
        if i % 2:
            budget.join(run_id)
        else:
            budget.try_acquire("chat.update", limit, run_id=run_id, priority=True)
        times["join" if i % 2 else "try_acquire"].append(time.perf_counter() - t0)
        if period:
            time.sleep(period)
    with open(cfg["out"], "w") as f:
        json.dump(times, f)


def bench(cfg: dict) -> None:
    procs, ops, rate = cfg["procs"], cfg["ops"], cfg.get("rate", 0)
    os.environ["BUDGET_TEST_TOKEN"] = f"xoxb-bench-{uuid.uuid4().hex}"  # a fresh state
    if cfg.get("store"):  # in the children's environment: a password stays off command lines
        os.environ[STORE_ENV] = cfg["store"]
    with tempfile.TemporaryDirectory() as state_dir:
        start = time.time() + 1.0 + 0.2 * procs
        children = []
        for i in range(procs):
            child = {"state_dir": state_dir, "ops": ops, "rate": rate, "start": start,
                     "phase": i / procs, "out": os.path.join(state_dir, f"out{i}")}
            children.append(subprocess.Popen([sys.executable, __file__, "bench-child",
                                              json.dumps(child)]))
        for child in children:
            child.wait()
        times = {"try_acquire": [], "join": []}
        for i in range(procs):
            with open(os.path.join(state_dir, f"out{i}")) as f:
                for op, values in json.load(f).items():
                    times[op] += values
    for op, values in times.items():
        values.sort()
        print(f"{procs:2d} procs, {rate or 'max'} ops/s each, {op:11s}: "
              f"median {statistics.median(values) * 1e3:.3f} ms, "
              f"p99 {values[int(len(values) * 0.99)] * 1e3:.3f} ms, max {values[-1] * 1e3:.1f} ms")


MODES = {"greedy": greedy, "lockstep": lockstep, "hold": hold, "probe": probe, "join": join,
         "bench": bench, "bench-child": bench_child}

if __name__ == "__main__":
    os.environ.setdefault("BUDGET_TEST_TOKEN", "xoxb-bench-not-a-token")
    MODES[sys.argv[1]](json.loads(sys.argv[2]))
