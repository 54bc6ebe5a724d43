"""One Slack message that a background worker keeps showing the newest text.

The message is posted once with ``chat.postMessage`` and then edited with
``chat.update`` on the channel ID and ``ts`` that the post returned.  Callers
never wait on Slack: :meth:`LiveMessage.touch` only flags that a newer text
exists; a :class:`~chainer_slack_report.transport.worker.LatestWorker` renders the
newest text when :class:`~chainer_slack_report.transport.pacing.Pacing` allows a request
(intermediate texts are never even built), skips a text identical to the one
Slack already shows, and keeps one request in flight at most.

What Slack's answer means is decided by
:func:`~chainer_slack_report.transport.slack_errors.classify_exception`; this module
acts on it: wait and send less often (429), back off (transient faults), post
a new message that continues the old one (it can no longer be edited), send a
shorter text (``msg_too_long``), or stop for good (a configuration error, with
one warning that names the fix).

In the blocks layout each request also carries the newest ``blocks`` (the text
stays, as the notification fallback).  If Slack refuses them
(:attr:`~.slack_errors.Action.DROP_BLOCKS`), or they cannot be rendered, one warning names why and
the message goes on as text alone; a text-only edit of a message that showed
blocks sends ``blocks=[]``, since ``chat.update`` keeps a message's blocks when
none are given (python-slack-sdk#523).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Callable, Optional, Sequence

from ..warning import UserSite, pointing_at, warn
from .budget import RunBudget
from .pacing import Pacing
from .slack_errors import CHANNEL_ERRORS, TOKEN_ERRORS, Action, Verdict, classify_exception
from .worker import LatestWorker, StopSending

__all__ = ["LiveMessage", "CONTINUATION_NOTE"]

logger = logging.getLogger(__name__)

#: First line of a message that replaces one that can no longer be edited.
CONTINUATION_NOTE = "_(continues an earlier message that can no longer be edited)_\n"
_MIN_BYTES = 400  # below this a msg_too_long budget cut is not worth it
#: A request the client gave up on (a timeout, a dropped connection) may still be applied
#: by Slack: for this many times the client's timeout after that, the final text may be
#: overwritten by it, so it is sent again once this has passed.  (Slack documents no bound;
#: this is a judgment: three times what the answer itself was allowed.)
LATE_REQUEST_FACTOR = 3.0
_PARENT_POLL = 0.2  # seconds between two looks for the thread a post waits for


class LiveMessage:
    """A Slack message kept up to date by a background worker.

    Args:
        client (slack_sdk.WebClient): Used only from the worker thread.
        channel (str): Channel ID (``C…``) or name for ``chat.postMessage``;
            updates use the channel ID it returns.
        render (callable): ``render(max_bytes: int) -> str``, called on the
            worker to build the newest text within ``max_bytes`` UTF-8 bytes.
        render_blocks (callable or None): ``render_blocks(prefix: str) ->
            list[dict]``, called on the worker to build the newest Block Kit
            ``blocks`` (``prefix``: mrkdwn to show first, or ``""``); they are
            sent with the text until Slack refuses them or it raises.  None:
            text alone.
        max_bytes (int): Byte budget of the text (``chat.update`` documents
            ``msg_too_long`` at 4,000 characters; 4000 bytes is within it).
        pacing (Pacing): When requests may start; Slack's answers adjust it.
        prepare (list of callables): ``fn(client)`` run on the worker before
            the first post (e.g. user-name look-ups); they must not raise.
        refresh_after (float or None): Seconds after which the text is sent
            again with no :meth:`touch` (for a clock in it); None: never.
        name (str): Names the worker thread.
        channel_id (str or None): With ``ts``: an existing message to continue
            (e.g. after resuming from a snapshot) instead of posting a new one.
        ts (str or None): That message's ``ts``.
        budget (RunBudget or None): A rate budget shared with the other runs
            of this token on this host; every request asks it first (final
            updates and thread replies with priority), tells it of 429s and
            successes, and intermediate updates keep to its fair interval.
        on_posted (callable or None): ``on_posted(channel_id, ts)``, called on
            the worker each time a message is posted (the first, or one that
            continues a message that can no longer be edited); must not raise.
        on_sent (callable or None): ``on_sent()``, called on the worker each time
            Slack took a post or an update of the message (what the last
            rendering showed is in Slack); must not raise.
        site (UserSite or None): The user's line that the worker's warnings
            point at (:func:`~chainer_slack_report.warning.user_site`, e.g. the
            report's constructor call).
        thread_ts (callable or None): ``thread_ts() -> str or None``, asked on
            the worker before each post of the message: the ``ts`` of a message
            whose thread it is posted in (a sweep's board), ``""`` to post it
            top-level, None while that is not known yet (the post waits).  None
            (the default): top-level.

    A message continued from ``channel_id`` and ``ts`` may show blocks (those
    of the run, for a watchdog): its first text-only update clears them.
    """

    def __init__(self, client, channel: str, render: Callable[[int], str], *,
                 render_blocks: Optional[Callable[[str], list]] = None, pacing: Pacing,
                 max_bytes: int = 4000, prepare: Sequence[Callable] = (),
                 refresh_after: Optional[float] = None, name: str = "SlackReport",
                 channel_id: Optional[str] = None, ts: Optional[str] = None,
                 budget: Optional[RunBudget] = None,
                 on_posted: Optional[Callable[[str, str], None]] = None,
                 on_sent: Optional[Callable[[], None]] = None,
                 site: Optional[UserSite] = None,
                 thread_ts: Optional[Callable[[], Optional[str]]] = None) -> None:
        self._client = client
        self._site = site
        self._channel = channel
        self._render = render
        self._render_blocks = render_blocks
        self.pacing = pacing
        self.budget = budget
        self.max_bytes = max_bytes
        self._prepare = list(prepare)
        self._on_posted = on_posted
        self._on_sent = on_sent
        self._thread_ts = thread_ts
        self.channel_id: Optional[str] = channel_id if ts else None  #: from chat.postMessage
        self.ts: Optional[str] = ts if channel_id else None  #: the live message's ts
        self.final_text: Optional[str] = None  #: the last final text rendered
        self.posts = 0  #: messages posted with chat.postMessage (thread replies not counted)
        self.updates = 0  #: successful chat.update calls
        self.replies = 0  #: thread replies posted
        self.requests = 0  #: every request sent
        self.uploads = 0  #: files uploaded into the thread
        self._replies: deque = deque()  # thread replies to post once the text is shown
        self._posted = threading.Event()  # ts and channel_id are known
        self._files: list = []  # paths to upload into the thread after the final text
        self._final_shown = False  # the final text is in Slack; the reply may follow
        self._sent: Optional[tuple] = None  # the (text, blocks) Slack shows
        self._clear_blocks = self.ts is not None  # Slack may show blocks a text edit must clear
        self._prefix = ""
        self._unanswered_at: Optional[float] = None  # a request went unanswered then
        self._resend_at: Optional[float] = None  # the final text again, then
        self._late_window = LATE_REQUEST_FACTOR * float(getattr(client, "timeout", 10) or 10)
        self._warned: set = set()
        self._worker = LatestWorker(self._send, self._ready_at, refresh_after=refresh_after,
                                    name=f"{name}-worker", on_end=self._leave_budget)

    # -- caller side (training thread) ---------------------------------------------
    def start(self) -> None:
        """Start the worker; it posts the first text as soon as it can.

        The run counts in the shared budget from the worker's first ask (for
        the first post) until it ends: the budget (perhaps a Redis server) is
        asked on the worker thread only, never on the caller's.
        """
        self._worker.start()

    def touch(self) -> None:
        """A newer text exists.  Never blocks on Slack."""
        self._worker.touch()

    def reply(self, text: Callable[[], str]) -> None:
        """Post a reply in the message's thread once the current text is shown.

        Args:
            text: Builds the reply's text (mrkdwn) when it is sent.  Replies
                are posted in order; a thread reply notifies the people it
                mentions, an edit does not.
        """
        self._replies.append(text)
        self._worker.touch()

    def close(self, reply: Optional[Callable[[], str]] = None,
              files: Sequence[str] = ()) -> None:
        """Stop intermediate updates and deliver the final text from now on.

        Args:
            reply: Builds the text of a thread reply posted after the final
                update (e.g. the one that notifies ``finish_mentions``).
            files: Paths of files (e.g. plots) to upload into the thread
                after that, with slack_sdk's ``files_upload_v2``
                (``files.getUploadURLExternal`` → upload →
                ``files.completeUploadExternal``; scope ``files:write``).  An
                upload that fails gives one warning and harms nothing else.
        """
        if reply is not None:
            self._replies.append(reply)
        self._files = list(files)
        self._worker.close()

    def wait_posted(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` seconds until the message exists (``ts`` is known)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.ts is None and not self._worker.ended:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self._posted.wait(0.05 if left is None else min(0.05, left))
        return self.ts is not None

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` seconds; True once Slack has the final text (and reply)."""
        return self._worker.wait(timeout)

    def abandon(self) -> None:
        """Give up delivering the final text."""
        self._worker.abandon()

    @property
    def client(self):
        """The ``slack_sdk.WebClient`` it calls Slack with."""
        return self._client

    @property
    def layout(self) -> str:
        """``"blocks"`` while blocks are sent, ``"text"`` otherwise (also after Slack
        refused them)."""
        return "text" if self._render_blocks is None else "blocks"

    @property
    def stopped(self) -> Optional[str]:
        """Why Slack refused for good (an error code), or None while it may still work."""
        stop = self._worker.stopped
        return None if stop is None else str(stop)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._worker.closing

    @property
    def ended(self) -> bool:
        """True once the worker has ended: delivered, stopped or abandoned."""
        return self._worker.ended

    @property
    def delivered(self) -> bool:
        """True once Slack has the final text (and the thread reply, if any)."""
        return self._worker.delivered

    # -- worker thread -------------------------------------------------------------
    def _leave_budget(self) -> None:
        """This run makes no more calls: its share of the budget goes to the others."""
        if self.budget is not None:
            self.budget.leave()

    def _ready_at(self, final: bool) -> float:
        return self.pacing.ready_at(final=final)

    def _send(self, final: bool) -> bool:
        """Render the newest text and show it in Slack; True when Slack shows it."""
        while self._prepare:
            with pointing_at(self._site):  # e.g. a name in finish_mentions not found
                self._prepare.pop(0)(self._client)
        if final and self._resend_at is not None and time.monotonic() >= self._resend_at:
            self._resend_at = None  # an earlier request may have landed over it: again
            self._final_shown, self._sent = False, None
        if not (final and self._final_shown):
            if not self._show(final):
                return False
            self._final_shown = final
            if final:
                self._resend_at = self._late_until()
        while self._replies:
            if not self._post_reply(self._replies[0]()):
                return False
            self._replies.popleft()
        if final and self._files:
            files, self._files = self._files, []
            self._upload(files)
        if final and self._resend_at is not None:  # delivered once that time has passed
            self.pacing.hold(self._resend_at - time.monotonic())
            return False
        return True

    def _late_until(self) -> Optional[float]:
        """While a request that went unanswered may still be applied after the final text
        just shown: the ``time.monotonic()`` time from which it cannot; else None."""
        if self._unanswered_at is None:
            return None
        until = self._unanswered_at + self._late_window
        return until if until > time.monotonic() else None

    def _upload(self, paths: Sequence[str]) -> None:
        """Upload ``paths`` into the thread in one ``files_upload_v2`` call (best effort)."""
        present = [p for p in paths if os.path.isfile(p)]
        missing = sorted(set(paths) - set(present))
        if missing:
            self._warn("upload-missing", f"files to upload do not exist (yet): "
                                         f"{', '.join(missing)}")
        if not present:
            return
        uploads = [{"file": path, "title": os.path.basename(path)} for path in present]
        self.requests += 1
        try:
            self._client.files_upload_v2(channel=self.channel_id, thread_ts=self.ts,
                                         file_uploads=uploads)
        except Exception as exc:  # noqa: BLE001 - an upload never harms the report
            error = classify_exception(exc).error
            hint = (" Add the files:write scope under OAuth & Permissions and reinstall the "
                    "app." if error == "missing_scope" else "")
            self._warn("upload", f"could not upload {', '.join(map(os.path.basename, present))} "
                                 f"into the thread (Slack: {error}).{hint} The report itself "
                                 f"is complete.")
            return
        self.uploads += len(present)

    def _show(self, final: bool) -> bool:
        """Post or update the newest text; True when Slack shows it."""
        budget = self.max_bytes - len(self._prefix.encode("utf-8"))
        text = self._prefix + self._render(budget)
        if final:
            self.final_text = text
        blocks = self._blocks()
        if (text, blocks or None) == self._sent and self.ts is not None:
            return True
        if self.ts is None:
            parent = self._thread_ts() if self._thread_ts is not None else ""
            if parent is None:  # the thread to post in is not known yet
                self.pacing.hold(_PARENT_POLL)
                return False
            response = self._request("chat.postMessage", final, channel=self._channel,
                                     text=text, unfurl_links=False, unfurl_media=False,
                                     **({"blocks": blocks} if blocks else {}),
                                     **({"thread_ts": parent} if parent else {}))
            if response is None:
                return False
            self.channel_id, self.ts = response["channel"], response["ts"]
            self.posts += 1
            self._posted.set()
            if self._on_posted is not None:
                self._on_posted(self.channel_id, self.ts)
        else:
            response = self._request("chat.update", final, channel=self.channel_id,
                                     ts=self.ts, text=text,
                                     **({} if blocks is None else {"blocks": blocks}))
            if response is None:
                return False
            self.updates += 1
        self._sent = (text, blocks or None)  # blocks=[] left none
        self._clear_blocks = bool(blocks)
        if self._on_sent is not None:
            self._on_sent()
        return True

    def _blocks(self) -> Optional[list]:
        """The blocks to send: the newest rendering; ``[]`` to clear the blocks Slack may
        still show; None to leave them out."""
        render = self._render_blocks
        if render is not None:
            try:
                return render(self._prefix)
            except Exception as exc:  # noqa: BLE001 - the text layout goes on without them
                self._text_only(f"SlackReport could not render the blocks layout "
                                f"({type(exc).__name__}: {exc})")
        return [] if self._clear_blocks else None

    def _text_only(self, why: str) -> None:
        """Send the text layout alone from now on (one warning saying ``why``)."""
        self._render_blocks = None
        self._warn("blocks", f"{why}; the message goes on in the text layout for the rest of "
                             f"the run, with every row")

    def _post_reply(self, text: str) -> bool:
        response = self._request("chat.postMessage", True, channel=self.channel_id,
                                 thread_ts=self.ts, text=text, unfurl_links=False,
                                 unfurl_media=False)
        if response is None:
            return False
        self.replies += 1
        return True

    def _request(self, method: str, priority: bool, **kwargs):
        """One API call; the response, or None if it was not made or failed.

        Args:
            method: ``"chat.postMessage"`` or ``"chat.update"``.
            priority: A final update or a thread reply (may use the shared
                budget's reserve, and is not held to the fair interval).
        """
        budget, channel = self.budget, kwargs["channel"]
        if budget is not None:
            wait = budget.wait(method, channel, priority=priority)
            if wait > 0:
                self.pacing.hold(wait, final=priority)
                return None
        self.requests += 1
        try:
            response = getattr(self._client, method.replace(".", "_"))(**kwargs)
        except Exception as exc:  # noqa: BLE001 - SlackApiError, urllib, socket, timeouts
            verdict = classify_exception(exc)
            if not verdict.answered and method == "chat.update":  # Slack may apply it later
                self._unanswered_at = time.monotonic()
            if budget is not None and verdict.action is Action.RATE_LIMITED:
                budget.rate_limited(method, channel, verdict.retry_after or 0.0)
            self._on_failure(verdict)
            return None
        if self.pacing.failures:
            logger.info("Slack answers again after %d failed attempts", self.pacing.failures)
        if budget is not None:
            budget.succeeded(method, channel)
            if method == "chat.update":
                self.pacing.floor = budget.update_interval()
        self.pacing.on_success()
        return response

    def _on_failure(self, verdict: Verdict) -> None:
        error = verdict.error
        if verdict.action is Action.RATE_LIMITED:
            self.pacing.on_rate_limited(verdict.retry_after or 0.0)
            self._warn("ratelimited", f"Slack rate-limited SlackReport (Retry-After "
                                      f"{verdict.retry_after:g} s); waiting, and sending at "
                                      f"most one update every {self.pacing.interval:.1f} s "
                                      f"for now")
        elif verdict.action is Action.REPOST:
            self._warn(error, f"Slack answered {error!r} for the live message (ts "
                              f"{self.ts} in channel {self.channel_id}); posting a new "
                              f"message that continues it")
            self.ts = None
            self._sent = None
            self._final_shown = False
            self._prefix = CONTINUATION_NOTE
            self.pacing.retry_now()
        elif verdict.action is Action.DROP_BLOCKS:
            self._text_only(f"Slack refused the blocks layout ({error}: "
                            f"{verdict.hint or 'Slack gave no reasons'})")
            self.pacing.retry_now()
        elif verdict.action is Action.SHORTEN and self.max_bytes * 3 // 4 >= _MIN_BYTES:
            self.max_bytes = self.max_bytes * 3 // 4
            self._warn(error, f"Slack answered 'msg_too_long'; the message budget is now "
                              f"{self.max_bytes} bytes")
            self.pacing.retry_now()
        elif verdict.action in (Action.STOP, Action.SHORTEN):
            hint = verdict.hint or "the message cannot be shortened further"
            self._warn(error, f"Slack answered {error!r}{self._at_fault(verdict)}: {hint}. "
                              f"SlackReport stops calling Slack for this run and reports "
                              f"locally instead.")
            raise StopSending(error)
        else:
            delay = self.pacing.on_failure()
            if not verdict.known:
                self._warn(error, f"Slack answered {error!r}; retrying with backoff")
            self._warn("transient", f"Slack is unreachable or failing ({error}); training "
                                    f"goes on and SlackReport retries with backoff")
            logger.info("Slack request failed (%s); retry %d in %.1f s", error,
                        self.pacing.failures, delay)

    def _at_fault(self, verdict: Verdict) -> str:
        """What the refusal is about, as a warning names it: the channel given, the
        scope Slack says is missing, or the token (never shown)."""
        if verdict.error in CHANNEL_ERRORS:
            given = self._channel
            found = f" ({self.channel_id})" if self.channel_id not in (None, given) else ""
            return f" for channel {given!r}{found}"
        if verdict.error == "missing_scope":
            return f" (scope needed: {verdict.needed})" if verdict.needed else ""
        if verdict.error in TOKEN_ERRORS:
            return " for the bot token (access_token, or SLACK_BOT_TOKEN)"
        return ""

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn(message, site=self._site)
        else:
            logger.info(message)
