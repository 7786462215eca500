"""The engagement conditions sends offers to segments (sends/segment_conditions.py): texted, delivered and
replied within the last N days, ever or never, evaluated against real sends and inbound texts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.segment_rules import segment_conditions
from contacts.selectors import segment_contacts
from contacts.tests.factories import ContactFactory, rules
from sends.models import CampaignSend, InboundMessage
from sends.tests.factories import CampaignSendFactory

pytestmark = pytest.mark.django_db

S = CampaignSend.Status


@pytest.fixture
def people():
    now = timezone.now()
    people = {name: ContactFactory() for name in ("fresh", "old", "failed", "queued", "silent")}
    # Texted and delivered two days ago; replied yesterday.
    CampaignSendFactory(
        contact=people["fresh"],
        status=S.DELIVERED,
        sent_at=now - timedelta(days=2),
        status_updated_at=now - timedelta(days=2),
    )
    InboundMessage.objects.create(
        from_number=str(people["fresh"].phone_number),
        to_number="+14155550100",
        contact=people["fresh"],
        received_at=now - timedelta(days=1),
    )
    # Texted and delivered 60 days ago; replied 50 days ago.
    CampaignSendFactory(
        contact=people["old"],
        status=S.DELIVERED,
        sent_at=now - timedelta(days=60),
        status_updated_at=now - timedelta(days=60),
    )
    InboundMessage.objects.create(
        from_number=str(people["old"].phone_number),
        to_number="+14155550100",
        contact=people["old"],
        received_at=now - timedelta(days=50),
    )
    # Sent three days ago, undelivered: texted, never delivered.
    CampaignSendFactory(
        contact=people["failed"],
        status=S.UNDELIVERED,
        sent_at=now - timedelta(days=3),
        status_updated_at=now - timedelta(days=3),
    )
    # Queued, never left: not texted.
    CampaignSendFactory(contact=people["queued"], status=S.QUEUED)
    return people


def matched(people, condition) -> set[str]:
    found = set(segment_contacts(rules=rules([condition])).values_list("pk", flat=True))
    return {name for name, contact in people.items() if contact.pk in found}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("texted", "in_last_days", 7), {"fresh", "failed"}),
        (("texted", "not_in_last_days", 7), {"old", "queued", "silent"}),
        (("texted", "ever", None), {"fresh", "old", "failed"}),
        (("texted", "never", None), {"queued", "silent"}),
        (("delivered", "in_last_days", 7), {"fresh"}),
        (("delivered", "in_last_days", 90), {"fresh", "old"}),
        (("delivered", "not_in_last_days", 30), {"old", "failed", "queued", "silent"}),
        (("replied", "in_last_days", 7), {"fresh"}),
        (("replied", "not_in_last_days", 7), {"old", "failed", "queued", "silent"}),
        (("replied", "ever", None), {"fresh", "old"}),
        (("replied", "never", None), {"failed", "queued", "silent"}),
    ],
)
def test_engagement_conditions_match_exactly_their_contacts(people, condition, expected):
    assert matched(people, condition) == expected


def test_sends_registers_its_conditions_into_the_contacts_registry():
    registered = segment_conditions()
    assert {"texted", "delivered", "replied"} <= set(registered)
    assert all(registered[name].group == "Engagement" for name in ("texted", "delivered", "replied"))
