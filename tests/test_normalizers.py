"""Row policies and the byte budget of a rendered message."""

from __future__ import annotations

import functools
import random
import threading
import warnings

import pytest

from chainer_slack_report.rendering.mentions import Mentions
from chainer_slack_report.rendering.message import DEFAULT_TEMPLATE, ReportMessage, format_row
from chainer_slack_report.rendering.mrkdwn import TRUNCATION_MARKER, escape, utf8_len
from chainer_slack_report.rendering.normalizers import FIFO, LIFO, ThinOut, make_policy
from chainer_slack_report.rendering.template import Template
from chainer_slack_report.warning import SlackReportWarning

ENTRIES = ["epoch", "main/loss"]
RUN_INFO = {"hostname": "host", "pwd": "/w", "pwdshort": "/w", "cmd": "train.py", "args": ""}


def message(normalizer="thin_out", template=DEFAULT_TEMPLATE, max_bytes=4000, entries=ENTRIES):
    return ReportMessage(Template(template), entries, make_policy(normalizer, max_bytes),
                         RUN_INFO, Mentions(None))


def held_rows(policy):
    """The rows a policy holds in memory (private attributes, for the memory bound)."""
    if isinstance(policy, ThinOut):
        return [*policy._older, *policy._newer]
    return policy._rows


def epochs_shown(text):
    """The header and the epochs of the rows shown (the "… N of M rows not shown" note aside)."""
    lines = text.split("```")[1].strip("\n").splitlines()
    return lines[0], [int(line.split()[0]) for line in lines[1:] if not line.startswith("…")]


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
    msg, fifo = message("thin_out"), message("FIFO")
    for i in range(3001):
        msg.push([{"epoch": i, "main/loss": 0.5}])
        fifo.push([{"epoch": i, "main/loss": 0.5}])
        if i % 97 == 0 or i == 3000:
            _, shown = epochs_shown(msg.render(4000))
            assert shown[-1] == i, "the newest row must be shown"
            assert shown[0] == 0
    fifo_text = fifo.render(4000)
    gaps = [b - a for a, b in zip(shown, shown[1:])]
    assert max(gaps[:-1]) <= 2 * min(gaps[:-1]), f"gaps differ by more than 2x: {gaps}"
    assert gaps[-1] <= min(gaps[:-1]), "the gap to the newest row may only be smaller"
    assert len(shown) == len(epochs_shown(fifo_text)[1]), "thin_out fills like FIFO"


def test_fifo_drops_oldest_and_lifo_stops_adding():
    fifo, lifo = message("FIFO"), message("LIFO")
    rows = [{"epoch": i, "main/loss": 0.5} for i in range(2000)]
    fifo.push(rows)
    lifo.push(rows)
    _, shown = epochs_shown(fifo.render(4000))
    assert shown[-1] == 1999 and shown == list(range(shown[0], 2000)) and shown[0] > 0
    _, shown = epochs_shown(lifo.render(4000))
    assert shown[0] == 0 and shown == list(range(len(shown))) and shown[-1] < 1999


def test_fifo_shows_an_unfinished_row_last_until_it_is_replaced_or_cleared():
    fifo = FIFO(1000, max_rows=3)
    for row in "abcd":
        fifo.add(row)
    assert fifo.count == 4 and fifo.select(1000) == ["b", "c", "d"]
    assert fifo.unfinished == ""
    fifo.show_unfinished("10%")  # a progress bar before its newline
    assert fifo.unfinished == "10%"
    assert fifo.count == 5  # counted while shown
    assert fifo.select(1000) == ["c", "d", "10%"]  # within max_rows, newest
    fifo.show_unfinished("20%")  # redrawn: replaces it
    assert fifo.count == 5 and fifo.select(1000) == ["c", "d", "20%"]
    assert fifo.select(len("d\n20%\n")) == ["d", "20%"]  # within the budget
    # its cost, 4 bytes, is over a budget of 3: the rows are shown without it
    assert fifo.select(len("20%")) == ["d"]
    fifo.add("100%")  # its line finished: add does not clear the unfinished row
    assert fifo.count == 6 and fifo.select(1000) == ["d", "100%", "20%"]
    fifo.show_unfinished("")
    assert fifo.count == 5 and fifo.select(1000) == ["c", "d", "100%"]
    fifo.show_unfinished("")  # cleared twice: counted once
    assert fifo.count == 5
    one = FIFO(1000, max_rows=1)
    one.add("done")
    one.show_unfinished("50%")
    assert one.select(1000) == ["50%"]


