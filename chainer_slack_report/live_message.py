"""One Slack message kept up to date by one background worker thread.

The message is posted once with ``chat.postMessage`` and then edited with
``chat.update`` on the channel ID and ``ts`` that the post returned.  Callers
never wait on Slack: :meth:`LiveMessage.touch` only flags that a newer text
exists.  The worker renders the newest text when it is allowed to send (so
intermediate texts are never even built), skips a text identical to the one
Slack already shows, and keeps one request in flight at most.

What Slack says back decides what happens next (error codes from the
``chat.postMessage`` and ``chat.update`` reference pages):

* HTTP 429 ``ratelimited``: wait ``Retry-After`` seconds, then send the newest
  text; the minimum interval widens each time (Slack's "Rate limits" page:
  ``chat.update`` is Tier 3, about 50 calls a minute).
* No answer, a timeout, HTTP 5xx, ``fatal_error``, ``service_unavailable``,
  ``request_timeout``, ``internal_error``: exponential backoff with jitter
  (slack_sdk's ``BackoffRetryIntervalCalculator`` with ``RandomJitter``),
  capped at ``max_backoff`` seconds.
* ``message_not_found``, ``cant_update_message``, ``edit_window_closed``: post a
  new message that says it continues the earlier one, and update that.
* ``msg_too_long``: lower the byte budget by a quarter and send again.
* A configuration error (``invalid_auth``, ``not_in_channel``, ``missing_scope``,
  …): one warning that names the error and the fix, then no more calls;
  :attr:`LiveMessage.disabled` turns true so the caller can report locally.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Callable, Optional, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import RandomJitter

from .warning import SlackReportWarning

__all__ = ["LiveMessage", "SlackReportWarning", "CONFIG_ERRORS", "TRANSIENT_ERRORS",
           "MESSAGE_GONE_ERRORS"]

logger = logging.getLogger(__name__)


#: Slack error code → what the user should do.  These stop all further calls.
CONFIG_ERRORS = {
    "not_authed": "no bot token reached Slack; set SLACK_BOT_TOKEN or pass access_token",
    "invalid_auth": "Slack does not accept the bot token; check SLACK_BOT_TOKEN "
                    "(a bot token starts with xoxb-)",
    "token_revoked": "the bot token was revoked; reinstall the Slack app and use its new bot token",
    "token_expired": "the bot token expired; refresh it or reinstall the Slack app",
    "account_inactive": "the bot's account is deactivated; reinstall the Slack app",
    "channel_not_found": "no such channel for this bot; check the channel ID "
                         "(SLACK_CHANNEL_ID), and invite the bot to a private channel "
                         "with /invite @your-bot",
    "not_in_channel": "the bot is not in the channel; invite it with /invite @your-bot",
    "is_archived": "the channel is archived; unarchive it or report to another channel",
    "missing_scope": "the bot lacks a scope; add chat:write under OAuth & Permissions "
                     "and reinstall the app",
}
#: Errors worth retrying with backoff (besides connection errors and HTTP 5xx).
TRANSIENT_ERRORS = frozenset({"fatal_error", "service_unavailable", "request_timeout",
                              "internal_error"})
#: The message can no longer be edited: post a new one.
MESSAGE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message",
                                 "edit_window_closed"})

CONTINUATION_NOTE = "_(continues an earlier message that can no longer be edited)_\n"
_MIN_BYTES = 400  # below this a msg_too_long budget cut is not worth it


class LiveMessage:
    """A Slack message that a background worker keeps showing the newest text.

    Args:
        client (slack_sdk.WebClient): Used only from the worker thread.
        channel (str): Channel ID (``C…``) or name for ``chat.postMessage``;
            updates use the channel ID it returns.
        render (callable): ``render(max_bytes: int) -> str``, called on the
            worker to build the newest text within ``max_bytes`` UTF-8 bytes.
        max_bytes (int): Byte budget of the text (Slack rejects long messages
            with ``msg_too_long``; 4000 bytes is within every documented limit).
        min_interval (float): Seconds between two requests in steady state.
        max_interval (float): Cap in seconds when rate limits widen the interval.
        max_backoff (float): Cap in seconds of a backoff wait after a failure.
        prepare (list of callables): ``fn(client)`` run on the worker before
            the first post (e.g. user-name look-ups); errors become warnings.
        name (str): Names the worker thread.
    """

    def __init__(self, client, channel: str, render: Callable[[int], str], *,
                 max_bytes: int = 4000, min_interval: float = 1.2,
                 max_interval: float = 60.0, max_backoff: float = 30.0,
                 prepare: Sequence[Callable] = (), name: str = "SlackReport") -> None:
        self._client = client
        self._channel = channel
        self._render = render
        self.max_bytes = max_bytes
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.max_backoff = max_backoff
        self._prepare = list(prepare)
        self._name = name
        self._backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5, jitter=RandomJitter())

        self.channel_id: Optional[str] = None  #: from chat.postMessage
        self.ts: Optional[str] = None  #: the live message's ts
        self.disabled = False  #: a configuration error stopped all calls
        self.final_delivered = False
        self.final_text: Optional[str] = None  #: last final text rendered
        self.posts = 0  #: messages posted with chat.postMessage (thread replies not counted)
        self.updates = 0  #: successful chat.update calls
        self.replies = 0  #: thread replies posted
        self.requests = 0  #: every request sent

        self._cond = threading.Condition()
        self._dirty = False
        self._closing = False
        self._deadline = 0.0
        self._reply: Optional[Callable[[], str]] = None  # set by close()
        self._not_before = 0.0  # monotonic time before which no request is sent
        self._limited_until = 0.0  # end of the last Retry-After
        self._sent_text: Optional[str] = None
        self._prefix = ""
        self._failures = 0
        self._warned: set = set()
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- caller side (training thread) ---------------------------------------
    def start(self) -> None:
        """Start the worker; it posts the first text as soon as it can."""
        if self._thread is None:
            self._dirty = True
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"{self._name}-worker")
            self._thread.start()

    def touch(self) -> None:
        """A newer text exists.  Never blocks on Slack."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def close(self, timeout: float, reply: Optional[Callable[[], str]] = None) -> bool:
        """Deliver the final text (and then ``reply()`` in the message's thread).

        The final update does not wait out the minimum interval; it honours a
        ``Retry-After`` or backoff wait only if that ends before the deadline.

        Args:
            timeout: Seconds to wait for delivery at most.
            reply: Builds the text of a thread reply posted after the final
                update (thread replies notify mentioned people; edits do not).

        Returns:
            bool: True when Slack has the final text.
        """
        with self._cond:
            self._closing = True
            self._reply = reply
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify()
        if self._thread is None or self.disabled:
            return False
        self._done.wait(max(0.0, timeout))
        return self.final_delivered

    # -- worker ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            for fn in self._prepare:
                try:
                    fn(self._client)
                except Exception as exc:  # noqa: BLE001 - a warning, never a crash
                    self._warn("prepare", f"{fn!r} failed ({type(exc).__name__}: {exc})")
            while not self.disabled:
                with self._cond:
                    while not self._closing:
                        if self._dirty:
                            delay = self._not_before - time.monotonic()
                            if delay <= 0:
                                break
                            self._cond.wait(delay)
                        else:
                            self._cond.wait()
                    if self._closing:
                        break
                    self._dirty = False
                self._send()
            if not self.disabled:
                self._finish()
        except Exception as exc:  # noqa: BLE001 - last line of defence
            logger.exception("SlackReport worker stopped")
            self._warn("crash", f"the Slack worker stopped ({type(exc).__name__}: {exc})")
            self.disabled = True
        finally:
            self._done.set()

    def _finish(self) -> None:
        """Deliver the final text, then the thread reply, before the deadline."""
        if not self._until_deadline(lambda: self._send(final=True)):
            return
        self.final_delivered = True
        if self._reply is not None:
            text = self._reply()
            if not self._until_deadline(lambda: self._post_reply(text)):
                self._warn("reply", "could not post the thread reply that notifies "
                                    "finish_mentions before flush_timeout")

    def _until_deadline(self, attempt: Callable[[], bool]) -> bool:
        """Repeat ``attempt`` until it succeeds, Slack refuses for good, or the deadline."""
        while not self.disabled and self._pause_before_retry():
            if attempt():
                return True
        return False

    def _post_reply(self, text: str) -> bool:
        response = self._request(self._client.chat_postMessage, channel=self.channel_id,
                                 thread_ts=self.ts, text=text, unfurl_links=False,
                                 unfurl_media=False)
        if response is not None:
            self.replies += 1
        return response is not None

    def _pause_before_retry(self) -> bool:
        """Sleep until the final delivery may be tried; False if the deadline comes first.

        The minimum interval is skipped.  A ``Retry-After`` is honoured in full
        (sending earlier only earns another 429); a backoff wait is shortened
        to at most a second, so that a Slack that is back is found in time.
        """
        now = time.monotonic()
        wait = max(0.0, self._limited_until - now)
        if self._failures:
            wait = max(wait, min(self._not_before - now, 1.0))
        if now + wait >= self._deadline:
            return False
        time.sleep(wait)
        return True

    def _send(self, final: bool = False) -> bool:
        """Render the newest text and send it; True when Slack shows it."""
        budget = self.max_bytes - len(self._prefix.encode("utf-8"))
        text = self._prefix + self._render(budget)
        if final:
            self.final_text = text
        if text == self._sent_text and self.ts is not None:
            return True
        if self.ts is None:
            response = self._request(self._client.chat_postMessage, channel=self._channel,
                                     text=text, unfurl_links=False, unfurl_media=False)
            if response is not None:
                self.channel_id = response["channel"]
                self.ts = response["ts"]
                self.posts += 1
        else:
            response = self._request(self._client.chat_update, channel=self.channel_id,
                                     ts=self.ts, text=text)
            if response is not None:
                self.updates += 1
        if response is None:
            return False
        self._sent_text = text
        return True

    def _request(self, call: Callable, **kwargs):
        """One API call; returns the response, or None after handling the failure."""
        self.requests += 1
        try:
            response = call(**kwargs)
        except SlackApiError as exc:
            self._on_api_error(exc)
            return None
        except Exception as exc:  # noqa: BLE001 - urllib, socket, timeout errors
            self._on_transient(type(exc).__name__)
            return None
        if self._failures:
            logger.info("Slack answers again after %d failed attempts", self._failures)
        self._failures = 0
        self._not_before = time.monotonic() + self.min_interval
        return response

    def _on_api_error(self, exc: SlackApiError) -> None:
        response = exc.response
        status = getattr(response, "status_code", 200)
        try:
            error = str(response["error"])
        except Exception:  # noqa: BLE001 - e.g. a 5xx with an HTML body
            error = f"HTTP {status}"
        if status == 429 or error == "ratelimited":
            self._on_rate_limited(_retry_after(response))
        elif error in MESSAGE_GONE_ERRORS:
            self._warn(error, f"Slack answered {error!r} for the live message; "
                              f"posting a new message that continues it")
            self.ts = None
            self._sent_text = None
            self._prefix = CONTINUATION_NOTE
            self._retry_soon(self.min_interval)
        elif error == "msg_too_long" and self.max_bytes * 3 // 4 >= _MIN_BYTES:
            self.max_bytes = self.max_bytes * 3 // 4
            self._warn(error, f"Slack answered 'msg_too_long'; the message budget is "
                              f"now {self.max_bytes} bytes")
            self._retry_soon(0.0)
        elif error in CONFIG_ERRORS or error == "msg_too_long":
            hint = CONFIG_ERRORS.get(error, "the message cannot be shortened further")
            needed = _get(response, "needed")
            if needed:
                hint += f" (Slack says it needs: {needed})"
            self._warn(error, f"Slack answered {error!r}: {hint}. SlackReport stops "
                              f"calling Slack for this run and reports locally instead.")
            self.disabled = True
        elif error in TRANSIENT_ERRORS or status >= 500:
            self._on_transient(error)
        else:
            self._warn(error, f"Slack answered {error!r}; retrying with backoff")
            self._on_transient(error)

    def _on_rate_limited(self, retry_after: float) -> None:
        self.min_interval = min(self.max_interval, self.min_interval * 1.5)
        self._warn("ratelimited", f"Slack rate-limited SlackReport (Retry-After "
                                  f"{retry_after:g} s); waiting, and sending at most one "
                                  f"update every {self.min_interval:.1f} s from now on")
        self._failures += 1
        self._limited_until = time.monotonic() + retry_after
        self._retry_soon(max(retry_after, self.min_interval))

    def _on_transient(self, what: str) -> None:
        self._failures += 1
        delay = min(self.max_backoff,
                    self._backoff.calculate_sleep_duration(self._failures - 1))
        self._warn("transient", f"Slack is unreachable or failing ({what}); training "
                                f"goes on and SlackReport retries with backoff")
        logger.info("Slack request failed (%s); retry %d in %.1f s",
                    what, self._failures, delay)
        self._retry_soon(delay)

    def _retry_soon(self, delay: float) -> None:
        with self._cond:
            self._not_before = time.monotonic() + delay
            self._dirty = True

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, SlackReportWarning, stacklevel=2)
        else:
            logger.info(message)


def _get(response, key: str):
    try:
        return response.get(key)
    except Exception:  # noqa: BLE001
        return None


def _retry_after(response) -> float:
    headers = getattr(response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value if not isinstance(value, list) else value[0]))
            except (TypeError, ValueError):
                break
    return 1.0
