"""The API's sending rules on a campaign: a local-time schedule and the frequency caps, on create, update and
schedule, and what the preview says of them."""

from datetime import UTC, datetime

import pytest
import time_machine

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db
CAMPAIGNS = "/api/v1/campaigns/"
CRUD = ("campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.delete_campaign")


@pytest.fixture
def sender(api_client):
    return api_client(*CRUD, "campaigns.send_campaign")


def test_create_and_update_a_local_time_campaign_with_caps(sender):
    response = sender.post(
        CAMPAIGNS,
        {
            "name": "Morning sale",
            "body": "Sale today",
            "schedule_mode": "local_time",
            "local_send_time": "10:00",
            "skip_recent_hours": 48,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("schedule_mode", "local_send_time", "local_time_passed")} == {
        "schedule_mode": "local_time",
        "local_send_time": "10:00:00",
        "local_time_passed": "next_day",
    }
    assert (body["skip_recent_hours"], body["transactional"]) == (48, False)
    response = sender.patch(
        f"{CAMPAIGNS}{body['id']}/",
        {"local_time_passed": "immediately", "transactional": True, "skip_recent_hours": None},
        format="json",
    )
    assert response.status_code == 200, response.json()
    campaign = Campaign.objects.get(pk=body["id"])
    assert (campaign.local_time_passed, campaign.transactional, campaign.skip_recent_hours) == (
        "immediately",
        True,
        None,
    )
    edited = AuditEvent.objects.filter(action="campaign.edited").get()
    assert edited.data["transactional"] is True


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"schedule_mode": "local_time"}, "local_send_time", "needs that time"),
        ({"schedule_mode": "whenever"}, "schedule_mode", "not a valid choice"),
        ({"local_send_time": "25:00"}, "local_send_time", "wrong format"),
        ({"skip_recent_hours": 0}, "skip_recent_hours", "greater than or equal to 1"),
        ({"skip_recent_hours": "many"}, "skip_recent_hours", "valid integer"),
        ({"transactional": "yes please"}, "transactional", "valid boolean"),
    ],
)
def test_bad_sending_rules_are_a_400_on_the_field(sender, payload, field, says):
    response = sender.post(CAMPAIGNS, {"name": "x", "body": "Sale today", **payload}, format="json")
    assert response.status_code == 400
    assert says in response.json()["errors"][field][0]
    assert not Campaign.objects.exists()


def test_schedule_a_local_time_campaign_starts_now_without_a_time(sender):
    campaign = CampaignFactory()
    with time_machine.travel(datetime(2026, 6, 2, 6, 0, tzinfo=UTC), tick=False):
        response = sender.post(
            f"{CAMPAIGNS}{campaign.pk}/schedule/",
            {"schedule_mode": "local_time", "local_send_time": "10:00"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.schedule_mode, campaign.scheduled_at) == (
        Campaign.Status.SCHEDULED,
        "local_time",
        datetime(2026, 6, 2, 6, 0, tzinfo=UTC),
    )
    instant = CampaignFactory()
    response = sender.post(f"{CAMPAIGNS}{instant.pk}/schedule/", {}, format="json")
    assert response.status_code == 400
    assert "give the time to start" in response.json()["errors"]["scheduled_at"][0]


def test_the_preview_gives_the_waves(sender):
    audience = ContactListFactory()
    campaign = CampaignFactory(schedule_mode="local_time", local_send_time="10:00")
    campaign.lists.add(audience)
    ContactFactory(phone_number="+33612345678", country="FR", timezone="Europe/Paris").lists.add(audience)
    with time_machine.travel(datetime(2026, 6, 2, 6, 0, tzinfo=UTC), tick=False):
        response = sender.get(f"{CAMPAIGNS}{campaign.pk}/preview/")
    assert response.status_code == 200, response.json()
    assert response.json()["waves"] == [
        {"zones": ["Europe/Paris"], "local_time": "10:00", "send_at": "2026-06-02T08:00:00Z", "count": 1}
    ]


def test_a_quick_send_may_be_transactional(api_client):
    response = api_client(superuser=True).post(
        CAMPAIGNS,
        {
            "recipients": ["+14155550123"],
            "body": "Your code is 1234",
            "consent_source": "sign-in",
            "send": True,
            "transactional": True,
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    assert response.json()["campaign"]["transactional"] is True
