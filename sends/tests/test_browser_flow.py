"""The whole admin flow in a real browser against a live server and the real engine: a manager logs in,
imports a CSV, drafts a campaign (the segment counter reacts to an emoji), sends a test to their phone,
previews the campaign, sends it, and watches the delivered count arrive from the Plivo simulator; a Viewer
is refused the send button.

Everything is real: chromium driven by Playwright (campaigns/tests/browser.py), pytest-django's live server,
a Celery worker with its beat on this run's database and broker (the import and the sending), the plivo
backend through the official SDK against the simulator, whose signed delivery reports reach the live
server's webhook. Screenshots go to test-artifacts/.
"""

from datetime import time

import pytest

from campaigns.models import Campaign
from campaigns.quiet_hours import DEFAULT_QUIET_HOURS_RULES
from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from campaigns.tests.factories import CampaignFactory
from contacts.models import Suppression
from contacts.tests.factories import SuppressionFactory
from sends.tests.conftest import wait_for
from smscampaigns.roles import MANAGER, VIEWER

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_api.expect

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]

SENDER = "+14155550100"
MY_PHONE = "(415) 555-0142"
CSV = (
    "phone,first_name,last_name,city\n"
    "(415) 555-0121,Ann,Lee,Oakland\n"
    "415.555.0122,Bea,Kim,Fresno\n"
    "+1 415 555 0123,Cem,Ota,Davis\n"
    "not a number,Dan,Roe,Napa\n"
)
# The "Reply STOP" footer is added on save; the emoji takes the text out of GSM-7.
BODY = "Hi {{ first_name }}, the autumn sale opens today in {{ city }}"
EMOJI = " 🍂"
# The delivered count on the campaign page: its "Delivered count" field, or the row of the progress panel
# (being built on another branch) that is to replace the counter fields.
DELIVERED_SHOWN = '.field-delivered_count .readonly, #campaign-progress tr[data-status="delivered"] td'


