"""Screening a chunk right before sending: who may no longer be texted or whose text is too long is skipped,
who is in quiet hours is deferred to their next window (and, for a campaign sent at each recipient's local
time, whose clock has not reached that time yet, to that instant), the rest go on with their rendered body."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from campaigns.local_time import campaign_launched_at, local_send_instant, recipient_zones
from campaigns.models import Campaign, CampaignVariant, ExclusionReason
from campaigns.quiet_hours import quiet_hours_verdicts
from campaigns.segments import message_length_problem, segment_info
from campaigns.templating import body_render
from contacts.bulksql import values_in
from contacts.models import Contact
from contacts.selectors import ELIGIBLE, contacts_with_exclusion_reason
from sends.models import CampaignSend
from sends.services.counters import campaign_counters_add, transition_deltas
from sends.services.dispatch.recipients import Recipient
from smscampaigns.errors import ApplicationError

S = CampaignSend.Status


@dataclass
class _Screened:
    """A chunk's recipients sorted by what happens to them now; the stopped ones by send id."""

    ready: list[tuple[Recipient, str]] = field(default_factory=list)
    skips: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    deferrals: dict[datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def screen(*, campaign: Campaign, recipients: list[Recipient], now: datetime) -> list[tuple[Recipient, str]]:
    """Skip who may no longer be texted or whose text is too long, defer who is in quiet hours; the rest with
    their rendered body."""
    contact_ids = [r.contact_id for r in recipients if r.contact_id is not None]
    reasons = dict(
        contacts_with_exclusion_reason(Contact.objects.filter(pk__in=values_in(contact_ids))).values_list(
            "pk", "exclusion_reason"
        )
    )
    screened = _Screened()
    # An A/B tested campaign's recipients each get their variant's text.
    bodies = dict(CampaignVariant.objects.filter(campaign_id=campaign.pk).values_list("pk", "body"))
    too_long: dict[str, bool] = {}  # by text: a plain body is one text for the whole chunk
    rewrite = body_rewriter(campaign=campaign, send_ids=[r.send_id for r in recipients])
    launched_at = campaign_launched_at(campaign) if campaign.sends_at_local_time else None
    quiet_hours = quiet_hours_verdicts(now=now)  # recipients of one area share a verdict
    for recipient in recipients:
        # A contact erased since the fan-out has no consent on record any more.
        reason = reasons.get(recipient.contact_id, ExclusionReason.NO_CONSENT)
        if reason != ELIGIBLE:
            screened.skips[reason].append(recipient.send_id)
            continue
        if launched_at is not None:
            # Sending at each recipient's local time: their share waits, queued, for their own clock.
            zones = recipient_zones(timezone_name=recipient.timezone, e164=recipient.to_number)
            due = local_send_instant(campaign=campaign, zones=zones, launched_at=launched_at)
            if due > now:
                screened.deferrals[due].append(recipient.send_id)
                continue
        quiet = quiet_hours(timezone_name=recipient.timezone, e164=recipient.to_number, country=recipient.country)
        if quiet.no_common_window:
            # No zone given and the number's zones never share a moment of the window: never at a guess.
            screened.skips[ExclusionReason.NO_COMMON_QUIET_WINDOW].append(recipient.send_id)
            continue
        if not quiet.is_open:
            screened.deferrals[quiet.next_window].append(recipient.send_id)
            continue
        recipient = replace(recipient, open_until=quiet.open_until)
        try:
            body = body_render(
                bodies.get(recipient.variant_id, campaign.body),
                first_name=recipient.first_name,
                last_name=recipient.last_name,
                attributes=recipient.attributes,
            )
        except ApplicationError as exc:
            screened.failures[exc.message].append(recipient.send_id)
            continue
        if rewrite is not None:
            body = rewrite(recipient.send_id, body)
        if body not in too_long:
            too_long[body] = bool(message_length_problem(segment_info(body)))
        if too_long[body]:
            # Their values made the text longer than Plivo accepts or SMS_MAX_SEGMENTS allows: never sent,
            # rather than refused by Plivo or billed for dozens of segments.
            screened.skips[ExclusionReason.MESSAGE_TOO_LONG].append(recipient.send_id)
            continue
        screened.ready.append((recipient, body))
    _screened_record(campaign_id=campaign.pk, screened=screened, now=now)
    return screened.ready


def body_rewriter(*, campaign: Campaign, send_ids: list[int]) -> Callable[[int, str], str] | None:
    """How the app above sends changes each rendered text of this chunk (a recipient's own short links), from
    SENDS_BODY_REWRITER: a function of (send id, text), or None when it changes nothing."""
    if not settings.SENDS_BODY_REWRITER:
        return None
    return import_string(settings.SENDS_BODY_REWRITER)(campaign=campaign, send_ids=send_ids)


def _screened_record(*, campaign_id: int, screened: _Screened, now: datetime) -> None:
    for reason, send_ids in screened.skips.items():
        sends_skip(campaign_id=campaign_id, send_ids=send_ids, reason=reason, now=now)
    for window, send_ids in screened.deferrals.items():
        CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(next_attempt_at=window)
    for message, send_ids in screened.failures.items():
        with transaction.atomic():
            n = CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(
                status=S.FAILED, error_code="template", error_message=message, status_updated_at=now
            )
            campaign_counters_add(
                campaign_id=campaign_id,
                deltas=transition_deltas(from_status=S.QUEUED, to_status=S.FAILED, count=n),
                failed_by_error_code={"template": n},
            )


def sends_skip(*, campaign_id: int, send_ids: list[int], reason: str, now: datetime) -> int:
    """Skip (with the reason) those of the sends still queued, counted like every skip."""
    with transaction.atomic():
        n = CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(
            status=S.SKIPPED, skip_reason=reason, status_updated_at=now
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.QUEUED, to_status=S.SKIPPED, count=n),
            skipped_by_reason={reason: n},
        )
    return n
