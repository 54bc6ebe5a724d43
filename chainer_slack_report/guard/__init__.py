"""Guarding a run: who announces it when the training process cannot.

A watchdog process (:mod:`~chainer_slack_report.guard.watchdog`, its program
:mod:`~chainer_slack_report.guard.watchdog_main`) reports a run that dies
without a final report and keeps the lost-host notice; without one, an
in-process keeper (:mod:`~chainer_slack_report.guard.keeper`) keeps only the
notice.
"""
