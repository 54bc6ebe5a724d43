"""How the message reaches Slack: what Slack's answers mean, when the next request may go,
the background worker, the live message, and the rate budget shared by every run of a
token.  No rendering here, and no framework."""
