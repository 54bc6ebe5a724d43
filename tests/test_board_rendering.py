"""The board of a sweep as text and as blocks: pure rendering, then Slack's answer to it."""

from __future__ import annotations

import json
import math

import pytest

from chainer_slack_report.outcome import Status
from chainer_slack_report.rendering.block_kit import TABLE_MAX_ROWS, check_blocks
from chainer_slack_report.rendering.board import (
    MAX_BOARD_ENTRIES,
    BoardRow,
    board_blocks,
    board_text,
    headline,
    run_names,
)
from chainer_slack_report.rendering.mrkdwn import utf8_len

ENTRIES = ["epoch", "main/loss", "validation/main/accuracy"]


def row(name, status=Status.TRAINING, elapsed=61.5, **values):
    values = {key.replace("__", "/"): value for key, value in values.items()}
    return BoardRow(name=name, status=status, elapsed=elapsed, values=values,
                    progress="epoch 3/10 · 30 %", eta=140.0)


def table_lines(text):
    """The lines inside the code block."""
    inside = text.split("```")[1]
    return inside.strip("\n").split("\n")


def test_headline_counts_runs_by_status_in_the_order_they_are_shown():
    rows = [row("a"), row("b", Status.COMPLETED), row("c", Status.FAILED), row("d"),
            row("e", Status.STARTED)]
    assert headline("lr-sweep", rows) == \
        "*lr-sweep* · 5 runs: 1 failed · 3 training · 1 completed"
    assert headline("x<y>", []) == "*x&lt;y&gt;* · 0 runs"


def test_text_is_a_table_with_a_line_per_run_and_the_entries_newest_values():
    rows = [row("--lr 0.1", epoch=3, main__loss=0.25, validation__main__accuracy=0.9),
            row("--lr 0.01", Status.COMPLETED, elapsed=3725, epoch=10, main__loss=0.125)]
    text = board_text("lr", ENTRIES, rows)
    assert text.splitlines()[0] == "*lr* · 2 runs: 1 training · 1 completed"
    header, first, second = table_lines(text)
    assert header.split() == ["run", "status", "progress", "ETA", "epoch", "main/loss",
                              "validation/main/accuracy", "elapsed"]
    assert first.split() == ["--lr", "0.1", "[Training]", "epoch", "3/10", "·", "30", "%",
                             "0:02:20", "3", "0.25", "0.9", "0:01:01"]
    # a value not reported is blank; elapsed as H:MM:SS, in its column
    assert second.split()[:3] == ["--lr", "0.01", "[Completed]"]
    assert second.endswith("1:02:05")
    assert header.index("elapsed") == second.index("1:02:05")
    assert header.index("main/loss") == first.index("0.25") == second.index("0.125")


def test_runs_that_need_a_look_come_first_then_live_then_completed_by_name():
    rows = [row("lr=10", Status.COMPLETED), row("lr=2"), row("lr=10"), row("lr=3", Status.LOST),
            row("lr=1", Status.COMPLETED), row("lr=7", Status.FAILED)]
    names = [line.split()[0] for line in table_lines(board_text("b", [], rows))[1:]]
    assert names == ["lr=3", "lr=7", "lr=2", "lr=10", "lr=1", "lr=10"]


def test_data_is_escaped():
    rows = [row("<!channel> & co", epoch="<b>")]
    text = board_text("<board>", ["epoch"], rows)
    assert "<" not in text.replace("```", "") and ">" not in text
    assert "&lt;!channel&gt; &amp; co" in text and "&lt;b&gt;" in text


@pytest.mark.parametrize("max_bytes", [600, 1000, 4000])
def test_a_board_that_does_not_fit_leaves_out_completed_runs_first_never_a_failed_one(max_bytes):
    rows = ([row(f"done {i}", Status.COMPLETED, epoch=10, main__loss=0.1) for i in range(40)]
            + [row(f"live {i}", epoch=3, main__loss=0.5) for i in range(40)]
            + [row(f"bad {i}", Status.FAILED, epoch=2, main__loss=math.nan) for i in range(3)])
    text = board_text("big", ENTRIES, rows, max_bytes=max_bytes)
    assert utf8_len(text) <= max_bytes
    names = [" ".join(line.split()[:2]) for line in table_lines(text)[1:]]
    assert names[:3] == ["bad 0", "bad 1", "bad 2"]
    shown_live = sum(name.startswith("live") for name in names)
    shown_done = sum(name.startswith("done") for name in names)
    assert shown_done == 0 or shown_live == 40  # completed ones only once every live one fits
    left = 83 - len(names)
    assert left > 0
    note = text.splitlines()[-1]
    assert note.startswith(f"… {left} of 83 runs not shown: ")
    counted = dict(reversed(part.split(" ", 1))
                   for part in note.split(": ", 1)[1].split(", "))
    assert int(counted.get("training", 0)) == 40 - shown_live
    assert int(counted.get("completed", 0)) == 40 - shown_done


def test_every_run_fits_without_a_note():
    rows = [row(f"run {i}", epoch=i) for i in range(5)]
    text = board_text("b", ENTRIES, rows)
    assert len(table_lines(text)) == 6 and "not shown" not in text


