"""The ``slack_sdk.WebClient`` a report calls Slack with: the user's, or a default one.

Every default client points at ``$SLACK_API_URL`` when it is set (e.g. the
bundled emulator's ``http://127.0.0.1:PORT/api/``), else at Slack.
"""

from __future__ import annotations

import copy
import os
import uuid
from typing import Optional

from .budget import RunBudget, SharedBudget

__all__ = ["API_URL_ENV", "SLACK_API_URL", "report_client", "api_url", "run_budget"]

#: Points every default client at another Web API base URL (e.g. an emulator's).
API_URL_ENV = "SLACK_API_URL"
#: Slack's Web API base URL.
SLACK_API_URL = "https://slack.com/api/"


def report_client(client, token: Optional[str], http_timeout: float):
    """The client a report uses.

    Args:
        client (slack_sdk.WebClient or None): The user's client; None builds
            one with ``token``, ``timeout=http_timeout`` (seconds) and
            ``$SLACK_API_URL`` as ``base_url`` if set.
        token: Used with a user's client that has no token of its own.
        http_timeout: Seconds one request of a default client may take.

    Returns:
        slack_sdk.WebClient: The user's client itself, or a copy of it (the
        user's object is never changed) given ``token`` or stripped of
        slack_sdk's ``RateLimitErrorRetryHandler``.  That handler sleeps for
        ``Retry-After`` inside the call and resends the request: on the
        report's worker it would hide Slack's 429 from the rate budget that
        every run of the token shares, and resend an outdated text; the
        report honours ``Retry-After`` itself.
    """
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    if client is None:
        return WebClient(token=token, timeout=http_timeout,
                         base_url=os.environ.get(API_URL_ENV) or SLACK_API_URL)
    handlers = list(getattr(client, "retry_handlers", None) or [])
    kept = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    needs_token = not getattr(client, "token", None) and token
    if len(kept) == len(handlers) and not needs_token:
        return client
    client = copy.copy(client)
    client.retry_handlers = kept
    if needs_token:
        client.token = token
    return client


def api_url(client) -> str:
    """The Web API base URL ``client`` calls (Slack's when it does not say)."""
    return getattr(client, "base_url", None) or SLACK_API_URL


def run_budget(client, update_limit, store: Optional[str] = None, *,
               channel: Optional[str] = None) -> RunBudget:
    """A new run's share of the rate budget of ``client``'s token and API URL
    (``update_limit``: a :class:`~.budget.Limit` for ``chat.update``), kept on this
    host, or in the Redis server ``store`` (a URL; None: ``$CHAINER_SLACK_REPORT_STORE``)
    for the runs of every host; ``channel``: the channel as the run names it (its
    ``chat.postMessage`` bucket, :class:`~.budget.RunBudget`)."""
    shared = SharedBudget(getattr(client, "token", None) or "", api_url(client), store=store)
    return RunBudget(shared, update_limit, uuid.uuid4().hex, channel=channel)
