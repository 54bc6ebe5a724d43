"""Looking up the user names of ``finish_mentions`` with ``users.list``.

Slack's ``users.list`` method (scope ``users:read``, paginated with
``cursor``/``response_metadata.next_cursor``, ``limit`` at most 200 advised)
lists the workspace's members; a name matches a member's ``name``,
``profile.display_name`` or ``real_name``, ignoring case.  Runs on the
report's worker before the first post; the found IDs go to
:meth:`~chainer_slack_report.rendering.mentions.Mentions.use`.
"""

from __future__ import annotations

from typing import Dict, Iterable

from ..rendering.mentions import Mentions
from ..warning import warn
from .slack_errors import classify_exception

__all__ = ["lookup_user_ids", "resolve_mentions"]


def lookup_user_ids(client, names: Iterable[str]) -> Dict[str, str]:
    """Member IDs of ``names``: ``{name in lower case: "U…"}`` for those found.

    Args:
        client (slack_sdk.WebClient): Calls ``users.list``.
        names: User names (without ``@``).

    Raises:
        slack_sdk.errors.SlackApiError, OSError: The look-up failed.
    """
    wanted = {n.lower() for n in names}
    found: Dict[str, str] = {}
    cursor = None
    while wanted - set(found):
        response = client.users_list(limit=200, cursor=cursor)
        for member in response.get("members", []):
            profile = member.get("profile") or {}
            for key in (member.get("name"), profile.get("display_name"),
                        member.get("real_name"), profile.get("real_name")):
                if key and key.lower() in wanted:
                    found.setdefault(key.lower(), member["id"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return found


def resolve_mentions(mentions: Mentions, client) -> None:
    """Look up the names of ``mentions`` and show their member IDs; warn for misses.

    Never raises: on an API error the names stay plain text and one
    :class:`~chainer_slack_report.SlackReportWarning` says why.
    """
    names = mentions.names
    if not names:
        return
    try:
        found = lookup_user_ids(client, names)
    except Exception as exc:  # noqa: BLE001 - any failure: keep names as text
        warn(f"finish_mentions: could not look up user names with users.list "
             f"({classify_exception(exc).error}); they are shown as "
             f"plain text. The bot needs the users:read scope, or give member IDs "
             f"(U…) instead.")
        return
    mentions.use(found)
    missing = sorted({n.lower() for n in names} - set(found))
    if missing:
        warn(f"finish_mentions: no Slack user named {', '.join(missing)} (looked up "
             f"with users.list); shown as plain text, nobody is notified for them")
