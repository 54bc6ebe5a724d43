"""The extensions for each training framework: thin glue around
:class:`~chainer_slack_report.run_report.RunReport`.

``chainer`` is Chainer's trainer extension (public as
``chainer_slack_report.SlackReport``), ``ppe`` pytorch-pfn-extras' (public as
``chainer_slack_report.ppe.SlackReport``); each framework's internals that they
touch are in one small compat module of its own.
"""
