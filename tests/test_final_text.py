"""A final text is never overwritten, and a resumed run continues its one message."""

from __future__ import annotations

import os

import pytest
from chainer import serializers, training
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


def test_an_update_that_went_unanswered_and_landed_after_the_final_text_is_overwritten_again(
        slack_emulator):
    import threading

    from conftest import wait_until

    gate = threading.Event()
    held = {"armed": False, "held": 0}

    def latency(method):  # the armed chat.update is applied only once the gate opens
        if method == "chat.update" and held["armed"]:
            held["armed"] = False
            held["held"] += 1
            gate.wait(60)
        return 0.0

    slack_emulator.latency = latency
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(timeout=1),
                         min_interval=0.0, flush_timeout=30.0)

    class Arm(training.Extension):  # epoch 2's update is held by "Slack", in flight at the end
        trigger = (1, "epoch")
        priority = training.PRIORITY_WRITER + 1  # before the report

        def __call__(self, trainer):
            if trainer.updater.epoch == 2:
                held["armed"] = True
            elif trainer.updater.epoch == 3:
                assert wait_until(lambda: held["held"] == 1, timeout=30)

    def open_when_final():
        assert wait_until(lambda: slack_emulator.messages("general")
                          and slack_emulator.messages("general")[0].text.startswith(
                              "[Completed]"), timeout=30)
        gate.set()  # the held update lands now, after the final text

    opener = threading.Thread(target=open_when_final, daemon=True)
    opener.start()
    make_trainer(report, epochs=3, extra=[Arm()]).run()
    opener.join(30)
    assert held["held"] == 1
    (message,) = slack_emulator.messages("general")
    shown = [h.split()[0] for h in message.history]
    first_final = shown.index("[Completed]")
    assert "[Training]" in shown[first_final:]  # the late request did overwrite it...
    assert message.text.startswith("[Completed]")  # ...and the final text came again
    assert report.report.delivered