def test_blocks_are_a_headline_and_a_sortable_data_table_one_row_per_run():
    rows = [row("b", epoch=3, main__loss=0.25), row("a", Status.KILLED, epoch=1)]
    blocks = board_blocks("sweep", ENTRIES, rows)
    assert check_blocks(blocks) == []
    head, table = blocks
    assert head["text"]["text"] == "*sweep* · 2 runs: 1 killed · 1 training"
    header, killed, live = table["rows"]
    assert [cell["text"] for cell in header] == ["run", "status", "progress", "ETA",
                                                 *ENTRIES, "elapsed"]
    assert killed[0]["text"] == "a" and killed[1]["text"] == "[Killed]"
    assert live[4] == {"type": "raw_number", "value": 3, "text": "3"}
    assert live[5] == {"type": "raw_number", "value": 0.25, "text": "0.25"}
    assert killed[5]["type"] == "raw_text"  # not reported: an empty cell
    assert live[-1] == {"type": "raw_number", "value": 61.5, "text": "0:01:01"}
    assert table["caption"] == "2 runs"


def test_the_data_table_holds_100_runs_and_says_how_many_it_leaves_out():
    rows = [row(f"run {i}", epoch=i) for i in range(130)] + [row("x", Status.LOST)]
    table = board_blocks("big", ["epoch"], rows)[1]
    assert len(table["rows"]) == TABLE_MAX_ROWS
    assert table["rows"][1][1]["text"] == "[Lost]"
    assert table["caption"] == "31 of 131 runs not shown: 31 training"


def test_too_many_entries_for_a_data_table_is_an_error():
    with pytest.raises(ValueError, match=f"at most {MAX_BOARD_ENTRIES} entries"):
        board_blocks("b", [f"k{i}" for i in range(MAX_BOARD_ENTRIES + 1)], [])


def test_slack_takes_the_board_blocks_as_sent(slack_emulator):
    rows = [row(f"--lr {10 ** -i}", epoch=i, main__loss=1 / (i + 1)) for i in range(30)]
    rows.append(row("--lr 1e-9", Status.FAILED))
    blocks = board_blocks("sweep", ENTRIES, rows)
    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text=board_text("sweep", ENTRIES, rows),
                                     blocks=blocks)
    assert posted["message"]["blocks"] == blocks


def test_a_row_travels_as_json_and_back():
    original = row("a & b", Status.STARTED, epoch=2, main__loss=math.inf)
    data = json.loads(json.dumps(original.to_json(), allow_nan=False))
    back = BoardRow.from_json(data)
    assert back.name == "a & b" and back.status is Status.STARTED and back.eta == 140.0
    assert back.values == {"epoch": 2, "main/loss": "inf"}
    with pytest.raises(ValueError, match="not a board row"):
        BoardRow.from_json({"name": "x", "status": "[Sleeping]", "elapsed": 1})


def test_run_names_are_the_arguments_a_sweep_varies():
    commands = [["python", "train.py", "--lr", "0.1", "--seed", "1", "--epochs", "5"],
                ["python", "train.py", "--lr=0.01", "--seed", "1", "--epochs", "5"],
                ["python", "train.py", "--lr", "0.1", "--seed", "2", "--epochs", "5", "-v"]]
    assert run_names(commands) == ["--lr 0.1 --seed 1", "--lr=0.01 --seed 1",
                                   "--lr 0.1 --seed 2 -v"]
    assert run_names([["python", "sweep.py"], ["python", "sweep.py"]]) == [None, None]
    assert run_names([["t.py", "--shift", "-1"], ["t.py", "--shift", "2"]]) == \
        ["--shift -1", "--shift 2"]


def curved(name, points, status=Status.TRAINING):
    return BoardRow(name=name, status=status, elapsed=1.0, curves={"main/loss": points})


def test_the_chart_draws_a_key_across_runs_over_the_range_all_of_them_reached():
    rows = [curved("a", [(1, 1.0), (2, 0.5), (3, 0.25), (4, 0.2)]),
            curved("b", [(2, 0.9), (3, 0.7)]),
            curved("c", [(1, 2.0)]),  # one point: no line yet
            row("d")]  # no curve
    blocks = board_blocks("s", ["main/loss"], rows, chart="main/loss")
    assert check_blocks(blocks) == []
    chart = blocks[-1]
    assert chart["title"] == "main/loss · 2 runs"
    assert chart["chart"]["axis_config"]["categories"] == ["2", "3"]
    series = {s["name"]: [p["value"] for p in s["data"]] for s in chart["chart"]["series"]}
    assert series == {"a": [0.5, 0.25], "b": [0.9, 0.7]}


def test_the_chart_shows_six_runs_and_twenty_points_at_most_with_unique_names():
    long = "--optimizer adam --lr "
    rows = [curved(f"{long}{i}", [(x, x * i) for x in range(100)]) for i in range(9)]
    chart = board_blocks("s", [], rows, chart="main/loss")[-1]
    assert check_blocks([chart]) == []
    assert chart["title"] == "main/loss · 6 of 9 runs"
    assert len(chart["chart"]["axis_config"]["categories"]) == 20
    names = [s["name"] for s in chart["chart"]["series"]]
    assert len(set(names)) == 6 and all(len(n) <= 20 for n in names)
    assert chart["chart"]["series"][0]["data"][-1] == {"label": "99", "value": 0.0}
    assert chart["chart"]["series"][1]["data"][-1] == {"label": "99", "value": 99.0}


def test_no_chart_before_a_run_has_two_points():
    blocks = board_blocks("s", [], [curved("a", [(1, 1.0)])], chart="main/loss")
    assert [b["type"] for b in blocks] == ["section", "data_table"]
