"""A final text is never overwritten, and a resumed run continues its one message."""

from __future__ import annotations

import os

import pytest
from chainer import serializers
from chainer.training import extensions
from conftest import ENTRIES, Boom, make_trainer

from chainer_slack_report import SlackReport


def test_a_run_resumed_from_a_snapshot_taken_before_the_post_was_answered_continues_it(
        slack_emulator, tmp_path):
    # Slack answers the first post late: the snapshot of epoch 1 is taken before
    slack_emulator.latency = lambda method: 1.0 if method == "chat.postMessage" else 0.0

    def build():
        return SlackReport(None, "general", ENTRIES, client=slack_emulator.client(timeout=5),
                           min_interval=0.0, flush_timeout=5.0)

    report = build()
    trainer = make_trainer(report, epochs=4, crash_at=6, out=str(tmp_path), extra=[
        extensions.snapshot(filename="snap_{.updater.iteration}")])
    with pytest.raises(Boom):
        trainer.run()
    assert slack_emulator.calls[0].method == "chat.postMessage"
    slack_emulator.latency = 0.0
    resumed = build()
    trainer = make_trainer(resumed, epochs=4, out=str(tmp_path))
    serializers.load_npz(os.path.join(str(tmp_path), "snap_4"), trainer)
    trainer.run()
    (message,) = slack_emulator.messages("general")  # the same message, no second one
    assert message.text.startswith("[Completed]") and resumed.live.posts == 0
