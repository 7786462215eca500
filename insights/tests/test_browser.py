"""The dashboard in a real browser, under the admin's Content-Security-Policy: figures, the SVG charts,
switching the period. Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from campaigns.tests.factories import CampaignFactory
from insights.services import daily_audience_add, daily_campaign_stats_add
from smscampaigns.roles import VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_the_dashboard_shows_the_period_its_charts_and_the_campaigns(browser, live_server, django_user_model):
    staff(django_user_model, "viewer", VIEWER)
    campaign = CampaignFactory(name="Spring sale", status=Campaign.Status.COMPLETED, started_at=timezone.now())
    today = timezone.localdate()
    for days_ago in range(60):
        daily_campaign_stats_add(
            campaign_id=campaign.pk,
            deltas={"sent_count": 100 + days_ago, "delivered_count": 90, "failed_count": 5},
            cost=Decimal("0.55"),
            failed_by_error_code={"30": 5},
            day=today - timedelta(days=days_ago),
        )
        daily_audience_add(day=today - timedelta(days=days_ago), gained=days_ago % 7, lost=days_ago % 3)
    page = logged_in_page(browser, live_server, "viewer")
    page.goto(f"{live_server.url}/admin/")
    dashboard = page.locator("#marketing-dashboard")
    expect(dashboard.locator("h2")).to_have_text("Last 30 days")
    expect(page.locator("#figure-delivered")).to_have_text(str(90 * 30))
    expect(dashboard.locator("svg.dashboard-svg")).to_have_count(3)
    expect(dashboard.locator("svg.dashboard-svg").first.locator("rect.bar-delivered")).to_have_count(30)
    expect(page.locator("#latest-campaigns")).to_contain_text("Spring sale")
    expect(page.locator("#failures-by-code")).to_contain_text("30")
    # The app list stays below, in the marketer's order.
    expect(page.locator("#content-main .app-campaigns")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "dashboard-30-days.png", full_page=True)

    page.click(".dashboard-periods a:text('90 days')")
    expect(dashboard.locator("h2")).to_have_text("Last 90 days")
    expect(page.locator("#figure-delivered")).to_have_text(str(90 * 60))
    page.click(".dashboard-periods a:text('7 days')")
    expect(page.locator("#figure-sent")).to_have_text(str(sum(100 + d for d in range(7))))
    page.screenshot(path=ARTIFACTS / "dashboard-7-days.png", full_page=True)
