"""The sending rules in a real browser: a campaign set to go at each recipient's local time, its preview's
waves, and the frequency cap page managers change."""

import pytest

from audit.models import AuditEvent
from campaigns.caps import frequency_cap_in_force
from campaigns.models import Campaign
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from smscampaigns.roles import MANAGER, VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_a_manager_sets_a_local_time_schedule_and_the_preview_shows_the_waves(browser, live_server, django_user_model):
    staff(django_user_model, "manager", MANAGER)
    audience = ContactListFactory()
    for phone, zone in [("+33612345678", "Europe/Paris"), ("+33612345679", "Europe/Paris")]:
        ContactFactory(phone_number=phone, country="FR", timezone=zone).lists.add(audience)
    ContactFactory(phone_number="+12125550101", timezone="America/New_York").lists.add(audience)
    campaign = CampaignFactory(name="Morning sale", body="Sale today. STOP to opt out")
    campaign.lists.add(audience)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.select_option("#id_schedule_mode", "local_time")
    page.click("input[name=_continue]")
    # The time is missing: said on the field, nothing saved.
    playwright_api.expect(page.locator(".field-local_send_time .errorlist")).to_contain_text("needs that time")
    page.fill("#id_local_send_time", "10:00")
    page.check("input[name=local_time_passed][value=immediately]")
    page.fill("#id_skip_recent_hours", "24")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    campaign.refresh_from_db()
    assert (campaign.schedule_mode, f"{campaign.local_send_time:%H:%M}") == ("local_time", "10:00")
    assert (campaign.local_time_passed, campaign.skip_recent_hours) == ("immediately", 24)

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/preview/")
    waves = page.locator("table.campaign-preview-waves tr.wave")
    playwright_api.expect(waves).to_have_count(2)
    by_zone = {
        waves.nth(i).locator("td").nth(0).inner_text(): waves.nth(i).locator("td").nth(4).inner_text() for i in range(2)
    }
    assert by_zone == {"Europe/Paris": "2", "America/New_York": "1"}
    playwright_api.expect(waves.first.locator("td").nth(3)).to_contain_text("UTC")
    playwright_api.expect(page.locator("[data-count=recently-texted]")).to_have_text("0")
    page.screenshot(path=ARTIFACTS / "campaign-preview-local-time-waves.png", full_page=True)


def test_the_frequency_cap_page_is_changed_by_managers_and_read_by_viewers(browser, live_server, django_user_model):
    staff(django_user_model, "manager", MANAGER)
    staff(django_user_model, "viewer", VIEWER)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/campaigns/frequencycap/")
    playwright_api.expect(page.locator("h1")).to_contain_text("Change frequency cap")
    playwright_api.expect(page.locator(".field-in_force")).to_contain_text("No cap")
    page.fill("#id_max_messages", "3")
    page.fill("#id_window_days", "7")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".field-in_force")).to_contain_text(
        "At most 3 marketing messages per contact in any 7 days"
    )
    assert frequency_cap_in_force() == (3, 7)
    assert AuditEvent.objects.filter(action="frequency_cap.changed", actor__username="manager").exists()
    page.screenshot(path=ARTIFACTS / "frequency-cap-manager.png", full_page=True)

    viewer = logged_in_page(browser, live_server, "viewer")
    viewer.goto(f"{live_server.url}/admin/campaigns/frequencycap/")
    playwright_api.expect(viewer.locator("h1")).to_contain_text("View frequency cap")
    playwright_api.expect(viewer.locator("input[name=_save]")).to_have_count(0)
    assert Campaign.objects.count() == 0
