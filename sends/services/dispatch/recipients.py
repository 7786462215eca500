"""What a dispatch chunk works on: its due recipients, and the requests (one text each) they go out in."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from campaigns.quiet_hours import PLIVO_MIN_EXPIRY_SECONDS
from sends.models import CampaignSend
from sends.services.sender_pools import Sender

S = CampaignSend.Status


@dataclass(frozen=True)
class Recipient:
    send_id: int
    contact_id: int | None
    to_number: str
    attempts: int
    first_name: str
    last_name: str
    attributes: dict
    timezone: str
    country: str = ""
    variant_id: int | None = None  # the A/B variant whose text they get
    # When the recipient's quiet-hours window closes (set by screening): the message may not arrive later.
    open_until: datetime | None = None


@dataclass(frozen=True)
class Request:
    body: str
    segments: int
    recipients: list[Recipient]
    sender: Sender | None = None  # None: the campaign's one sender


def due_recipients(*, campaign_id: int, first_id: int, last_id: int, now: datetime) -> list[Recipient]:
    """The chunk's queued sends whose next attempt is due, in id order, with what rendering needs."""
    rows = (
        CampaignSend.objects.filter(campaign_id=campaign_id, id__gte=first_id, id__lte=last_id, status=S.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("id")
        .values_list(
            "id",
            "contact_id",
            "to_number",
            "attempts",
            "contact__first_name",
            "contact__last_name",
            "contact__attributes",
            "contact__timezone",
            "contact__country",
            "variant_id",
        )
    )
    return [
        Recipient(
            send_id=row[0],
            contact_id=row[1],
            to_number=row[2],
            attempts=row[3],
            first_name=row[4] or "",
            last_name=row[5] or "",
            attributes=row[6] or {},
            timezone=row[7] or "",
            country=row[8] or "",
            variant_id=row[9],
        )
        for row in rows
    ]


def quiet_window_closing(recipient: Recipient) -> bool:
    """Too little of the recipient's quiet-hours window is left for even Plivo's shortest expiry."""
    closing = timezone.now() + timedelta(seconds=PLIVO_MIN_EXPIRY_SECONDS)
    return recipient.open_until is not None and recipient.open_until <= closing
