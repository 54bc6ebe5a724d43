"""Bad arguments fail at construction, before any training, with a clear message."""

from __future__ import annotations

import warnings

import pytest
from slack_sdk import WebClient

from chainer_slack_report import SlackReport, SlackReportWarning

GOOD = {"access_token": "xoxb-1-2-abc", "channel_id": "C0123456", "entries": ["epoch"]}


@pytest.mark.parametrize("change, error, fragment", [
    ({"entries": "main/loss"}, TypeError, "entries must be a list of str"),
    ({"entries": None}, TypeError, "entries must be a list of str"),
    ({"entries": []}, ValueError, "entries is empty"),
    ({"entries": ["epoch", 3]}, TypeError, "entries must be non-empty str"),
    ({"entries": ["epoch", ""]}, TypeError, "entries must be non-empty str"),
    ({"len_normalizer": "newest"}, ValueError, "accepted: 'thin_out', 'FIFO', 'LIFO'"),
    ({"len_normalizer": ""}, ValueError, "unknown len_normalizer"),
    ({"len_normalizer": 5}, TypeError, "len_normalizer must be a str"),
    ({"len_normalizer": None}, TypeError, "len_normalizer must be a str"),
    ({"template": None}, TypeError, "template must be a str"),
    ({"template": b"{status}"}, TypeError, "template must be a str"),
    ({"template": "{status"}, ValueError, "unclosed '{'"),
    ({"template": "status}"}, ValueError, "single '}'"),
    ({"template": "{status!x}"}, ValueError, "invalid conversion"),
    ({"finish_mentions": 42}, TypeError, "finish_mentions must be a str, a list"),
    ({"finish_mentions": {"U0123456"}}, TypeError, "finish_mentions must be a str, a list"),
    ({"finish_mentions": ""}, ValueError, "finish_mentions is an empty str"),
    ({"finish_mentions": ["U0123456", ""]}, ValueError, "empty item"),
    ({"finish_mentions": ["U0123456", None]}, TypeError, "items must be str"),
    ({"finish_mentions": ["<script>"]}, ValueError, "is not a member ID"),
    ({"max_bytes": 0}, ValueError, "max_bytes must be at least"),
    ({"max_bytes": -5}, ValueError, "max_bytes must be >= 0"),
    ({"max_bytes": 50}, ValueError, "max_bytes must be at least 200"),
    ({"max_bytes": 300, "entries": [f"validation/main/metric{i}" for i in range(12)]},
     ValueError, "cannot hold the table header"),
    ({"max_bytes": 4000.5}, TypeError, "max_bytes must be an int"),
    ({"max_bytes": True}, TypeError, "max_bytes must be an int"),
    ({"min_interval": -1}, ValueError, "min_interval must be >= 0"),
    ({"min_interval": "1s"}, TypeError, "min_interval must be a number"),
    ({"flush_timeout": -0.1}, ValueError, "flush_timeout must be >= 0"),
    ({"flush_timeout": None}, TypeError, "flush_timeout must be a number"),
    ({"http_timeout": 0}, ValueError, "http_timeout must be > 0"),
    ({"client": "https://slack.com/api/"}, TypeError, "client must be a slack_sdk.WebClient"),
    ({"client": object()}, TypeError, "client must be a slack_sdk.WebClient"),
    ({"channel_id": ""}, ValueError, "channel_id must be a non-empty str"),
    ({"channel_id": "   "}, ValueError, "channel_id must be a non-empty str"),
    ({"channel_id": 12345}, TypeError, "channel_id must be a str"),
    ({"refresh_interval": 0}, ValueError, "refresh_interval must be > 0"),
    ({"access_token": 12345}, TypeError, "access_token must be a str"),
])
def test_bad_argument_is_rejected_at_construction(change, error, fragment):
    with pytest.raises(error) as info:
        SlackReport(**{**GOOD, **change})
    assert fragment in str(info.value)
    assert "xoxb-1-2-abc" not in str(info.value)


@pytest.mark.parametrize("token", ["not-a-token", "Bearer xoxb-1", "slack:abc"])
def test_token_that_does_not_look_like_slack_gets_a_warning(token):
    with pytest.warns(SlackReportWarning, match="does not look like a Slack token") as record:
        SlackReport(token, "C0123456", ["epoch"])
    assert all(token not in str(w.message) for w in record)


@pytest.mark.parametrize("token", ["xoxb-1-2-abc", "xoxp-1-2-abc"])
def test_good_arguments_construct_without_warnings(token):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = SlackReport(token, "C0123456", ["epoch", "main/loss"],
                             template="{status} {main/loss:.3f}\n{content}",
                             finish_mentions="@alice, U0123456 <!subteam^S0123456>",
                             len_normalizer="fifo", client=WebClient(token))
    assert token not in repr(report)
