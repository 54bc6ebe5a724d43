"""Many runs' lost-host notices in one channel: do they stay within Slack's 30 per window?

For each configuration, :func:`chainer_slack_report.testing.notice_load.notice_load`
runs N runs against the bundled emulator with Slack's limits (5 ``chat.postMessage``
per 5 s per channel, Tier 3 for the others, 30 messages scheduled to post within
one 5-minute window per channel): each run posts its message through the host's
shared rate budget, then keeps a lost-host notice in its thread for ``--duration``
seconds of the emulator's clock (frozen, and moved from one due call to the next:
an hour takes seconds).  Every call is real HTTP.  Prints a Markdown table row per
configuration:

* most in a window: the most messages of the channel pending to post within one
  5-minute window after any call (a moved notice's old one counted until its delete);
* ``chat.scheduleMessage`` answers: ok, ``restricted_too_many``, HTTP 429;
* first notice: seconds from a run's first post to its first notice pending (max);
* uncovered: the longest a run went without a notice pending after its first one;
* first posts held: first posts that waited for a slot while a notice's call of the
  5 s before their ask held one, and notices scheduled while a first post waited;
* warnings: ``SlackReportWarning`` texts.

    python benchmarks/bench_notices.py --runs 32 40 48 --lost-after 900 300
"""

from __future__ import annotations

import argparse
import time

from chainer_slack_report.testing import SlackEmulator
from chainer_slack_report.testing.notice_load import notice_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[32])
    parser.add_argument("--lost-after", type=float, nargs="+", default=[900.0])
    parser.add_argument("--start-spread", type=float, default=2.0,
                        help="seconds over which the runs start")
    parser.add_argument("--duration", type=float, default=3600.0,
                        help="seconds of the emulator's clock")
    args = parser.parse_args()
    print("| runs | lost_after | most in a window | scheduleMessage ok / full / 429 "
          "| first notice (max) | uncovered (max) | first posts held | warnings | wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lost_after in args.lost_after:
        for runs in args.runs:
            started = time.perf_counter()
            with SlackEmulator() as emulator:
                load = notice_load(emulator, runs=runs, lost_after=lost_after,
                                   start_spread=args.start_spread, duration=args.duration)
            wall = time.perf_counter() - started
            calls = "chat.scheduleMessage"
            print(f"| {runs} | {lost_after:g} s | {load.most_in_a_window} "
                  f"| {load.count(calls, 'ok')} / {load.count(calls, 'restricted_too_many')} "
                  f"/ {load.count(calls, '429')} | {max(load.first_cover):.0f} s "
                  f"| {max(load.longest_gap):.0f} s "
                  f"| {load.posts_behind_notices} / {load.notices_before_waiting_posts} "
                  f"| {len(load.warnings)} | {wall:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
