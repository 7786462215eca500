"""The segment conditions over what contacts itself holds: the contact's fields, its lists, its country, time
zone and consent. Registered by ContactsConfig.ready; engagement conditions come from sends (sends/apps.py)."""

from datetime import date
from decimal import Decimal

from django.db.models import OuterRef, Q

from contacts.models import (
    Contact,
    ContactFieldValue,
    ContactList,
    ContactListMembership,
    ContactTag,
    CustomField,
    Tag,
    is_timezone_name,
)
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


class TagsCondition(SegmentCondition):
    """Has any, all or none of the given tags: EXISTS on the (tag, contact) index, one per tag for "all"."""

    def clean(self, condition: dict) -> dict:
        cleaned = super().clean(condition)
        ids = cleaned["value"]
        found = set(Tag.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise RuleProblem(f"no tag with id {', '.join(missing)}")
        return cleaned

    def q(self, condition: dict, *, now) -> Q:
        operator, ids = condition["operator"], condition["value"]
        if operator == "has_all":
            every = Q()
            for tag_id in ids:
                every &= related_exists_q(ContactTag.objects.filter(contact=OuterRef("pk"), tag_id=tag_id))
            return every
        tagged = ContactTag.objects.filter(contact=OuterRef("pk"), tag_id__in=ids)
        return related_exists_q(tagged, operator == "has_any")

    def describe(self) -> dict:
        tags = Tag.objects.order_by("name").values_list("pk", "name")[:500]
        return {**super().describe(), "choices": [[str(pk), name] for pk, name in tags]}


# The operators of a custom field, by its type. A "not" operator (not_equals, not_in, ...) also matches the
# contacts who have no value for the field, as "is empty" does: they are not what the condition names.
_PRESENCE = {"is_empty": "none", "is_not_empty": "none"}
CUSTOM_FIELD_OPERATORS = {
    CustomField.Type.TEXT: {**TEXT_OPERATORS},
    CustomField.Type.NUMBER: {
        "equals": "number",
        "not_equals": "number",
        "greater_than": "number",
        "less_than": "number",
        "between": "number_range",
        **_PRESENCE,
    },
    CustomField.Type.DATE: {
        "on": "date",
        "before": "date",
        "after": "date",
        "between": "date_range",
        **_PRESENCE,
    },
    CustomField.Type.YES_NO: {"is": "boolean", **_PRESENCE},
    CustomField.Type.CHOICE: {"in": "texts", "not_in": "texts", **_PRESENCE},
}


def _value_q(field: CustomField, operator: str, value) -> Q:
    """The filter on ContactFieldValue for the positive form of `operator` (not_equals as equals, ...)."""
    if operator in ("is_empty", "is_not_empty"):
        return Q()
    if field.type == CustomField.Type.TEXT:
        lookup = {"equals": "iexact", "contains": "icontains", "starts_with": "istartswith"}
        return Q(**{f"value_text__{lookup[operator.removeprefix('not_')]}": value})
    if field.type == CustomField.Type.CHOICE:
        return Q(value_text__in=value)
    if field.type == CustomField.Type.YES_NO:
        return Q(value_bool=value)
    if field.type == CustomField.Type.NUMBER:
        column, convert = "value_number", (lambda number: Decimal(str(number)))
    else:
        column, convert = "value_date", date.fromisoformat
    if operator == "between":
        low, high = value.get("min", value.get("from")), value.get("max", value.get("to"))
        bounds = Q()
        if low is not None:
            bounds &= Q(**{f"{column}__gte": convert(low)})
        if high is not None:
            bounds &= Q(**{f"{column}__lte": convert(high)})
        return bounds
    lookup = {
        "equals": "exact",
        "not_equals": "exact",
        "on": "exact",
        "greater_than": "gt",
        "after": "gt",
        "less_than": "lt",
        "before": "lt",
    }[operator]
    return Q(**{f"{column}__{lookup}": convert(value)})


class CustomFieldCondition(SegmentCondition):
    """A custom field's value (`key` names the field): typed operators answered by EXISTS on the field's
    typed value table, whose (field, value, contact) indexes make a range one index range scan."""

    def clean(self, condition: dict) -> dict:
        key = condition.get("key")
        field = CustomField.objects.filter(key=key).first() if isinstance(key, str) else None
        if field is None:
            raise RuleProblem(f"no custom field with key {str(key)[:100]!r}", key="key")
        choices = [(choice, choice) for choice in field.choices] if field.type == CustomField.Type.CHOICE else []
        cleaned = self.clean_operator_and_value(
            condition, operators=CUSTOM_FIELD_OPERATORS[field.type], choices=choices
        )
        return {**cleaned, "key": key}

    def q(self, condition: dict, *, now) -> Q:
        field = CustomField.objects.get(key=condition["key"])
        operator = condition["operator"]
        values = ContactFieldValue.objects.filter(
            _value_q(field, operator, condition.get("value")), contact=OuterRef("pk"), field=field
        )
        positive = operator not in ("is_empty", "not_equals", "not_contains", "not_in")
        return related_exists_q(values, positive)

    def describe(self) -> dict:
        fields = CustomField.objects.order_by("label")[:500]
        return {
            **super().describe(),
            "fields": [
                {
                    "key": field.key,
                    "label": field.label,
                    "operators": CUSTOM_FIELD_OPERATORS[field.type],
                    "choices": [[choice, choice] for choice in field.choices],
                }
                for field in fields
            ],
        }


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
        TagsCondition(field="tags", label="Tags", operators={"has_any": "ids", "has_all": "ids", "has_none": "ids"}),
        CustomFieldCondition(field="custom_field", label="Custom field", operators={}, extra_keys=("key",)),
        _date_condition("consented_at", "Consent date"),
        _text_condition("consent_source", "Consent source"),
        _date_condition("created_at", "Added on"),
    ]:
        segment_condition_register(condition)
