"""What a value of each custom field type may be, and its canonical text: the one rule every write path
(contacts.services for the API and the admin, the importer, a promotion) applies before storing a value.

A custom field's value lives twice: as canonical text in the contact's `attributes` under the field's key
(what messages are personalised with) and typed in ContactFieldValue (what segments filter on). Both are
derived from the same TypedValue, so they cannot disagree.
"""

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from contacts.models import ContactFieldValue, CustomField
from smscampaigns.errors import ApplicationError

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,99}")
# value_text is indexed: a B-tree entry must fit in a page, and a filterable text is short.
TEXT_MAX_CHARS = ContactFieldValue._meta.get_field("value_text").max_length
CHOICE_MAX_CHARS = 100
CHOICES_MOST = 200
# DecimalField(max_digits=24, decimal_places=6): 18 digits before the point, 6 after.
NUMBER_DECIMALS = ContactFieldValue._meta.get_field("value_number").decimal_places
NUMBER_LIMIT = Decimal(10) ** (ContactFieldValue._meta.get_field("value_number").max_digits - NUMBER_DECIMALS)
YES_WORDS = frozenset({"yes", "y", "true", "t", "1", "on", "x"})
NO_WORDS = frozenset({"no", "n", "false", "f", "0", "off"})
VALUE_COLUMNS = ("value_text", "value_number", "value_date", "value_bool")


@dataclass(frozen=True, slots=True)
class TypedValue:
    """A valid value of a field: `text` goes into attributes, `value` into its `column` of ContactFieldValue."""

    text: str
    column: str
    value: object


def is_blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def field_value_parse(field: CustomField, raw) -> TypedValue:
    """The typed value of `raw` (text from a file or a form, or a JSON value from the API) for `field`.

    Raises ValueError with a message that says what was expected; the caller names where (a row and
    column, an attribute)."""
    kind = field.type
    if kind == CustomField.Type.NUMBER:
        return _number(raw)
    if kind == CustomField.Type.DATE:
        return _date(raw)
    if kind == CustomField.Type.YES_NO:
        return _yes_no(raw)
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    text = raw.strip()
    if kind == CustomField.Type.CHOICE:
        by_folded = {str(choice).casefold(): str(choice) for choice in field.choices}
        choice = by_folded.get(text.casefold())
        if choice is None:
            shown = ", ".join(repr(str(c)) for c in field.choices[:10]) + (", ..." if len(field.choices) > 10 else "")
            raise ValueError(f"{_quoted(text)} is not one of the choices: {shown}")
        return TypedValue(choice, "value_text", choice)
    if len(text) > TEXT_MAX_CHARS:
        raise ValueError(f"{len(text):,} characters; a text field holds at most {TEXT_MAX_CHARS}")
    return TypedValue(text, "value_text", text)


def _quoted(raw) -> str:
    text = str(raw)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _number(raw) -> TypedValue:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise ValueError(f"expected a number, got {type(raw).__name__}")
    text = raw.strip() if isinstance(raw, str) else repr(raw) if isinstance(raw, float) else str(raw)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{_quoted(raw)} is not a number such as 12 or -3.5 (a point for decimals)") from None
    if not number.is_finite():
        raise ValueError(f"{_quoted(raw)} is not a number such as 12 or -3.5")
    if abs(number) >= NUMBER_LIMIT:
        raise ValueError(f"{_quoted(raw)} is too large: a number field holds less than {NUMBER_LIMIT:,} either way")
    if number != number.quantize(Decimal(1).scaleb(-NUMBER_DECIMALS)):
        raise ValueError(f"{_quoted(raw)} has more than {NUMBER_DECIMALS} decimals")
    number = number.normalize()
    canonical = format(number, "f")
    if number == 0:
        canonical, number = "0", Decimal(0)
    return TypedValue(canonical, "value_number", number)


