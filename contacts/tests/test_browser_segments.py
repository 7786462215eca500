"""The segment rule builder in a real browser (set-up: campaigns/tests/browser.py): two groups joined by OR,
the live count following each change, and the save."""

import pytest

from campaigns.tests.browser import ARTIFACTS, logged_in_page, requires_chromium, staff
from contacts.models import CustomField, Segment
from contacts.selectors import segment_contacts
from contacts.services.custom_fields import custom_field_create
from contacts.services.tags import contacts_tag, tag_create
from contacts.tests.factories import ContactFactory
from smscampaigns.roles import EDITOR

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def condition(page, group: int, position: int):
    return page.locator(f'[data-group="{group}"] [data-condition="{position}"]')


def test_build_a_rule_of_two_groups_watch_the_live_count_and_save(browser, live_server, django_user_model):
    for _ in range(3):
        ContactFactory(country="US", first_name="Ann")
    ContactFactory(country="CA", first_name="Zed")
    ContactFactory(country="CA", first_name="zed")
    ContactFactory(country="CA", first_name="Bea")
    staff(django_user_model, "editor", EDITOR)
    page = logged_in_page(browser, live_server, "editor")
    page.goto(f"{live_server.url}/admin/contacts/segment/add/")
    count = page.locator("#segment-count")

    # Group 1: country is one of US.
    page.click('[data-group="1"] [data-role="add-condition"]')
    first = condition(page, 1, 1)
    first.locator('[data-role="field"]').select_option("country")
    first.locator('[data-role="operator"]').select_option("in")
    first.locator('[data-role="value"]').fill("US")
    playwright_api.expect(count).to_have_attribute("data-count", "3")
    playwright_api.expect(count).to_contain_text("3 contacts match now")

    # Group 2: first name equals zed; the groups joined by OR.
    page.click('[data-role="add-group"]')
    second = condition(page, 2, 1)
    second.locator('[data-role="field"]').select_option("first_name")
    second.locator('[data-role="operator"]').select_option("equals")
    second.locator('[data-role="value"]').fill("zed")
    # Both groups must hold while the top level says "all": nobody is American and named Zed.
    playwright_api.expect(count).to_have_attribute("data-count", "0")
    page.select_option('[data-role="match"]', "any")
    playwright_api.expect(count).to_have_attribute("data-count", "5")

    # An incomplete condition is named where it is, and not counted.
    page.click('[data-group="2"] [data-role="add-condition"]')
    third = condition(page, 2, 2)
    third.locator('[data-role="field"]').select_option("consented_at")
    third.locator('[data-role="operator"]').select_option("in_last_days")
    playwright_api.expect(page.locator("#segment-count-errors")).to_contain_text(
        "group 2, condition 2, field `value`: must be a whole number of days"
    )
    third.locator('[data-role="remove-condition"]').click()
    playwright_api.expect(count).to_have_attribute("data-count", "5")
    page.screenshot(path=ARTIFACTS / "segment-rule-builder.png", full_page=True)

    page.fill("#id_name", "Americans or Zeds")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    segment = Segment.objects.get(name="Americans or Zeds")
    assert segment.rules["match"] == "any"
    assert [len(group["conditions"]) for group in segment.rules["groups"]] == [1, 1]
    assert segment_contacts(rules=segment.rules).count() == 5
    # The saved rules come back into the builder.
    playwright_api.expect(condition(page, 2, 1).locator('[data-role="value"]')).to_have_value("zed")
    playwright_api.expect(count).to_have_attribute("data-count", "5")


def test_a_tag_and_a_custom_field_range_in_the_builder(browser, live_server, django_user_model):
    in_range = ContactFactory(attributes={"score": "15"})
    above = ContactFactory(attributes={"score": "30"})
    untagged = ContactFactory(attributes={"score": "12"})
    custom_field_create(key="score", label="Loyalty score", type=CustomField.Type.NUMBER)
    vip = tag_create(name="vip")
    contacts_tag(tag=vip, contact_ids=[in_range.pk, above.pk])
    assert untagged.pk  # has the score, not the tag
    staff(django_user_model, "editor", EDITOR)
    page = logged_in_page(browser, live_server, "editor")
    page.goto(f"{live_server.url}/admin/contacts/segment/add/")
    count = page.locator("#segment-count")

    page.click('[data-group="1"] [data-role="add-condition"]')
    tags = condition(page, 1, 1)
    tags.locator('[data-role="field"]').select_option("tags")
    tags.locator('[data-role="operator"]').select_option("has_any")
    tags.locator('[data-role="value"]').select_option(str(vip.pk))
    playwright_api.expect(count).to_have_attribute("data-count", "2")

    page.click('[data-group="1"] [data-role="add-condition"]')
    score = condition(page, 1, 2)
    score.locator('[data-role="field"]').select_option("custom_field")
    score.locator('[data-role="key"]').select_option("score")
    score.locator('[data-role="operator"]').select_option("between")
    score.locator('[data-bound="min"]').fill("10")
    score.locator('[data-bound="max"]').fill("20")
    playwright_api.expect(count).to_have_attribute("data-count", "1")
    score.locator('[data-bound="max"]').fill("40")
    playwright_api.expect(count).to_have_attribute("data-count", "2")

    page.fill("#id_name", "Loyal VIPs")
    page.click("input[name=_continue]")
    playwright_api.expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    conditions = Segment.objects.get(name="Loyal VIPs").rules["groups"][0]["conditions"]
    assert conditions == [
        {"field": "tags", "operator": "has_any", "value": [vip.pk]},
        {"field": "custom_field", "operator": "between", "value": {"min": 10, "max": 40}, "key": "score"},
    ]
