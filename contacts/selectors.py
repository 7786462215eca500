"""Reads of contacts and suppressions that more than one caller needs."""

import re

from django.db.models import Q, QuerySet

from contacts.models import Contact, Suppression
from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError


def contact_get_by_phone(*, e164: str) -> Contact | None:
    return Contact.objects.filter(phone_number=e164).first()


def number_is_suppressed(*, e164: str) -> bool:
    return Suppression.objects.filter(phone_number=e164).exists()


def number_q(text: str, *, field: str = "phone_number") -> Q | None:
    """A filter for numbers equal to `text` in any format, or containing its digits; None if it is no number."""
    text = text.strip()
    try:
        return Q(**{field: normalize_phone(text).e164})
    except ApplicationError:
        pass
    digits = re.sub(r"\D", "", text)
    if digits and not re.search(r"[^\d\s()+.\-]", text):
        return Q(**{f"{field}__contains": digits})
    return None


def contacts_matching(queryset: QuerySet[Contact], text: str) -> QuerySet[Contact]:
    """Contacts whose number is `text` in any format (or contains its digits), else whose name contains it."""
    if not text.strip():
        return queryset
    by_number = number_q(text)
    if by_number is not None:
        return queryset.filter(by_number)
    return queryset.filter(Q(first_name__icontains=text.strip()) | Q(last_name__icontains=text.strip()))
