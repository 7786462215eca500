"""Claiming a wave: queued -> sending in one short transaction, the step that makes a redelivered or
duplicated chunk harmless, since it can only take sends that are still queued."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign
from contacts.bulksql import values_in
from contacts.models import Contact
from contacts.selectors import contacts_textable
from sends.models import CampaignSend
from sends.services.dispatch.caps import caps_of, contacts_lock, contacts_over_caps
from sends.services.dispatch.recipients import Recipient
from sends.services.dispatch.screening import sends_skip

S = CampaignSend.Status

# On PostgreSQL the claim is one statement, and its lists travel as one array each: with a thousand
# placeholders the driver spends more building the statement than the server running it, and the planner,
# misjudging the list, re-checks the contacts with one probe per send.
_CLAIMABLE = """
WITH claimable AS MATERIALIZED (
    SELECT s.id FROM {sends} s
    WHERE s.id = ANY(%s) AND s.status = %s
        AND EXISTS (SELECT 1 FROM {campaigns} c WHERE c.id = s.campaign_id AND c.status = %s)
        AND s.contact_id IN ({eligible})
    FOR UPDATE OF s SKIP LOCKED
)
"""
_CLAIM = """
UPDATE {sends} SET status = %s, attempts = {sends}.attempts + 1, status_updated_at = %s
FROM claimable WHERE {sends}.id = claimable.id
RETURNING {sends}.id
"""


def sends_claim(*, campaign_id: int, recipients: list[Recipient]) -> set[int]:
    """queued -> sending for those still queued, still eligible, in a campaign still sending, and within the
    frequency caps (the others skipped with the cap's reason); their ids."""
    caps = caps_of(campaign_id)
    with transaction.atomic():
        if connection.vendor == "postgresql" and not caps.any:
            return _claim_in_one_statement(recipients)
        ids = _claimable_lock(recipients)
        if ids and caps.any:
            ids -= _capped_skip(campaign_id=campaign_id, caps=caps, recipients=recipients, ids=ids)
        if ids:
            CampaignSend.objects.filter(id__in=ids).update(
                status=S.SENDING, attempts=F("attempts") + 1, status_updated_at=timezone.now()
            )
    return ids


def _eligible_contacts(recipients: list[Recipient]):
    """The recipients' contacts who may still be texted (a queryset of their pks)."""
    contact_ids = [r.contact_id for r in recipients if r.contact_id is not None]
    return contacts_textable(Contact.objects.filter(pk__in=values_in(contact_ids))).values("pk")


def _claimable_sql(recipients: list[Recipient]) -> tuple[str, list]:
    eligible, eligible_params = _eligible_contacts(recipients).query.sql_with_params()
    sql = _CLAIMABLE.format(eligible=eligible, sends=CampaignSend._meta.db_table, campaigns=Campaign._meta.db_table)
    return sql, [[r.send_id for r in recipients], S.QUEUED.value, Campaign.Status.SENDING.value, *eligible_params]


def _claim_in_one_statement(recipients: list[Recipient]) -> set[int]:
    """Lock the claimable sends (skipping any another claim holds) and mark them sending, in one statement."""
    claimable, params = _claimable_sql(recipients)
    sql = claimable + _CLAIM.format(sends=CampaignSend._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, S.SENDING.value, _moment(timezone.now())])
        return {row[0] for row in cursor.fetchall()}


def _claimable_lock(recipients: list[Recipient]) -> set[int]:
    """Lock the sends still claimable (skipping any another claim holds); their ids."""
    if connection.vendor == "postgresql":
        claimable, params = _claimable_sql(recipients)
        with connection.cursor() as cursor:
            cursor.execute(claimable + "SELECT id FROM claimable", params)
            return {row[0] for row in cursor.fetchall()}
    return set(
        CampaignSend.objects.filter(
            id__in=[r.send_id for r in recipients],
            status=S.QUEUED,
            campaign__status=Campaign.Status.SENDING,
            contact_id__in=_eligible_contacts(recipients),
        )
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("id", flat=True)
    )


def _moment(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _capped_skip(*, campaign_id: int, caps, recipients: list[Recipient], ids: set[int]) -> set[int]:
    """Skip the claimable sends whose contacts are over the caps (after locking those contacts); their ids."""
    contact_of = {r.send_id: r.contact_id for r in recipients if r.send_id in ids and r.contact_id is not None}
    contacts_lock(list(contact_of.values()))
    over = contacts_over_caps(caps=caps, contact_ids=list(contact_of.values()), now=timezone.now())
    by_reason: dict[str, list[int]] = {}
    for send_id, contact_id in contact_of.items():
        if contact_id in over:
            by_reason.setdefault(over[contact_id], []).append(send_id)
    for reason, send_ids in by_reason.items():
        sends_skip(campaign_id=campaign_id, send_ids=send_ids, reason=reason, now=timezone.now())
    return {send_id for send_ids in by_reason.values() for send_id in send_ids}