def test_manager_imports_drafts_previews_sends_and_sees_deliveries_and_a_viewer_cannot_send(
    browser, live_server, plivo_simulator_live, workers, django_user_model, settings
):
    # Every hour may be a sending hour, in the worker and on the preview alike (both judge quiet hours).
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(0, 0), time.max
    settings.QUIET_HOURS_RULES = dict.fromkeys(DEFAULT_QUIET_HOURS_RULES)
    workers.start("w1", PLIVO_SENDER=SENDER, **plivo_simulator_live.env())
    staff(django_user_model, "manager", MANAGER)
    staff(django_user_model, "viewer", VIEWER)
    page = logged_in_page(browser, live_server, "manager")

    # Import a CSV on the admin's "Import contacts" page; a worker runs it and the page follows it.
    page.goto(f"{live_server.url}/admin/contacts/contactimport/add/")
    page.set_input_files("#id_file", files=[{"name": "autumn.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.fill("#id_list_name", "Autumn customers")
    page.fill("#id_consent_source", "checkout form")
    page.click("input[type=submit]")
    # The mapping step: the columns as guessed from their headers are right, so it is confirmed as shown.
    page.click("#column-mapping input[type=submit]")
    expect(page.locator(".field-status .readonly")).to_have_text("Completed", timeout=60_000)
    expect(page.locator(".field-created .readonly")).to_have_text("3")
    expect(page.locator(".field-rejected .readonly")).to_have_text("1")
    # One imported number is on the do-not-call list: the preview must leave it out, and the engine too.
    SuppressionFactory(phone_number="+14155550123", reason=Suppression.Reason.DO_NOT_CALL)

    # Draft the campaign; the counter switches to UCS-2 the moment an emoji is typed.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Autumn sale")
    page.fill("#id_sender", SENDER)
    page.select_option("#id_lists_from", label="Autumn customers")
    page.click("#id_lists_add")
    page.fill("#id_body", BODY)
    counter = page.locator(".segment-counter")
    expect(counter).to_have_attribute("data-encoding", "GSM-7")
    page.locator("#id_body").press_sequentially(EMOJI)
    expect(counter).to_have_attribute("data-encoding", "UCS-2")
    expect(counter.locator(".segment-counter-note")).to_contain_text("🍂 forces UCS-2")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Reply STOP to opt out")
    campaign = Campaign.objects.get(name="Autumn sale")

    # Send a test to my phone first: rendered for a real recipient, through Plivo (the simulator).
    page.fill("#campaign-test-send #id_phone_number", MY_PHONE)
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".messagelist")).to_contain_text("Test sent to +14155550142 (2 segments): “Hi Ann, the")
    expect(page.locator("#campaign-test-send #id_phone_number")).to_have_value("+14155550142")  # remembered
    page.screenshot(path=ARTIFACTS / "campaign-draft-actions.png", full_page=True)

    # Send now leads to the preview: the audience, each exclusion, real recipients' messages.
    page.locator("#campaign-actions").get_by_role("button", name="Send now").click()
    expect(page.locator("h1")).to_have_text("Preview of Autumn sale")
    preview = page.locator(".campaign-preview")
    expect(preview.locator('[data-count="audience"]')).to_have_text("3")
    expect(preview.locator('[data-count="suppressed"]')).to_have_text("1")
    expect(preview.locator('[data-count="eligible"]')).to_have_text("2")
    expect(preview.locator('[data-count="encoding"]')).to_have_text("UCS-2 (forced by 🍂)")
    samples = preview.locator("tr.sample .sample-body")
    expect(samples).to_have_count(2)
    expect(samples.first).to_contain_text(f"Hi Ann, the autumn sale opens today in Oakland{EMOJI}")
    page.screenshot(path=ARTIFACTS / "campaign-preview.png", full_page=True)

    page.get_by_role("button", name="Confirm and send now").click()
    expect(page.locator(".messagelist")).to_contain_text("send now done")

    # The worker launches and sends it; the simulator's delivery reports reach the app; the page shows them.
    delivered = page.locator(DELIVERED_SHOWN).first

    def two_delivered_shown() -> bool:
        page.wait_for_timeout(1000)  # what a person watching would do: look again every second
        page.reload()
        return delivered.inner_text() == "2"

    wait_for(
        two_delivered_shown,
        timeout=120,
        message=lambda: f"2 delivered on the campaign page, it shows {delivered.inner_text()!r}",
        workers=workers,
    )
    page.screenshot(path=ARTIFACTS / "campaign-delivered.png", full_page=True)
    texts = {message["dst"]: message["text"] for message in plivo_simulator_live.messages()}
    assert set(texts) == {"+14155550142", "+14155550121", "+14155550122"}  # the test, then the campaign
    assert texts["+14155550122"] == f"Hi Bea, the autumn sale opens today in Fresno{EMOJI}\nReply STOP to opt out"
    assert all(message["src"] == SENDER for message in plivo_simulator_live.messages())
    campaign.refresh_from_db()
    assert (campaign.delivered_count, campaign.skipped_by_reason) == (2, {"suppressed": 1})

    # A Viewer: no send button on a draft, no confirmation on its preview, and a forged send is refused.
    draft = CampaignFactory(name="Winter promo")
    viewer = logged_in_page(browser, live_server, "viewer", timezone_id="America/New_York")
    viewer.goto(f"{live_server.url}/admin/campaigns/campaign/{draft.pk}/change/")
    expect(viewer.locator("h1")).to_contain_text("View campaign")
    expect(viewer.get_by_role("button", name="Send now")).to_have_count(0)
    viewer.screenshot(path=ARTIFACTS / "campaign-page-viewer-refused.png", full_page=True)
    viewer.goto(f"{live_server.url}/admin/campaigns/campaign/{draft.pk}/preview/")
    expect(viewer.locator("#campaign-confirm")).to_contain_text("sending and scheduling are for marketing managers")
    expect(viewer.get_by_role("button", name="Confirm and send now")).to_have_count(0)
    status = viewer.evaluate(
        """async (url) => {
            const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;  // the logout form's
            const response = await fetch(url, {method: "POST", headers: {"X-CSRFToken": csrf}});
            return response.status;
        }""",
        f"/admin/campaigns/campaign/{draft.pk}/action/send_now/",
    )
    assert status == 403
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
