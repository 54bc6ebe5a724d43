"""One report's assembly: the serializable description of a report, and what is built
from it.

A run describes its report once (:class:`ReportDescription`: the entries,
every option of :class:`~chainer_slack_report.options.ReportOptions`, the
run's facts and the client settings that can travel).  :class:`Assembly`
builds from it the message text
(:class:`~chainer_slack_report.rendering.message.ReportMessage`), in the blocks
layout its blocks (:class:`~chainer_slack_report.rendering.blocks.BlocksMessage`),
the live Slack message
(:class:`~chainer_slack_report.transport.live_message.LiveMessage`) and the
run's share of the rate budget — the same way for the run
(:class:`~chainer_slack_report.run_report.RunReport`) and for its watchdog
process (:mod:`~chainer_slack_report.guard.watchdog_main`), which receives the
description as JSON.  So the watchdog's final edit is the run's message with
the final status: the same layout, table, charts and sparklines.

What cannot travel to another process — an ``ssl.SSLContext`` object (its CA
certificates and verification mode do), custom retry handlers, a callable
``len_normalizer`` — is listed by :meth:`ReportDescription.of`; for a callable
``len_normalizer`` the run hands the watchdog the rows it last rendered
(:meth:`Assembly.shown_rows`, :class:`~chainer_slack_report.rendering.normalizers.GivenRows`).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .options import ReportOptions
from .rendering.blocks import TABLE_CAPACITY, BlocksMessage, table_policy
from .rendering.mentions import Mentions
from .rendering.message import ReportMessage
from .rendering.normalizers import CallablePolicy, GivenRows
from .rendering.template import Template
from .transport.budget import Limit, RunBudget
from .transport.client import SLACK_API_URL, run_budget
from .transport.live_message import LiveMessage
from .transport.pacing import Pacing
from .transport.user_lookup import resolve_mentions

__all__ = ["ClientSettings", "ReportDescription", "Assembly"]


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """The settings of a ``slack_sdk.WebClient`` that another process can use (no token).

    Args:
        base_url (str): The Web API base URL (``https://slack.com/api/``).
        timeout (float): Seconds one HTTP request may take.
        proxy (str or None): The proxy URL requests go through.
        headers (dict): Extra request headers (``User-Agent`` among them).
        team_id (str or None): The ``team_id`` sent with every call (an
            org-wide app).
        ssl_verify (bool): False if the client's ``ssl.SSLContext`` verifies
            no certificate.
        ssl_cadata (str or None): The CA certificates loaded into the
            client's ``ssl.SSLContext`` (PEM), to verify Slack (or a proxy)
            with.
    """

    base_url: str = SLACK_API_URL
    timeout: float = 30.0
    proxy: Optional[str] = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    team_id: Optional[str] = None
    ssl_verify: bool = True
    ssl_cadata: Optional[str] = None

    @classmethod
    def of(cls, client) -> Tuple[ClientSettings, List[str]]:
        """The settings of ``client`` (a ``slack_sdk.WebClient``), and what of it cannot
        travel (e.g. ``["custom retry handlers (MyHandler)"]``)."""
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
        from slack_sdk.web.client import WebClient

        lost: List[str] = []
        context = getattr(client, "ssl", None)
        verify, cadata = True, None
        if isinstance(context, ssl.SSLContext):
            verify = context.verify_mode != ssl.CERT_NONE
            certificates = context.get_ca_certs(binary_form=True)
            cadata = "".join(ssl.DER_cert_to_PEM_cert(c) for c in certificates) or None
            lost.append("the ssl.SSLContext object (its CA certificates and verification "
                        "mode travel; client certificates and ciphers do not)")
        standard = {type(h) for h in WebClient().retry_handlers} | {RateLimitErrorRetryHandler}
        custom = sorted({type(h).__name__ for h in getattr(client, "retry_handlers", None) or ()
                         if type(h) not in standard})
        if custom:
            lost.append(f"custom retry handlers ({', '.join(custom)})")
        params = getattr(client, "default_params", None) or {}
        settings = cls(base_url=getattr(client, "base_url", None) or SLACK_API_URL,
                       timeout=float(getattr(client, "timeout", None) or 30.0),
                       proxy=getattr(client, "proxy", None) or None,
                       headers=dict(getattr(client, "headers", None) or {}),
                       team_id=params.get("team_id"), ssl_verify=verify, ssl_cadata=cadata)
        return settings, lost

    def client(self, token: Optional[str]):
        """A new ``slack_sdk.WebClient`` with these settings and ``token``."""
        from slack_sdk import WebClient

        context = None
        if self.ssl_cadata is not None or not self.ssl_verify:
            context = ssl.create_default_context(cadata=self.ssl_cadata)
            if not self.ssl_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        headers = dict(self.headers)
        user_agent = headers.pop("User-Agent", None)
        client = WebClient(token=token, base_url=self.base_url, timeout=self.timeout,
                           proxy=self.proxy, headers=headers, team_id=self.team_id,
                           ssl=context)
        if user_agent is not None:
            client.headers["User-Agent"] = user_agent
        return client


@dataclasses.dataclass(frozen=True)
class ReportDescription:
    """Everything a report shows and how it is sent, as data (JSON: :meth:`to_json`).

    Args:
        channel (str): The channel ID (or name) given.
        entries (tuple of str): The table's columns (observation keys).
        options (dict): Every field of :class:`~.options.ReportOptions` but
            ``client``, as JSON values (``update_limit`` as ``[calls, seconds]``).
        run_info (dict): The run's facts: ``hostname``, ``pwd``, ``pwdshort``,
            ``cmd``, ``args``, ``command``, ``ranks`` (plain text).
        show_header (bool): The table starts with its header row.
        client (ClientSettings): How Slack is called.
        rows_given (bool): ``len_normalizer`` cannot travel (a callable, or a
            row policy object): whoever builds from this description is given
            the rows to show (:meth:`Assembly.give_rows`).
    """

    channel: str
    entries: Tuple[str, ...]
    options: Mapping[str, Any] = dataclasses.field(repr=False)  # store= may hold a password
    run_info: Mapping[str, str]
    show_header: bool = True
    client: ClientSettings = ClientSettings()
    rows_given: bool = False

    @classmethod
    def of(cls, *, channel: str, entries: Sequence[str], options: ReportOptions,
           run_info: Mapping[str, str], show_header: bool = True,
           client=None) -> Tuple[ReportDescription, List[str]]:
        """Describe a report; also what of it cannot travel (names, for one warning).

        Args:
            client (slack_sdk.WebClient or None): The client the run calls
                Slack with (None: the default settings).
        """
        values: Dict[str, Any] = {}
        lost: List[str] = []
        rows_given = not isinstance(options.len_normalizer, str)
        for field in dataclasses.fields(ReportOptions):
            if field.name == "client":
                continue
            value = getattr(options, field.name)
            if field.name == "len_normalizer" and rows_given:
                lost.append(f"len_normalizer={value!r} (the watchdog shows the rows the run "
                            f"last rendered)")
                value = field.default
            values[field.name] = _jsonable(value)
        settings = ClientSettings()
        if client is not None:
            settings, lost_settings = ClientSettings.of(client)
            lost += lost_settings
        description = cls(channel=channel, entries=tuple(entries), options=values,
                          run_info=dict(run_info), show_header=show_header, client=settings,
                          rows_given=rows_given)
        return description, lost

    def report_options(self) -> ReportOptions:
        """The options as a :class:`~.options.ReportOptions` (``client`` None)."""
        return ReportOptions(**self.options)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReportDescription:
        data = json.loads(text)
        data["entries"] = tuple(data["entries"])
        data["client"] = ClientSettings(**data["client"])
        return cls(**data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Limit):
        return [value.calls, value.per]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Assembly:
    """A report's message, its blocks, its live message and budget, built from its
    description: the one way the run and its watchdog build them.

    Args:
        description (ReportDescription): What to build.
        options (ReportOptions or None): The run's own options object (it holds
            what cannot travel: a callable ``len_normalizer``, the user's
            client); None: from the description, the rows to show then given
            by :meth:`give_rows` if ``description.rows_given``.
    """

    def __init__(self, description: ReportDescription,
                 options: Optional[ReportOptions] = None) -> None:
        given = options is None and description.rows_given
        options = options if options is not None else description.report_options()
        self.description = description
        self.options = options
        text_policy = GivenRows(options.max_bytes) if given else options.policy()
        #: The text of the message.
        self.message = ReportMessage(Template(options.template), description.entries,
                                     text_policy, description.run_info,
                                     Mentions(options.finish_mentions),
                                     show_header=description.show_header,
                                     sparklines=options.sparklines)
        #: The blocks layout of the message (``layout="blocks"``), else None.
        self.blocks: Optional[BlocksMessage] = None
        if options.layout == "blocks":
            table = (GivenRows(TABLE_CAPACITY) if given
                     else table_policy(options.len_normalizer))
            self.blocks = BlocksMessage(self.message, table, options.chart)

    def push(self, rows: List[Mapping[str, object]]) -> None:
        """New log rows (O(1) each)."""
        self.message.push(rows)
        if self.blocks is not None:
            self.blocks.push(rows)

    def shown_rows(self) -> Optional[Dict[str, List[str]]]:
        """The rows a callable ``len_normalizer`` last picked (``text``, ``table``), for
        :meth:`give_rows` of another assembly; None for a named one."""
        policies = {"text": self.message.policy,
                    "table": self.blocks.policy if self.blocks is not None else None}
        shown = {name: list(policy.last_shown) for name, policy in policies.items()
                 if isinstance(policy, CallablePolicy)}
        return shown or None

    def give_rows(self, shown: Mapping[str, List[str]]) -> None:
        """Show these rows (from :meth:`shown_rows` of the run's assembly)."""
        for name, policy in (("text", self.message.policy),
                             ("table", self.blocks.policy if self.blocks else None)):
            if isinstance(policy, GivenRows) and name in shown:
                policy.shown = list(shown[name])

    def budget(self, client) -> Optional[RunBudget]:
        """A new share of the host's rate budget for ``client``'s token (None without
        ``update_limit``), in ``store`` when the options name one."""
        limit = self.options.update_limit
        return None if limit is None else run_budget(client, limit, self.options.store,
                                                     channel=self.description.channel)

    def live_message(self, client, *, ref: Optional[Tuple[str, str]] = None,
                     refresh: Optional[float] = None, min_interval: Optional[float] = None,
                     budget: Optional[RunBudget] = None, name: Optional[str] = None,
                     on_posted: Optional[Callable[[str, str], None]] = None,
                     after_render: Optional[Callable[[], None]] = None,
                     site=None,
                     thread_ts: Optional[Callable[[], Optional[str]]] = None) -> LiveMessage:
        """The live Slack message of this report.

        Args:
            client (slack_sdk.WebClient): Calls Slack.
            ref: ``(channel ID, ts)`` of a message to continue, or None to post one.
            refresh: Seconds after which the clock alone edits it (None: never).
            min_interval: Seconds between two requests (None: the option's).
            budget: The rate budget to ask (see :meth:`budget`).
            name: Names the worker thread.
            on_posted: ``on_posted(channel_id, ts)`` on the worker, at each post.
            after_render: Called on the worker after each rendering (e.g. to
                feed a watchdog what the message now shows); must not raise.
            site (UserSite or None): The user's line the live message's warnings
                point at (:func:`~chainer_slack_report.warning.user_site`).
            thread_ts: The thread to post the message in (a sweep's board), see
                :class:`~.transport.live_message.LiveMessage`.
        """
        options = self.options
        render, render_blocks = self.message.render, None
        if self.blocks is not None:
            render_blocks = self.blocks.render
        if after_render is not None:
            if render_blocks is not None:
                render_blocks = _then(render_blocks, after_render)
            render = _then(render, after_render)
        mentions = self.message.mentions
        return LiveMessage(
            client, self.description.channel, render, render_blocks=render_blocks,
            pacing=Pacing(min_interval=options.min_interval if min_interval is None
                          else min_interval),
            max_bytes=options.max_bytes,
            prepare=[lambda c: resolve_mentions(mentions, c)] if mentions.names else [],
            refresh_after=refresh, name=name or f"SlackReport-{self.description.channel}",
            budget=budget, channel_id=ref[0] if ref else None, ts=ref[1] if ref else None,
            on_posted=on_posted, site=site, thread_ts=thread_ts)


def _then(render: Callable, after: Callable[[], None]) -> Callable:
    def rendered(arg):
        try:
            return render(arg)
        finally:
            after()
    return rendered
