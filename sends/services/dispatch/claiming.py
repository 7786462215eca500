"""Claiming a wave: queued -> sending in one short transaction, the step that makes a redelivered or
duplicated chunk harmless, since it can only take sends that are still queued."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import Contact
from contacts.selectors import contacts_textable
from sends.models import CampaignSend
from sends.services.dispatch.caps import caps_of, contacts_lock, contacts_over_caps
from sends.services.dispatch.recipients import Recipient
from sends.services.dispatch.screening import sends_skip

S = CampaignSend.Status


def sends_claim(*, campaign_id: int, recipients: list[Recipient]) -> set[int]:
    """queued -> sending for those still queued, still eligible, in a campaign still sending, and within the
    frequency caps (the others skipped with the cap's reason); their ids."""
    eligible = contacts_textable(Contact.objects.filter(pk__in=[r.contact_id for r in recipients])).values("pk")
    caps = caps_of(campaign_id)
    with transaction.atomic():
        ids = set(
            CampaignSend.objects.filter(
                id__in=[r.send_id for r in recipients],
                status=S.QUEUED,
                campaign__status=Campaign.Status.SENDING,
                contact_id__in=eligible,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        if ids and caps.any:
            ids -= _capped_skip(campaign_id=campaign_id, caps=caps, recipients=recipients, ids=ids)
        if ids:
            CampaignSend.objects.filter(id__in=ids).update(
                status=S.SENDING, attempts=F("attempts") + 1, status_updated_at=timezone.now()
            )
    return ids


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
