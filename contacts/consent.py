"""How a new contact starts: subscribed or not, with which consent and opt-out evidence. The one rule that
contact_create and the CSV import (its set-based path) both apply to a number that is not yet a contact."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contacts.models import Contact


class OptOutEvidence(Protocol):
    """An opt-out suppression of the number: a Suppression row, or selectors.OptOutSuppression in bulk."""

    source: str
    created_at: datetime


@dataclass(frozen=True)
class InitialConsent:
    status: str
    consent_source: str
    consent_text: str
    consented_at: datetime | None
    opted_out_at: datetime | None
    opt_out_source: str

    @property
    def subscribed(self) -> bool:
        return self.status == Contact.Status.SUBSCRIBED


def initial_consent(
    *,
    consent_source: str,
    consent_text: str = "",
    consented_at: datetime | None = None,
    suppressed: bool,
    opt_out: OptOutEvidence | None,
    now: datetime,
) -> InitialConsent:
    """A new contact is subscribed when consent evidence is given and its number has no suppression
    (`suppressed`, an opt-out included). Consent claimed for a number that opted out (`opt_out`) is void,
    since only the person's own opt-in counts, and the contact carries that opt-out's evidence instead."""
    if opt_out is not None:
        consent_source, consent_text = "", ""
    subscribed = bool(consent_source) and not suppressed
    return InitialConsent(
        status=Contact.Status.SUBSCRIBED if subscribed else Contact.Status.UNSUBSCRIBED,
        consent_source=consent_source,
        consent_text=consent_text,
        consented_at=(consented_at or now) if consent_source else None,
        opted_out_at=opt_out.created_at if opt_out is not None else None,
        opt_out_source=opt_out.source if opt_out is not None else "",
    )
