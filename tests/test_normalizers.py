"""Row policies and the byte budget of a rendered message."""

from __future__ import annotations

import threading

import pytest

from chainer_slack_report.mentions import Mentions
from chainer_slack_report.message import DEFAULT_TEMPLATE, ReportMessage
from chainer_slack_report.mrkdwn import TRUNCATION_MARKER, utf8_len
from chainer_slack_report.normalizers import FIFO, LIFO, ThinOut, make_policy
from chainer_slack_report.template import Template

ENTRIES = ["epoch", "main/loss"]
RUN_INFO = {"hostname": "host", "pwd": "/w", "pwdshort": "/w", "cmd": "train.py", "args": ""}


def message(normalizer="thin_out", template=DEFAULT_TEMPLATE, max_bytes=4000, entries=ENTRIES):
    return ReportMessage(Template(template), entries, make_policy(normalizer, max_bytes),
                         RUN_INFO, Mentions(None))


def epochs_shown(text):
    lines = text.split("```")[1].strip("\n").splitlines()
    return lines[0], [int(line.split()[0]) for line in lines[1:]]


@pytest.mark.parametrize("normalizer", ["thin_out", "FIFO", "LIFO", "fifo", "Thin_Out"])
@pytest.mark.parametrize("n_rows", [1, 10, 500, 5000])
def test_every_normalizer_stays_within_budget_with_header_first(normalizer, n_rows):
    msg = message(normalizer)
    msg.push({"epoch": i, "main/loss": 1.0 / (i + 1)} for i in range(n_rows))
    text = msg.render(4000)
    assert utf8_len(text) <= 4000
    header, shown = epochs_shown(text)
    assert header.split() == ENTRIES
    assert shown == sorted(shown) and len(shown) >= 1
    if n_rows <= 10:
        assert shown == list(range(n_rows))


def test_thin_out_is_evenly_spaced_keeps_first_and_always_the_newest():
    msg = message("thin_out")
    for i in range(3001):
        msg.push([{"epoch": i, "main/loss": 0.5}])
        if i % 97 == 0 or i == 3000:
            _, shown = epochs_shown(msg.render(4000))
            assert shown[-1] == i, "the newest row must be shown"
            assert shown[0] == 0
    gaps = {b - a for a, b in zip(shown[:-2], shown[1:-1])}
    assert len(gaps) == 1, f"rows before the newest must be evenly spaced, gaps {gaps}"
    assert len(shown) > 20


def test_fifo_drops_oldest_and_lifo_stops_adding():
    fifo, lifo = message("FIFO"), message("LIFO")
    rows = [{"epoch": i, "main/loss": 0.5} for i in range(2000)]
    fifo.push(rows)
    lifo.push(rows)
    _, shown = epochs_shown(fifo.render(4000))
    assert shown[-1] == 1999 and shown == list(range(shown[0], 2000)) and shown[0] > 0
    _, shown = epochs_shown(lifo.render(4000))
    assert shown[0] == 0 and shown == list(range(len(shown))) and shown[-1] < 1999


def test_policies_keep_bounded_memory():
    for cls in (ThinOut, FIFO, LIFO):
        policy = cls(4000)
        for i in range(100_000):
            policy.add(f"{i:<10}  0.5")
        kept = policy.select(4000)
        assert sum(utf8_len(r) + 1 for r in kept) <= 4000
        assert policy.count == 100_000
        internal = getattr(policy, "_kept", None) or policy._rows
        assert len(internal) < 400


def test_huge_template_is_cut_with_marker_and_never_hangs():
    msg = message(template="{status} " + "x" * 10_000 + "\n{content}")
    msg.push([{"epoch": 1, "main/loss": 0.1}])
    done = []
    worker = threading.Thread(target=lambda: done.append(msg.render(4000)))
    worker.start()
    worker.join(5)
    assert done, "render hung"
    assert utf8_len(done[0]) <= 4000 and done[0].endswith(TRUNCATION_MARKER)


def test_multibyte_and_escaping_are_counted_in_bytes():
    msg = message(template="{status} ☃☃☃ {content}", entries=["epoch", "note"])
    msg.push({"epoch": i, "note": "<&>é"} for i in range(1000))
    text = msg.render(1000)
    assert utf8_len(text) <= 1000
    assert "&lt;&amp;&gt;é" in text and "<&>" not in text


def test_callable_normalizer_gets_rows_and_budget_and_is_trimmed_if_over():
    seen = {}

    def every_third(rows, budget):
        seen["n"], seen["budget"] = len(rows), budget
        return rows[::3]

    msg = message(every_third)
    msg.push({"epoch": i, "main/loss": 0.5} for i in range(30))
    _, shown = epochs_shown(msg.render(4000))
    assert shown == list(range(0, 30, 3))
    assert seen["n"] == 30 and 0 < seen["budget"] < 4000

    msg = message(lambda rows, budget: rows)  # ignores the budget
    msg.push({"epoch": i, "main/loss": 0.5} for i in range(2000))
    with pytest.warns(RuntimeWarning, match="over the budget"):
        text = msg.render(4000)
    assert utf8_len(text) <= 4000 and epochs_shown(text)[1][-1] == 1999


def test_unknown_normalizer_lists_accepted_names():
    with pytest.raises(ValueError, match="thin_out.*FIFO.*LIFO"):
        make_policy("newest", 4000)
    with pytest.raises(TypeError, match="len_normalizer must be"):
        make_policy(3, 4000)