def _date(raw) -> TypedValue:
    if isinstance(raw, datetime.date) and not isinstance(raw, datetime.datetime):
        return TypedValue(raw.isoformat(), "value_date", raw)
    if not isinstance(raw, str):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {type(raw).__name__}")
    try:
        # Only the ISO form: 03/04/2026 is March in one country and April in another.
        day = datetime.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{_quoted(raw)} is not a date written YYYY-MM-DD, e.g. 2026-03-31") from None
    return TypedValue(day.isoformat(), "value_date", day)


def _yes_no(raw) -> TypedValue:
    if isinstance(raw, bool):
        answer = raw
    elif isinstance(raw, str) and raw.strip().casefold() in YES_WORDS:
        answer = True
    elif isinstance(raw, str) and raw.strip().casefold() in NO_WORDS:
        answer = False
    elif isinstance(raw, int) and raw in (0, 1):
        answer = bool(raw)
    else:
        raise ValueError(f"{_quoted(raw)} is not yes or no (also read: true/false, y/n, 1/0)")
    return TypedValue("yes" if answer else "no", "value_bool", answer)


def attributes_typed(attributes: Mapping, fields: Mapping[str, CustomField]) -> dict:
    """`attributes` with every custom field's value in its canonical text, blank ones left out.

    Raises an ApplicationError naming the attribute (field `attributes.<key>`) whose value is not valid."""
    typed = {}
    for key, raw in attributes.items():
        field = fields.get(key)
        if field is None:
            typed[key] = raw
            continue
        if is_blank(raw):
            continue  # no value: the field is simply not set for this contact
        try:
            typed[key] = field_value_parse(field, raw).text
        except ValueError as exc:
            raise ApplicationError(f"{field.label} ({key}): {exc}", field=f"attributes.{key}") from None
    return typed


def field_value_rows(contact_id: int, attributes: Mapping, fields: Mapping[str, CustomField]) -> list:
    """ContactFieldValue rows (unsaved) for the custom field values in canonical `attributes`."""
    rows = []
    for key, field in fields.items():
        text = attributes.get(key)
        if is_blank(text):
            continue
        typed = field_value_parse(field, text)
        rows.append(ContactFieldValue(contact_id=contact_id, field_id=field.pk, **{typed.column: typed.value}))
    return rows


def custom_field_definition_validate(*, key: str, type: str, choices: list, label: str) -> list[str]:
    """Check a field definition (writes nothing); the choices cleaned (stripped, unique ignoring case)."""
    if not KEY_PATTERN.fullmatch(key or ""):
        raise ApplicationError(
            f"{_quoted(key)} is not a key: lower-case letters, digits and _, starting with a letter (it is the "
            "placeholder in messages, e.g. {{ loyalty_score }})",
            field="key",
        )
    if type not in CustomField.Type.values:
        raise ApplicationError(
            f"{_quoted(type)} is not a type: one of {', '.join(CustomField.Type.values)}", field="type"
        )
    if not (label or "").strip():
        raise ApplicationError("a field needs a label", field="label")
    if type != CustomField.Type.CHOICE:
        if choices:
            raise ApplicationError("only a choice field has choices", field="choices")
        return []
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise ApplicationError('choices are a list of texts, e.g. ["gold", "silver"]', field="choices")
    cleaned: list[str] = []
    seen = set()
    for choice in (c.strip() for c in choices):
        if not choice:
            continue
        if len(choice) > CHOICE_MAX_CHARS:
            raise ApplicationError(f"a choice is at most {CHOICE_MAX_CHARS} characters", field="choices")
        if choice.casefold() in seen:
            raise ApplicationError(f"the choice {choice!r} is given twice", field="choices")
        seen.add(choice.casefold())
        cleaned.append(choice)
    if not cleaned:
        raise ApplicationError("a choice field needs at least one choice", field="choices")
    if len(cleaned) > CHOICES_MOST:
        raise ApplicationError(f"a choice field has at most {CHOICES_MOST} choices", field="choices")
    return cleaned
