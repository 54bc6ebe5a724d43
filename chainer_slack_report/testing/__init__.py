"""Testing aids: a local Slack Web API emulator and its pytest fixture.

``SlackEmulator`` is importable without pytest.  The ``slack_emulator``
fixture comes from :mod:`chainer_slack_report.testing.pytest_plugin`, which
pytest loads automatically once this package is installed.
"""

from .emulator import Call, Channel, Message, SlackEmulator

__all__ = ["SlackEmulator", "Message", "Channel", "Call"]
