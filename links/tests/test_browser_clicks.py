"""A campaign with a link, drafted and sent from the admin in a real browser: the live counter counts the short
link, the Plivo simulator delivers it, its recipients open their links, and the progress panel shows the
unique clicks arrive without a reload.

Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py. The engine and the click flush run
in this process (their Celery tasks, eagerly); the simulator's recipients fetch their short links from the
live server over HTTP.
"""

from datetime import time

import pytest

from campaigns.models import Campaign
from campaigns.quiet_hours import DEFAULT_QUIET_HOURS_RULES
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory
from links.models import Click, ShortLink
from links.services.clicks import link_clicks_flush
from links.tests.test_simulator_clicks import delivered
from sends.tests.engine import run_in_process
from smscampaigns.roles import MANAGER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]

# 150 characters of URL: two segments written out, one once it is a short link.
LONG_URL = "https://shop.example.com/autumn/sale?utm_content=text&ref=" + "x" * 92
BODY = f"Autumn sale today: {LONG_URL} Reply STOP to opt out"


def test_the_progress_panel_shows_unique_clicks_as_recipients_click(
    browser, live_server, plivo_simulator_live, django_user_model, settings
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(0, 0), time.max
    settings.QUIET_HOURS_RULES = dict.fromkeys(DEFAULT_QUIET_HOURS_RULES)
    audience = ContactListFactory(name="Autumn customers")
    for _ in range(3):
        contact_lists_add(contact=ContactFactory(), contact_lists=[audience])
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")

    # Draft it: the live counter counts the link as its short link while "Track links" is ticked.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Autumn sale")
    page.fill("#id_sender", "+12125550100")  # none of the factories' numbers
    page.select_option("#id_lists_from", label="Autumn customers")
    page.click("#id_lists_add")
    page.fill("#id_body", BODY)
    counter = page.locator(".segment-counter")
    expect(counter).to_have_attribute("data-segments", "1")
    page.uncheck("#id_track_links")
    expect(counter).to_have_attribute("data-segments", "2")
    page.check("#id_track_links")
    expect(counter).to_have_attribute("data-segments", "1")
    page.fill("#id_utm_source", "sms")
    page.click("input[name=_continue]")
    campaign = Campaign.objects.get(name="Autumn sale")

    page.locator("#campaign-actions").get_by_role("button", name="Send now").click()
    expect(page.locator('.campaign-preview [data-count="tracked-links"]')).to_contain_text("1 link tracked")
    expect(page.locator('.campaign-preview [data-count="segments-per-message"]')).to_have_text("1")
    page.get_by_role("button", name="Confirm and send now").click()
    expect(page.locator(".messagelist")).to_contain_text("send now done")

    run_in_process()  # the beat's launch and the chunks, here
    delivered(campaign, 3, plivo_simulator_live)
    texts = [message["text"] for message in plivo_simulator_live.messages()]
    assert all("http://testserver/l/" in text and "shop.example.com" not in text for text in texts)

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    clicked = page.locator("#campaign-progress .campaign-clicked")
    expect(clicked).to_have_attribute("data-clicked", "0")

    # A messaging app builds a preview of one recipient's link: not a person, counted apart.
    first = ShortLink.objects.filter(link__campaign=campaign).order_by("send_id").first()
    preview = page.context.request.get(
        f"{live_server.url}/l/{first.code}", headers={"User-Agent": "WhatsApp/2.24.6.77 A"}, max_redirects=0
    )
    assert preview.status == 302
    # The simulator's recipients open their links; the beat's flush writes the clicks.
    assert plivo_simulator_live.clicks(share=1.0) == {"clicking": 3}
    plivo_simulator_live.wait_for_callbacks()
    link_clicks_flush()
    assert Click.objects.filter(kind=Click.Kind.PREVIEW).count() == 1

    # The panel polls progress.json: the unique clicks show without a reload.
    expect(clicked).to_have_attribute("data-clicked", "3", timeout=20_000)
    expect(clicked).to_contain_text("100.0% of delivered")
    expect(page.locator("#campaign-progress .funnel-stage").last).to_contain_text("Clicked")
    page.reload()
    links = page.locator("#campaign-links tr[data-link='0']")
    expect(links.locator('[data-count="clicked"]')).to_have_text("3")
    expect(links.locator('[data-count="previews"]')).to_have_text("1")
    expect(links).to_contain_text("utm_source=sms")
    page.screenshot(path=ARTIFACTS / "campaign-clicks.png", full_page=True)