def test_an_unfinished_row_is_counted_in_the_rows_not_shown():
    fifo = FIFO(4000, max_rows=5)
    msg = ReportMessage(Template("{content}"), ["output"], make_policy(fifo, 4000), RUN_INFO,
                        Mentions(None), show_header=False)
    assert table_lines(msg.render(4000)) == [""]  # no rows yet: an empty table
    fifo.show_unfinished(escape(format_row(["output"], {"output": "loading <1/3>"})))
    assert table_lines(msg.render(4000)) == ["loading &lt;1/3&gt;"]  # shown alone
    msg.push({"output": f"line {i}"} for i in range(1, 11))
    assert table_lines(msg.render(4000)) == ["line 7", "line 8", "line 9", "line 10",
                                             "loading &lt;1/3&gt;",
                                             "… 6 of 11 rows not shown"]


def table_lines(text):
    """The lines of the message's first code block."""
    return text.split("```")[1].strip("\n").split("\n")


def test_policies_keep_bounded_memory():
    for cls in (ThinOut, FIFO, LIFO):
        policy = cls(4000)
        for i in range(100_000):
            policy.add(f"{i:<10}  0.5")
        kept = policy.select(4000)
        assert sum(utf8_len(r) + 1 for r in kept) <= 4000
        assert policy.count == 100_000
        assert len(held_rows(policy)) < 400


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
    with pytest.warns(SlackReportWarning, match="over the budget"):
        text = msg.render(4000)
    assert utf8_len(text) <= 4000 and epochs_shown(text)[1][-1] == 1999


def test_unknown_normalizer_lists_accepted_names():
    with pytest.raises(ValueError, match="thin_out.*FIFO.*LIFO"):
        make_policy("newest", 4000)
    with pytest.raises(TypeError, match="len_normalizer must be"):
        make_policy(3, 4000)


# -- thin_out: fills its budget like FIFO, spread over the whole run -----------------------

CAPACITY = 4000
LOG_ENTRIES = ["main/loss", "validation/main/loss", "main/accuracy", "elapsed_time"]
_WIDTHS = random.Random(20240501).choices(range(30, 61), k=100_000)


def cost(rows):
    """UTF-8 bytes of rows, each with its newline (what a budget counts)."""
    return sum(utf8_len(r) + 1 for r in rows)


def index_of(row):
    return int(row.split()[0])


# Every row starts with its index (so tests can read it back), padded to equal width.
def equal_row(i):  # 29 bytes with its newline
    return f"{i:<10}  0.5         0.25"


def varying_row(i):  # 43 to 73 bytes, seeded
    return f"{i:<10}  " + "x" * _WIDTHS[i]


def widening_row(i):  # a value that turns from 0.5 to 0.123456789: rows grow
    return f"{i:<10}  {0.5 if i < 500 else 0.123456789}"


def log_row(i):  # PrintReport layout of values that change width as training goes on
    observation = {"main/loss": 1.0 / (i + 1), "validation/main/loss": 1.1 / (i + 1),
                   "main/accuracy": min(0.99, i / 1000), "elapsed_time": i * 0.37}
    return f"{i:<10}  " + escape(format_row(LOG_ENTRIES, observation))


def multibyte_row(i):
    return f"{i:<10}  " + "é" * (i % 7) + "☃"


ROWS = {"equal": equal_row, "varying": varying_row, "widening": widening_row,
        "log": log_row, "multibyte": multibyte_row}
