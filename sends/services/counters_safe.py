"""Counter updates that never make a webhook fail: Plivo would retry it, and fail again, for ever."""

import structlog
from django.db import IntegrityError

from sends.services.counters import campaign_counters_add, campaign_counters_rebuild

log = structlog.get_logger(__name__)


def campaign_counters_add_or_rebuild(*, campaign_id: int, **changes) -> None:
    """campaign_counters_add; if the counters had drifted (a delta would take one below zero), recount them.

    campaign_counters_add runs in its own savepoint, so the caller's transaction survives the failure, and
    the recount already includes the caller's changes to its sends.
    """
    try:
        campaign_counters_add(campaign_id=campaign_id, **changes)
    except IntegrityError:
        log.warning("campaign_counters_drifted", campaign_id=campaign_id, changes=str(changes))
        campaign_counters_rebuild(campaign_id=campaign_id)
