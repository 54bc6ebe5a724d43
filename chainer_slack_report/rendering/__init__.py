"""What a run's message says: the table, the template, which rows fit, mrkdwn escaping,
mentions, progress and sparklines.  Pure text: no network, no framework."""
