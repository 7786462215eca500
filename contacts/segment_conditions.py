"""The segment conditions over what contacts itself holds: the contact's fields, its lists, its country, time
zone and consent. Registered by ContactsConfig.ready; engagement conditions come from sends (sends/apps.py)."""

from django.db.models import OuterRef, Q

from contacts.models import Contact, ContactList, ContactListMembership, is_timezone_name
from contacts.segment_rules import (
    DATE_OPERATORS,
    TEXT_OPERATORS,
    RuleProblem,
    SegmentCondition,
    moment_q,
    related_exists_q,
    segment_condition_register,
    text_q,
)


def _text_condition(column: str, label: str) -> SegmentCondition:
    return SegmentCondition(
        field=column, label=label, operators=TEXT_OPERATORS, to_q=lambda op, value, now: text_q(column, op, value)
    )


def _date_condition(column: str, label: str) -> SegmentCondition:
    return SegmentCondition(
        field=column,
        label=label,
        operators=DATE_OPERATORS,
        to_q=lambda op, value, now: moment_q(column, op, value, now),
    )


def _in_q(column: str):
    def to_q(operator: str, value, now) -> Q:
        if operator == "is_empty":
            return Q(**{column: ""})
        if operator == "is_not_empty":
            return ~Q(**{column: ""})
        matching = Q(**{f"{column}__in": value})
        return matching if operator == "in" else ~matching

    return to_q


class TimezoneCondition(SegmentCondition):
    def clean(self, condition: dict) -> dict:
        cleaned = super().clean(condition)
        for index, name in enumerate(cleaned.get("value") or [], start=1):
            if not is_timezone_name(name):
                raise RuleProblem(f"item {index}: {name[:64]!r} is not an IANA time zone (e.g. America/New_York)")
        return cleaned


class ListsCondition(SegmentCondition):
    """On any / on none of the given lists: one EXISTS on the membership table's (list, contact) index."""

    def clean(self, condition: dict) -> dict:
        cleaned = super().clean(condition)
        ids = cleaned["value"]
        found = set(ContactList.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise RuleProblem(f"no list with id {', '.join(missing)}")
        return cleaned

    def q(self, condition: dict, *, now) -> Q:
        on_lists = ContactListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id__in=condition["value"])
        return related_exists_q(on_lists, condition["operator"] == "in_any")

    def describe(self) -> dict:
        # The lists to choose from, by id; the builder shows their names.
        lists = ContactList.objects.order_by("name").values_list("pk", "name")[:500]
        return {**super().describe(), "choices": [[str(pk), name] for pk, name in lists]}


def register() -> None:
    for condition in [
        _text_condition("first_name", "First name"),
        _text_condition("last_name", "Last name"),
        SegmentCondition(
            field="status",
            label="Subscription status",
            operators={"in": "texts", "not_in": "texts"},
            choices=list(Contact.Status.choices),
            to_q=_in_q("status"),
        ),
        SegmentCondition(
            field="country",
            label="Country",
            operators={"in": "countries", "not_in": "countries", "is_empty": "none", "is_not_empty": "none"},
            to_q=_in_q("country"),
        ),
        TimezoneCondition(
            field="timezone",
            label="Time zone",
            operators={"in": "texts", "not_in": "texts", "is_empty": "none", "is_not_empty": "none"},
            to_q=_in_q("timezone"),
        ),
        ListsCondition(field="lists", label="Lists", operators={"in_any": "ids", "in_none": "ids"}),
        _date_condition("consented_at", "Consent date"),
        _text_condition("consent_source", "Consent source"),
        _date_condition("created_at", "Added on"),
    ]:
        segment_condition_register(condition)
