"""``SlackReport``: Chainer's PrintReport, shown in one live Slack message."""

from __future__ import annotations

import os
import re
import socket
import sys
import warnings
from typing import Optional, Sequence, Union

from chainer.training.extensions import PrintReport

from .live_message import LiveMessage
from .mentions import Mentions, MentionsArg
from .message import (
    BUILTIN_PLACEHOLDERS,
    COMPLETED,
    DEFAULT_TEMPLATE,
    FAILED,
    INTERRUPTED,
    STARTED,
    TRAINING,
    ReportMessage,
    format_error,
    format_header,
)
from .mrkdwn import utf8_len
from .normalizers import Normalizer, make_policy
from .template import Template
from .warning import SlackReportWarning

__all__ = ["SlackReport"]

_TOKEN_PREFIXES = ("xoxb-", "xoxp-", "xoxa-", "xoxe.", "xoxe-", "xoxs-", "xapp-")
_MIN_MAX_BYTES = 200


class _Discard:
    """Where PrintReport's terminal output goes while Slack shows the report."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class SlackReport(PrintReport):
    """Trainer extension that shows PrintReport's table in one live Slack message.

    The message is posted with ``chat.postMessage`` when the trainer starts and
    then edited with ``chat.update``.  A background worker does all the Slack
    calls: :meth:`__call__` only hands over the new LogReport rows.  At the
    end the status becomes ``[Completed]``, ``[Failed]`` (with the exception and
    the end of its traceback) or ``[Interrupted]`` (Ctrl-C), and a reply in the
    message's thread notifies ``finish_mentions`` (edits notify nobody).

    Args:
        access_token (str or None): The bot token (``xoxb-…``, scope
            ``chat:write``; ``users:read`` to resolve user names).  None reads
            ``SLACK_BOT_TOKEN``.  Ignored when ``client`` has a token.
        channel_id (str or None): Channel ID (``C…``) or name.  None reads
            ``SLACK_CHANNEL_ID``.
        entries (list of str): Observation keys to show as table columns.
        template (str): Message layout, a :meth:`str.format_map` string.
            Placeholders: ``{status} {hostname} {pwd} {pwdshort} {cmd} {args}
            {elapsed} {content} {finish_mentions}`` and the latest reported
            value of any observation key (``{main/loss:.4f}``).  A placeholder
            without a value is kept as written (one warning names it).
        finish_mentions (str, list of str or None): Who to notify at the end:
            member IDs (``U…``/``W…``, ``@U…``, ``<@U…>``), ``@here``,
            ``@channel``, user-group IDs (``S…``) or user names (``@alice``).
        len_normalizer (str or callable): Which table rows stay when the
            message would exceed ``max_bytes``: ``"thin_out"`` (evenly spaced
            rows and always the newest), ``"FIFO"`` (drop the oldest),
            ``"LIFO"`` (keep the oldest, stop adding), any case; or
            ``fn(rows: list[str], budget: int) -> list[str]`` given every row
            (escaped, oldest first) and the UTF-8 bytes available to them
            (each row counts one byte more for its newline).
        log_report (str or LogReport): As in PrintReport.
        client (slack_sdk.WebClient or None): A client to use (custom
            ``base_url``, proxy, retry handlers).  By default one is built with
            ``timeout=http_timeout``.
        max_bytes (int): Limit of the whole posted text in UTF-8 bytes;
            default 4000 (Slack's ``chat.update`` documents ``msg_too_long``
            at 4,000 characters).
        min_interval (float): Seconds between two Slack requests in steady
            state; default 1.2 (``chat.update`` is rate-limit Tier 3, ~50/min).
        flush_timeout (float): Seconds :meth:`finalize` waits for the final
            text to reach Slack; otherwise it is written to stderr.
        http_timeout (float): Seconds one HTTP request may take (default
            client only).

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces…).

    Without a token or a channel, one warning is given and the report is
    printed to stdout exactly as PrintReport prints it.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries: Optional[Sequence[str]] = None, template: str = DEFAULT_TEMPLATE,
                 finish_mentions: MentionsArg = None,
                 len_normalizer: Union[str, Normalizer] = "thin_out",
                 log_report="LogReport", client=None, max_bytes: int = 4000,
                 min_interval: float = 1.2, flush_timeout: float = 10.0,
                 http_timeout: float = 10.0) -> None:
        entries = _check_entries(entries)
        _check_number("max_bytes", max_bytes, unit="UTF-8 bytes", integer=True)
        _check_number("min_interval", min_interval, unit="seconds")
        _check_number("flush_timeout", flush_timeout, unit="seconds")
        _check_number("http_timeout", http_timeout, unit="seconds", positive=True)
        template_ = Template(template)
        if max_bytes < _MIN_MAX_BYTES:
            raise ValueError(f"max_bytes must be at least {_MIN_MAX_BYTES} (UTF-8 bytes) to "
                             f"hold a header and a row, got {max_bytes}")
        if client is not None and not callable(getattr(client, "chat_postMessage", None)):
            raise TypeError(f"client must be a slack_sdk.WebClient, got "
                            f"{type(client).__name__}")
        if channel_id is not None and (not isinstance(channel_id, str) or not channel_id.strip()):
            raise ValueError(f"channel_id must be a non-empty str (a channel ID such as "
                             f"C0123456789, or a name), got {channel_id!r}")
        if access_token is not None and not isinstance(access_token, str):
            raise TypeError(f"access_token must be a str or None, got "
                            f"{type(access_token).__name__}")
        mentions = Mentions(finish_mentions)
        policy = make_policy(len_normalizer, max_bytes)

        header_bytes = utf8_len(format_header(entries)) + 2 * len("```\n")
        if header_bytes * 2 > max_bytes:
            raise ValueError(f"max_bytes={max_bytes} cannot hold the table header and a row "
                             f"({header_bytes} bytes for the header of {len(entries)} entries); "
                             f"raise max_bytes or show fewer entries")
        super().__init__(list(entries), log_report=log_report, out=sys.stdout)
        self.max_bytes = max_bytes
        self.min_interval = float(min_interval)
        self.flush_timeout = float(flush_timeout)
        self.message = ReportMessage(template_, entries, policy, _run_info(), mentions)
        self._client = client
        self._channel = (channel_id or os.environ.get("SLACK_CHANNEL_ID") or "").strip()
        self._token = access_token or os.environ.get("SLACK_BOT_TOKEN") or None
        self._http_timeout = http_timeout
        self.live: Optional[LiveMessage] = None
        self._local = False  # True while the report goes to stdout instead of Slack
        self._finalized = False
        self._trainer = None

        unknown = sorted(template_.names - BUILTIN_PLACEHOLDERS - set(entries))
        if unknown:
            warnings.warn(
                f"template placeholders {', '.join(map(_braced, unknown))} are neither "
                f"built in ({', '.join(sorted(BUILTIN_PLACEHOLDERS))}) nor in entries; they "
                f"are kept as written unless an observation of that name is reported",
                SlackReportWarning, stacklevel=2)
        token = self._token or getattr(client, "token", None)
        if token and not token.startswith(_TOKEN_PREFIXES):
            warnings.warn("access_token does not look like a Slack token (a bot token "
                          "starts with xoxb-)", SlackReportWarning, stacklevel=2)
        if not token or not self._channel:
            missing = " and ".join(n for n, v in (("bot token (SLACK_BOT_TOKEN)", token),
                                                  ("channel (SLACK_CHANNEL_ID)", self._channel))
                                   if not v)
            warnings.warn(f"SlackReport has no {missing}: the report is printed to stdout "
                          f"instead", SlackReportWarning, stacklevel=2)
            self._local = True
        else:
            self._out = _Discard()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} channel={self._channel!r} "
                f"entries={self._entries!r}>")

    # -- Chainer extension protocol -------------------------------------------
    def initialize(self, trainer) -> None:
        """Start the worker, which posts the ``[Started]`` message."""
        self._trainer = trainer
        if self._local or self.live is not None:
            return
        self.message.set(status=STARTED, elapsed=_elapsed(trainer))
        mentions = self.message.mentions
        self.live = LiveMessage(
            self._client or self._make_client(), self._channel, self.message.render,
            max_bytes=self.max_bytes, min_interval=self.min_interval,
            prepare=[mentions.resolve] if mentions.names else [],
            name=f"SlackReport-{self._channel}")
        self.live.start()

    def __call__(self, trainer) -> None:
        """Hand the new LogReport rows to the worker (no network I/O here)."""
        self._trainer = trainer
        if not self._local and self.live is not None and self.live.disabled:
            self._go_local()
        super().__call__(trainer)
        if not self._local:
            self.message.set(status=TRAINING, elapsed=_elapsed(trainer))
            if self.live is not None:
                self.live.touch()

    def _print(self, observation) -> None:
        if self.live is not None:  # the final text needs every row, even once local
            self.message.push((observation,))
        if self._local:
            super()._print(observation)

    def on_error(self, trainer, exc, tb) -> None:
        """Record the exception; :meth:`finalize` delivers ``[Failed]``."""
        try:
            self.message.set(status=FAILED, error=format_error(exc, tb),
                             elapsed=_elapsed(trainer))
        except Exception:  # noqa: BLE001 - an extension's on_error must not raise
            pass

    def finalize(self, trainer=None) -> None:
        """Deliver the final status; wait at most ``flush_timeout`` seconds.

        Accepts the trainer (pytorch-pfn-extras passes its manager) but does not
        need it.  If Slack does not have the final text in time, a warning is
        given and the text is written to stderr.  Never raises.
        """
        if self._finalized or self.live is None:
            return
        self._finalized = True
        try:
            self._finalize()
        except Exception as exc:  # noqa: BLE001 - finalize must never raise
            warnings.warn(f"SlackReport could not finalize: {type(exc).__name__}: {exc}",
                          SlackReportWarning, stacklevel=2)

    def _finalize(self) -> None:
        status = self.message.status
        if status != FAILED:
            in_flight = sys.exc_info()[0]
            status = INTERRUPTED if in_flight is not None and issubclass(
                in_flight, KeyboardInterrupt) else COMPLETED
        self.message.set(status=status, elapsed=_elapsed(self._trainer))
        reply = self.message.reply_text if self.message.mentions else None
        if self.live.close(self.flush_timeout, reply=reply):
            return
        text = self.live.final_text or self.message.render(self.live.max_bytes)
        reason = ("Slack rejected the report earlier" if self.live.disabled else
                  f"Slack did not take it within flush_timeout={self.flush_timeout:g} s")
        warnings.warn(f"SlackReport: the final report is written to stderr: {reason}",
                      SlackReportWarning, stacklevel=3)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    # -- helpers ------------------------------------------------------------------
    def _make_client(self):
        from slack_sdk import WebClient

        return WebClient(token=self._token, timeout=self._http_timeout)

    def _go_local(self) -> None:
        """Slack refused us for good: print the whole table to stdout from now on."""
        self._local = True
        self._out = sys.stdout
        self._header = self.message.header + "\n"
        self._log_len = 0


