"""Cost of rendering one update after 10³ … 10⁶ logged rows, per len_normalizer.

Fills a ReportMessage with N rows, then times ``push(one new row)`` +
``render(4000)`` — what the worker does per update — as the median of
``--repeats`` renders, and measures with tracemalloc the memory the message
still holds after the N rows.  Prints a Markdown table, with the number of
table rows the last render shows (header and "rows not shown" note aside).

    python benchmarks/bench_render.py --max-rows 1000000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

from chainer_slack_report.rendering.mentions import Mentions
from chainer_slack_report.rendering.message import DEFAULT_TEMPLATE, ReportMessage
from chainer_slack_report.rendering.normalizers import make_policy
from chainer_slack_report.rendering.template import Template

ENTRIES = ["epoch", "iteration", "main/loss", "validation/main/loss", "main/accuracy",
           "validation/main/accuracy", "elapsed_time"]
RUN_INFO = {"hostname": "host", "pwd": "/home/u/exp", "pwdshort": "~/exp",
            "cmd": "train.py", "args": "--epochs 100"}


def observation(i: int) -> dict:
    return {"epoch": i // 100, "iteration": i, "main/loss": 1.0 / (i + 1),
            "validation/main/loss": 1.1 / (i + 1), "main/accuracy": 0.9,
            "validation/main/accuracy": 0.89, "elapsed_time": i * 0.01}


def measure(normalizer: str, n_rows: int, repeats: int):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    message = ReportMessage(Template(DEFAULT_TEMPLATE), ENTRIES,
                            make_policy(normalizer, 4000), RUN_INFO, Mentions(None))
    chunk = 10_000
    for start in range(0, n_rows, chunk):  # drained per chunk, as the worker would
        message.push(observation(i) for i in range(start, min(n_rows, start + chunk)))
        message.render(4000)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    times = []
    for k in range(repeats):
        message.push([observation(n_rows + k)])
        start = time.perf_counter()
        text = message.render(4000)
        times.append(time.perf_counter() - start)
    assert len(text.encode()) <= 4000
    return statistics.median(times), max(times), held, rows_shown(text)


def rows_shown(text: str) -> int:
    """Table rows in a rendered message, without the header and the note."""
    lines = text.split("```")[1].strip("\n").splitlines()[1:]
    return sum(1 for line in lines if not line.startswith("…"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = [n for n in (10**3, 10**4, 10**5, 10**6) if n <= args.max_rows]
    print("| len_normalizer | rows logged | render median ms | render max ms "
          "| memory held KiB | rows shown |")
    print("|---|---|---|---|---|---|")
    for normalizer in ("thin_out", "FIFO", "LIFO"):
        for n in sizes:
            median, worst, held, shown = measure(normalizer, n, args.repeats)
            print(f"| {normalizer} | {n:,} | {median * 1e3:.3f} | {worst * 1e3:.3f} "
                  f"| {held / 1024:.0f} | {shown} |", flush=True)


if __name__ == "__main__":
    main()
