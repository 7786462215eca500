import pytest

from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend, InboundMessage
from sends.tests.factories import CampaignSendFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api_client):
    return api_client("sends.view_campaignsend", "sends.view_inboundmessage")


def test_campaign_sends_are_cursor_paginated_in_id_order(client):
    campaign = CampaignFactory()
    sends = CampaignSendFactory.create_batch(5, campaign=campaign)
    CampaignSendFactory()  # another campaign's
    url = f"/api/v1/campaigns/{campaign.pk}/sends/"
    seen, page = [], client.get(url, {"page_size": 2}).json()
    while True:
        seen += [s["id"] for s in page["results"]]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert seen == [s.pk for s in sends]
    first = client.get(url).json()["results"][0]
    assert set(first) >= {"id", "contact", "to_number", "status", "error_code", "provider_message_uuid"}
    assert first["to_number"] == sends[0].to_number


def test_campaign_sends_filter_by_status(client):
    campaign = CampaignFactory()
    CampaignSendFactory(campaign=campaign)
    failed = CampaignSendFactory(campaign=campaign, status=CampaignSend.Status.FAILED, error_code="30")
    response = client.get(f"/api/v1/campaigns/{campaign.pk}/sends/", {"status": "failed"})
    assert [(s["id"], s["error_code"]) for s in response.json()["results"]] == [(failed.pk, "30")]
    assert client.get(f"/api/v1/campaigns/{campaign.pk}/sends/", {"status": "lost"}).status_code == 400


def test_campaign_sends_of_a_missing_campaign_is_404(client):
    assert client.get("/api/v1/campaigns/987654/sends/").status_code == 404


def test_campaign_sends_need_the_view_permission(api_client):
    campaign = CampaignFactory()
    assert api_client("campaigns.view_campaign").get(f"/api/v1/campaigns/{campaign.pk}/sends/").status_code == 403


def test_inbound_is_read_only_and_searchable_by_number(client):
    contact = ContactFactory(phone_number="+14155550101")
    stop = InboundMessage.objects.create(
        from_number="+14155550101", to_number="+14155550100", text="STOP", action="opt-out", contact=contact
    )
    InboundMessage.objects.create(from_number="+14155550102", to_number="+14155550100", text="what is this?")
    listed = client.get("/api/v1/inbound/", {"search": "(415) 555-0101"}).json()["results"]
    assert [(m["id"], m["action"], m["contact"]) for m in listed] == [(stop.pk, "opt-out", contact.pk)]
    assert client.get("/api/v1/inbound/", {"action": "none"}).json()["count"] == 1
    assert client.get("/api/v1/inbound/", {"search": "what"}).json()["count"] == 1
    assert client.get(f"/api/v1/inbound/{stop.pk}/").json()["text"] == "STOP"
    assert client.post("/api/v1/inbound/", {}, format="json").status_code == 405
    assert client.delete(f"/api/v1/inbound/{stop.pk}/").status_code == 405
