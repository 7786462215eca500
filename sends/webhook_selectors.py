"""Reads that the Plivo webhooks need (delivery reports and inbound texts), each written once here."""

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from sends.models import CampaignSend, InboundMessage


@dataclass(slots=True)
class ReportedSend:
    """A send as delivery reports move it: what report_apply_to, the counters and the send's event read and
    write, under the names CampaignSend gives them."""

    pk: int
    campaign_id: int
    contact_id: int | None
    to_number: str
    status: str
    provider_message_uuid: str
    sent_at: datetime | None
    segments: int
    cost: Decimal | None
    error_code: str
    error_message: str
    # Not read: a report that moves the send sets it, and only sends that moved are written or told about.
    status_updated_at: datetime | None = None


def sends_for_message_uuids_locked(*, message_uuids: list[str]) -> dict[str, ReportedSend]:
    """The sends Plivo's message ids belong to, by message id, row-locked in id order so that reports for a
    send apply one batch at a time. Plain rows, not model instances: building a model per send was a fifth of
    the drainer's CPU."""
    rows = (
        CampaignSend.objects.select_for_update()
        .filter(provider_message_uuid__in=message_uuids)
        .order_by("id")
        .values_list(*(field.name for field in fields(ReportedSend) if field.name != "status_updated_at"))
    )
    found: dict[str, ReportedSend] = {}
    for row in rows:
        send = ReportedSend(*row)
        found.setdefault(send.provider_message_uuid, send)
    return found


def send_to_number_for_message_uuid(*, message_uuid: str) -> str | None:
    """The number a message id was sent to, when it is a campaign send's."""
    return (
        CampaignSend.objects.filter(provider_message_uuid=message_uuid)
        .order_by("id")
        .values_list("to_number", flat=True)
        .first()
    )


def campaign_id_last_texted(*, e164: str) -> int | None:
    """The campaign that most recently texted this number (the one an opt-out is attributed to)."""
    return (
        CampaignSend.objects.filter(to_number=e164, sent_at__isnull=False)
        .order_by("-sent_at", "-id")
        .values_list("campaign_id", flat=True)
        .first()
    )


def campaign_ids_with_queued_sends(*, e164: str) -> list[int]:
    return list(
        CampaignSend.objects.filter(to_number=e164, status=CampaignSend.Status.QUEUED)
        .values_list("campaign_id", flat=True)
        .distinct()
        .order_by()
    )


def sends_in_flight_exist(*, e164: str) -> bool:
    """Whether a worker has claimed a send to this number and not yet recorded what the provider answered."""
    return CampaignSend.objects.filter(to_number=e164, status=CampaignSend.Status.SENDING).exists()


def inbound_last_keyword_action(*, e164: str, since: datetime, exclude_id: int) -> str | None:
    """The action of the latest opt-out or opt-in text from this number since `since`, other than one."""
    return (
        InboundMessage.objects.filter(
            from_number=e164,
            action__in=[InboundMessage.Action.OPT_OUT, InboundMessage.Action.OPT_IN],
            received_at__gte=since,
        )
        .exclude(pk=exclude_id)
        .order_by("-received_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
