"""Cost of rendering one update after 10³ … 10⁶ logged rows, per len_normalizer and layout.

Fills a ReportMessage (and, for the blocks layout, a BlocksMessage with two
line charts of two keys each) with N rows, then times what the worker does per
update — ``push(one new row)`` and ``render(4000)`` (text layout), or the text
and the blocks rendered both (blocks layout: the text is the fallback) — as the
median of ``--repeats`` renders, and measures with tracemalloc the memory the
message still holds after the N rows.  Prints a Markdown table per layout, with
the number of table rows the last render shows (header and "rows not shown"
note aside) and, for the blocks layout, the bytes of the ``chat.update`` JSON
body it makes (channel, ts, text and blocks, as slack_sdk sends them).

    python benchmarks/bench_render.py --max-rows 1000000 [--layout text|blocks]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc

from chainer_slack_report.rendering.blocks import BlocksMessage, table_policy
from chainer_slack_report.rendering.mentions import Mentions
from chainer_slack_report.rendering.message import DEFAULT_TEMPLATE, ReportMessage
from chainer_slack_report.rendering.normalizers import make_policy
from chainer_slack_report.rendering.template import Template

ENTRIES = ["epoch", "iteration", "main/loss", "validation/main/loss", "main/accuracy",
           "validation/main/accuracy", "elapsed_time"]
CHARTS = (("main/loss", "validation/main/loss"),
          ("main/accuracy", "validation/main/accuracy"))
RUN_INFO = {"hostname": "host", "pwd": "/home/u/exp", "pwdshort": "~/exp",
            "cmd": "train.py", "args": "--epochs 100"}


def observation(i: int) -> dict:
    return {"epoch": i // 100, "iteration": i, "main/loss": 1.0 / (i + 1),
            "validation/main/loss": 1.1 / (i + 1), "main/accuracy": 0.9,
            "validation/main/accuracy": 0.89, "elapsed_time": i * 0.01}


class Layout:
    """One run's message in a layout: what the worker renders for an update."""

    def __init__(self, normalizer: str, blocks: bool) -> None:
        self.text = ReportMessage(Template(DEFAULT_TEMPLATE), ENTRIES,
                                  make_policy(normalizer, 4000), RUN_INFO, Mentions(None))
        self.blocks = (BlocksMessage(self.text, table_policy(normalizer), CHARTS)
                       if blocks else None)

    def push(self, rows) -> None:
        rows = list(rows)
        self.text.push(rows)
        if self.blocks is not None:
            self.blocks.push(rows)

    def render(self):
        text = self.text.render(4000)
        return text, (self.blocks.render() if self.blocks is not None else None)


def measure(normalizer: str, n_rows: int, repeats: int, blocks: bool):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    layout = Layout(normalizer, blocks)
    chunk = 10_000
    for start in range(0, n_rows, chunk):  # drained per chunk, as the worker would
        layout.push(observation(i) for i in range(start, min(n_rows, start + chunk)))
        layout.render()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    times = []
    for k in range(repeats):
        layout.push([observation(n_rows + k)])
        start = time.perf_counter()
        text, rendered = layout.render()
        times.append(time.perf_counter() - start)
    assert len(text.encode()) <= 4000
    if rendered is None:
        return statistics.median(times), max(times), held, rows_shown(text), None
    table = next(b for b in rendered if b["type"] == "data_table")
    body = json.dumps({"channel": "C0123456789", "ts": "1700000000.000100", "text": text,
                       "blocks": rendered})
    return (statistics.median(times), max(times), held, len(table["rows"]) - 1,
            len(body.encode("utf-8")))


def rows_shown(text: str) -> int:
    """Table rows in a rendered message, without the header and the note."""
    lines = text.split("```")[1].strip("\n").splitlines()[1:]
    return sum(1 for line in lines if not line.startswith("…"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--layout", choices=["text", "blocks", "both"], default="both")
    args = parser.parse_args(argv)
    sizes = [n for n in (10**3, 10**4, 10**5, 10**6) if n <= args.max_rows]
    for layout in ("text", "blocks"):
        if args.layout not in (layout, "both"):
            continue
        blocks = layout == "blocks"
        print(f"\nlayout={layout}\n")
        print("| len_normalizer | rows logged | render median ms | render max ms "
              "| memory held KiB | rows shown |" + (" update body bytes |" if blocks else ""))
        print("|---|---|---|---|---|---|" + ("---|" if blocks else ""))
        for normalizer in ("thin_out", "FIFO", "LIFO"):
            for n in sizes:
                median, worst, held, shown, body = measure(normalizer, n, args.repeats, blocks)
                print(f"| {normalizer} | {n:,} | {median * 1e3:.3f} | {worst * 1e3:.3f} "
                      f"| {held / 1024:.0f} | {shown} |"
                      + (f" {body:,} |" if blocks else ""), flush=True)


if __name__ == "__main__":
    main()
