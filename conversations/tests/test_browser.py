"""The inbox in Chromium against a live server and the Plivo simulator: a text arrives from the simulator and
shows as unread without a reload (the navigation's count, the tab's title, the list), a staff member opens
it and replies with the live segment counter, the simulator receives the reply, and its delivery report
turns the reply delivered on the open page."""

import re

import pytest

from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.tests.factories import ContactFactory
from conversations.models import Reply
from conversations.tests.conftest import OUR_NUMBER
from sends.services.delivery_reports import delivery_reports_drain
from smscampaigns.roles import EDITOR

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

UNREAD_TITLE = re.compile(r"^\(1\) ")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def test_a_text_arrives_unread_a_staff_member_replies_and_sees_it_delivered(
    browser, live_server, plivo_simulator_live, django_user_model, settings
):
    settings.INBOX_POLL_SECONDS = 2
    contact = ContactFactory(phone_number="+14155550172", first_name="Dana", last_name="Ruiz")
    staff(django_user_model, "editor", EDITOR)
    page = logged_in_page(browser, live_server, "editor")
    page.goto(f"{live_server.url}/admin/conversations/conversation/")
    expect(page.locator("#inbox-unread")).to_be_hidden()

    plivo_simulator_live.inbound(from_=str(contact.phone_number), to=OUR_NUMBER, text="Is the red one in stock?")
    # No reload: the badge, the tab's title and the list follow by polling.
    expect(page.locator("#inbox-unread")).to_have_text("1", timeout=20_000)
    expect(page).to_have_title(UNREAD_TITLE)
    row = page.locator("#result_list tbody tr", has_text="Dana Ruiz")
    expect(row).to_contain_text("Is the red one in stock?", timeout=20_000)
    page.screenshot(path=ARTIFACTS / "inbox-unread.png")

    row.locator("a", has_text="Dana Ruiz").click()
    expect(page.locator("#timeline")).to_contain_text("Is the red one in stock?")
    body = page.locator("#reply-form textarea[name=body]")
    body.fill("Yes! Size M and L today 🙂")
    expect(page.locator(".segment-counter")).to_have_attribute("data-encoding", "UCS-2")
    page.click("#reply-send")
    expect(page.locator(".messagelist")).to_contain_text("Reply sent to +14155550172")

    sent = [m for m in plivo_simulator_live.messages() if m["dst"] == "+14155550172"]
    assert [m["text"] for m in sent] == ["Yes! Size M and L today 🙂"]
    reply = Reply.objects.get(kind=Reply.Kind.STAFF)
    plivo_simulator_live.wait_for_status(reply.provider_message_uuid, "delivered")
    plivo_simulator_live.wait_for_callbacks()
    delivery_reports_drain()  # the webhook stored the report; the worker's drain applies it, here as it would
    status = page.locator(f'li[data-key="reply-{reply.pk}"] .delivery-status')
    expect(status).to_have_attribute("data-status", "delivered", timeout=30_000)
    expect(status).to_have_text("Delivered")
    expect(page.locator("#inbox-unread")).to_be_hidden()
    expect(page).not_to_have_title(UNREAD_TITLE)
    page.screenshot(path=ARTIFACTS / "inbox-conversation.png")
