"""The admin in a real browser (set-up: campaigns/tests/browser.py): the draft form and who sees which button."""

import pytest

from campaigns.models import Campaign
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from campaigns.tests.factories import CampaignFactory
from smscampaigns.roles import MANAGER, VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_segment_counter_switches_to_ucs2_when_an_emoji_is_typed(browser, live_server, django_user_model):
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    counter = page.locator(".segment-counter")
    page.fill("#id_body", "Autumn sale starts today at 9")
    playwright_api.expect(counter).to_have_attribute("data-encoding", "GSM-7")
    playwright_api.expect(counter.locator(".segment-counter-summary")).to_have_text("29 characters · 1 segment · GSM-7")
    page.locator("#id_body").press_sequentially(" 🎉" + " deal" * 10)
    playwright_api.expect(counter).to_have_attribute("data-encoding", "UCS-2")
    playwright_api.expect(counter.locator(".segment-counter-note")).to_have_text(
        "🎉 forces UCS-2: 2 segments instead of 1"
    )
    page.screenshot(path=ARTIFACTS / "campaign-draft-ucs2-counter.png", full_page=True)

    page.fill("#id_name", "Autumn sale")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("Reply STOP to opt out")
    assert Campaign.objects.get(name="Autumn sale").body.endswith("\nReply STOP to opt out")


def test_segment_counter_warns_over_the_ceiling_and_the_save_is_refused_on_the_field(
    browser, live_server, django_user_model, settings
):
    settings.SMS_MAX_SEGMENTS = 2
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    warning = page.locator(".segment-counter-warning")
    page.fill("#id_body", "a" * 300)
    playwright_api.expect(warning).to_be_hidden()
    page.fill("#id_body", "a" * 400)
    playwright_api.expect(warning).to_be_visible()
    playwright_api.expect(warning).to_contain_text("More than 2 segments")
    page.fill("#id_name", "Too long")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".field-body .errorlist")).to_contain_text("more than the 2 a message may cost")
    assert not Campaign.objects.filter(name="Too long").exists()


def test_a_viewer_is_not_offered_send_or_schedule(browser, live_server, django_user_model):
    staff(django_user_model, "manager", MANAGER)
    staff(django_user_model, "viewer", VIEWER)
    campaign = CampaignFactory(name="Winter promo")
    url = f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/"

    manager_page = logged_in_page(browser, live_server, "manager")
    manager_page.goto(url)
    actions = manager_page.locator("#campaign-actions")
    playwright_api.expect(actions.get_by_role("button", name="Send now")).to_be_visible()
    playwright_api.expect(actions.get_by_role("button", name="Schedule")).to_be_visible()
    playwright_api.expect(actions).to_contain_text("Send at (Europe/Paris)")  # the staff member's own zone
    manager_page.screenshot(path=ARTIFACTS / "campaign-page-manager.png", full_page=True)

    viewer_page = logged_in_page(browser, live_server, "viewer", timezone_id="America/New_York")
    viewer_page.goto(url)
    playwright_api.expect(viewer_page.locator("h1")).to_contain_text("View campaign")
    playwright_api.expect(viewer_page.get_by_role("button", name="Send now")).to_have_count(0)
    playwright_api.expect(viewer_page.get_by_role("button", name="Schedule")).to_have_count(0)
    playwright_api.expect(viewer_page.locator("input[name=_save]")).to_have_count(0)
    viewer_page.screenshot(path=ARTIFACTS / "campaign-page-viewer.png", full_page=True)
