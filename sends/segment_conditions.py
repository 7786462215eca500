"""The engagement conditions of segments: what a contact did with our texts, which only sends records.
Registered into contacts' registry (contacts.segment_rules) by SendsConfig.ready, so contacts offers them
without importing sends. Each is one EXISTS on an index that starts with the contact."""

from datetime import timedelta

from django.db.models import OuterRef, Q

from contacts.segment_rules import SegmentCondition, related_exists_q, segment_condition_register
from sends.models import CampaignSend, InboundMessage

S = CampaignSend.Status
WINDOW_OPERATORS = {"in_last_days": "days", "not_in_last_days": "days"}


class SendsWithinCondition(SegmentCondition):
    """Whether the contact has a send of the given kind within the last N days (or ever, or never)."""

    def __init__(self, *, field: str, label: str, operators: dict, sends: Q, moment: str):
        super().__init__(field=field, label=label, operators=operators, group="Engagement")
        self.sends, self.moment = sends, moment

    def q(self, condition: dict, *, now) -> Q:
        operator = condition["operator"]
        sends = CampaignSend.objects.filter(self.sends, contact=OuterRef("pk"))
        if operator.endswith("_last_days"):
            sends = sends.filter(**{f"{self.moment}__gte": now - timedelta(days=condition["value"])})
        return related_exists_q(sends, operator in ("in_last_days", "ever"))


class RepliedCondition(SegmentCondition):
    """Whether the contact texted us (any inbound text from them) within the last N days, or ever."""

    def q(self, condition: dict, *, now) -> Q:
        operator = condition["operator"]
        inbound = InboundMessage.objects.filter(contact=OuterRef("pk"))
        if operator.endswith("_last_days"):
            inbound = inbound.filter(received_at__gte=now - timedelta(days=condition["value"]))
        return related_exists_q(inbound, operator in ("in_last_days", "ever"))


def register() -> None:
    segment_condition_register(
        SendsWithinCondition(
            field="texted",
            label="Texted by us",
            operators={**WINDOW_OPERATORS, "ever": "none", "never": "none"},
            # Accepted by Plivo at some point: sent_at is set when a text leaves, whatever came of it after.
            sends=Q(sent_at__isnull=False),
            moment="sent_at",
        )
    )
    segment_condition_register(
        SendsWithinCondition(
            field="delivered",
            label="Delivered a text",
            operators=WINDOW_OPERATORS,
            # Delivered is final, so the send's last status change is the delivery.
            sends=Q(status=S.DELIVERED),
            moment="status_updated_at",
        )
    )
    segment_condition_register(
        RepliedCondition(
            field="replied",
            label="Replied (texted us)",
            operators={**WINDOW_OPERATORS, "ever": "none", "never": "none"},
            group="Engagement",
        )
    )
