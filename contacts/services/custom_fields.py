"""Custom fields: defining them, promoting an attribute to one, and keeping contacts' typed values current."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction

from audit.services import audit_record
from contacts.bulksql import sql_in, sql_row_sources
from contacts.custom_fields import custom_field_definition_validate, field_value_parse, field_value_rows, is_blank
from contacts.models import Contact, ContactFieldValue, CustomField
from contacts.selectors import custom_fields_by_key
from smscampaigns.errors import ApplicationError

PROMOTION_BATCH = 2000
FAILURES_KEPT = 1000  # a report lists this many failing rows; the count covers them all


# Column -> PostgreSQL type, for the set-based INSERT (contacts.bulksql).
_VALUE_COLUMNS = {
    "contact_id": "bigint",
    "field_id": "bigint",
    "value_text": "text",
    "value_number": "numeric",
    "value_date": "date",
    "value_bool": "boolean",
}


def contact_field_values_write(*, attributes_by_contact: Mapping[int, Mapping], fields=None) -> None:
    """Make the typed values of these contacts match their (canonical) attributes: one DELETE, one INSERT
    per batch, in SQL (an import writes thousands of contacts a second through here)."""
    fields = custom_fields_by_key() if fields is None else fields
    if not fields or not attributes_by_contact:
        return
    ids = list(attributes_by_contact)
    rows = []
    for contact_id, attributes in attributes_by_contact.items():
        for value in field_value_rows(contact_id, attributes, fields):
            number, day = value.value_number, value.value_date
            rows.append(
                (
                    contact_id,
                    value.field_id,
                    value.value_text,
                    None if number is None else str(number),
                    None if day is None else day.isoformat(),
                    value.value_bool,
                )
            )
    table = connection.ops.quote_name(ContactFieldValue._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), PROMOTION_BATCH):
            matching, params = sql_in(ids[start : start + PROMOTION_BATCH])
            cursor.execute(f"DELETE FROM {table} WHERE contact_id {matching}", params)
        for source, params in sql_row_sources(_VALUE_COLUMNS, rows):
            cursor.execute(f"INSERT INTO {table} ({', '.join(_VALUE_COLUMNS)}) {source}", params)


@dataclass(frozen=True, slots=True)
class PromotionFailure:
    contact_id: int
    phone_number: str
    value: str
    reason: str


@dataclass
class PromotionReport:
    """What promoting an attribute to a field found: contacts holding the key, and those whose value fails."""

    key: str
    checked: int = 0
    failed: int = 0
    failures: list[PromotionFailure] = field(default_factory=list)  # the first FAILURES_KEPT
    field: CustomField | None = None  # the field created, when it was

    def summary(self) -> str:
        if not self.failed:
            return f"{self.checked:,} contact(s) hold {self.key!r}; every value is valid"
        first = "; ".join(f"contact #{f.contact_id} ({f.phone_number}): {f.reason}" for f in self.failures[:5])
        return f"{self.failed:,} of {self.checked:,} contact(s) hold a value of {self.key!r} that is not valid: {first}"


def custom_field_create(
    *,
    key: str,
    label: str,
    type: str,
    choices: list | None = None,
    description: str = "",
    actor=None,
) -> CustomField:
    """Define a field. Contacts already holding an attribute of that key have it promoted: every value is
    checked, stored in canonical form and typed; if any fails, nothing is written and the error says which."""
    report = custom_field_promote(
        key=key, label=label, type=type, choices=choices, description=description, actor=actor
    )
    if report.field is None:
        raise ApplicationError(report.summary(), field="key")
    return report.field


def custom_field_promote(
    *,
    key: str,
    label: str,
    type: str,
    choices: list | None = None,
    description: str = "",
    dry_run: bool = False,
    actor=None,
) -> PromotionReport:
    """Turn the free attribute `key` into a typed field: check every contact's value of it, and (unless a dry
    run, and only if all pass) create the field, rewrite the values in canonical form and store them typed.

    The report lists the contacts whose value fails (the first FAILURES_KEPT of them) so they can be fixed."""
    choices = custom_field_definition_validate(key=key, type=type, choices=choices or [], label=label)
    if CustomField.objects.filter(key=key).exists():
        raise ApplicationError(f"a field with key {key!r} already exists", field="key")
    report = PromotionReport(key=key)
    try:
        with transaction.atomic():
            created = CustomField.objects.create(
                key=key, label=label.strip(), type=type, choices=choices, description=description
            )
            _promote_values(created, report, write=not dry_run)
            if dry_run or report.failed:
                transaction.set_rollback(True)
            else:
                report.field = created
                audit_record(
                    actor=actor,
                    action="custom_field.created",
                    target=created,
                    data={"type": type, "promoted": report.checked},
                )
    except IntegrityError:  # the same key created meanwhile
        raise ApplicationError(f"a field with key {key!r} already exists", field="key") from None
    return report


def _promote_values(created: CustomField, report: PromotionReport, *, write: bool) -> None:
    holders = Contact.objects.filter(attributes__has_key=created.key).order_by("pk")
    after = 0
    fields = {created.key: created}
    while batch := list(holders.filter(pk__gt=after).only("pk", "phone_number", "attributes")[:PROMOTION_BATCH]):
        after = batch[-1].pk
        rewritten, typed = [], []
        for contact in batch:
            report.checked += 1
            raw = contact.attributes[created.key]
            if is_blank(raw):
                del contact.attributes[created.key]  # no value: as every write path stores a blank
                rewritten.append(contact)
                continue
            try:
                value = field_value_parse(created, raw)
            except ValueError as exc:
                report.failed += 1
                if len(report.failures) < FAILURES_KEPT:
                    report.failures.append(PromotionFailure(contact.pk, str(contact.phone_number), str(raw), str(exc)))
                continue
            if value.text != raw:
                contact.attributes[created.key] = value.text
                rewritten.append(contact)
            typed.extend(field_value_rows(contact.pk, contact.attributes, fields))
        if write and not report.failed:
            Contact.objects.bulk_update(rewritten, ["attributes"], batch_size=PROMOTION_BATCH)
            ContactFieldValue.objects.bulk_create(typed, batch_size=PROMOTION_BATCH)


def custom_field_update(
    *,
    custom_field: CustomField,
    label: str | None = None,
    description: str | None = None,
    choices: list | None = None,
    actor=None,
) -> CustomField:
    """Change a field's label, description or choices; its key and type stay (values are stored by them).

    A choice still held by contacts cannot be removed: the error says how many hold it."""
    label = custom_field.label if label is None else label
    new_choices = custom_field.choices if choices is None else choices
    new_choices = custom_field_definition_validate(
        key=custom_field.key, type=custom_field.type, choices=new_choices, label=label
    )
    if custom_field.type == CustomField.Type.CHOICE:
        kept = set(new_choices)
        for dropped in (c for c in custom_field.choices if c not in kept):
            holding = ContactFieldValue.objects.filter(field=custom_field, value_text=dropped).count()
            if holding:
                raise ApplicationError(
                    f"{holding:,} contact(s) hold the choice {dropped!r}: change their value before removing it",
                    field="choices",
                )
    custom_field.label = label.strip()
    custom_field.choices = new_choices
    if description is not None:
        custom_field.description = description
    custom_field.save()
    audit_record(actor=actor, action="custom_field.updated", target=custom_field)
    return custom_field


@transaction.atomic
def custom_field_delete(*, custom_field: CustomField, actor=None) -> None:
    """Delete a field and its typed values; the contacts keep the values as free attributes."""
    audit_record(actor=actor, action="custom_field.deleted", target=custom_field, data={"key": custom_field.key})
    custom_field.delete()
