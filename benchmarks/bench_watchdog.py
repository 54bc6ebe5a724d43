"""The watchdog's cost and speed: start time, memory, idle CPU, death → final status.

    python benchmarks/bench_watchdog.py [--runs 5] [--layouts text blocks]

Each run starts a real training process (tests/run_training.py: a Chainer
trainer with SlackReport against the bundled emulator, 0.2 s latency per call),
finds its watchdog, and measures:

* start: the wall time of ``python -m chainer_slack_report.guard.watchdog_main``
  given no configuration (it imports everything it needs, reads stdin, finds
  it empty and exits): interpreter start-up and imports, measured alone;
* memory: the watchdog's resident set (``VmRSS``, ``/proc/PID/status``) while
  the run trains;
* idle CPU: the watchdog's user + system CPU seconds (``/proc/PID/stat``) over
  5 s of training with a row a second, divided by 5 s;
* death → Slack: from ``kill -9`` of the training process until the emulator
  has the ``[Lost]`` edit (each call answered after the 0.2 s latency); in the
  blocks layout (a chart of ``main/loss``) until that edit also holds the data
  table and the chart.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from chainer_slack_report.testing import SlackEmulator  # noqa: E402
from chainer_slack_report.testing.emulator import NO_LIMITS  # noqa: E402

LATENCY = 0.2


def _children(pid: int):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    cmdline = file.read()
            except OSError:
                continue
            if int(fields[1]) == pid and b"watchdog_main" in cmdline:
                yield int(entry)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_seconds() -> float:
    """Seconds for the watchdog process to start, import what it needs and read stdin."""
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "chainer_slack_report.guard.watchdog_main"],
                   stdin=subprocess.DEVNULL, check=False,
                   env={**os.environ, "PYTHONPATH": ROOT})
    return time.monotonic() - began


def one_run(layout: str) -> dict:
    with SlackEmulator(limits=NO_LIMITS) as emulator:
        emulator.latency = LATENCY
        env = {k: v for k, v in os.environ.items() if k != "CHAINER_SLACK_REPORT_WATCHDOG"}
        env["SLACK_BOT_TOKEN"] = emulator.token
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "run_training.py"),
                                 emulator.url, "general", "bench", "--epochs", "100000",
                                 "--sleep", "0.25", "--lost-after", "900",
                                 "--layout", layout,
                                 *(["--chart", "main/loss"] if layout == "blocks" else [])],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert proc.stdout.readline().strip() == b"READY"
        watchdog = None
        while watchdog is None:
            watchdog = next(_children(proc.pid), None)
        start = start_seconds()
        time.sleep(1.0)
        cpu0, t0 = _cpu_seconds(watchdog), time.monotonic()
        time.sleep(10.0)
        idle = (_cpu_seconds(watchdog) - cpu0) / (time.monotonic() - t0)
        rss = _rss_kib(watchdog)
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        while not _lost(emulator.messages("general")[0], layout):
            time.sleep(0.005)
        death = time.monotonic() - killed
        return {"start": start, "rss": rss, "idle": idle, "death": death}


def _lost(message, layout: str) -> bool:
    """The message shows ``[Lost]`` (in the blocks layout, with its table and chart)."""
    if not message.text.startswith("[Lost]"):
        return False
    kinds = {block["type"] for block in message.blocks}
    return layout == "text" or {"data_table", "data_visualization"} <= kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layouts", nargs="+", default=["text", "blocks"])
    args = parser.parse_args()
    for layout in args.layouts:
        results = [one_run(layout) for _ in range(args.runs)]
        print(f"layout={layout}")
        for key, unit, scale in (("start", "s", 1), ("rss", "MiB", 1 / 1024),
                                 ("idle", "% of a core", 100), ("death", "s", 1)):
            values = [r[key] * scale for r in results]
            print(f"  {key:6} median {statistics.median(values):8.3f} {unit}   "
                  f"max {max(values):8.3f} {unit}   ({args.runs} runs)", flush=True)


if __name__ == "__main__":
    main()
