"""Opting a number out, whatever told us to: an inbound STOP, or a carrier reporting that the person opted out."""

import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from campaigns.models import ExclusionReason
from contacts.models import Contact
from contacts.services.consent import person_opt_out_record
from sends.models import CampaignSend
from sends.services.counters import campaign_counters_add_or_rebuild, transition_deltas
from sends.webhook_selectors import campaign_ids_with_queued_sends, sends_in_flight_exist

# Dispatch claims a send a fraction of a second before its request leaves (and records the answer right
# after), so a message on its way is gone well within this; a send held longer belongs to a dead worker.
IN_FLIGHT_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class OptOutResult:
    newly_opted_out: bool  # False when the number was already opted out (a repeated STOP)
    contact: Contact | None
    sends_skipped: int


@transaction.atomic
def number_opt_out(*, e164: str, method: str, source: str, text: str = "") -> OptOutResult:
    """The person opted out (`method`: a keyword, a phrase, Plivo's intent, their carrier): record it as
    theirs (contacts.services.person_opt_out_record) and skip every send still queued to the number."""
    recorded = person_opt_out_record(e164=e164, method=method, source=source, text=text)
    skipped = queued_sends_skip(e164=e164, reason=ExclusionReason.OPTED_OUT)
    return OptOutResult(newly_opted_out=recorded.newly_opted_out, contact=recorded.contact, sends_skipped=skipped)


def queued_sends_skip(*, e164: str, reason: str) -> int:
    """Skip every queued send to a number, with the reason, keeping each campaign's counters true."""
    skipped = 0
    for campaign_id in campaign_ids_with_queued_sends(e164=e164):
        # The status condition makes this safe against a dispatcher claiming the same row meanwhile.
        count = CampaignSend.objects.filter(
            campaign_id=campaign_id, to_number=e164, status=CampaignSend.Status.QUEUED
        ).update(status=CampaignSend.Status.SKIPPED, skip_reason=reason, status_updated_at=timezone.now())
        if count:
            campaign_counters_add_or_rebuild(
                campaign_id=campaign_id,
                deltas=transition_deltas(
                    from_status=CampaignSend.Status.QUEUED, to_status=CampaignSend.Status.SKIPPED, count=count
                ),
                skipped_by_reason={reason: count},
            )
        skipped += count
    return skipped


def sends_in_flight_wait(*, e164: str, timeout: float = IN_FLIGHT_WAIT_SECONDS) -> bool:
    """Wait (after an opt-out has committed) until no message to the number is still on its way; False if
    one still was after `timeout`. Answering the STOP only then means nobody is texted after that answer:
    sends claimed before the opt-out cannot be stopped, but they are out by the time the answer is."""
    deadline = time.monotonic() + timeout
    while sends_in_flight_exist(e164=e164):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
