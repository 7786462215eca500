"""The admin in a real browser (set-up: campaigns/tests/browser.py): the import's column mapping step, and
tags added and removed in bulk from the contact list."""

from decimal import Decimal

import pytest

from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.models import Contact, ContactFieldValue, ContactImport, CustomField, Tag
from contacts.services.custom_fields import custom_field_create
from contacts.services.imports import contact_import_run_queued
from contacts.tests.factories import ContactFactory
from smscampaigns.roles import EDITOR

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_import_maps_the_columns_of_an_excel_unicode_text_file(browser, live_server, django_user_model):
    staff(django_user_model, "editor", EDITOR)
    custom_field_create(key="score", label="Score", type=CustomField.Type.NUMBER)
    # Excel's "Unicode Text": UTF-16 with a BOM, tab separated, CRLF.
    text = (
        "\ufeffMobile\tFull name\tPoints\tLabels\tNotes\r\n"
        "+14155550101\tZoë Ångström\t12\tvip, walk-in\tcall back\r\n"
        "+14155550102\tBo Li\tmany\tvip\t\r\n"
    )
    page = logged_in_page(browser, live_server, "editor")
    page.goto(f"{live_server.url}/admin/contacts/contactimport/add/")
    page.set_input_files(
        "#id_file", {"name": "export.txt", "mimeType": "text/plain", "buffer": text.encode("utf-16-le")}
    )
    page.fill("#id_consent_source", "spring fair sheet")
    page.click("input[type=submit]")

    playwright_api.expect(page.locator("#import-encoding")).to_contain_text("Read as UTF-16 (with BOM)")
    playwright_api.expect(page.locator("#column-mapping")).to_contain_text("Zoë Ångström")
    # Guessed from the headers: Mobile is the phone; the others are attributes until staff say otherwise.
    playwright_api.expect(page.locator("#id_column_0")).to_have_value("phone")
    page.select_option("#id_column_1", "name")
    page.select_option("#id_column_2", "field:score")
    page.select_option("#id_column_3", "tags")
    page.select_option("#id_column_4", "ignore")
    page.screenshot(path=ARTIFACTS / "contact-import-mapping.png", full_page=True)
    page.click("#column-mapping input[type=submit]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("is queued")

    record = ContactImport.objects.get()
    assert record.mapping == {
        "Mobile": "phone",
        "Full name": "name",
        "Points": "field:score",
        "Labels": "tags",
        "Notes": "ignore",
    }
    contact_import_run_queued(contact_import_id=record.pk)  # what the worker does with it
    page.reload()
    playwright_api.expect(page.locator(".field-status")).to_contain_text("Completed")
    playwright_api.expect(page.locator(".field-encoding")).to_contain_text("UTF-16 (with BOM)")
    playwright_api.expect(page.locator(".field-first_errors")).to_contain_text("line 3, Points: many")
    zoe = Contact.objects.get()
    assert (zoe.first_name, zoe.last_name, zoe.attributes) == ("Zoë", "Ångström", {"score": "12"})
    assert sorted(zoe.tags.values_list("name", flat=True)) == ["vip", "walk-in"]
    assert ContactFieldValue.objects.get(contact=zoe).value_number == Decimal(12)


def test_tags_are_added_and_removed_in_bulk_from_the_contact_list(browser, live_server, django_user_model):
    staff(django_user_model, "editor", EDITOR)
    vip = Tag.objects.create(name="vip")
    ann, bo = ContactFactory(first_name="Ann"), ContactFactory(first_name="Bo")
    ContactFactory(first_name="Cy")
    page = logged_in_page(browser, live_server, "editor")
    page.goto(f"{live_server.url}/admin/contacts/contact/")
    for contact in (ann, bo):
        page.check(f"input.action-select[value='{contact.pk}']")
    page.select_option("select[name=action]", "add_tag")
    page.click("button[name=index]")
    playwright_api.expect(page.locator("#content")).to_contain_text("2 contacts selected.")
    page.select_option("#id_tag", str(vip.pk))
    page.screenshot(path=ARTIFACTS / "contact-bulk-tag.png", full_page=True)
    page.click("input[type=submit][value='Add a tag']")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("2 contact(s) given the tag vip.")
    assert set(vip.contacts.values_list("first_name", flat=True)) == {"Ann", "Bo"}

    page.goto(f"{live_server.url}/admin/contacts/contact/?tags__id__exact={vip.pk}")
    page.check(f"input.action-select[value='{bo.pk}']")
    page.select_option("select[name=action]", "remove_tag")
    page.click("button[name=index]")
    page.select_option("#id_tag", str(vip.pk))
    page.click("input[type=submit][value='Remove a tag']")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("1 contact(s) relieved of the tag vip.")
    assert list(vip.contacts.values_list("first_name", flat=True)) == ["Ann"]
