"""``check``: ask Slack, before a long run, whether the token, its scopes and the channel
let a run report; print each finding and what to fix (never the token)."""

from __future__ import annotations

import argparse
import os
import re
import time
from typing import Optional, Set, Tuple

from ..rendering.mrkdwn import redact_tokens
from ..transport.budget.redis_store import redis_client
from ..transport.budget.store import default_state_dir
from ..transport.budget.store_url import STORE_ENV, mask, store_url
from ..transport.client import API_URL_ENV
from ..transport.slack_errors import CONFIG_ERRORS, classify_exception, explain, header
from .common import PROG, store

__all__ = ["add_parser", "cmd_check"]

_SLACK_API_URL = "https://slack.com/api/"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_LIST_PAGES = 10  # conversations.list pages (of 200) searched for a channel name
# How far ahead the test message of _prove_channel is scheduled (Slack: at most 120 days).
_PROOF_AHEAD = 100 * 24 * 3600


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``check`` to the tool's subcommands (``ArgumentParser.add_subparsers()``)."""
    check = subparsers.add_parser(
        "check", help="check the token, channel and scopes before a long run",
        description="Check SLACK_BOT_TOKEN (auth.test), its scopes (chat:write needed; "
                    "users:read and files:write optional), the channel (exists, the "
                    "bot is a member, not archived: conversations.info, or without "
                    "channels:read a message scheduled with chat.scheduleMessage and "
                    "deleted at once) and where the runs share Slack's rate budget (a "
                    "Redis server answers).  Exit status 0: a run can report; 1: it cannot "
                    "(what to fix is printed).")
    check.add_argument("--channel", metavar="C",
                       help="channel ID or name (default: $SLACK_CHANNEL_ID)")
    check.add_argument("--post", action="store_true",
                       help="also post a test message to the channel and delete it")
    check.add_argument("--store", type=store, metavar="URL", default=None,
                       help="the Redis server the runs will share the rate budget in "
                            "(default: $CHAINER_SLACK_REPORT_STORE; none: this host's state "
                            "file): say whether it answers")
    check.set_defaults(handler=cmd_check, subparser=check)
    return check


