"""The policies in a real browser: Swagger UI works under them, and a hostile name in the preview is text.

Set-up, and the watch that fails any browser test on a policy violation in the console: campaigns/tests/browser.py.
"""

import pytest
from django.urls import reverse

from campaigns.tests.browser import logged_in_page, requires_chromium, staff
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from smscampaigns.roles import VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_runs_under_the_policy(browser, live_server):
    page = browser.new_page()
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("smscampaigns API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()


def test_a_contacts_hostile_name_in_the_preview_is_shown_as_text_and_never_runs(
    browser, live_server, django_user_model, staff_roles
):
    contact_list = ContactListFactory()
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    ContactFactory(first_name=name).lists.add(contact_list)
    campaign = CampaignFactory(body="Hi {{ first_name }} & co")
    campaign.lists.add(contact_list)
    staff(django_user_model, "watcher", VIEWER)
    page = logged_in_page(browser, live_server, "watcher")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_preview', args=[campaign.pk])}")
    expect(page.locator(".sample-body").first).to_have_text(f"Hi {name} & co")
    assert page.locator(".campaign-preview img[src=x]").count() == 0
    assert dialogs == []
