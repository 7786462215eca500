"""Number lookups and sender pools in a real browser: a manager sees the estimated cost of looking a list
up before starting it, then follows the run (done by a real Celery worker against the Plivo simulator) to
its end; a manager sets up a sender pool and a campaign that sends from it."""

import pytest

from campaigns.models import Campaign, SenderPool
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from smscampaigns.roles import MANAGER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_manager_sees_the_cost_then_follows_a_list_lookup_to_its_end(
    browser, live_server, plivo_simulator_live, workers, django_user_model
):
    workers.start("w1", **plivo_simulator_live.env())
    contact_list = ContactListFactory(name="Autumn")
    for n in (2401, 2407, 2409):
        ContactFactory(phone_number=fictional_number(n)).lists.add(contact_list)
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")

    page.goto(f"{live_server.url}/admin/sends/lookuprun/add/")
    page.select_option("#id_contact_list", label="Autumn")
    page.click("#lookup-estimate-button")
    expect(page.locator("#lookup-estimate")).to_contain_text("3 numbers to look up")
    expect(page.locator("#lookup-estimated-cost")).to_have_text("0.012 USD")
    assert plivo_simulator_live.stats()["lookups"] == 0  # an estimate costs nothing
    page.screenshot(path=str(ARTIFACTS / "lookup-estimate.png"), full_page=True)

    page.click("#lookup-confirm")
    expect(page.locator("#lookup-progress")).to_be_visible()
    expect(page.locator("#lookup-status")).to_have_text("Done", timeout=60_000)
    expect(page.locator("#lookup-done")).to_have_text("3 of 3")
    page.screenshot(path=str(ARTIFACTS / "lookup-done.png"), full_page=True)
    assert sorted(Contact.objects.values_list("line_type", flat=True)) == ["fixed", "mobile", "voip"]


def test_manager_sets_up_a_sender_pool_and_a_campaign_that_sends_from_it(browser, live_server, django_user_model):
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")

    page.goto(f"{live_server.url}/admin/campaigns/senderpool/add/")
    page.fill("#id_name", "US numbers")
    page.fill("#id_pool_numbers", "+1 415 555 0190\n(212) 555-0190 5\nnot a number")
    page.fill("#id_rate_per_number", "2")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("line 3")  # the bad line is named, the rest kept
    expect(page.locator("#id_pool_numbers")).to_have_value("+1 415 555 0190\n(212) 555-0190 5\nnot a number")
    page.fill("#id_pool_numbers", "+1 415 555 0190\n(212) 555-0190 5")
    page.click("input[name=_save]")
    expect(page.locator("#result_list")).to_contain_text("US numbers")
    expect(page.locator("#result_list .field-rate")).to_have_text("7")  # 2 + 5 segments per second
    pool = SenderPool.objects.get()
    assert pool.number_rates() == {"+14155550190": 2, "+12125550190": 5}

    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Pooled")
    page.fill("#id_sender", "+14155550100")
    page.select_option("#id_sender_pool", label="US numbers")
    page.fill("#id_body", "Sale today")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("not both")
    page.fill("#id_sender", "")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Campaign.objects.get().sender_pool == pool
    page.screenshot(path=str(ARTIFACTS / "sender-pool-campaign.png"), full_page=True)
