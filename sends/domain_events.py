"""The delivery events sends tells the apps above it about (smscampaigns.domain_events), built in one place."""

from collections.abc import Iterable

from campaigns.models import Campaign
from sends.models import CampaignSend
from sends.services.counters import FAILURE_STATUSES
from smscampaigns import domain_events

S = CampaignSend.Status
SEND_EVENT_TYPES = {S.DELIVERED: domain_events.SEND_DELIVERED} | dict.fromkeys(
    FAILURE_STATUSES, domain_events.SEND_FAILED
)


def send_event(send: CampaignSend) -> domain_events.DomainEvent | None:
    """The event of a send that has just reached `delivered`, `failed` or `undelivered`; None for other moves."""
    event_type = SEND_EVENT_TYPES.get(send.status)
    if event_type is None:
        return None
    data = {
        "id": send.pk,
        "campaign_id": send.campaign_id,
        "contact_id": send.contact_id,
        "to": send.to_number,
        "status": send.status,
        "error_code": send.error_code,
        "error_message": send.error_message,
        "segments": send.segments,
        "cost": str(send.cost) if send.cost is not None else None,
        "provider_message_uuid": send.provider_message_uuid,
        "sent_at": send.sent_at.isoformat() if send.sent_at else None,
        "status_updated_at": send.status_updated_at.isoformat(),
    }
    return domain_events.DomainEvent(
        type=event_type, order_key=f"send:{send.pk}", data=data, occurred_at=send.status_updated_at
    )


def send_events_emit(sends: Iterable[CampaignSend]) -> None:
    """Emit the events of sends that have just finished, in the caller's transaction; none is built when no
    sink wants it (the delivery report drainer calls this for every batch)."""
    finished = [send for send in sends if send.status in SEND_EVENT_TYPES]
    wanted = {t for t in {SEND_EVENT_TYPES[send.status] for send in finished} if domain_events.events_wanted(t)}
    domain_events.events_emit([send_event(send) for send in finished if SEND_EVENT_TYPES[send.status] in wanted])


def sends_failed_emit(send_ids: list[int]) -> None:
    """send.failed for sends that failed before a provider took them (dispatch); reads them only if wanted."""
    if send_ids and domain_events.events_wanted(domain_events.SEND_FAILED):
        send_events_emit(CampaignSend.objects.filter(id__in=send_ids, status=S.FAILED).order_by("id"))


def campaign_completed_emit(*, campaign_id: int) -> None:
    """campaign.completed with the campaign's counters as they stand, in the transaction that completed it."""
    if not domain_events.events_wanted(domain_events.CAMPAIGN_COMPLETED):
        return
    campaign = Campaign.objects.get(pk=campaign_id)
    data = {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "completed_at": campaign.completed_at.isoformat() if campaign.completed_at else None,
        "recipients": campaign.recipients_count,
        "sent": campaign.sent_count,
        "delivered": campaign.delivered_count,
        "undelivered": campaign.undelivered_count,
        "failed": campaign.failed_count,
        "skipped": campaign.skipped_count,
        "opt_outs": campaign.opt_out_count,
        "segments": campaign.segments_count,
        "cost": str(campaign.cost),
    }
    domain_events.events_emit(
        [
            domain_events.DomainEvent(
                type=domain_events.CAMPAIGN_COMPLETED,
                order_key=f"campaign:{campaign.pk}",
                data=data,
                occurred_at=campaign.completed_at or campaign.updated_at,
            )
        ]
    )
