"""Claiming a wave: queued -> sending in one short transaction, the step that makes a redelivered or
duplicated chunk harmless, since it can only take sends that are still queued."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import Contact
from contacts.selectors import contacts_textable
from sends.models import CampaignSend
from sends.services.dispatch.recipients import Recipient

S = CampaignSend.Status


def sends_claim(*, campaign_id: int, recipients: list[Recipient]) -> set[int]:
    """queued -> sending for those still queued, still eligible, in a campaign still sending; their ids."""
    eligible = contacts_textable(Contact.objects.filter(pk__in=[r.contact_id for r in recipients])).values("pk")
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
        if ids:
            CampaignSend.objects.filter(id__in=ids).update(
                status=S.SENDING, attempts=F("attempts") + 1, status_updated_at=timezone.now()
            )
    return ids
