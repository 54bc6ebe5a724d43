"""Emoji reactions on messages: what ``reactions.add``, ``reactions.get`` and
``reactions.remove`` keep.

The method pages (docs.slack.dev ``reference/methods/reactions.add``, ``.get``,
``.remove``): a reaction is an emoji ``name`` (``thumbsup``, not
``:thumbsup:``) added by a user to a message; a message carries its
``reactions`` as ``{"name", "users", "count"}`` entries in the order they were
first added.  The same user adding the same name twice is ``already_reacted``;
removing one the user did not add is ``no_reaction``; a name that is no emoji
name is ``invalid_name``.

``reactions.get`` always answers the complete list (as with ``full=true``).
The emulator checks the form of a name (lowercase letters, digits, ``_``,
``-``, ``+``, ``'``, optionally a ``::skin-tone-N`` suffix) but not that the
emoji exists in the workspace; the limits on distinct emoji per message
(``too_many_emoji``) and reactions per person (``too_many_reactions``) are
not emulated (their pages name no number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

__all__ = ["Reaction", "valid_name", "add", "remove"]

_NAME = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


@dataclass
class Reaction:
    """One emoji on a message and who added it (member IDs, in order)."""

    name: str
    users: List[str] = field(default_factory=list)

    def as_json(self) -> dict:
        """The entry of a message's ``reactions`` as the Web API returns it."""
        return {"name": self.name, "users": list(self.users), "count": len(self.users)}


def valid_name(name: object) -> bool:
    """Whether ``name`` has the form of an emoji name (without colons)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def add(reactions: List[Reaction], name: str, user: str) -> Optional[str]:
    """Add ``user``'s ``name`` to a message's ``reactions``; the error, or None."""
    found = next((r for r in reactions if r.name == name), None)
    if found is None:
        reactions.append(Reaction(name, [user]))
        return None
    if user in found.users:
        return "already_reacted"
    found.users.append(user)
    return None


def remove(reactions: List[Reaction], name: str, user: str) -> Optional[str]:
    """Take ``user``'s ``name`` off a message's ``reactions``; the error, or None."""
    found = next((r for r in reactions if r.name == name), None)
    if found is None or user not in found.users:
        return "no_reaction"
    found.users.remove(user)
    if not found.users:
        reactions.remove(found)
    return None
