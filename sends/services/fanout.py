"""Launch and fan-out: a due campaign becomes one CampaignSend per person in its audience, set-based.

Eligible people get a `queued` send, everyone else a `skipped` one with the reason (the rules are
campaigns.selectors.campaign_audience), so staff see why the audience shrank. The rows are written by
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` inside the database, never one ORM call per row; the
conflict clause makes a repeated fan-out a no-op. The launch, the rows and the counters commit together,
so a campaign is either still scheduled with no sends or sending with all of them.
"""

from dataclasses import dataclass

import structlog
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from campaigns.models import Campaign
from campaigns.selectors import campaign_audience, campaigns_due
from campaigns.services.lifecycle import campaign_launch, campaign_segments_check, campaign_unschedule
from contacts.models import Contact
from contacts.selectors import ELIGIBLE
from sends.models import CampaignSend
from sends.services.ab_tests import ab_assign_at_fan_out
from sends.services.counters import campaign_counters_rebuild, campaign_counters_set_for_new_sends
from sends.services.dispatch import dispatch_top_up
from smscampaigns.errors import ApplicationError

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
FROM ({audience}{apart}) AS audience
WHERE TRUE
"""
# The status and the skip reason both read the exclusion reason: PostgreSQL would pull the audience up into
# the INSERT and evaluate the audience rules (the shape of every number among them) once for each, and
# OFFSET 0 keeps the audience a subquery evaluated once per row. (SQLite accepts no OFFSET without LIMIT.)
_EVALUATED_ONCE = {"postgresql": " OFFSET 0"}
_ON_CONFLICT = "ON CONFLICT (campaign_id, contact_id) DO NOTHING"
# Memory for the first fan-out's statement, set for its transaction only: enough to hash a list of a million
# members and to hold the skip reasons it returns without spilling either to disk.
FAN_OUT_WORK_MEM = "64MB"
# A first fan-out of at least this many sends has the sends table analysed as soon as it commits. The
# planner's statistics otherwise still describe the table before it (autovacuum analyses it within a minute
# or so), so the dispatch statements that follow at once, which look up a chunk's sends by id, are planned
# as if the campaign had none: a walk through all of its sends for each chunk (seconds at 1,000,000
# instead of milliseconds).
FAN_OUT_ANALYZE_MIN_SENDS = 10_000

# The counters of a first fan-out come from the rows the INSERT writes, so they are never read back. The
# skip reason alone says the status ("" is queued), and the narrower the rows returned, the less to hold.
_COUNTED = """
WITH written AS ({insert} RETURNING skip_reason)
SELECT skip_reason, COUNT(*) FROM written GROUP BY skip_reason
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
        # A first fan-out counts what it writes; a repeated one (rows already there) recounts them all. The
        # campaign's row lock makes a fan-out running at the same time wait for this one and then see its rows,
        # so a first fan-out needs no ON CONFLICT (whose speculative insertion costs a tenth more per row).
        first = (
            connection.vendor == "postgresql"
            and Campaign.objects.select_for_update().filter(pk=campaign.pk).exists()
            and not CampaignSend.objects.filter(campaign=campaign).exists()
        )
        if first:
            written = _insert_counted(campaign=campaign, audience=audience, now=now)
        elif connection.vendor == "postgresql":
            _insert(campaign=campaign, audience=audience, now=now)
        else:
            bounds = Contact.objects.order_by().values_list("pk", flat=True)
            low, high = bounds.order_by("pk").first(), bounds.order_by("-pk").first()
            for start in range(low or 0, (high or -1) + 1, SQLITE_CHUNK_CONTACTS):
                chunk = audience.filter(pk__gte=start, pk__lt=start + SQLITE_CHUNK_CONTACTS)
                _insert(campaign=campaign, audience=chunk, now=now)
        # A/B assignment holds some queued sends: held ones count as queued, so the counts above still hold.
        ab_assign_at_fan_out(campaign=campaign)
        if first:
            campaign_counters_set_for_new_sends(campaign_id=campaign.pk, by_status_and_reason=written)
        else:
            # One GROUP BY per launch: exact whatever a previous attempt already wrote.
            campaign_counters_rebuild(campaign_id=campaign.pk)
        campaign.refresh_from_db(fields=["queued_count", "skipped_count", "recipients_count", "skipped_by_reason"])
        # What the apps above sends add to each send (short links), in the same transaction as the sends.
        for hook in fan_out_hooks():
            hook(campaign=campaign)
    if first and campaign.recipients_count >= FAN_OUT_ANALYZE_MIN_SENDS:
        transaction.on_commit(_sends_statistics_refresh)
    return FanOutResult(campaign_id=campaign.pk, queued=campaign.queued_count, skipped=campaign.skipped_count)


def _sends_statistics_refresh() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CampaignSend._meta.db_table}")


def fan_out_hooks() -> list:
    """SENDS_FAN_OUT_HOOKS, imported: functions of the campaign, run once its sends are written."""
    return [import_string(path) for path in settings.SENDS_FAN_OUT_HOOKS]


def _insert_sql(*, campaign: Campaign, audience, now, first: bool = False) -> tuple[str, list] | None:
    try:
        audience_sql, audience_params = audience.query.sql_with_params()
    except EmptyResultSet:  # a campaign without lists has no audience
        return None
    apart = _EVALUATED_ONCE.get(connection.vendor, "")
    sql = _INSERT.format(sends=CampaignSend._meta.db_table, audience=audience_sql, apart=apart)
    if not first:  # rows of an earlier attempt may be there: a repeated fan-out adds nothing
        sql += _ON_CONFLICT
    S = CampaignSend.Status
    # The audience's own parameters come last because its SQL sits after ours in the statement.
    return sql, [campaign.pk, ELIGIBLE, S.QUEUED.value, S.SKIPPED.value, now, now, *audience_params]


def _insert(*, campaign: Campaign, audience, now) -> None:
    if (statement := _insert_sql(campaign=campaign, audience=audience, now=now)) is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(*statement)


def _insert_counted(*, campaign: Campaign, audience, now) -> dict[tuple[str, str], int]:
    """_insert for a campaign without sends (its row locked), returning how many rows it wrote by (status,
    skip reason)."""
    if (statement := _insert_sql(campaign=campaign, audience=audience, now=now, first=True)) is None:
        return {}
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{FAN_OUT_WORK_MEM}'")
        cursor.execute(_COUNTED.format(insert=sql.strip()), params)
        S = CampaignSend.Status
        return {((S.QUEUED if reason == ELIGIBLE else S.SKIPPED).value, reason): n for reason, n in cursor.fetchall()}


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
            try:
                with transaction.atomic():
                    campaign_segments_check(campaign)
                    campaign_launch(campaign=campaign)
                    fanned_out = campaign_fan_out(campaign=campaign)
            except ApplicationError as exc:
                # Its segments no longer hold (a custom field they name was deleted after scheduling): back to
                # draft with the reason, and the other due campaigns go on.
                campaign_unschedule(campaign=campaign, actor=None, reason=f"not launched: {exc.message}")
                log.warning("campaign_not_launched", campaign_id=campaign.pk, reason=exc.message)
                continue
            log.info(
                "campaign_fanned_out", campaign_id=campaign.pk, queued=fanned_out.queued, skipped=fanned_out.skipped
            )
            campaign_id = campaign.pk
            transaction.on_commit(lambda campaign_id=campaign_id: dispatch_top_up(campaign_id=campaign_id))
        launched.append(campaign_id)
    return launched