class _Findings:
    """Prints each finding on stdout; counts the problems.  Never the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.problems = 0

    def _print(self, tag: str, text: str) -> None:
        if self.token:
            text = text.replace(self.token, "xoxb-…")
        print(f"{tag:<5} {redact_tokens(text)}", flush=True)

    def ok(self, text: str) -> None:
        self._print("OK", text)

    def warn(self, text: str) -> None:
        self._print("WARN", text)

    def fail(self, text: str) -> None:
        self.problems += 1
        self._print("FAIL", text)


def _failure(exc: Exception) -> Tuple[str, str]:
    """(Slack's error code or what happened, what it means and what to do) for a
    failed Web API call, as :mod:`~chainer_slack_report.transport.slack_errors` says."""
    verdict = classify_exception(exc)
    text = explain(verdict)
    if not verdict.answered:
        text += f": {exc}"
    return verdict.error, text


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``check``: 0 when a run can report, 1 when it cannot."""
    token = (os.environ.get("SLACK_BOT_TOKEN") or "").strip()
    channel = (args.channel or os.environ.get("SLACK_CHANNEL_ID") or "").strip()
    url = os.environ.get(API_URL_ENV) or _SLACK_API_URL
    out = _Findings(token)
    print(f"Checking Slack at {url}", flush=True)
    if not token:
        out.fail("no bot token: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token "
                 "(xoxb-…, under OAuth & Permissions)")
    elif token.startswith("xoxp-"):
        out.warn("SLACK_BOT_TOKEN is a user token (xoxp-…): messages are posted as that "
                 "person; a bot token (xoxb-…) is meant for this")
    elif not token.startswith("xoxb-"):
        out.warn("SLACK_BOT_TOKEN does not look like a bot token (xoxb-…)")
    if not channel:
        out.fail("no channel: set SLACK_CHANNEL_ID or pass --channel (the channel ID, "
                 "e.g. C0123456789, is under the channel's name → About)")
    _check_store(out, args.store)
    if not token:
        return _verdict(out, channel)

    from slack_sdk import WebClient

    client = WebClient(token=token, base_url=url, timeout=10)
    try:
        auth = client.auth_test()
    except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer at all
        code, hint = _failure(exc)
        out.fail(f"token: {code}: {hint}")
        return _verdict(out, channel)
    who = f"{auth.get('user') or '?'} ({auth.get('user_id') or '?'})"
    kind = "bot token xoxb-…" if token.startswith("xoxb-") else "token"
    out.ok(f"{kind} accepted: {who} in team {auth.get('team') or '?'} "
           f"({auth.get('team_id') or '?'})")
    scopes = _check_scopes(out, auth.headers)
    if channel:
        _check_channel(out, client, channel, scopes, post=args.post)
    return _verdict(out, channel)


def _check_store(out: _Findings, given: Optional[str]) -> None:
    """Which store the runs' shared rate budget is kept in (``given`` by ``--store``,
    else the environment's), and whether it answers (never the URL's password)."""
    try:
        url = store_url(given)
    except (ValueError, ImportError) as exc:
        out.fail(f"rate budget: {exc}")
        return
    if url is None:
        out.ok(f"rate budget: shared by the runs of this host, in {default_state_dir()} (set "
               f"{STORE_ENV} to a Redis URL to share it with other hosts)")
        return
    client = redis_client(url)
    try:
        start = time.perf_counter()
        client.ping()
        took = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - refused, timed out, wrong password, ...
        out.warn(f"rate budget: Redis at {url.where} (db {url.db}) does not answer "
                 f"({type(exc).__name__}: {mask(str(exc))}): runs will warn once and share "
                 f"the budget per host until it does")
        return
    finally:
        client.close()
    out.ok(f"rate budget: shared in Redis at {url.where} (db {url.db}) by the runs of every "
           f"host that names it; PING answered in {took * 1e3:.1f} ms")


def _check_scopes(out: _Findings, headers) -> Optional[Set[str]]:
    """The token's scopes (Slack's ``x-oauth-scopes`` header), each needed or optional
    one said; None when Slack did not list them."""
    listed = header(headers, "x-oauth-scopes")
    if listed is None:
        out.warn("Slack did not list the token's scopes (no x-oauth-scopes header); a run "
                 "needs chat:write")
        return None
    scopes = {s.strip() for s in str(listed).split(",") if s.strip()}
    if "chat:write" in scopes:
        out.ok("scope chat:write: the message can be posted and edited")
    else:
        out.fail(f"scope chat:write missing: {CONFIG_ERRORS['missing_scope']}")
    if "users:read" in scopes:
        out.ok("scope users:read: --mention @name can be looked up")
    else:
        out.warn("optional scope users:read missing: --mention @name cannot be looked up "
                 "(member IDs such as U0123456789 work); add it under OAuth & Permissions "
                 "and reinstall the app")
    if "files:write" in scopes:
        out.ok("scope files:write: files can be uploaded into the message's thread")
    else:
        out.warn("optional scope files:write missing: no file uploads into the thread; "
                 "add it under OAuth & Permissions and reinstall the app")
    return scopes


def _find_channel(client, name: str) -> Tuple[Optional[dict], Optional[Exception]]:
    """The channel named ``name`` from conversations.list (its first 10 pages only)."""
    cursor = None
    for _ in range(_LIST_PAGES):
        try:
            page = client.conversations_list(types="public_channel,private_channel",
                                             exclude_archived=False, limit=200,
                                             cursor=cursor)
        except Exception as exc:  # noqa: BLE001
            return None, exc
        for info in page.get("channels") or []:
            if info.get("name") == name:
                return info, None
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return None, None


def _check_channel(out: _Findings, client, channel: str, scopes: Optional[Set[str]], *,
                   post: bool) -> None:
    key = channel[1:] if channel.startswith("#") else channel
    if _CHANNEL_ID.match(key):
        try:
            info, error = client.conversations_info(channel=key)["channel"], None
        except Exception as exc:  # noqa: BLE001
            info, error = None, exc
    else:
        info, error = _find_channel(client, key)
        if info is None and error is None:
            out.fail(f"channel {channel}: no channel of that name is visible to the bot: "
                     f"{CONFIG_ERRORS['channel_not_found']}")
            return
    if error is not None:
        code, hint = _failure(error)
        if code != "missing_scope":
            out.fail(f"channel {channel}: {code}: {hint}")
            return
        # No channels:read (groups:read): a call that needs only chat:write shows it.
        key = _prove_channel(out, client, channel, key)
        if key is None:
            return
    if info is not None:
        where = f"channel {info.get('id')} (#{info.get('name')})"
        if info.get("is_archived"):
            out.fail(f"{where} is archived: {CONFIG_ERRORS['is_archived']}")
            return
        if info.get("is_member"):
            out.ok(f"{where}: the bot is a member, not archived")
        elif scopes and "chat:write.public" in scopes and not info.get("is_private"):
            out.ok(f"{where}: the bot is not a member, but chat:write.public lets it post "
                   f"to a public channel")
        else:
            out.fail(f"{where}: the bot is not a member: {CONFIG_ERRORS['not_in_channel']}")
            return
    if post:
        _check_post(out, client, info.get("id") if info else key)


def _prove_channel(out: _Findings, client, channel: str, key: str) -> Optional[str]:
    """Show, with ``chat:write`` alone, that the bot may post to ``channel``: schedule a
    message far ahead with ``chat.scheduleMessage`` and delete it at once with
    ``chat.deleteScheduledMessage``; nothing is ever posted.

    Slack's chat.scheduleMessage page: the channel is "an encoded ID, or a name", its
    errors include ``channel_not_found``, ``not_in_channel`` and ``is_archived``, and
    ``post_at`` may be up to 120 days ahead (``time_too_far``).

    Returns:
        str or None: The channel's ID, or None when Slack refused (a failure said).
    """
    post_at = int(time.time()) + _PROOF_AHEAD
    try:
        scheduled = client.chat_scheduleMessage(
            channel=key, post_at=post_at,
            text=f"{PROG} check: a test message, deleted as soon as it was scheduled")
    except Exception as exc:  # noqa: BLE001
        code, hint = _failure(exc)
        out.fail(f"channel {channel}: {code}: {hint}")
        return None
    found = scheduled.get("channel") or key
    message_id = scheduled.get("scheduled_message_id")
    try:
        client.chat_deleteScheduledMessage(channel=found, scheduled_message_id=message_id)
    except Exception as exc:  # noqa: BLE001
        code, _ = _failure(exc)
        day = time.strftime("%Y-%m-%d", time.gmtime(post_at))
        out.warn(f"the test message scheduled in {found} ({message_id}) was not deleted "
                 f"({code}); it would post on {day}: delete it with "
                 f"chat.deleteScheduledMessage")
    out.ok(f"channel {found} ({channel}): the bot may post there (chat.scheduleMessage "
           f"accepted a test message, deleted at once; channels:read would say more)")
    return found


def _check_post(out: _Findings, client, channel: str) -> None:
    try:
        posted = client.chat_postMessage(channel=channel, text=f"{PROG} check: the bot can "
                                                               f"post here",
                                         unfurl_links=False)
    except Exception as exc:  # noqa: BLE001
        code, hint = _failure(exc)
        out.fail(f"test post to {channel}: {code}: {hint}")
        return
    try:
        client.chat_delete(channel=posted["channel"], ts=posted["ts"])
        out.ok(f"test message posted to {posted['channel']} and deleted")
    except Exception as exc:  # noqa: BLE001
        code, _ = _failure(exc)
        out.warn(f"test message posted to {posted['channel']} but not deleted ({code}); "
                 f"delete it by hand")


def _verdict(out: _Findings, channel: str) -> int:
    if out.problems:
        print(f"{out.problems} problem{'s' if out.problems > 1 else ''} found: runs "
              f"cannot report to Slack until {'it is' if out.problems == 1 else 'they are'} "
              f"fixed", flush=True)
        return 1
    print(f"All set: runs can report to {channel}", flush=True)
    return 0
