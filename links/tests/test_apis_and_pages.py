"""Where the clicks show: the links API, the sends API's clicks per send, the stats API, the campaign page."""

import pytest
from django.test import Client
from django.urls import reverse

from links.models import ShortLink
from links.services.clicks import link_clicks_flush
from links.tests.test_clicks import IPHONE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def clicked(campaign, *, people: int, previews: int = 0) -> list[ShortLink]:
    codes = list(ShortLink.objects.filter(link__campaign=campaign, link__position=0).order_by("send_id"))
    for short in codes[:people]:
        Client(HTTP_USER_AGENT=IPHONE).get(f"/l/{short.code}")
        Client(HTTP_USER_AGENT=IPHONE).get(f"/l/{short.code}")  # a repeat
    for short in codes[:previews]:
        Client(HTTP_USER_AGENT="WhatsApp/2.24.6.77 A").get(f"/l/{short.code}")
    link_clicks_flush()
    return codes


def test_the_links_api_gives_each_link_with_its_clicks(sent_campaign, api_client):
    campaign, _ = sent_campaign(4, utm_source="sms")
    clicked(campaign, people=2, previews=3)
    client = api_client("campaigns.view_campaign")
    body = client.get(f"/api/v1/campaigns/{campaign.pk}/links/").json()
    assert (body["campaign"], body["clicked"], body["delivered"]) == (campaign.pk, 2, 0)
    sale, faq = body["links"]
    assert (sale["url"], sale["destination"]) == (
        "https://shop.example.com/sale?ref=sms",
        "https://shop.example.com/sale?ref=sms&utm_source=sms",
    )
    assert (sale["clicked"], sale["clicks"], sale["previews"], sale["scanners"]) == (2, 4, 3, 0)
    assert (faq["clicked"], faq["clicks"]) == (0, 0)
    assert client.get(f"/api/v1/campaigns/{campaign.pk + 999}/links/").status_code == 404
    assert api_client().get(f"/api/v1/campaigns/{campaign.pk}/links/").status_code == 403


def test_the_sends_api_and_stats_carry_clicks(sent_campaign, api_client):
    campaign, _ = sent_campaign(3)
    codes = clicked(campaign, people=1)
    client = api_client("sends.view_campaignsend", "campaigns.view_campaign")
    rows = client.get(f"/api/v1/campaigns/{campaign.pk}/sends/").json()["results"]
    assert {row["id"]: row["clicks"] for row in rows} == {
        codes[0].send_id: 2,
        codes[1].send_id: 0,
        codes[2].send_id: 0,
    }
    assert client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()["clicked"] == 1


def test_the_campaign_page_shows_clicked_and_the_links_table(sent_campaign, client, staff_member):
    campaign, _ = sent_campaign(2)
    clicked(campaign, people=1, previews=1)
    client.force_login(staff_member("Viewer"))
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'data-clicked="1"' in page
    assert "% of delivered" in page
    assert 'id="campaign-links"' in page
    assert "https://shop.example.com/faq" in page
    progress = client.get(reverse("admin:campaigns_campaign_progress", args=[campaign.pk])).json()
    assert progress["clicked"] == 1
    assert progress["funnel"]["Clicked"] == 1


def test_a_campaign_without_links_shows_no_click_figures(sent_campaign, client, staff_member):
    campaign, _ = sent_campaign(1, body="Sale today. STOP to opt out")
    client.force_login(staff_member("Viewer"))
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "data-clicked" not in page
    assert 'id="campaign-links"' not in page
