"""Many runs, one token, one channel: does every final state reach Slack?

Starts the bundled emulator with Slack-like limits (50 ``chat.update`` per
60 s per app, 5 ``chat.postMessage`` per 5 s per channel, integer
``Retry-After``), then N training processes (parallel_run.py, ~30 s of
training each) that all report into one channel with one token.  "Hosts":
the runs are split over H state directories that share nothing, as runs on
H machines would be; with ``--store URL`` they also all name that Redis
server (``$CHAINER_SLACK_REPORT_STORE``), so they share one budget there
(its budget keys are deleted before each configuration).  Prints a Markdown
table row per configuration:

* final states delivered: messages whose last text is ``[Completed]``;
* 429s: all rate-limited answers, and per run;
* runs updated mid-run: runs whose message got at least one successful edit
  between its first post and the end of its training;
* longest staleness: the longest a run's message went without a successful
  post/update while the run was training (from its start to its last row);
* final delay: from the run's last iteration to its final state in Slack
  (median and max);
* wall: from the first process start to the last process exit.

With ``--board`` every run also shows on one board (``board="sweep"``; each run's
message a reply in its thread), and four more columns measure the board:

* board edit gap: the longest time without a successful edit of the board while
  runs trained (from the first run's start to the last run's last row);
* staleness on the board: per run, the longest time its row on the board did not
  change while it trained (max, and the median run);
* final on the board: from a run's last iteration to the first board edit that
  shows it ``[Completed]`` (median and max).

    python benchmarks/bench_parallel.py --runs 16 32 --rows epoch iteration --hosts 1 2
    python benchmarks/bench_parallel.py --runs 32 --rows iteration --hosts 4 \
        --store redis://127.0.0.1:6379/0
    python benchmarks/bench_parallel.py --runs 16 24 --rows iteration --hosts 1 --board

With ``--notices``, four more columns measure the runs' lost-host notices
(``chat.scheduleMessage``, ``lost_after`` 900 s):

* notices ok / full / 429: the answers to ``chat.scheduleMessage``
  (``restricted_too_many``: a 5-minute window of the channel held 30);
* most in a window: the most notices pending to post within one 5-minute window,
  after any call (rebuilt from the emulator's calls; an old one counts until its delete);
* runs with a notice: runs whose message had one scheduled before the run ended;
* first posts after a notice: runs' first posts made within 5 s (``chat.postMessage``'s
  window) after a notice's call (the most a notice could have held them up).

    python benchmarks/bench_parallel.py --runs 32 --rows iteration --hosts 1 --notices
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from chainer_slack_report.testing import SlackEmulator

HERE = os.path.dirname(os.path.abspath(__file__))


def fresh_store(url: str) -> None:
    """Delete the budgets' keys in the Redis server ``url`` (a clean slate per configuration)."""
    from chainer_slack_report.transport.budget import StoreURL
    from chainer_slack_report.transport.budget.redis_store import KEY_PREFIX, redis_client

    client = redis_client(StoreURL(url, source="--store "), timeout=10.0)
    from chainer_slack_report.board.store import KEY_PREFIX as BOARD_PREFIX

    for prefix in (KEY_PREFIX, BOARD_PREFIX):
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
    client.close()


def run_config(runs: int, rows: str, hosts: int, seconds: float, store=None,
               board: bool = False, notices: bool = False) -> dict:
    with SlackEmulator(limits={"chat.update": (50, 60.0), "chat.postMessage": (5, 5.0)}) as em:
        states = [tempfile.mkdtemp(prefix=f"bench_host{h}_") for h in range(hosts)]
        if store:
            fresh_store(store)
        start = time.monotonic()
        procs = []
        for i in range(runs):
            env = {**os.environ, "SLACK_BOT_TOKEN": em.token,
                   "CHAINER_SLACK_REPORT_STATE_DIR": states[i % hosts]}
            env.pop("CHAINER_SLACK_REPORT_STORE", None)
            if store:
                env["CHAINER_SLACK_REPORT_STORE"] = store
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(HERE, "parallel_run.py"), em.url, "general",
                 f"run-{i:02d}", "--seconds", str(seconds), "--rows", rows,
                 *(["--board", "sweep"] if board else [])],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        results, warned = [], collections.Counter()
        for proc in procs:
            out, err = proc.communicate(timeout=seconds + 600)
            results.append(json.loads(out.strip().splitlines()[-1]))
            warned.update(re.sub(r"\d+", "N", line) for line in err.splitlines()
                          if "SlackReportWarning" in line)
        wall = time.monotonic() - start
        limited = collections.Counter(c.method for c in em.calls if c.status == 429)
        print(f"429s by method: {dict(limited)}; warnings: {dict(warned)}", file=sys.stderr,
              flush=True)
        if board:
            time.sleep(5.0)  # the board's closing edit
        summary = summarize(em, results, wall)
        if board:
            summary.update(board_figures(em, results))
        if notices:
            summary.update(notice_figures(em, results))
        return summary


