"""Reads of sends that the engine and the pages need, written once here."""

from datetime import datetime

from django.db import connection

from sends.models import CampaignSend, StaffPhone

_DUE_RANGES = """
SELECT MIN(id), MAX(id), COUNT(*)
FROM (
    SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS chunk
    FROM (
        SELECT id FROM {sends}
        WHERE campaign_id = %s AND status = %s AND id > %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
        ORDER BY id
        LIMIT %s
    ) AS due
) AS numbered
GROUP BY chunk
ORDER BY chunk
"""


def send_ranges_due(
    *, campaign_id: int, after_id: int, now: datetime, chunk_size: int, limit: int
) -> list[tuple[int, int]]:
    """Up to `limit` id ranges (first, last), each holding `chunk_size` queued sends that are due, after
    `after_id`, in id order. One index range scan; the ids themselves never leave the database."""
    sql = _DUE_RANGES.format(sends=CampaignSend._meta.db_table)
    params = [
        chunk_size,
        campaign_id,
        CampaignSend.Status.QUEUED.value,
        after_id,
        connection.ops.adapt_datetimefield_value(now),
        chunk_size * limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(first, last) for first, last, _count in cursor.fetchall()]


def campaign_has_unfinished_sends(*, campaign_id: int) -> bool:
    """True while any send of the campaign is queued (due or deferred), held for an A/B winner or in flight."""
    S = CampaignSend.Status
    return CampaignSend.objects.filter(campaign_id=campaign_id, status__in=[S.QUEUED, S.HELD, S.SENDING]).exists()


def staff_phone_number(*, user) -> str:
    """The number a staff member last sent a test to ("Send test to my phone"), or ""."""
    return StaffPhone.objects.filter(user_id=user.pk).values_list("phone_number", flat=True).first() or ""
