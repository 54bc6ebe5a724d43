"""Pure rendering: escaping, byte budgets, templates.  No network, no Chainer."""

from __future__ import annotations

import pytest

from chainer_slack_report.rendering.mentions import Mentions
from chainer_slack_report.rendering.message import format_elapsed, format_header, format_row
from chainer_slack_report.rendering.mrkdwn import TRUNCATION_MARKER, Mrkdwn, escape, truncate_utf8
from chainer_slack_report.rendering.template import Template


@pytest.mark.parametrize("raw, expected", [
    ("a & b", "a &amp; b"),
    ("<!channel>", "&lt;!channel&gt;"),
    ("<@U12345678>", "&lt;@U12345678&gt;"),
    ("<https://evil|click>", "&lt;https://evil|click&gt;"),
    ("&amp;", "&amp;amp;"),
    ("plain", "plain"),
])
def test_escape_the_three_characters(raw, expected):
    assert escape(raw) == expected


def test_escape_breaks_code_fences_and_leaves_mrkdwn_alone():
    assert "```" not in escape("x```y")
    assert escape(Mrkdwn("<@U1>")) == "<@U1>"


@pytest.mark.parametrize("token", [
    "xoxb-1234-5678-AbCdEf", "xoxp-1-2-3-abc", "xapp-1-A0-123-abc", "xoxe.xoxp-1-abc",
])
def test_tokens_in_data_are_redacted(token):
    out = escape(f"train.py --slack-token={token} --lr 0.1")
    assert token not in out and "-[redacted]" in out and out.endswith("--lr 0.1")


def test_truncate_utf8_counts_bytes_and_never_splits_a_character():
    text = "é" * 100  # 200 bytes
    cut = truncate_utf8(text, 120)
    room = 120 - len(TRUNCATION_MARKER.encode())  # 2 bytes per "é": whole characters only
    assert cut == "é" * (room // 2) + TRUNCATION_MARKER
    assert truncate_utf8("a" + text, 2 + len(TRUNCATION_MARKER.encode())) == "a" + TRUNCATION_MARKER
    assert truncate_utf8("short", 120) == "short"
    assert len(truncate_utf8("x" * 50, 10).encode()) <= 10


@pytest.mark.parametrize("seconds, expected", [
    (0, "0:00:00"), (59.9, "0:00:59"), (3661, "1:01:01"), (90061, "1 day, 1:01:01"),
])
def test_format_elapsed(seconds, expected):
    assert format_elapsed(seconds) == expected


def test_rows_use_printreport_layout_and_survive_odd_values():
    entries = ["epoch", "main/loss", "note"]
    header = format_header(entries)
    row = format_row(entries, {"epoch": 1, "main/loss": 0.25, "note": "ok"})
    assert header.split() == entries
    assert row.split() == ["1", "0.25", "ok"]
    assert row.index("0.25") == header.index("main/loss")
    assert format_row(entries, {"epoch": 2}).strip() == "2"


# -- templates ------------------------------------------------------------------
def render(source, **values):
    return Template(source).render(values)


def test_known_placeholders_with_spec_and_conversion():
    assert render("{status} {main/loss:.3f} {name!r}", status="[Training]",
                  **{"main/loss": 0.123456}, name="x") == "[Training] 0.123 'x'"


@pytest.mark.parametrize("source", [
    "{foo}", "{foo:>8}", "{foo!r}", "{foo!r:>8}", "{x.attr}", "{x[0]}", "{}", "{0}",
    "{x[a:b]}", "{foo:{width}}",
])
def test_unknown_placeholders_are_kept_exactly_as_written(source):
    assert render(f"A {source} B", status="s") == f"A {source} B"


def test_nested_spec_and_literal_braces():
    assert render("{v:>{w}}|{{x}}", v="a", w=3) == "  a|{x}"


def test_values_are_escaped_but_template_text_is_not():
    out = render("<!here> {hostname}", hostname="<!channel> & co")
    assert out == "<!here> &lt;!channel&gt; &amp; co"


def test_format_spec_that_does_not_apply_falls_back_to_str():
    assert render("{loss:.3f}", loss="nan-ish") == "nan-ish"


@pytest.mark.parametrize("source, fragment", [
    ("a } b", "single '}'"), ("a { b", "unclosed '{'"), ("{x!z}", "invalid conversion"),
])
def test_broken_braces_raise_a_clear_value_error(source, fragment):
    with pytest.raises(ValueError, match=fragment):
        Template(source)


def test_template_must_be_a_str():
    with pytest.raises(TypeError, match="template must be a str"):
        Template(["{status}"])


# -- finish_mentions ----------------------------------------------------------------
@pytest.mark.parametrize("spec, tokens", [
    ("here", ["<!here>"]), ("@here", ["<!here>"]), ("<!here>", ["<!here>"]),
    ("channel", ["<!channel>"]), ("@Everyone", ["<!everyone>"]),
    ("@Bob Smith", ["name:Bob Smith"]),
    ("@alice @bob", ["name:alice", "name:bob"]),
    ("@alice, Bob Smith", ["name:alice", "name:Bob Smith"]),
    ("U0123456 U0654321", ["<@U0123456>", "<@U0654321>"]),
    ("@alice U0123456 <!subteam^S0123456>", ["name:alice", "<@U0123456>",
                                             "<!subteam^S0123456>"]),
    (["here", "@Bob Smith"], ["<!here>", "name:Bob Smith"]),
])
def test_finish_mentions_are_split_and_parsed(spec, tokens):
    assert Mentions(spec).tokens == tokens