def summarize(em: SlackEmulator, results: list, wall: float) -> dict:
    top = em.messages("general")
    messages = [*top, *(reply for m in top for reply in m.replies)]  # a board's thread
    ok_calls = [c for c in em.calls if c.status == 200 and c.error is None
                and c.method in ("chat.postMessage", "chat.update")
                and str(c.params.get("text")).startswith("[")]  # a run's status line
    delivered, stale, delays, updated = 0, [], [], 0
    for run in results:
        name = run["name"]
        mine = [m for m in messages if f" {name} " in m.text]
        calls = [c.started for c in ok_calls if f" {name} " in str(c.params.get("text"))]
        final = [c.started for c in ok_calls if f" {name} " in str(c.params.get("text"))
                 and str(c.params.get("text")).startswith("[Completed]")]
        if len(mine) == 1 and mine[0].text.startswith("[Completed]") and final:
            delivered += 1
            delays.append(final[0] - run["trained"])
        during = [t for t in calls if t <= run["trained"]]
        updated += len(during) >= 2  # the first post, then at least one edit
        points = [run["started"], *during, run["trained"]]
        stale.append(max(b - a for a, b in zip(points, points[1:])))
    limited = em.count(status=429)
    return {"runs": len(results), "delivered": delivered, "limited": limited,
            "limited_per_run": limited / len(results), "stale_max": max(stale),
            "stale_median": statistics.median(stale),
            "delay_median": statistics.median(delays) if delays else float("nan"),
            "delay_max": max(delays) if delays else float("nan"),
            "updates": em.count("chat.update", status=200), "wall": wall,
            "updated_mid_run": updated}


def board_figures(em: SlackEmulator, results: list) -> dict:
    """The board's edit gap, each run's staleness on it and its final delay there."""
    boards = [m for m in em.messages("general") if m.text.startswith("*sweep*")]
    if len(boards) != 1:
        return {"boards": len(boards)}
    ts = boards[0].ts
    edits = sorted((c.started, str(c.params.get("text"))) for c in em.calls
                   if c.status == 200 and c.error is None
                   and (c.params.get("ts") == ts or c.method == "chat.postMessage"
                        and str(c.params.get("text")).startswith("*sweep*")
                        and not c.params.get("thread_ts")))
    first = min(run["started"] for run in results)
    last = max(run["trained"] for run in results)
    during = [first, *(t for t, _ in edits if first <= t <= last), last]
    stale, finals = [], []
    for run in results:
        rows = [(t, _row(text, run["name"])) for t, text in edits]
        changes = [t for (t, row), (_, before) in zip(rows[1:], rows) if row != before]
        changes = [t for t in changes if run["started"] <= t <= run["trained"]]
        points = [run["started"], *changes, run["trained"]]
        stale.append(max(b - a for a, b in zip(points, points[1:])))
        shown = [t for t, row in rows if row and "[Completed]" in row]
        if shown:
            finals.append(shown[0] - run["trained"])
    return {"boards": 1, "board_gap": max(b - a for a, b in zip(during, during[1:])),
            "board_edits": len(edits), "board_stale_max": max(stale),
            "board_stale_median": statistics.median(stale),
            "board_final_median": statistics.median(finals) if finals else float("nan"),
            "board_final_max": max(finals) if finals else float("nan"),
            "board_finals": len(finals)}


def _row(text: str, name: str) -> str:
    """The run's line in a board's text ("" when it does not show)."""
    return next((line for line in text.splitlines() if line.startswith(name + " ")), "")


