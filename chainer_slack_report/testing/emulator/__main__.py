"""``python -m chainer_slack_report.testing.emulator``: serve an emulator until SIGTERM/SIGINT."""

import sys

from .process import main

sys.exit(main())
