"""Event webhooks in the admin, in a real browser: a manager registers an endpoint, sees each delivery with its
attempts, and replays one. Set-up (chromium, Playwright, the live server): campaigns/tests/browser.py."""

import pytest

from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services.delivery import webhook_endpoint_deliver
from sends.tests.factories import sent_send
from sends.tests.plivo_callbacks import record_and_drain, status_payload
from smscampaigns.roles import MANAGER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_a_manager_registers_an_endpoint_reads_the_attempts_and_replays(
    browser, live_server, django_user_model, receiver
):
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/integrations/webhookendpoint/add/")
    page.fill("#id_url", receiver.url)
    page.fill("#id_description", "CRM sync")
    page.check("input[name=events][value='send.delivered']")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["send.delivered"]
    receiver.secret = endpoint.secret

    receiver.statuses = [500]
    send = sent_send()
    record_and_drain(status_payload(message_uuid=send.provider_message_uuid, status="delivered", to=send.to_number))
    webhook_endpoint_deliver(endpoint_id=endpoint.pk)
    delivery = WebhookDelivery.objects.get()
    page.goto(f"{live_server.url}/admin/integrations/webhookdelivery/{delivery.pk}/change/")
    expect(page.locator("#content")).to_contain_text("send.delivered")
    expect(page.locator(".inline-group")).to_contain_text("500")
    page.screenshot(path=ARTIFACTS / "webhook-delivery.png", full_page=True)

    page.goto(f"{live_server.url}/admin/integrations/webhookdelivery/")
    page.check(f"input[name=_selected_action][value='{delivery.pk}']")
    page.select_option("select[name=action]", "replay")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("1 event(s) will be sent again")
    assert WebhookDelivery.objects.filter(replay_of=delivery).exists()
