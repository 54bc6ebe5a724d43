"""One training process for the parallel-runs test.

Usage: SLACK_BOT_TOKEN=… python train_one.py BASE_URL CHANNEL RUN_NAME
Trains the tiny model of conftest.py for a few epochs with a SlackReport whose
``{args}`` (and so its message) carries RUN_NAME, then prints the ts it used.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import ENTRIES, make_trainer  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from chainer_slack_report import SlackReport  # noqa: E402

base_url, channel, run_name = sys.argv[1:4]
client = WebClient(os.environ["SLACK_BOT_TOKEN"], base_url=base_url)
report = SlackReport(None, channel, ENTRIES, client=client,
                     min_interval=0.02, template="{status} {args}\n{content}")
trainer = make_trainer(report, epochs=8, log_trigger=(1, "iteration"))
trainer.run()
print(report.live.ts, report.live.updates)
