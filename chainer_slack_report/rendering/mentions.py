"""``finish_mentions``: who is notified when a run ends.

Slack's mention syntax ("Formatting message text"): ``<@U123>`` for a member,
``<!here>``, ``<!channel>``, ``<!everyone>``, ``<!subteam^S123>`` for a user
group.  Names (``"@alice"``) are turned into member IDs with ``users.list``
(scope ``users:read``) on the background worker, by
:mod:`~chainer_slack_report.transport.user_lookup` (rendering calls no Slack).
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Sequence, Union

from .mrkdwn import escape

__all__ = ["Mentions", "MentionsArg"]

MentionsArg = Union[str, Sequence[str], None]

_MEMBER = re.compile(r"^(?:<@|@)?([UW][A-Z0-9]{6,})>?$")
_GROUP = re.compile(r"^(?:<!subteam\^|@)?(S[A-Z0-9]{6,})(?:\|[^>]*)?>?$")
_SPECIAL = re.compile(r"^(?:<!|@)?(here|channel|everyone)(?:\|[^>]*)?>?$", re.IGNORECASE)
# A str is split at commas, and at blanks before "@", "<" or an ID.
_SEPARATOR = re.compile(r"\s*,\s*|\s+(?=[@<]|[UWS][A-Z0-9]{6,}\b)")
_NAME = re.compile(r"^@?([^\s<>@&][^<>&]*)$")


class Mentions:
    """Parsed ``finish_mentions``.

    Args:
        spec (str, list of str or None): Each item is a member ID (``U…`` or
            ``W…``, optionally as ``@U…`` or ``<@U…>``), ``here``, ``channel``
            or ``everyone`` (with or without ``@``, or as ``<!here>``), a
            user-group ID (``S…``, ``@S…`` or ``<!subteam^S…>``), or a user
            name (``@alice`` or ``alice``; ``@Bob Smith``) to look up with
            ``users.list``.  A str holds one or more items separated by
            commas; a blank also separates items when the next one starts
            with ``@`` or ``<`` or is an ID (``U…``, ``W…``, ``S…``), so
            ``"@Bob Smith"`` is one name and ``"@alice @bob U0123456"`` three
            items.

    Raises:
        TypeError: ``spec`` is not a str, a list/tuple of str, or None.
        ValueError: An item is empty or not one of the accepted forms.
    """

    def __init__(self, spec: MentionsArg) -> None:
        self.tokens: List[str] = []  # mrkdwn, or "name:<name>" while unresolved
        self._resolved: Dict[str, str] = {}
        for item in _items(spec):
            self.tokens.append(_parse(item))

    def __bool__(self) -> bool:
        return bool(self.tokens)

    @property
    def names(self) -> List[str]:
        """User names still to look up."""
        return [t[5:] for t in self.tokens if t.startswith("name:")]

    def render(self) -> str:
        """The mentions as mrkdwn; names not (yet) resolved show as ``@name``."""
        out = []
        for token in self.tokens:
            if token.startswith("name:"):
                name = token[5:]
                user_id = self._resolved.get(name.lower())
                out.append(f"<@{user_id}>" if user_id else escape("@" + name))
            else:
                out.append(token)
        return " ".join(out)

    def use(self, user_ids: Mapping[str, str]) -> None:
        """Show these member IDs for the names (``{name, lower case: "U…"}``, looked up by
        :func:`~chainer_slack_report.transport.user_lookup.resolve_mentions`)."""
        for name, user_id in user_ids.items():
            self._resolved.setdefault(name.lower(), user_id)


def _items(spec: MentionsArg) -> List[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        items = [s for s in _SEPARATOR.split(spec.strip()) if s]
        if not items:
            raise ValueError("finish_mentions is an empty str; give None for no mentions")
        return items
    if isinstance(spec, (list, tuple)):
        for item in spec:
            if not isinstance(item, str):
                raise TypeError(
                    f"finish_mentions items must be str, got {type(item).__name__} "
                    f"({item!r})")
        return [s.strip() for s in spec]
    raise TypeError(
        f"finish_mentions must be a str, a list of str or None, got "
        f"{type(spec).__name__}")


def _parse(item: str) -> str:
    if not item:
        raise ValueError("finish_mentions has an empty item")
    for pattern, make in ((_MEMBER, "<@{}>"), (_GROUP, "<!subteam^{}>"),
                          (_SPECIAL, "<!{}>")):
        match = pattern.match(item)
        if match:
            name = match.group(1)
            return make.format(name.lower() if pattern is _SPECIAL else name)
    match = _NAME.match(item)
    if match:
        return "name:" + match.group(1)
    raise ValueError(
        f"finish_mentions item {item!r} is not a member ID (U…/W…, @U…, <@U…>), "
        f"@here/@channel/@everyone, a user-group ID (S…, <!subteam^S…>) or a "
        f"user name (@name)")

