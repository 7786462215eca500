"""A sending campaign's page in a real browser: the progress panel follows the counters without a reload.

Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py."""

import pytest

from campaigns.models import Campaign
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from campaigns.tests.test_admin_progress import sending_campaign
from smscampaigns.roles import VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_the_progress_panel_of_a_sending_campaign_updates_itself(browser, live_server, django_user_model):
    staff(django_user_model, "viewer", VIEWER)
    campaign = sending_campaign(name="Spring sale")
    page = logged_in_page(browser, live_server, "viewer")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    panel = page.locator("#campaign-progress")
    playwright_api.expect(panel.locator(".campaign-progress-summary")).to_contain_text("60.0% done")
    playwright_api.expect(panel.locator("svg.campaign-funnel")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "campaign-page-sending.png", full_page=True)

    # The engine moves on: 300 more delivered. The panel polls progress.json and shows it, no reload.
    Campaign.objects.filter(pk=campaign.pk).update(queued_count=100, delivered_count=600)
    playwright_api.expect(page.locator("#campaign-progress .campaign-progress-summary")).to_contain_text(
        "90.0% done", timeout=15_000
    )
    playwright_api.expect(page.locator('#campaign-progress tr[data-status="delivered"] td').first).to_have_text("600")
    playwright_api.expect(page.locator("#campaign-progress .campaign-rate")).to_contain_text("messages/s")
    page.screenshot(path=ARTIFACTS / "campaign-page-sending-refreshed.png", full_page=True)
