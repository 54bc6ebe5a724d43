"""pytest plugin: the ``slack_emulator`` fixture (registered as an entry point)."""

from __future__ import annotations

from typing import Iterator

import pytest

from .emulator import SlackEmulator


@pytest.fixture
def slack_emulator() -> Iterator[SlackEmulator]:
    """A started :class:`SlackEmulator` on 127.0.0.1 with its defaults, which are Slack's
    (rate limits, Block Kit checks, scopes), stopped after the test."""
    with SlackEmulator() as emulator:
        yield emulator