def notice_figures(em: SlackEmulator, results: list) -> dict:
    """The ``--notices`` columns, from the emulator's calls (see the module docstring)."""
    from chainer_slack_report.transport.lost_notice import most_in_a_window

    calls = sorted((c for c in em.calls if c.method in (
        "chat.scheduleMessage", "chat.deleteScheduledMessage", "chat.postMessage")),
        key=lambda c: c.started)
    answers, pending, most, made, notices = collections.Counter(), {}, 0, 0, []
    threads = set()
    for call in calls:
        ok = call.status == 200 and call.error is None and not call.dropped
        if call.method == "chat.scheduleMessage":
            answers["429" if call.status == 429 else call.error or "ok"] += 1
            notices.append(call.started)
            if ok:  # the emulator numbers scheduled messages in order
                made += 1
                pending[f"Q{made:010d}"] = int(call.params["post_at"])
                threads.add(str(call.params.get("thread_ts")))
        elif call.method == "chat.deleteScheduledMessage" and ok:
            pending.pop(str(call.params.get("scheduled_message_id")), None)
        most = max(most, most_in_a_window(list(pending.values())))
    firsts = [c.started for c in calls if c.method == "chat.postMessage" and c.status == 200
              and not c.params.get("thread_ts") and str(c.params.get("text")).startswith("[")]
    behind = sum(any(t - 5.0 < n <= t for n in notices) for t in firsts)
    return {"notice_answers": answers, "notice_most": most,
            "notice_runs": sum(str(r["ts"]) in threads for r in results),
            "notice_behind": behind}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--rows", nargs="+", default=["epoch", "iteration"])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--store", metavar="URL", default=None,
                        help="a Redis URL every run names (the runs of all hosts share one "
                             "budget there); default: none (each host its own state file)")
    parser.add_argument("--board", action="store_true",
                        help="every run on one board (board='sweep'); adds the board's "
                             "columns")
    parser.add_argument("--notices", action="store_true",
                        help="adds the lost-host notices' columns")
    args = parser.parse_args(argv)
    notice_head = (" notices ok / full / 429 | most in a window | runs with a notice | "
                   "first posts after a notice |") if args.notices else ""
    board_head = (" board edit gap s | staleness on the board s (median run) | finals on the "
                  "board | final on the board median / max s |") if args.board else ""
    print("| runs | row every | hosts | store | final states in Slack | 429s (per run) | "
          "runs updated mid-run | chat.update calls | longest staleness while training s "
          "(median run) | final delay median / max s | wall s |" + board_head + notice_head)
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" * 4 if args.board else "")
          + ("---|" * 4 if args.notices else ""))
    for hosts in args.hosts:
        for rows in args.rows:
            for runs in args.runs:
                r = run_config(runs, rows, hosts, args.seconds, args.store, args.board,
                               args.notices)
                board = ""
                if args.board and r.get("boards") == 1:
                    board = (f" {r['board_gap']:.1f} | {r['board_stale_max']:.1f} "
                             f"({r['board_stale_median']:.1f}) | {r['board_finals']}/{runs} "
                             f"| {r['board_final_median']:.1f} / {r['board_final_max']:.1f} |")
                elif args.board:
                    board = f" {r.get('boards')} boards |  |  |  |"
                print(f"| {runs} | {rows} | {hosts} | {'Redis' if args.store else 'file'} "
                      f"| {r['delivered']}/{r['runs']} "
                      f"| {r['limited']} ({r['limited_per_run']:.2f}) "
                      f"| {r['updated_mid_run']}/{r['runs']} | {r['updates']} "
                      f"| {r['stale_max']:.1f} ({r['stale_median']:.1f}) "
                      f"| {r['delay_median']:.1f} / {r['delay_max']:.1f} | {r['wall']:.0f} |"
                      + board + (notice_columns(r, runs) if args.notices else ""), flush=True)


def notice_columns(r: dict, runs: int) -> str:
    a = r["notice_answers"]
    return (f" {a['ok']} / {a['restricted_too_many']} / {a['429']} | {r['notice_most']} "
            f"| {r['notice_runs']}/{runs} | {r['notice_behind']}/{runs} |")


if __name__ == "__main__":
    main()
