"""Training wall time with SlackReport vs PrintReport, against the local emulator.

For each emulated Slack latency and log granularity, runs the digits example
(examples/train_digits.py) alternately with PrintReport (to /dev/null) and with
SlackReport, ``--repeats`` times each, and prints a Markdown table of medians:
wall time of ``trainer.run()``, the overhead, time spent in
``SlackReport.finalize`` (delivery of the final state; when ``run()`` returns
the final state is already in the emulator), and the Slack calls made.

    python benchmarks/bench_overhead.py --repeats 5 --latency 0 0.2 2

``--per-call`` instead measures what the training thread pays per call of the
extension (a row every iteration, the mean over the run, ``--repeats`` runs):
PrintReport printing to /dev/null, SlackReport without and with its watchdog.

    python benchmarks/bench_overhead.py --per-call --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

from chainer.training.extensions import PrintReport  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from train_digits import ENTRIES, build_trainer  # noqa: E402

from chainer_slack_report import SlackReport  # noqa: E402
from chainer_slack_report.testing import SlackEmulator  # noqa: E402


class TimedSlackReport(SlackReport):
    """SlackReport that records how long finalize (the final delivery) took."""

    finalize_seconds = 0.0

    def finalize(self, trainer=None):
        start = time.perf_counter()
        super().finalize(trainer)
        self.finalize_seconds = time.perf_counter() - start


def run_once(kind, latency, log_trigger, epochs, out):
    if kind == "print":
        with open(os.devnull, "w") as devnull:
            trainer = build_trainer(PrintReport(ENTRIES, out=devnull), epochs,
                                    log_trigger=log_trigger, out=out)
            start = time.perf_counter()
            trainer.run()
            return {"wall": time.perf_counter() - start}
    with SlackEmulator() as emulator:
        emulator.latency = latency
        report = TimedSlackReport(None, "general", ENTRIES, client=emulator.client(),
                                  flush_timeout=30)
        trainer = build_trainer(report, epochs, log_trigger=log_trigger, out=out)
        start = time.perf_counter()
        trainer.run()
        wall = time.perf_counter() - start
        final = emulator.messages("general")[0].text
        assert final.startswith("[Completed]"), final[:80]
        updates = emulator.calls_to("chat.update")
        gaps = [b.started - a.started for a, b in zip(updates, updates[1:-1])]
        return {"wall": wall, "finalize": report.finalize_seconds,
                "calls": len(emulator.calls), "min_gap": min(gaps) if gaps else float("nan")}


def timed_calls(cls):
    """``cls`` whose ``__call__`` records its wall time (``cls.walls``) and the calling
    thread's CPU time (``cls.cpu``, seconds in all)."""

    class Timed(cls):
        walls: list = []
        cpu = 0.0

        def __call__(self, trainer):
            cpu, start = time.thread_time(), time.perf_counter()
            super().__call__(trainer)
            type(self).walls.append(time.perf_counter() - start)
            type(self).cpu += time.thread_time() - cpu

    Timed.walls = []
    return Timed


def _per_call(cls) -> dict:
    """Milliseconds per call: the mean and median wall time, the mean CPU time."""
    walls = cls.walls
    return {"mean": sum(walls) / len(walls) * 1000, "median": statistics.median(walls) * 1000,
            "cpu": cls.cpu / len(walls) * 1000}


def per_call_once(kind, epochs, out):
    """Mean milliseconds of one extension call over a run with a row every iteration."""
    log_trigger = (1, "iteration")
    if kind == "print":
        cls = timed_calls(PrintReport)
        with open(os.devnull, "w") as devnull:
            trainer = build_trainer(cls(ENTRIES, out=devnull), epochs, log_trigger=log_trigger,
                                    out=out)
            trainer.run()
        return _per_call(cls)
    cls = timed_calls(SlackReport)
    # The emulator runs in a process of its own, as Slack is elsewhere: its HTTP threads
    # would otherwise compete with the training thread for this interpreter's GIL.
    emulator = subprocess.Popen([sys.executable, "-m", "chainer_slack_report.testing.emulator"],
                                stdout=subprocess.PIPE)
    try:
        info = json.loads(emulator.stdout.readline())
        client = WebClient(token=info["token"], base_url=info["url"])
        report = cls(None, "general", ENTRIES, client=client, flush_timeout=30,
                     watchdog=kind == "slack+watchdog", lost_after=None)
        trainer = build_trainer(report, epochs, log_trigger=log_trigger, out=out)
        trainer.run()
        assert report.report.delivered
    finally:
        emulator.terminate()
        emulator.wait()
    return _per_call(cls)


def per_call(args, out) -> None:
    kinds = ["print", "slack", "slack+watchdog"]
    results = {kind: [] for kind in kinds}
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        for kind in kinds:
            results[kind].append(per_call_once(kind, args.epochs, out))
    def figure(kind, key):
        return statistics.mean(r[key] for r in results[kind])

    print(f"digits MLP, {args.epochs} epochs, a row every iteration; ms per call of the "
          f"extension over a run (wall: mean and median; CPU: the training thread's mean), "
          f"mean of {args.repeats} runs\n")
    print("| extension | wall, mean | × | wall, median | × | CPU, mean | × | mean of each run |")
    print("|---|---|---|---|---|---|---|---|")
    names = {"print": "PrintReport", "slack": "SlackReport, watchdog=False",
             "slack+watchdog": "SlackReport, watchdog on"}
    for kind in kinds:
        cells = []
        for key in ("mean", "median", "cpu"):
            value = figure(kind, key)
            cells += [f"{value:.4f}", f"{value / figure('print', key):.2f}×"]
        runs = ", ".join(f"{r['mean']:.4f}" for r in results[kind])
        print(f"| {names[kind]} | {' | '.join(cells)} | {runs} |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.2, 2.0])
    parser.add_argument("--modes", nargs="+", default=["epoch", "iteration"])
    parser.add_argument("--per-call", action="store_true",
                        help="measure the training thread's cost per extension call instead")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    out = tempfile.mkdtemp(prefix="bench_overhead_")
    if args.per_call:
        per_call(args, out)
        return
    print(f"digits MLP, {args.epochs} epochs, medians of {args.repeats} runs\n")
    print("| rows per | latency/call | PrintReport s | SlackReport s | overhead s "
          "| overhead − 1 RTT | finalize s | Slack calls | min gap between updates s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        for latency in args.latency:
            printed, slack = [], []
            for _ in range(args.repeats):  # interleaved, so drift hits both alike
                printed.append(run_once("print", latency, (1, mode), args.epochs, out))
                slack.append(run_once("slack", latency, (1, mode), args.epochs, out))
            p = statistics.median(r["wall"] for r in printed)
            s = statistics.median(r["wall"] for r in slack)
            f = statistics.median(r["finalize"] for r in slack)
            calls = statistics.median(r["calls"] for r in slack)
            gap = min(r["min_gap"] for r in slack)
            print(f"| {mode} | {latency * 1000:.0f} ms | {p:.3f} | {s:.3f} | {s - p:+.3f} | "
                  f"{(s - p - latency) / p:+.1%} of PrintReport | {f:.3f} | {calls:.0f} | "
                  f"{gap:.2f} |", flush=True)


if __name__ == "__main__":
    main()
