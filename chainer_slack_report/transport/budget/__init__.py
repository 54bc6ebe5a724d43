"""A Slack rate budget shared by every run that uses the same token: on a host, or in Redis.

Slack counts Web API rate limits per method, per app, per workspace (Slack's
"Rate limits" page, https://docs.slack.dev/apis/web-api/rate-limits), so runs
that pace themselves alone exceed them together; every run asks this budget
before each call.  How the budget is shared and kept is on the "Rate limits
and parallel runs" page of the docs (``docs/rate-limits.md``).

Modules:

* :mod:`.limits` — :class:`Limit` and Slack's limits :data:`CHAT_UPDATE`,
  :data:`CHAT_POST_MESSAGE`;
* :mod:`.rank` — :class:`Rank`, which waiting call a freed slot goes to;
* :mod:`.state` — the state (runs, buckets) as typed objects, and its JSON file form;
* :mod:`.store` — where the state lives on a host (a locked file, or this process's memory);
* :mod:`.store_url` — which Redis server, if any, the runs share (``store=``,
  ``$CHAINER_SLACK_REPORT_STORE``), its URL shown without the password;
* :mod:`.redis_store` — the state in Redis, for the runs of every host;
* :mod:`.shared` — :class:`SharedBudget` and :class:`RunBudget`, the logic.
"""

from .limits import CHAT_POST_MESSAGE, CHAT_UPDATE, Limit
from .rank import Rank
from .shared import RunBudget, SharedBudget
from .store import STATE_DIR_ENV, default_state_dir
from .store_url import STORE_ENV, StoreURL, store_url

__all__ = ["Limit", "CHAT_UPDATE", "CHAT_POST_MESSAGE", "SharedBudget", "RunBudget", "Rank",
           "STATE_DIR_ENV", "default_state_dir", "STORE_ENV", "StoreURL", "store_url"]