def _check_entries(entries) -> list:
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        raise TypeError(f"entries must be a list of str (observation keys such as "
                        f"'main/loss'), got {type(entries).__name__}")
    if not entries:
        raise ValueError("entries is empty; give the observation keys to show, e.g. "
                         "['epoch', 'main/loss']")
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            raise TypeError(f"entries must be non-empty str, got {entry!r} in {entries!r}")
    return list(entries)


def _check_number(name: str, value, *, unit: str, integer: bool = False,
                  positive: bool = False) -> None:
    expected = "an int" if integer else "a number"
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {expected} ({unit}), got "
                        f"{type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} ({unit}), "
                         f"got {value!r}")


def _elapsed(trainer) -> float:
    """``trainer.elapsed_time`` (seconds, snapshot time included), 0 before ``run``."""
    try:
        return float(trainer.elapsed_time)
    except Exception:  # noqa: BLE001 - not started yet, or not a chainer Trainer
        return 0.0


def _braced(name: str) -> str:
    return "{" + name + "}"


def _run_info() -> dict:
    pwd = os.getcwd()
    home = os.path.expanduser("~")
    pwdshort = "~" + pwd[len(home):] if home not in ("", "/") and (
        pwd == home or pwd.startswith(home + os.sep)) else pwd
    argv = sys.argv or [""]
    return {"hostname": socket.gethostname(), "pwd": pwd, "pwdshort": pwdshort,
            "cmd": argv[0], "args": " ".join(_quote(a) for a in argv[1:])}


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]*", arg) and arg else repr(arg)
