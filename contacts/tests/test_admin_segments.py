"""The segments admin: the live count it answers the rule builder, and the pages of each role."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from contacts.models import Segment
from contacts.tests.factories import ContactFactory, SegmentFactory, rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
COUNT = "admin:contacts_segment_count"


def count(client, rule_set) -> tuple[int, dict]:
    text = rule_set if isinstance(rule_set, str) else json.dumps(rule_set)
    response = client.post(reverse(COUNT), {"rules": text})
    return response.status_code, response.json()


def test_the_live_count_follows_and_or_groups(client, staff_member):
    client.force_login(staff_member("Viewer"))  # counting is reading
    ContactFactory(country="US", first_name="Ann")
    ContactFactory(country="CA", first_name="Zed")
    ContactFactory(country="CA", first_name="Bea", consented_at=None, status="unsubscribed")
    us = ("country", "in", ["US"])
    zed = ("first_name", "equals", "zed")
    assert count(client, rules([us], [zed], match="all")) == (200, {"count": 0, "textable": 0})
    assert count(client, rules([us], [zed], match="any")) == (200, {"count": 2, "textable": 2})
    assert count(client, rules([("country", "in", ["CA"])])) == (200, {"count": 2, "textable": 1})


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ("{not json", "the rules are not JSON"),
        ("[" * 5 + "]" * 5, "the rules: must be an object with match and groups"),
        (
            json.dumps({"groups": [{"conditions": [{"field": "texted", "operator": "in_last_days"}]}]}),
            "group 1, condition 1, field `value`: must be a whole number of days from 1 to 3650",
        ),
        ("x" * 60_000, "the rules are too large (at most 50000 characters)"),
    ],
)
def test_the_live_count_names_what_is_wrong_and_where(client, staff_member, posted, error):
    client.force_login(staff_member("Viewer"))
    status, answer = count(client, posted)
    assert status == 400
    assert error in answer["errors"]


def test_saving_from_the_admin_goes_through_the_service_and_keeps_bad_rules_out(client, staff_member):
    client.force_login(staff_member("Marketing editor"))
    add = reverse("admin:contacts_segment_add")
    bad = rules([("country", "in", ["USA"])])
    page = client.post(add, {"name": "Americans", "description": "", "rules": json.dumps(bad)})
    assert page.status_code == 200
    assert "group 1, condition 1, field `value`: item 1: &#x27;USA&#x27; is not a two-letter" in page.content.decode()
    assert not Segment.objects.exists()
    good = rules([("country", "in", ["us"])])
    client.post(add, {"name": "Americans", "description": "", "rules": json.dumps(good)})
    segment = Segment.objects.get(name="Americans")
    assert segment.rules["groups"][0]["conditions"][0]["value"] == ["US"]
    assert AuditEvent.objects.filter(action="segment.created", target_id=str(segment.pk)).exists()


def test_a_viewer_reads_the_rules_without_the_builder(client, staff_member):
    client.force_login(staff_member("Viewer"))
    segment = SegmentFactory()
    page = client.get(reverse("admin:contacts_segment_change", args=[segment.pk])).content.decode()
    assert 'id="segment-builder"' not in page and "country" in page
    client.force_login(staff_member("Marketing editor", "editor2"))
    page = client.get(reverse("admin:contacts_segment_change", args=[segment.pk])).content.decode()
    assert 'id="segment-builder"' in page and 'data-count-url="/admin/contacts/segment/count/"' in page
