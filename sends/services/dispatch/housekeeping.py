"""Campaign-wide housekeeping of dispatch, each beat tick and after each chunk: complete finished
campaigns, skip what a cancelled campaign left queued, settle stuck sends."""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, ExclusionReason
from campaigns.services.lifecycle import campaign_complete
from sends.domain_events import campaign_completed_emit
from sends.models import CampaignSend
from sends.selectors import campaign_has_unfinished_sends
from sends.services.ab_tests import ab_tick
from sends.services.counters import campaign_counters_add, transition_deltas
from sends.services.dispatch.reconciliation import sends_reconcile_stuck
from sends.services.dispatch.window import dispatch_top_up, window_forget
from smscampaigns.errors import ApplicationError

S = CampaignSend.Status


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Complete a sending campaign with nothing left queued or in flight; True if this call completed it."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None or campaign_has_unfinished_sends(campaign_id=campaign_id):
        return False
    try:
        with transaction.atomic():
            campaign_complete(campaign=campaign)  # conditional on `sending`: exactly one caller wins
            campaign_completed_emit(campaign_id=campaign_id)
    except ApplicationError:
        return False
    window_forget(campaign_id)
    return True


def sends_cancel_queued(*, campaign_id: int) -> int:
    """Skip (reason: cancelled) every send of a cancelled campaign that has not gone out."""
    with transaction.atomic():
        n = CampaignSend.objects.filter(campaign_id=campaign_id, status__in=[S.QUEUED, S.HELD]).update(
            status=S.SKIPPED, skip_reason=ExclusionReason.CANCELLED, status_updated_at=timezone.now()
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.QUEUED, to_status=S.SKIPPED, count=n),
            skipped_by_reason={ExclusionReason.CANCELLED: n},
        )
    return n


def sends_dispatch_tick() -> None:
    """The beat's round: settle stuck sends first (what goes back to the queue is then sent in this same
    round), top up dispatch of every sending campaign, complete the finished ones, decide A/B tests whose
    waiting period is over, settle cancelled campaigns."""
    sends_reconcile_stuck()
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True):
        if not campaign_complete_if_done(campaign_id=campaign_id):
            dispatch_top_up(campaign_id=campaign_id)
    ab_tick()
    cancelled = Campaign.objects.filter(status=Campaign.Status.CANCELLED, queued_count__gt=0)
    for campaign_id in cancelled.values_list("pk", flat=True):
        sends_cancel_queued(campaign_id=campaign_id)
