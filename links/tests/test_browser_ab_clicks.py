"""An A/B test decided by clicks, in a real browser: a manager gives two variants, each with a tracked link and
B with a sender of its own, and launches the test share from the preview; the Plivo simulator delivers it and
its recipients open their links, B's far more often than A's; after the waiting period the engine's beat picks
B on its own, the campaign page shows both variants side by side with their click rates, intervals, the
decision and why, and the rest of the audience gets B's text from B's sender.

Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py. The engine, its beat and the click
flush run in this process; the simulator's recipients fetch their short links from the live server over HTTP.
The split (the test's seed) and who clicks (the simulator's seed) are fixed, so every run plays the same.
"""

from collections import Counter
from datetime import timedelta

import pytest

from campaigns.models import ABTest, Campaign
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from links.models import Click
from links.services.clicks import link_clicks_flush
from links.tests.test_simulator_clicks import delivered
from sends.models import CampaignSend
from sends.tests.engine import run_in_process
from sends.tests.test_engine import make_campaign
from smscampaigns.roles import MANAGER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]

CAMPAIGN_SENDER = "+12125550100"  # none of the factories' numbers
B_SENDER = "+12125550177"
TEXT_A = "Spring sale: 20% off at https://shop.example.com/spring"
TEXT_B = "Today only: 20% off everything at https://shop.example.com/today"


def test_clicks_decide_an_ab_test_and_the_rest_gets_the_winner_from_its_sender(
    browser, live_server, plivo_simulator_live, django_user_model, daytime
):
    live_url = live_server.url
    staff(django_user_model, "manager", MANAGER)
    campaign, _ = make_campaign(60)
    Campaign.objects.filter(pk=campaign.pk).update(sender=CAMPAIGN_SENDER)
    page = logged_in_page(browser, live_server, "manager")

    # The A/B page: two texts with a link each, B from its own number, judged on unique clicks.
    page.goto(f"{live_url}/admin/campaigns/campaign/{campaign.pk}/ab-test/")
    page.fill("#id_variant_a", TEXT_A)
    page.fill("#id_variant_b", TEXT_B)
    page.fill("#id_sender_b", B_SENDER)
    page.fill("#id_test_percent", "50")
    page.select_option("#id_metric", "click_rate")
    page.fill("#id_wait_minutes", "60")
    page.click("input[type=submit].default")
    expect(page.locator(".messagelist")).to_contain_text("A/B test saved")
    previews = page.locator(".ab-variant-previews")
    expect(previews.locator('tr[data-variant="A"] td[data-count="sender"]')).to_have_text(
        f"the campaign's: {CAMPAIGN_SENDER}"
    )
    expect(previews.locator('tr[data-variant="B"] td[data-count="sender"]')).to_have_text(B_SENDER)
    ABTest.objects.filter(campaign=campaign).update(seed=20260602)  # the same split every run

    # Launched from its preview, as staff launch any campaign.
    page.goto(f"{live_url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("#campaign-actions").get_by_role("button", name="Send now").click()
    page.get_by_role("button", name="Confirm and send now").click()
    expect(page.locator(".messagelist")).to_contain_text("send now done")

    # The test share goes out (15 of each variant), the rest is held; the simulator delivers it.
    plivo_simulator_live.set_faults(seed=7)  # who clicks, below
    run_in_process()
    delivered(campaign, 30, plivo_simulator_live)
    plivo_simulator_live.wait_for_callbacks()
    tested = {m["dst"]: m for m in plivo_simulator_live.messages()}
    assert Counter(m["src"] for m in tested.values()) == {CAMPAIGN_SENDER: 15, B_SENDER: 15}
    assert all("/l/" in m["text"] and "shop.example.com" not in m["text"] for m in tested.values())
    assert CampaignSend.objects.filter(campaign=campaign, status=CampaignSend.Status.HELD).count() == 30

    # B's recipients click far more often than A's.
    plivo_simulator_live.clicks(share=0.9, src=B_SENDER)
    plivo_simulator_live.clicks(share=0.1, src=CAMPAIGN_SENDER)
    plivo_simulator_live.wait_for_callbacks()
    link_clicks_flush()
    clicked = Counter(
        Click.objects.filter(kind=Click.Kind.CLICK, send__campaign=campaign).values_list(
            "send__variant__label", flat=True
        )
    )
    assert clicked["B"] >= clicked["A"] + 8, clicked

    # While it waits: side by side, with rates, intervals and who leads.
    page.goto(f"{live_url}/admin/campaigns/campaign/{campaign.pk}/change/")
    panel = page.locator("#campaign-ab-test")
    expect(panel).to_contain_text("Deciding after")
    for label, sender in (("A", f"the campaign's: {CAMPAIGN_SENDER}"), ("B", B_SENDER)):
        row = panel.locator(f'tr[data-variant="{label}"]')
        expect(row.locator(".ab-trials")).to_have_text("15")
        expect(row.locator(".ab-sender")).to_have_text(sender)
        expect(row.locator(".ab-rate")).to_contain_text(f"{clicked[label]}: {clicked[label] / 15 * 100:.1f}%")
    expect(panel.locator("svg.ab-interval")).to_have_count(2)
    expect(panel.locator(".ab-verdict")).to_contain_text("Leading: variant B")
    expect(panel.locator(".ab-verdict")).to_contain_text("significant at 95%")
    page.screenshot(path=ARTIFACTS / "campaign-ab-clicks-waiting.png", full_page=True)

    # The waiting period ends: the beat decides by the statistics and sends the rest the winner.
    daytime.shift(timedelta(minutes=61))
    run_in_process()
    ab_test = ABTest.objects.get(campaign=campaign)
    assert (ab_test.winner.label, ab_test.decided_by) == ("B", ABTest.DecidedBy.STATISTICS)
    assert ab_test.decision["significant"] and ab_test.decision["p_value"] < 0.05
    delivered(campaign, 60, plivo_simulator_live)
    everyone = plivo_simulator_live.messages()
    assert Counter(m["dst"] for m in everyone) == dict.fromkeys({m["dst"] for m in everyone}, 1)  # once each
    rest = [m for m in everyone if m["dst"] not in tested]
    assert len(rest) == 30 and {m["src"] for m in rest} == {B_SENDER}
    assert all(m["text"].startswith("Today only: 20% off everything at ") for m in rest)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED

    page.reload()
    verdict = panel.locator(".ab-verdict")
    expect(verdict).to_contain_text("Winner: variant B, significant at the confidence")
    expect(verdict).to_contain_text(", significant)")
    expect(panel.locator('tr[data-variant="B"] th')).to_contain_text("(winner)")
    # The rates stay the test share's: the rest got B after the test, and does not dilute it.
    expect(panel.locator('tr[data-variant="B"] .ab-trials')).to_have_text("15")
    expect(panel.get_by_role("button", name="Decide now")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "campaign-ab-clicks-decided.png", full_page=True)
