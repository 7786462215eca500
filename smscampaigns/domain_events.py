"""Things that happened in the product (a send delivered, a person opted out), told to the apps above the one
where they happen, without that app importing upward.

The app where the event happens calls `events_emit` inside the transaction that makes it happen; the apps above
(event webhooks, the dashboard's rollups) register a sink in their `AppConfig.ready`. A sink writes what it needs
in that same transaction (an outbox row, a counter) and defers anything slow until after the commit, so an
event is recorded exactly when its cause is, and never slows the cause down by more than a few writes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.utils import timezone

# The events there are, by the name integrators see.
SEND_DELIVERED = "send.delivered"
SEND_FAILED = "send.failed"
CONTACT_OPTED_OUT = "contact.opted_out"
CONTACT_OPTED_IN = "contact.opted_in"
LINK_CLICKED = "link.clicked"
CAMPAIGN_COMPLETED = "campaign.completed"
EVENT_TYPES = (SEND_DELIVERED, SEND_FAILED, CONTACT_OPTED_OUT, CONTACT_OPTED_IN, LINK_CLICKED, CAMPAIGN_COMPLETED)
# Internal, not offered to integrators: a batch of a CSV import subscribed this many contacts (data: "count").
CONTACTS_SUBSCRIBED_BY_IMPORT = "contacts.subscribed_by_import"


@dataclass(frozen=True)
class DomainEvent:
    """One event: its type, the object it is about as JSON-ready data, and `order_key`, which names that
    object for ordering: events with one key are delivered in the order they happened ("send:42", a number)."""

    type: str
    order_key: str
    data: Mapping[str, Any]
    occurred_at: datetime = field(default_factory=timezone.now)


class EventSink(Protocol):
    def wants(self, event_type: str) -> bool:
        """Whether events of this type are of use to it now (so the caller may skip building them)."""

    def receive(self, events: Sequence[DomainEvent]) -> None:
        """Record the events, inside the caller's transaction."""


_sinks: list[EventSink] = []


def event_sink_register(sink: EventSink) -> None:
    """Called by an app's AppConfig.ready; registering the same sink twice keeps one."""
    if sink not in _sinks:
        _sinks.append(sink)


def events_wanted(event_type: str) -> bool:
    """Whether any sink wants events of this type: building them (a query for their objects) can be skipped."""
    return any(sink.wants(event_type) for sink in _sinks)


def events_emit(events: Sequence[DomainEvent]) -> None:
    """Hand events to every sink that wants their type; call inside the transaction of their cause."""
    if not events:
        return
    types = {event.type for event in events}
    for sink in _sinks:
        wanted_types = {event_type for event_type in types if sink.wants(event_type)}
        wanted = [event for event in events if event.type in wanted_types]
        if wanted:
            sink.receive(wanted)


def link_clicked_emit(
    *,
    click_id: int,
    link_id: int,
    url: str,
    campaign_id: int | None,
    send_id: int | None,
    contact_id: int | None,
    clicked_at: datetime,
) -> None:
    """For the short links feature to call in the transaction that records a click: integrators get
    link.clicked, and the dashboard counts the click on its campaign's day."""
    data = {
        "id": click_id,
        "link_id": link_id,
        "url": url,
        "campaign_id": campaign_id,
        "send_id": send_id,
        "contact_id": contact_id,
        "clicked_at": clicked_at.isoformat(),
    }
    events_emit([DomainEvent(type=LINK_CLICKED, order_key=f"link:{link_id}", data=data, occurred_at=clicked_at)])
