"""Launch and fan-out: a due campaign becomes one CampaignSend per person in its audience, set-based.

Eligible people get a `queued` send, everyone else a `skipped` one with the reason (the rules are
campaigns.selectors.campaign_audience), so staff see why the audience shrank. The rows are written by
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` inside the database, never one ORM call per row; the
conflict clause makes a repeated fan-out a no-op. The launch, the rows and the counters commit together,
so a campaign is either still scheduled with no sends or sending with all of them.
"""

from dataclasses import dataclass

import structlog
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_audience, campaigns_due
from campaigns.services.lifecycle import campaign_launch
from contacts.models import Contact
from contacts.selectors import ELIGIBLE
from sends.models import CampaignSend
from sends.services.ab_tests import ab_assign_at_fan_out
from sends.services.counters import campaign_counters_rebuild
from sends.services.dispatch import dispatch_top_up

log = structlog.get_logger(__name__)

# SQLite writes in chunks of this many contact ids, so that no single statement grows with the audience.
SQLITE_CHUNK_CONTACTS = 5000

_INSERT = """
INSERT INTO {sends} (campaign_id, contact_id, to_number, body, status, skip_reason, provider_message_uuid,
                     error_code, error_message, attempts, next_attempt_at, segments, cost, queued_at,
                     sent_at, status_updated_at)
SELECT %s, audience.id, audience.phone_number, '',
       CASE WHEN audience.exclusion_reason = %s THEN %s ELSE %s END,
       audience.exclusion_reason, NULL, '', '', 0, NULL, 0, NULL, %s, NULL, %s
FROM ({audience}) AS audience
WHERE TRUE
ON CONFLICT (campaign_id, contact_id) DO NOTHING
"""


@dataclass(frozen=True)
class FanOutResult:
    campaign_id: int
    queued: int
    skipped: int


def campaign_fan_out(*, campaign: Campaign) -> FanOutResult:
    """Write the campaign's sends (idempotent) and set its counters from them."""
    audience = campaign_audience(campaign=campaign).order_by().values_list("id", "phone_number", "exclusion_reason")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _insert(campaign=campaign, audience=audience, now=now)
        else:
            bounds = Contact.objects.order_by().values_list("pk", flat=True)
            low, high = bounds.order_by("pk").first(), bounds.order_by("-pk").first()
            for start in range(low or 0, (high or -1) + 1, SQLITE_CHUNK_CONTACTS):
                chunk = audience.filter(pk__gte=start, pk__lt=start + SQLITE_CHUNK_CONTACTS)
                _insert(campaign=campaign, audience=chunk, now=now)
        ab_assign_at_fan_out(campaign=campaign)
        # One GROUP BY per launch: exact whatever a previous attempt already wrote.
        campaign_counters_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db(fields=["queued_count", "skipped_count", "recipients_count", "skipped_by_reason"])
    return FanOutResult(campaign_id=campaign.pk, queued=campaign.queued_count, skipped=campaign.skipped_count)


def _insert(*, campaign: Campaign, audience, now) -> None:
    try:
        audience_sql, audience_params = audience.query.sql_with_params()
    except EmptyResultSet:  # a campaign without lists has no audience
        return
    sql = _INSERT.format(sends=CampaignSend._meta.db_table, audience=audience_sql)
    S = CampaignSend.Status
    params = [campaign.pk, ELIGIBLE, S.QUEUED.value, S.SKIPPED.value, now, now, *audience_params]
    # The audience's own parameters come last because its SQL sits after ours in the statement.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def campaigns_launch_due(*, now=None, limit: int = 50) -> list[int]:
    """Launch every due scheduled campaign, each in its own transaction; returns the ids launched.

    Each campaign is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so schedulers running at once never
    launch one campaign twice: the second one does not see it, and once committed it is no longer due.
    """
    now = now or timezone.now()
    launched: list[int] = []
    for _ in range(limit):
        with transaction.atomic():
            campaign = campaigns_due(now=now).select_for_update(skip_locked=True).first()
            if campaign is None:
                break
            campaign_launch(campaign=campaign)
            fanned_out = campaign_fan_out(campaign=campaign)
            log.info(
                "campaign_fanned_out", campaign_id=campaign.pk, queued=fanned_out.queued, skipped=fanned_out.skipped
            )
            campaign_id = campaign.pk
            transaction.on_commit(lambda campaign_id=campaign_id: dispatch_top_up(campaign_id=campaign_id))
        launched.append(campaign_id)
    return launched
