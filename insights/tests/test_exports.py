"""A campaign's results as CSV, from the API and the admin: every recipient, streamed, spreadsheet-safe."""

import csv
import io
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from insights import exports
from sends.models import CampaignSend
from sends.tests.factories import CampaignSendFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
S = CampaignSend.Status


def read_csv(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def campaign():
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, name="Spring")
    CampaignSendFactory(
        campaign=campaign, contact=ContactFactory(first_name="=HYPERLINK(\"http://x\")"), status=S.DELIVERED,
        segments=2, cost=Decimal("0.01100"), provider_message_uuid="uuid-1",
    )  # fmt: skip
    CampaignSendFactory(campaign=campaign, status=S.UNDELIVERED, error_code="30", error_message="Spam detected")
    CampaignSendFactory(campaign=campaign, status=S.SKIPPED, skip_reason="opted_out")
    CampaignSendFactory(campaign=CampaignFactory(), status=S.DELIVERED)  # another campaign's: not exported
    return campaign


def test_the_api_streams_every_recipient_with_status_error_cost_and_segments(campaign, viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.get(f"/api/v1/campaigns/{campaign.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{campaign.pk}-results.csv"'
    rows = read_csv(response)
    assert [r["status"] for r in rows] == ["delivered", "undelivered", "skipped"]
    assert (rows[0]["segments"], rows[0]["cost"], rows[0]["provider_message_uuid"]) == ("2", "0.01100", "uuid-1")
    assert (rows[1]["error_code"], rows[1]["error_message"]) == ("30", "Spam detected")
    assert rows[2]["skip_reason"] == "opted_out"
    assert rows[0]["first_name"].startswith("'=")  # a formula typed into a name is shown, never run
    assert rows[0]["phone_number"].startswith("+")


def test_an_unknown_campaign_is_404_in_the_apis_format(viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.get("/api/v1/campaigns/999999/export/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_the_export_reads_in_batches_and_misses_nobody(campaign, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 2)
    for _ in range(3):
        CampaignSendFactory(campaign=campaign)
    rows = list(exports.campaign_results_rows(campaign=campaign))
    ids = [row[0] for row in rows[1:]]
    assert ids == sorted(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))


def test_the_admin_page_offers_the_export_and_streams_it(client, campaign, viewer):
    campaign.started_at = campaign.created_at
    campaign.save(update_fields=["started_at"])
    client.force_login(viewer)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f"/admin/campaigns/campaign/{campaign.pk}/export/" in page
    rows = read_csv(client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/"))
    assert len(rows) == 3


def test_a_draft_offers_no_export(client, viewer):
    draft = CampaignFactory()
    client.force_login(viewer)
    assert "/export/" not in client.get(f"/admin/campaigns/campaign/{draft.pk}/change/").content.decode()
