"""Reads of contacts and suppressions that more than one caller needs."""

from contacts.models import Contact, Suppression


def contact_get_by_phone(*, e164: str) -> Contact | None:
    return Contact.objects.filter(phone_number=e164).first()


def number_is_suppressed(*, e164: str) -> bool:
    return Suppression.objects.filter(phone_number=e164).exists()
