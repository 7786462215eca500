"""Segments: each condition and operator of contacts' own, AND/OR, the strict validation of the rules and its
messages, and the audience of included and excluded lists and segments. Against the real database."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from contacts.models import Contact, ContactFieldValue, ContactTag, CustomField, Tag
from contacts.selectors import contacts_in_audience, segment_contacts, segment_count
from contacts.services.lists import contact_list_add_contacts
from contacts.services.segments import segment_create, segment_delete, segment_update
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, condition_dict, rules
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db


def matched(rule_set: dict) -> set[int]:
    return set(segment_contacts(rules=rule_set).values_list("pk", flat=True))


@pytest.fixture
def people():
    now = timezone.now()
    return {
        "ann": ContactFactory(
            first_name="Ann",
            last_name="Lee",
            country="US",
            timezone="America/New_York",
            consented_at=now - timedelta(days=3),
            consent_source="Checkout form",
        ),
        "bob": ContactFactory(
            first_name="Bob",
            last_name="",
            country="CA",
            timezone="",
            consented_at=now - timedelta(days=40),
            consent_source="kiosk",
        ),
        "cy": ContactFactory(
            first_name="Cyril",
            last_name="Annan",
            country="GB",
            timezone="Europe/London",
            status=Contact.Status.UNSUBSCRIBED,
            consented_at=None,
            consent_source="",
        ),
    }


def ids(people, *names) -> set[int]:
    return {people[name].pk for name in names}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("first_name", "equals", "ann"), {"ann"}),
        (("first_name", "not_equals", "ann"), {"bob", "cy"}),
        (("first_name", "contains", "Y"), {"cy"}),
        (("last_name", "not_contains", "ann"), {"ann", "bob"}),
        (("first_name", "starts_with", "b"), {"bob"}),
        (("last_name", "is_empty", None), {"bob"}),
        (("last_name", "is_not_empty", None), {"ann", "cy"}),
        (("country", "in", ["us", "CA"]), {"ann", "bob"}),
        (("country", "not_in", ["US"]), {"bob", "cy"}),
        (("timezone", "in", ["Europe/London"]), {"cy"}),
        (("timezone", "not_in", ["Europe/London"]), {"ann", "bob"}),
        (("timezone", "is_empty", None), {"bob"}),
        (("timezone", "is_not_empty", None), {"ann", "cy"}),
        (("status", "in", ["unsubscribed"]), {"cy"}),
        (("status", "not_in", ["unsubscribed"]), {"ann", "bob"}),
        (("consented_at", "in_last_days", 7), {"ann"}),
        (("consented_at", "more_than_days_ago", 7), {"bob"}),
        (("consented_at", "is_empty", None), {"cy"}),
        (("consented_at", "is_not_empty", None), {"ann", "bob"}),
        (("consent_source", "equals", "CHECKOUT FORM"), {"ann"}),
        (("consent_source", "is_empty", None), {"cy"}),
    ],
)
def test_each_contact_condition_and_operator_matches_exactly_its_contacts(people, condition, expected):
    assert matched(rules([condition])) == ids(people, *expected)


def test_date_operators_count_whole_days_in_the_project_time_zone(people):
    today = timezone.localdate()
    ann_day = timezone.localtime(people["ann"].consented_at).date()
    assert matched(rules([("consented_at", "before", ann_day.isoformat())])) == ids(people, "bob")
    assert matched(rules([("consented_at", "after", (ann_day - timedelta(days=1)).isoformat())])) == ids(people, "ann")
    between = {"from": ann_day.isoformat(), "to": ann_day.isoformat()}
    assert matched(rules([("consented_at", "between", between)])) == ids(people, "ann")
    assert matched(rules([("consented_at", "between", {"to": today.isoformat()})])) == ids(people, "ann", "bob")
    assert matched(rules([("created_at", "in_last_days", 1)])) == ids(people, "ann", "bob", "cy")


def test_list_conditions_read_memberships(people):
    vip, other = ContactListFactory(), ContactListFactory()
    contact_list_add_contacts(contact_list=vip, contact_ids=[people["ann"].pk, people["bob"].pk])
    contact_list_add_contacts(contact_list=other, contact_ids=[people["bob"].pk])
    assert matched(rules([("lists", "in_any", [vip.pk])])) == ids(people, "ann", "bob")
    assert matched(rules([("lists", "in_none", [other.pk])])) == ids(people, "ann", "cy")


def test_conditions_of_a_group_and_groups_combine_as_all_or_any(people):
    us_or_ca = ("country", "in", ["US", "CA"])
    recent = ("consented_at", "in_last_days", 7)
    assert matched(rules([us_or_ca, recent])) == ids(people, "ann")
    any_group = rules([us_or_ca, recent])
    any_group["groups"][0]["match"] = "any"
    assert matched(any_group) == ids(people, "ann", "bob")
    # (US and recent) OR (GB): two groups joined by "any".
    assert matched(rules([us_or_ca, recent], [("country", "in", ["GB"])], match="any")) == ids(people, "ann", "cy")
    assert matched(rules([us_or_ca], [("country", "in", ["GB"])], match="all")) == set()


def test_the_count_says_how_many_match_and_how_many_may_be_texted(people):
    counted = segment_count(rules=rules([("first_name", "is_not_empty")]))
    assert (counted.matching, counted.textable) == (3, 2)  # Cyril has no consent


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ([], "the rules: must be an object"),
        ({"groups": []}, "field `groups`: must be a non-empty list"),
        ({"match": "some", "groups": [{"conditions": [condition_dict("country", "in", ["US"])]}]}, "field `match`"),
        ({"groups": [{"conditions": []}]}, "group 1, field `conditions`: must be a non-empty list"),
        ({"groups": [{"conditions": [condition_dict("shoe_size", "in", [1])]}]}, "group 1, condition 1, field `field`"),
        (
            rules([("country", "in", ["US"])], [("country", "in", ["US"]), ("country", "contains", "U")]),
            "group 2, condition 2, field `operator`",
        ),
        (rules([("country", "in", ["USA"])]), "group 1, condition 1, field `value`: item 1: 'USA' is not a two-letter"),
        (rules([("consented_at", "in_last_days", 0)]), "field `value`: must be a whole number of days from 1 to 3650"),
        (rules([("consented_at", "in_last_days", "7")]), "field `value`: must be a whole number of days"),
        (rules([("consented_at", "in_last_days", True)]), "field `value`: must be a whole number of days"),
        (rules([("consented_at", "before", "2026-13-01")]), "field `value`: '2026-13-01' is not a date"),
        (
            rules([("consented_at", "between", {"from": "2026-02-01", "to": "2026-01-01"})]),
            "'from' must not be after 'to'",
        ),
        (rules([("last_name", "is_empty", "x")]), "field `value`: takes no value"),
        (rules([("first_name", "equals", "x" * 256)]), "must be at most 255 characters"),
        (rules([("first_name", "equals", "a\x00b")]), "must not contain NUL"),
        (rules([("timezone", "in", ["Mars/Olympus"])]), "'Mars/Olympus' is not an IANA time zone"),
        (rules([("status", "in", ["gold"])]), f"'gold' is not one of {', '.join(sorted(Contact.Status.values))}"),
        (rules([("lists", "in_any", [999999])]), "no list with id 999999"),
        (rules([("country", "in", ["US"] * 201)]), "at most 200 items"),
        (
            {"groups": [{"conditions": [{**condition_dict("country", "in", ["US"]), "colour": 1}]}]},
            "field `colour`: unknown key",
        ),
        ({"groups": [{"conditions": [condition_dict("country", "in", ["US"])]}] * 11}, "at most 10 groups"),
    ],
)
def test_invalid_rules_are_refused_saying_where(bad, where):
    with pytest.raises(ApplicationError) as refused:
        segment_create(name="Bad", rules=bad)
    assert refused.value.field == "rules"
    assert any(where in problem for problem in refused.value.errors["rules"]), refused.value.errors
    assert refused.value.message.startswith("the rules are not valid: ")


def test_every_fault_is_listed_not_only_the_first():
    bad = rules([("country", "in", ["USA"]), ("consented_at", "in_last_days", -1)], [("x", "in", [])])
    with pytest.raises(ApplicationError) as refused:
        segment_create(name="Bad", rules=bad)
    assert [problem.split(":")[0] for problem in refused.value.errors["rules"]] == [
        "group 1, condition 1, field `value`",
        "group 1, condition 2, field `value`",
        "group 2, condition 1, field `field`",
    ]


def test_segments_are_saved_cleaned_renamed_and_deleted_with_their_audit_trail():
    segment = segment_create(name="Americas", rules=rules([("country", "in", ["us", "ca", "US"])]))
    assert segment.rules["groups"][0]["conditions"][0]["value"] == ["US", "CA"]
    with pytest.raises(ApplicationError, match="already exists"):
        segment_create(name="Americas", rules=segment.rules)
    segment_update(segment=segment, name="The Americas", rules=rules([("country", "in", ["MX"])]))
    segment.refresh_from_db()
    assert (segment.name, segment.rules["groups"][0]["conditions"][0]["value"]) == ("The Americas", ["MX"])
    segment_delete(segment=segment)
    actions = AuditEvent.objects.filter(target_type="contacts.segment").values_list("action", flat=True)
    assert sorted(actions) == ["segment.created", "segment.deleted", "segment.updated"]


def test_an_audience_is_lists_and_segments_minus_excluded_ones_each_person_once(people):
    vip, blocked = ContactListFactory(), ContactListFactory()
    contact_list_add_contacts(contact_list=vip, contact_ids=[people["ann"].pk, people["bob"].pk])
    contact_list_add_contacts(contact_list=blocked, contact_ids=[people["bob"].pk])
    gb = SegmentFactory(rules=rules([("country", "in", ["GB"])]))
    us = SegmentFactory(rules=rules([("country", "in", ["US"])]))

    def audience(**parts) -> set[int]:
        found = list(contacts_in_audience(**parts).values_list("pk", flat=True))
        assert len(found) == len(set(found)), "someone counted twice"
        return set(found)

    assert audience(list_ids=[vip.pk], segments=[gb, us]) == ids(people, "ann", "bob", "cy")
    assert audience(list_ids=[vip.pk], segments=[gb], excluded_list_ids=[blocked.pk]) == ids(people, "ann", "cy")
    assert audience(list_ids=[vip.pk], excluded_segments=[us]) == ids(people, "bob")
    assert audience(segments=[gb, us], excluded_segments=[gb], excluded_list_ids=[blocked.pk]) == ids(people, "ann")
    assert audience(excluded_segments=[us]) == set()


# --- Tags and custom fields ------------------------------------------------------------------------


@pytest.fixture
def typed(people):
    """Tags and one custom field of each type, with values for Ann and Bob (Cyril has none)."""
    vip, walk_in = Tag.objects.create(name="vip"), Tag.objects.create(name="walk-in")
    ContactTag.objects.create(contact=people["ann"], tag=vip)
    ContactTag.objects.create(contact=people["ann"], tag=walk_in)
    ContactTag.objects.create(contact=people["bob"], tag=walk_in)
    fields = {
        "city": CustomField.objects.create(key="city", label="City", type=CustomField.Type.TEXT),
        "score": CustomField.objects.create(key="score", label="Score", type=CustomField.Type.NUMBER),
        "birthday": CustomField.objects.create(key="birthday", label="Birthday", type=CustomField.Type.DATE),
        "member": CustomField.objects.create(key="member", label="Member", type=CustomField.Type.YES_NO),
        "plan": CustomField.objects.create(
            key="plan", label="Plan", type=CustomField.Type.CHOICE, choices=["free", "pro", "team"]
        ),
    }
    values = {
        "ann": {"city": "Paris", "score": Decimal("12.5"), "birthday": date(1990, 5, 1), "member": True, "plan": "pro"},
        "bob": {"city": "Parma", "score": Decimal("20"), "birthday": date(1985, 1, 2), "member": False, "plan": "free"},
    }
    columns = {"city": "value_text", "score": "value_number", "birthday": "value_date", "member": "value_bool"}
    for name, by_key in values.items():
        for key, value in by_key.items():
            ContactFieldValue.objects.create(
                contact=people[name], field=fields[key], **{columns.get(key, "value_text"): value}
            )
    return {"vip": vip, "walk_in": walk_in}


def test_tag_conditions_any_all_none(people, typed):
    vip, walk_in = typed["vip"].pk, typed["walk_in"].pk
    assert matched(rules([("tags", "has_any", [vip, walk_in])])) == ids(people, "ann", "bob")
    assert matched(rules([("tags", "has_all", [vip, walk_in])])) == ids(people, "ann")
    assert matched(rules([("tags", "has_none", [vip])])) == ids(people, "bob", "cy")


@pytest.mark.parametrize(
    ("key", "operator", "value", "expected"),
    [
        ("city", "equals", "paris", {"ann"}),
        ("city", "not_equals", "Paris", {"bob", "cy"}),  # no value is "not Paris" too
        ("city", "contains", "AR", {"ann", "bob"}),
        ("city", "not_contains", "ma", {"ann", "cy"}),
        ("city", "starts_with", "parm", {"bob"}),
        ("city", "is_empty", None, {"cy"}),
        ("city", "is_not_empty", None, {"ann", "bob"}),
        ("score", "equals", 12.5, {"ann"}),
        ("score", "not_equals", 20, {"ann", "cy"}),
        ("score", "greater_than", 12.5, {"bob"}),
        ("score", "less_than", 20, {"ann"}),
        ("score", "between", {"min": 10, "max": 20}, {"ann", "bob"}),
        ("score", "between", {"min": 13}, {"bob"}),
        ("score", "between", {"max": 12.5}, {"ann"}),
        ("birthday", "on", "1990-05-01", {"ann"}),
        ("birthday", "before", "1990-05-01", {"bob"}),
        ("birthday", "after", "1985-01-02", {"ann"}),
        ("birthday", "between", {"from": "1985-01-02", "to": "1990-05-01"}, {"ann", "bob"}),
        ("birthday", "is_empty", None, {"cy"}),
        ("member", "is", True, {"ann"}),
        ("member", "is", False, {"bob"}),
        ("member", "is_not_empty", None, {"ann", "bob"}),
        ("plan", "in", ["pro", "team"], {"ann"}),
        ("plan", "not_in", ["pro"], {"bob", "cy"}),
    ],
)
def test_each_custom_field_operator_matches_exactly_its_contacts(people, typed, key, operator, value, expected):
    condition = condition_dict("custom_field", operator, value, key=key)
    assert matched({"groups": [{"conditions": [condition]}]}) == ids(people, *expected)


@pytest.mark.parametrize(
    ("condition", "where"),
    [
        (condition_dict("custom_field", "equals", "x", key="shoe"), "field `key`: no custom field with key 'shoe'"),
        (condition_dict("custom_field", "contains", "1", key="score"), "field `operator`: must be one of equals"),
        (condition_dict("custom_field", "between", {"min": "a"}, key="score"), "field `value`: must be a number"),
        (condition_dict("custom_field", "between", {"min": 5, "max": 1}, key="score"), "'min' must not be after"),
        (condition_dict("custom_field", "is", "yes", key="member"), "field `value`: must be true or false"),
        (condition_dict("custom_field", "in", ["gold"], key="plan"), "'gold' is not one of free, pro, team"),
        (condition_dict("custom_field", "before", "May 1", key="birthday"), "is not a date as YYYY-MM-DD"),
        (condition_dict("tags", "has_any", [424242]), "field `value`: no tag with id 424242"),
        (condition_dict("tags", "has_any", []), "must be a non-empty list of ids"),
    ],
)
def test_invalid_tag_and_custom_field_conditions_say_where(typed, condition, where):
    with pytest.raises(ApplicationError) as refused:
        segment_create(
            name="Bad", rules={"groups": [{"conditions": [condition_dict("country", "in", ["US"]), condition]}]}
        )
    assert any(
        problem.startswith("group 1, condition 2") and where in problem for problem in refused.value.errors["rules"]
    ), refused.value.errors
