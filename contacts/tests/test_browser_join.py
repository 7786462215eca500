"""The sign-up page and the list-growth admin in Chromium (set-up: campaigns/tests/browser.py): a person fills
the form embedded on another site, gets the confirmation text at the simulator, replies Y through the
simulator's inbound, and staff find the contact subscribed with its evidence."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.models import Contact, ContactList, SubscriptionRequest
from contacts.services.subscriptions import contact_list_opt_in_update
from contacts.tests.factories import ContactListFactory, list_opt_in
from sends.tests.test_webhooks_simulator import eventually
from smscampaigns.roles import MANAGER, VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]
PERSON = "+14155550188"


@pytest.fixture
def shop_site():
    """Another site embedding the sign-up page as the admin's snippet does: a page served on another origin
    of this machine (Chromium refuses to let a public origin frame a local address)."""
    servers = []

    def serve(iframe: str) -> str:
        body = f"<!DOCTYPE html><html><body><h1>Shop</h1>{iframe}</body></html>".encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def growing_list() -> ContactList:
    contact_list = ContactListFactory(name="Deals")
    values = list_opt_in(welcome_message="Welcome to Acme Deals!", keywords=["JOIN"])
    return contact_list_opt_in_update(contact_list=contact_list, values=values)


def test_a_person_signs_up_in_an_embedded_form_confirms_by_text_and_staff_see_the_evidence(
    browser, live_server, plivo_simulator_live, settings, django_user_model, shop_site
):
    shop = shop_site(f'<iframe src="{live_server.url}/join/deals/" width="420" height="700"></iframe>')
    settings.JOIN_FRAME_ANCESTORS = ["'self'", shop]
    contact_list = growing_list()
    sim = plivo_simulator_live
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.goto(f"{shop}/")
    form = page.frame_locator("iframe")
    playwright_api.expect(form.locator("#disclosure")).to_contain_text("I agree to receive recurring marketing texts")
    playwright_api.expect(form.locator("#id_consent")).not_to_be_checked()
    # Submitted without ticking the box: the error is beside it, nothing is sent.
    form.locator("#id_phone").fill("(415) 555-0188")
    form.locator("button[type=submit]").click()
    playwright_api.expect(form.locator("#consent-error")).to_contain_text("required")
    assert sim.messages() == []
    form.locator("#id_consent").check()
    form.locator("button[type=submit]").click()
    playwright_api.expect(form.locator(".join-sent")).to_contain_text("Reply Y")
    page.screenshot(path=ARTIFACTS / "join-page-embedded.png", full_page=True)

    def confirmation_arrived():
        return [m for m in sim.messages() if m["dst"] == PERSON]

    eventually(confirmation_arrived)
    [confirmation] = sim.messages()
    assert "Acme Deals" in confirmation["text"] and "Msg & data rates may apply" in confirmation["text"]
    assert Contact.objects.get(phone_number=PERSON).status == Contact.Status.PENDING

    sim.inbound(from_=PERSON, to=settings.PLIVO_SENDER, text="Y")

    def subscribed():
        return Contact.objects.get(phone_number=PERSON).status == Contact.Status.SUBSCRIBED

    eventually(subscribed)
    request = SubscriptionRequest.objects.get()
    assert request.status == SubscriptionRequest.Status.CONFIRMED
    assert request.page_url == f"{live_server.url}/join/deals/"
    assert request.ip == "127.0.0.1" and "Chrome" in request.user_agent
    assert request.disclosure_version == contact_list.disclosure_version
    assert request.confirmation_message_uuid == confirmation["uuid"] and request.reply_text == "Y"
    contact = Contact.objects.get(phone_number=PERSON)
    assert list(contact.lists.all()) == [contact_list]

    # Staff (a viewer is enough) read the evidence on the contact's page and on the request's page.
    staff(django_user_model, "viewer", VIEWER)
    admin = logged_in_page(browser, live_server, "viewer")
    admin.goto(f"{live_server.url}/admin/contacts/contact/{contact.pk}/change/")
    requests_field = admin.locator(".field-subscription_requests")
    playwright_api.expect(requests_field).to_contain_text("Confirmed")
    playwright_api.expect(requests_field).to_contain_text("reply “Y”")
    playwright_api.expect(admin.locator(".field-consent_text")).to_contain_text(request.page_url)
    requests_field.locator("a").first.click()
    playwright_api.expect(admin.locator(".field-confirmation_text")).to_contain_text("Msg & data rates may apply")
    playwright_api.expect(admin.locator(".field-user_agent")).to_contain_text("Chrome")
    admin.screenshot(path=ARTIFACTS / "subscription-request-evidence.png", full_page=True)


def test_staff_set_keywords_and_the_sign_up_page_and_copy_the_embed_snippet(
    browser, live_server, django_user_model, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    contact_list = ContactListFactory(name="Deals")
    staff(django_user_model, "manager", MANAGER)
    page = logged_in_page(browser, live_server, "manager")
    page.goto(f"{live_server.url}/admin/contacts/contactlist/{contact_list.pk}/change/")
    page.fill("#id_list_keywords", "join, stop")
    page.fill("#id_slug", "deals")
    page.fill("#id_disclosure_text", "I agree to Acme texts.")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".errornote, .errorlist").first).to_be_visible()
    playwright_api.expect(page.locator(".errorlist")).to_contain_text("STOP word")
    page.fill("#id_list_keywords", "join, sale")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    snippet = page.locator(".embed-snippet")
    playwright_api.expect(snippet).to_contain_text(f'<iframe src="{live_server.url}/join/deals/"')
    page.screenshot(path=ARTIFACTS / "list-growth-admin.png", full_page=True)
    contact_list.refresh_from_db()
    assert sorted(contact_list.keywords.values_list("keyword", flat=True)) == ["JOIN", "SALE"]
    assert contact_list.slug == "deals" and contact_list.disclosure_version == 2
    page.goto(f"{live_server.url}/join/deals/")
    playwright_api.expect(page.locator("#disclosure")).to_have_text("I agree to Acme texts.")
