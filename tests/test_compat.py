"""The Chainer internals the Chainer flavour relies on (flavours/chainer_compat.py), checked
against the installed Chainer: if a Chainer release moved them, these fail first."""

from __future__ import annotations

import os

import pytest
from chainer.training import extensions
from conftest import make_trainer

from chainer_slack_report.flavours import chainer_compat


def test_plot_report_files_are_the_trainers_plotreport_images(tmp_path):
    trainer = make_trainer(None, out=str(tmp_path), extra=[
        extensions.PlotReport(["main/loss"], "epoch", filename="loss.png"),
        extensions.PlotReport(["main/accuracy"], "epoch", filename="acc.png"),
        extensions.PrintReport(["epoch"])])
    assert chainer_compat.plot_report_files(trainer) == [
        os.path.join(str(tmp_path), "loss.png"), os.path.join(str(tmp_path), "acc.png")]


def test_log_report_of_a_named_and_an_owned_logreport(tmp_path):
    trainer = make_trainer(None, out=str(tmp_path))
    named = extensions.PrintReport(["epoch"])
    assert chainer_compat.log_report_of(named, trainer) == (
        trainer.get_extension("LogReport"), False)
    own = extensions.LogReport(log_name=None)
    assert chainer_compat.log_report_of(extensions.PrintReport(["epoch"], log_report=own),
                                        trainer) == (own, True)
    with pytest.raises(ValueError):
        chainer_compat.log_report_of(extensions.PrintReport(["epoch"], log_report="Nope"),
                                     trainer)
