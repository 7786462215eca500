"""What a carrier lookup said of a contact's number, stored on the contact with its date."""

from datetime import datetime

from django.utils import timezone

from contacts.models import Contact, LineType


def contact_lookup_record(
    *,
    contact_id: int,
    line_type: str,
    carrier: str,
    ported: bool | None,
    country: str,
    looked_up_at: datetime | None = None,
) -> None:
    """Store one lookup's answer; the contact's `looked_up_at` starts the age after which it is repeated."""
    if line_type not in LineType.values:
        line_type = LineType.UNKNOWN
    now = looked_up_at or timezone.now()
    Contact.objects.filter(pk=contact_id).update(
        line_type=line_type,
        carrier=carrier[: Contact._meta.get_field("carrier").max_length],
        number_ported=ported,
        lookup_country=country[:2].upper(),
        looked_up_at=now,
        updated_at=now,
    )
