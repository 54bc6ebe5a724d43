"""What each Python gets: the Chainer extension on <= 3.11, a clear ImportError after."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import chainer_slack_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = ["run_report", "transport.live_message", "transport.budget", "rendering.message",
        "rendering.normalizers", "rendering.template", "rendering.mrkdwn", "rendering.mentions",
        "assembly", "guard.start", "transport.user_lookup",
        "transport.pacing", "rendering.progress", "job.ranks", "transport.slack_errors",
        "rendering.sparklines", "job.termination", "warning", "transport.worker", "cli",
        "testing", "testing.emulator", "testing.view", "options", "outcome",
        "transport.client", "transport.deliveries", "flavours.base"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Chainer imports on Python <= 3.11")
def test_on_python_3_12_and_later_the_chainer_extension_explains_itself():
    with pytest.raises(ImportError, match=r"Chainer 7\.8\.1.*needs Python <= 3\.11.*"
                                          r"chainer_slack_report\.ppe.*command line"):
        from chainer_slack_report import SlackReport  # noqa: F401
    assert "SlackReport" not in chainer_slack_report.__all__  # import * keeps working


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Chainer 7.8.1 needs Python <= 3.11")
def test_on_python_3_11_and_earlier_the_chainer_extension_imports():
    from chainer_slack_report import SlackReport

    assert SlackReport.__module__ == "chainer_slack_report.flavours.chainer"
    assert "SlackReport" in chainer_slack_report.__all__


def test_the_core_imports_no_chainer_and_no_numpy():
    code = ("import importlib, sys\n"
            f"for name in {CORE!r}:\n"
            "    importlib.import_module('chainer_slack_report.' + name)\n"
            "print(sorted(m for m in ('chainer', 'numpy') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Chainer imports on Python <= 3.11")
def test_on_python_3_12_the_chainer_example_says_why_and_what_to_run_instead():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_digits.py")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr  # the package's ImportError, said plainly
    assert "Chainer 7.8.1" in done.stderr and "examples/train_ppe.py" in done.stderr
