"""An A/B test in a real browser: configured on the draft's A/B page (a live segment counter under each
variant), sent to its test share by the engine, then the campaign page shows the variants side by side with
their rates and intervals, and "Decide now" sends the rest the winner.

Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py."""

import pytest
from django.core.cache import cache

from campaigns.models import ABTest, Campaign
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from sends.models import CampaignSend, InboundMessage
from sends.tests.engine import run_in_process
from sends.tests.test_engine import make_campaign
from smscampaigns.roles import MANAGER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    requires_chromium,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_roles", "daytime", "sms_outbox"),
]
expect = playwright_api.expect


def test_a_manager_sets_up_an_ab_test_watches_it_and_decides(browser, live_server, django_user_model):
    manager = staff(django_user_model, "manager", MANAGER)
    campaign, _ = make_campaign(60)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("#campaign-ab-test-link a").click()
    page.fill("#id_variant_a", "Spring sale: 20% off today.")
    page.fill("#id_variant_b", "Today only: 20% off everything in store ☀")
    # The live counter under each variant: the sun forces UCS-2 in B.
    expect(page.locator(".field-variant_b .segment-counter-summary")).to_contain_text("UCS-2")
    expect(page.locator(".field-variant_a .segment-counter-summary")).to_contain_text("GSM-7")
    page.fill("#id_test_percent", "50")
    page.select_option("#id_metric", "reply_rate")
    page.click("input[type=submit].default")
    expect(page.locator(".messagelist")).to_contain_text("A/B test saved")
    expect(page.locator('.ab-variant-previews tr[data-variant="B"] td[data-count="encoding"]')).to_contain_text("UCS-2")
    page.screenshot(path=ARTIFACTS / "campaign-ab-test-draft.png", full_page=True)

    campaign.refresh_from_db()
    campaign_send_now(campaign=campaign, actor=manager)
    run_in_process(ticks=2)
    for send in CampaignSend.objects.filter(campaign=campaign, variant__label="B")[:20]:
        InboundMessage.objects.create(
            from_number=send.to_number, to_number="+14155550100", text="Which stores?", contact_id=send.contact_id
        )
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    panel = page.locator("#campaign-ab-test")
    expect(panel.locator('tr[data-variant="A"] .ab-trials')).to_have_text("15")
    expect(panel.locator('tr[data-variant="B"] .ab-rate')).to_contain_text("15: 100.0%")
    expect(panel.locator("svg.ab-interval")).to_have_count(2)
    expect(panel.locator(".ab-verdict")).to_contain_text("Leading: variant B")
    page.screenshot(path=ARTIFACTS / "campaign-ab-test-waiting.png", full_page=True)

    panel.get_by_role("button", name="Decide now").click()
    expect(page.locator(".messagelist")).to_contain_text("Variant B won")
    expect(page.locator("#campaign-ab-test .ab-verdict")).to_contain_text("significant at the confidence")
    ab_test = ABTest.objects.get(campaign=campaign)
    assert (ab_test.winner.label, ab_test.decided_by) == ("B", ABTest.DecidedBy.STATISTICS)
    # The live server queued the released sends' chunks for Celery workers this test does not run: forget
    # that window, and run the engine here instead.
    cache.clear()
    run_in_process()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert CampaignSend.objects.filter(campaign=campaign, variant__label="B").count() == 45
    page.screenshot(path=ARTIFACTS / "campaign-ab-test-decided.png", full_page=True)
