"""What Slack's answer to a request means for the live message.

Pure classification, no threads and no network: :func:`classify` maps what
came back (an HTTP status, Slack's ``error`` code, the ``Retry-After`` header,
or an exception raised before any answer) to an :class:`Action`.  The error
codes are those the ``chat.postMessage`` and ``chat.update`` reference pages
list; the 429 handling follows Slack's "Rate limits" page.  The same table
(:data:`CONFIG_ERRORS`) feeds the warnings, the documentation and the CLI's
``check`` command, so they cannot drift apart; :func:`explain` says what a
verdict means to a person.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence

__all__ = [
    "Action", "Verdict", "classify", "classify_exception", "CONFIG_ERRORS", "CHANNEL_ERRORS",
    "TOKEN_ERRORS",
    "TRANSIENT_ERRORS", "MESSAGE_GONE_ERRORS", "BLOCKS_REFUSED", "DEFAULT_RETRY_AFTER",
    "explain", "header",
]


class Action(enum.Enum):
    """What to do after one request."""

    OK = "ok"  #: Slack took it
    RATE_LIMITED = "rate_limited"  #: HTTP 429: wait ``Retry-After``, send less often
    RETRY = "retry"  #: a transient fault: retry with backoff
    REPOST = "repost"  #: the message can no longer be edited: post a new one
    SHORTEN = "shorten"  #: ``msg_too_long``: send a shorter text
    STOP = "stop"  #: a configuration error: no further request can succeed
    DROP_BLOCKS = "drop_blocks"  #: Slack refused the message's blocks, not its text


#: Slack error code → what the user should do.  These stop all further calls.
CONFIG_ERRORS: Mapping[str, str] = {
    "not_authed": "no bot token reached Slack; set SLACK_BOT_TOKEN or pass access_token",
    "invalid_auth": "Slack does not accept the bot token; check SLACK_BOT_TOKEN "
                    "(a bot token starts with xoxb-)",
    "token_revoked": "the bot token was revoked; reinstall the Slack app and use its new "
                     "bot token",
    "token_expired": "the bot token expired (token rotation is on); refresh it or turn "
                     "rotation off and reinstall the Slack app",
    "account_inactive": "the bot's account is deactivated; reinstall the Slack app",
    "channel_not_found": "no such channel for this bot; check the channel ID "
                         "(SLACK_CHANNEL_ID), and invite the bot to a private channel "
                         "with /invite @your-bot",
    "not_in_channel": "the bot is not in the channel; invite it with /invite @your-bot",
    "is_archived": "the channel is archived; unarchive it or report to another channel",
    # chat.update: "The message cannot be edited within a frozen, archived or deleted channel."
    "is_inactive": "the channel is archived, frozen or deleted, so the message can no longer "
                   "be edited; unarchive it or report to another channel",
    "missing_scope": "the bot lacks a scope; add chat:write under OAuth & Permissions "
                     "and reinstall the app",
}
#: The configuration errors that are about the channel given (a warning names it).
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived",
                            "is_inactive"})
#: The configuration errors that are about the bot token (a warning never shows it).
TOKEN_ERRORS = frozenset({"not_authed", "invalid_auth", "token_revoked", "token_expired",
                          "account_inactive"})
#: Error codes worth retrying with backoff (besides connection errors and HTTP 5xx).
TRANSIENT_ERRORS = frozenset({"fatal_error", "service_unavailable", "request_timeout",
                              "internal_error"})
#: The message can no longer be edited (deleted, too old): post a new one.
MESSAGE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message",
                                 "edit_window_closed"})
#: Slack refused the message's blocks, not its text (``chat.postMessage``, ``chat.update``):
#: the message goes on as text alone.
BLOCKS_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})
#: Seconds to wait after a 429 that carries no usable ``Retry-After``.
DEFAULT_RETRY_AFTER = 1.0


@dataclass(frozen=True)
class Verdict:
    """The meaning of one answer.

    Attributes:
        action (Action): What to do next.
        error (str): Slack's error code, ``"HTTP <status>"`` for an answer
            without one, the exception's type name when nothing came back, or
            ``""`` for :attr:`Action.OK`.
        retry_after (float or None): Seconds Slack asked to wait (429 only).
        hint (str or None): What the user should change (``STOP``), or what
            Slack said was wrong with the blocks (``DROP_BLOCKS``).
        known (bool): False for an error code this module does not know;
            it is retried with backoff, and worth one warning.
        needed (str or None): The scope Slack says is missing, if it says.
        answered (bool): False when nothing came back (a refused connection,
            a timeout): :func:`classify_exception` of an exception without a
            response.
    """

    action: Action
    error: str = ""
    retry_after: Optional[float] = None
    hint: Optional[str] = None
    known: bool = True
    needed: Optional[str] = None
    answered: bool = True


def classify(*, status: int = 200, error: Optional[str] = None,
             headers: Optional[Mapping[str, object]] = None,
             needed: Optional[str] = None, reasons: Sequence[str] = ()) -> Verdict:
    """Classify an answer that arrived.

    Args:
        status: The HTTP status code.
        error: Slack's ``error`` field (None when the call succeeded or the
            body held no JSON, e.g. a load balancer's 503 page).
        headers: The response headers (for ``Retry-After``, in seconds).
        needed: Slack's ``needed`` field of a ``missing_scope`` answer.
        reasons: What Slack said was wrong with a message's blocks (the
            ``errors``, else ``response_metadata.messages``, of an
            ``invalid_blocks`` answer); they become the verdict's ``hint``.

    Returns:
        Verdict: ``OK`` for a 2xx answer without an error code.
    """
    if status == 429 or error == "ratelimited":
        return Verdict(Action.RATE_LIMITED, error or "ratelimited",
                       retry_after=retry_after_seconds(headers))
    if error is None:
        if status >= 500:
            return Verdict(Action.RETRY, f"HTTP {status}")
        if status >= 400:
            return Verdict(Action.RETRY, f"HTTP {status}", known=False)
        return Verdict(Action.OK)
    if error in MESSAGE_GONE_ERRORS:
        return Verdict(Action.REPOST, error)
    if error == "msg_too_long":
        return Verdict(Action.SHORTEN, error)
    if error in BLOCKS_REFUSED:
        return Verdict(Action.DROP_BLOCKS, error, hint="; ".join(reasons) or None)
    if error in CONFIG_ERRORS:
        hint = CONFIG_ERRORS[error]
        if needed:
            hint += f" (Slack says it needs: {needed})"
        return Verdict(Action.STOP, error, hint=hint, needed=needed)
    if error in TRANSIENT_ERRORS or status >= 500:
        return Verdict(Action.RETRY, error)
    return Verdict(Action.RETRY, error, known=False)


def classify_exception(exc: BaseException) -> Verdict:
    """Classify what a ``slack_sdk.WebClient`` call raised.

    A :class:`slack_sdk.errors.SlackApiError` carries Slack's answer and is
    classified by :func:`classify`; anything else (a refused connection, a
    timeout, a reset) means no answer came back and is retried with backoff.
    """
    response = getattr(exc, "response", None)
    if response is None:
        return Verdict(Action.RETRY, type(exc).__name__, answered=False)
    status = getattr(response, "status_code", 200) or 200
    return classify(status=status, error=_field(response, "error"),
                    headers=getattr(response, "headers", None),
                    needed=_field(response, "needed"), reasons=_block_reasons(response))


def retry_after_seconds(headers: Optional[Mapping[str, object]]) -> float:
    """The ``Retry-After`` header in seconds (case-insensitive); 1 s if absent or bad."""
    value = header(headers, "retry-after")
    try:
        return max(0.0, float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def header(headers: Optional[Mapping[str, object]], name: str) -> Optional[object]:
    """The value of header ``name`` (case-insensitive), the first of a list; None if absent.

    Args:
        headers: Response headers as ``slack_sdk`` gives them (values may be lists).
        name: The header's name, e.g. ``"x-oauth-scopes"``.
    """
    name = name.lower()
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            if isinstance(value, (list, tuple)):
                return value[0] if value else None
            return value
    return None


def explain(verdict: Verdict) -> str:
    """What a failed call means to a person, and what to do, in one phrase.

    Args:
        verdict: What :func:`classify` or :func:`classify_exception` said.

    Returns:
        str: The :attr:`Verdict.hint` of a configuration error; otherwise a
        phrase after the action (e.g. ``"Slack rate-limits this token; try
        again in 30 s"``).  Without the error code: callers name
        :attr:`Verdict.error` themselves.
    """
    action = verdict.action
    if action is Action.STOP and verdict.hint:
        return verdict.hint
    if action is Action.RATE_LIMITED:
        return f"Slack rate-limits this token; try again in {verdict.retry_after or 0:g} s"
    if not verdict.answered:
        return "cannot reach Slack"
    if action is Action.OK:
        return "Slack took it"
    if action is Action.REPOST:
        return f"Slack answered {verdict.error}: the message can no longer be edited"
    if action is Action.SHORTEN:
        return f"Slack answered {verdict.error}: the text is too long"
    if verdict.known:
        return f"Slack answered {verdict.error}; try again later"
    return f"Slack answered {verdict.error}"


def _block_reasons(response) -> List[str]:
    """Slack's reasons for refusing blocks: ``errors``, else ``response_metadata.messages``
    (``"[ERROR] … [json-pointer:/blocks/0/text/text]"``); [] if it gave none."""
    try:
        reasons = response.get("errors") or (response.get("response_metadata") or {}).get(
            "messages")
    except Exception:  # noqa: BLE001 - an answer without JSON fields
        return []
    if isinstance(reasons, str):
        reasons = [reasons]
    return [str(reason) for reason in reasons or ()]


def _field(response, key: str) -> Optional[str]:
    """``response[key]`` as str, or None (a non-JSON body has no fields)."""
    try:
        value = response.get(key)
    except Exception:  # noqa: BLE001 - e.g. an HTML body that is not a dict
        return None
    return None if value is None else str(value)
