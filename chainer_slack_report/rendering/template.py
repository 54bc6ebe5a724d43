"""The ``template=`` format string of a report message.

A template follows :meth:`str.format_map`: ``{name}``, ``{name:spec}``,
``{name!r}``, ``{{`` and ``}}``.  Unlike ``str.format_map``, a placeholder whose
name has no value is not an error: it is kept in the output exactly as it was
written (format spec, conversion, attribute and index forms, and a bare ``{}``
included).  Every substituted value is escaped for Slack mrkdwn unless it is
already :class:`~chainer_slack_report.rendering.mrkdwn.Mrkdwn`; the template's own text is
the user's and is sent as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

from .mrkdwn import Mrkdwn, escape

__all__ = ["Template", "Field"]

_CONVERSIONS = {"r": repr, "s": str, "a": ascii}


@dataclass(frozen=True)
class Field:
    """One ``{…}`` placeholder.

    Attributes:
        name (str): The field name, e.g. ``"main/loss"`` (``""`` for ``{}``).
        conversion (str or None): ``"r"``, ``"s"``, ``"a"`` or ``None``.
        spec (str): The format spec after ``:`` (may itself hold placeholders).
        raw (str): The placeholder exactly as written, braces included.
    """

    name: str
    conversion: Union[str, None]
    spec: str
    raw: str


Part = Union[str, Field]


class Template:
    """A parsed message template.

    Args:
        source (str): The format string.

    Raises:
        TypeError: ``source`` is not a ``str``.
        ValueError: The braces do not pair up (a single ``}``, an unclosed
            ``{``) or a conversion is not ``!r``, ``!s`` or ``!a``; the message
            gives the position.
    """

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            raise TypeError(
                f"template must be a str (a str.format_map format string), "
                f"got {type(source).__name__}")
        self.source = source
        self.parts: tuple[Part, ...] = tuple(_parse(source))

    @property
    def fields(self) -> tuple[Field, ...]:
        """All placeholders in order of appearance (nested specs not included)."""
        return tuple(p for p in self.parts if isinstance(p, Field))

    @property
    def names(self) -> frozenset[str]:
        """The names of all placeholders, nested ones in format specs included."""
        names = set()
        for field in self.fields:
            names.add(field.name)
            if "{" in field.spec:
                names |= Template(field.spec).names
        return frozenset(names)

    def count(self, name: str) -> int:
        """How many times ``{name…}`` appears at the top level."""
        return sum(1 for f in self.fields if f.name == name)

    def render(self, values: Mapping[str, object]) -> str:
        """Fill in the placeholders.

        Args:
            values: Placeholder name → value.  Values are formatted with the
                placeholder's conversion and spec, then escaped for mrkdwn
                unless they are :class:`Mrkdwn`.  A value whose spec does not
                apply (``{loss:.3f}`` given a string) is shown with ``str``.

        Returns:
            str: The text; placeholders without a value are kept as written.
        """
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_render_field(part, values))
        return "".join(out)


def _render_field(field: Field, values: Mapping[str, object]) -> str:
    if field.name not in values:
        return field.raw
    value = values[field.name]
    spec = field.spec
    if "{" in spec:
        nested = Template(spec)
        if not nested.names <= set(values):
            return field.raw
        spec = nested.render({k: Mrkdwn(str(v)) for k, v in values.items()})
    if field.conversion:
        value = _CONVERSIONS[field.conversion](value)
    try:
        text = format(value, spec)
    except (ValueError, TypeError):
        text = str(value)
    return Mrkdwn(text) if isinstance(value, Mrkdwn) else escape(text)


def _parse(source: str):
    """Yield literal strings and :class:`Field` objects of ``source``."""
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == "}":
            if source.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise ValueError(
                f"template has a single '}}' at position {i}; write '}}}}' for a "
                f"literal brace: {source!r}")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        if source.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = _closing_brace(source, i)
        if literal:
            yield "".join(literal)
            literal = []
        yield _field(source[i:end + 1], i, source)
        i = end + 1
    if literal:
        yield "".join(literal)


def _closing_brace(source: str, start: int) -> int:
    depth = 0
    for j in range(start, len(source)):
        if source[j] == "{":
            depth += 1
        elif source[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(
        f"template has an unclosed '{{' at position {start}; write '{{{{' for a "
        f"literal brace: {source!r}")


def _field(raw: str, position: int, source: str) -> Field:
    inner = raw[1:-1]
    # The name ends at the first '!' or ':' outside square brackets, as in
    # str.format ("{a[x:y]}" is one name).
    depth = 0
    cut = len(inner)
    for k, char in enumerate(inner):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char in "!:" and depth == 0:
            cut = k
            break
    name, rest = inner[:cut], inner[cut:]
    conversion = None
    if rest.startswith("!"):
        conversion, rest = rest[1:2], rest[2:]
        if conversion not in _CONVERSIONS or (rest and not rest.startswith(":")):
            raise ValueError(
                f"template placeholder {raw!r} at position {position} has an "
                f"invalid conversion; accepted: !r, !s, !a: {source!r}")
    spec = rest[1:] if rest.startswith(":") else ""
    return Field(name=name, conversion=conversion, spec=spec, raw=raw)
