"""A sweep's board (``board="NAME"``): every run's newest state in one Slack message.

Modules:

* :mod:`.state` — the board's shared state (each run's newest row and heartbeat, the
  board message, the lease) and its rules;
* :mod:`.store` — where that state is kept (the rate budget's kinds of store);
* :mod:`.keeper` — a run's part: its row published, the board kept while it leads.

The board's rendering is :mod:`chainer_slack_report.rendering.board`.
"""