BUDGETS = {
    "capacity": lambda n: CAPACITY,
    # smaller than capacity and moving by a few bytes (status, clock, note)
    "wobbling": lambda n: 3690 - (n // 100) % 3 + (n // 7) % 2,
    # msg_too_long: the budget shrinks once by 25 %
    "cut": lambda n: 3690 if n < 1500 else 3690 * 3 // 4,
}


def assert_thin_out_shape(shown, n):
    """First and newest shown, in order, gaps within a factor 2 but the last one smaller."""
    index = [index_of(r) for r in shown]
    assert index[0] == 0 and index[-1] == n - 1, (index[:3], index[-3:], n)
    gaps = [b - a for a, b in zip(index, index[1:])]
    assert all(g > 0 for g in gaps), "rows out of order or repeated"
    if len(gaps) > 1:
        inner = gaps[:-1]
        assert max(inner) <= 2 * min(inner), f"gaps differ by more than 2x at n={n}: {gaps}"
        assert gaps[-1] <= min(inner), f"the gap to the newest row is the largest at n={n}"


def assert_bounded(policy):
    """What the policy holds fits in the room it was given (its capacity at most)."""
    assert cost(r for _, r, _ in held_rows(policy)) + policy._newest[2] <= policy._room
    assert policy._room <= policy.capacity
    stride = policy._stride
    assert stride & (stride - 1) == 0, "the stride is a power of two"


@pytest.mark.parametrize("budgets", BUDGETS)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("render_every", [1, 37])
def test_thin_out_shows_at_least_85_percent_of_fifo_for_every_row_count(rows, budgets,
                                                                          render_every):
    make_row, budget_of = ROWS[rows], BUDGETS[budgets]
    thin, fifo = ThinOut(CAPACITY), FIFO(CAPACITY)
    worst = 1.0
    for n in range(1, 3001):
        row = make_row(n - 1)
        thin.add(row)
        fifo.add(row)
        assert thin.count == n
        if n % render_every:
            continue
        assert_bounded(thin)
        budget = budget_of(n)
        shown, fifo_shown = thin.select(budget), fifo.select(budget)
        assert cost(shown) <= budget
        assert_thin_out_shape(shown, n)
        if len(fifo_shown) == n and budgets != "wobbling":
            assert len(shown) == n, "every row is shown while all fit"
        worst = min(worst, len(shown) / len(fifo_shown))
    assert worst >= 0.85, f"thin_out showed only {worst:.0%} of FIFO's rows"
    if rows == "equal":  # rows of one width: exactly FIFO's count
        assert len(shown) == len(fifo_shown)
    if rows == "widening":  # older rows are narrower: more than FIFO
        assert len(shown) > len(fifo_shown)


@pytest.mark.parametrize("rows, render", [("equal", "every 1009 rows"),
                                          ("varying", "every 1009 rows"),
                                          ("equal", "only at checkpoints"),
                                          ("varying", "only at checkpoints")])
def test_thin_out_up_to_100_000_rows(rows, render):
    make_row = ROWS[rows]
    checkpoints = {2**k + d for k in range(10, 17) for d in (-1, 0, 1)} | {99_999, 100_000}
    thin, fifo = ThinOut(CAPACITY), FIFO(CAPACITY)
    for n in range(1, 100_001):
        row = make_row(n - 1)
        thin.add(row)
        fifo.add(row)
        if n in checkpoints or (render == "every 1009 rows" and n % 1009 == 0):
            budget = 3690 if n < 50_000 else 3690 * 3 // 4
            shown, fifo_shown = thin.select(budget), fifo.select(budget)
            assert cost(shown) <= budget
            assert_thin_out_shape(shown, n)
            assert len(shown) >= 0.85 * len(fifo_shown), (n, len(shown), len(fifo_shown))
            assert_bounded(thin)
    assert thin.count == 100_000
    assert len(held_rows(thin)) <= CAPACITY // 14  # rows are at least 14 bytes


def test_thin_out_fills_the_budget_to_within_two_rows_whatever_the_widths():
    # Widths from 18 to 73 bytes at random: which rows are shown decides how
    # many fit, but thin_out never leaves more than two rows' bytes unused.
    widths = random.Random(3).choices(range(5, 61), k=3000)
    thin = ThinOut(CAPACITY)
    for i, width in enumerate(widths):
        thin.add(f"{i:<10}  " + "x" * width)
        shown = thin.select(3690)
        if thin.count > 200:
            assert 3690 - cost(shown) < 2 * (13 + 61)
            assert_thin_out_shape(shown, thin.count)


def test_thin_out_at_the_first_thinning_drops_one_row_only():
    thin = ThinOut(10 * 14)  # ten rows of 13 bytes + newline
    for i in range(11):
        thin.add(f"{i:<10}0.5")
    assert [index_of(r) for r in thin.select(140)] == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    thin.add(f"{11:<10}0.5")
    assert [index_of(r) for r in thin.select(140)] == [0, 2, 4, 5, 6, 7, 8, 9, 10, 11]


def test_thin_out_select_is_repeatable_and_a_smaller_budget_thins_for_good():
    thin = ThinOut(CAPACITY)
    for i in range(5000):
        thin.add(equal_row(i))
    row_cost = cost([equal_row(0)])
    first = thin.select(CAPACITY)
    assert thin.select(CAPACITY) == first and len(first) == CAPACITY // row_cost
    cut = thin.select(3000)
    assert len(cut) == 3000 // row_cost
    assert_thin_out_shape(cut, 5000)
    assert thin.select(CAPACITY) == cut, "rows dropped for a smaller budget stay dropped"
    for i in range(5000, 5000 + 70 * thin._stride):  # new rows fill the room again
        thin.add(equal_row(i))
    assert len(thin.select(CAPACITY)) == CAPACITY // row_cost


def test_thin_out_with_a_budget_too_small_for_first_and_newest_rows():
    thin = ThinOut(CAPACITY)
    assert thin.select(CAPACITY) == []  # nothing logged yet
    for i in range(100):
        thin.add(equal_row(i))
    assert thin.select(0) == [] and thin.select(-5) == []
    assert len(thin.select(CAPACITY)) == 100, "a budget below one byte changes nothing"
    row_cost = cost([equal_row(0)])
    assert thin.select(2 * row_cost - 1) == [equal_row(99)]  # the newest alone
    assert thin.select(row_cost - 1) == []
    thin.add(equal_row(100))
    assert thin.select(2 * row_cost) == [equal_row(0), equal_row(100)]
    assert thin.count == 101


def test_thin_out_message_counts_rows_not_shown():
    msg, fifo = message("thin_out"), message("FIFO")
    rows = [{"epoch": i, "main/loss": 1.0 / (i + 1)} for i in range(10_000)]
    for start in range(0, 10_000, 250):
        msg.push(rows[start:start + 250])
        fifo.push(rows[start:start + 250])
        text = msg.render(4000)
        fifo_text = fifo.render(4000)
    assert utf8_len(text) <= 4000
    shown = epochs_shown(text)[1]
    assert len(shown) >= len(epochs_shown(fifo_text)[1])  # older rows are narrower
    assert shown[0] == 0 and shown[-1] == 9_999
    assert f"… {10_000 - len(shown):,} of 10,000 rows not shown" in text


def test_callable_normalizer_warning_points_at_the_normalizer():
    def over_budget(rows, budget):  # the warning's line
        return rows

    msg = message(over_budget)
    msg.push({"epoch": i, "main/loss": 0.5} for i in range(2000))
    with pytest.warns(SlackReportWarning, match="over the budget") as record:
        msg.render(4000)
        msg.render(4000)
    assert len(record) == 1, "one warning per policy"
    assert record[0].filename == __file__
    assert record[0].lineno == over_budget.__code__.co_firstlineno

    def failing(rows, budget, extra):
        raise KeyError(extra)

    msg = message(functools.partial(failing, extra="x"))  # no code object of its own
    msg.push([{"epoch": 1, "main/loss": 0.5}])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        text = msg.render(4000)
    assert [w.category for w in record] == [SlackReportWarning]
    assert "raised KeyError" in str(record[0].message)
    assert not record[0].filename.endswith("normalizers.py")
    assert epochs_shown(text)[1] == [1]
