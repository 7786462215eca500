"""Suppressions: numbers never texted (opt-outs, do-not-call, manual), added one by one or in bulk, and
who may lift an opt-out."""

from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record, user_or_none
from contacts.bulksql import sql_row_sources
from contacts.models import (
    ConsentEvent,
    Contact,
    Suppression,
)
from contacts.phones import NormalizedNumber, normalize_phone
from contacts.selectors import person_opt_out
from smscampaigns.errors import ApplicationError


def staff_opt_outs_lock(*, e164: str) -> list[Suppression]:
    """The one rule on who lifts an opt-out, for every staff path (API, admin, import, quick send): an
    opt-out the person made stands until the person texts START, whatever the staff member's role. Raises
    (code opted_out_by_person, naming when and how they opted out); else returns the number's opt-out
    suppressions, which staff made, locked."""
    # Locked first: a STOP arriving now waits for this transaction, then stands on its own.
    opt_outs = list(
        Suppression.objects.select_for_update().filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT)
    )
    if any(s.origin == Suppression.Origin.PERSON for s in opt_outs):
        raise ApplicationError(
            person_opt_out(e164=e164) or f"{e164} opted out; only they can opt back in", code="opted_out_by_person"
        )
    return opt_outs


def suppression_add(
    *, phone_number: str, reason: str, source: str = "", note: str = "", actor=None, region: str | None = None
) -> Suppression:
    """Suppress a number for a reason (idempotent: a second call returns the existing entry). An entry made
    here is staff's: a person's own opt-out comes through person_opt_out_record."""
    number = suppression_validate(phone_number=phone_number, reason=reason, region=region)
    suppression, created = Suppression.objects.get_or_create(
        phone_number=number.e164,
        reason=reason,
        defaults={
            "source": source,
            "note": note,
            "created_by": user_or_none(actor),
            "origin": Suppression.Origin.STAFF,
        },
    )
    if created and actor is not None:
        audit_record(actor=actor, action="suppression.added", target=suppression, data={"reason": reason})
    return suppression


def suppression_validate(*, phone_number: str, reason: str, region: str | None = None) -> NormalizedNumber:
    """Check a suppression as suppression_add does, writing nothing; the number normalised."""
    suppression_reason_validate(reason=reason)
    return normalize_phone(phone_number, region=region)


def suppression_reason_validate(*, reason: str) -> None:
    """Refuse (ApplicationError on `reason`) a reason that is not one of Suppression.Reason."""
    if reason not in Suppression.Reason.values:
        raise ApplicationError(
            f"unknown suppression reason {reason!r}; use one of {', '.join(Suppression.Reason.values)}",
            field="reason",
        )


def suppression_update(*, suppression: Suppression, note: str, actor=None) -> Suppression:
    """Change a suppression's note; its number, reason and source are the record of why it exists."""
    with transaction.atomic():
        suppression.note = note
        suppression.save(update_fields=["note"])
        audit_record(actor=actor, action="suppression.updated", target=suppression, data={"fields": ["note"]})
    return suppression


_SUPPRESSION_COLUMNS = {
    "phone_number": "text",
    "reason": "text",
    "origin": "text",
    "source": "text",
    "note": "text",
    "created_by_id": "bigint",
    "created_at": "timestamptz",
}


def suppressions_add_many(*, numbers: list[str], reason: str, source: str = "", actor=None) -> list[str]:
    """Suppress E.164 numbers in one statement; returns those that were not yet suppressed for `reason`.

    An imported opt-out list records opt-outs people made elsewhere: each is theirs to lift (and recorded in
    the consent history); do-not-call and manual lists are staff's.
    """
    if not numbers:
        return []
    table = connection.ops.quote_name(Suppression._meta.db_table)
    moment = timezone.now()
    now = connection.ops.adapt_datetimefield_value(moment)
    user = user_or_none(actor)
    opt_out = reason == Suppression.Reason.OPT_OUT
    origin = Suppression.Origin.PERSON if opt_out else Suppression.Origin.STAFF
    rows = [(number, reason, origin, source[:255], "", user and user.pk, now) for number in numbers]
    added = []
    with connection.cursor() as cursor:
        for row_source, params in sql_row_sources(_SUPPRESSION_COLUMNS, rows):
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(_SUPPRESSION_COLUMNS)}) {row_source} "
                "ON CONFLICT DO NOTHING RETURNING phone_number",
                params,
            )
            added.extend(phone for (phone,) in cursor.fetchall())
    if opt_out and added:
        contacts = {
            str(phone): pk
            for phone, pk in Contact.objects.filter(phone_number__in=added).values_list("phone_number", "pk")
        }
        ConsentEvent.objects.bulk_create(
            ConsentEvent(
                contact_id=contacts.get(number),
                phone_number=number,
                kind=ConsentEvent.Kind.OPTED_OUT,
                method=ConsentEvent.Method.IMPORT,
                source=source[:255],
                actor=user,
                created_at=moment,
            )
            for number in added
        )
    return added


@transaction.atomic
def suppression_remove(*, suppression: Suppression, actor=None) -> None:
    """Lift a do-not-call or manual suppression, audited. An opt-out is never just deleted: the person's own
    is lifted only by their START, one staff made only by opting the contact in with consent evidence."""
    if suppression.reason == Suppression.Reason.OPT_OUT:
        staff_opt_outs_lock(e164=str(suppression.phone_number))
        raise ApplicationError(
            f"{suppression.phone_number} was opted out by staff ({suppression.source or 'no source given'}); "
            "only new consent lifts that: opt the contact in with consent evidence"
        )
    audit_record(actor=actor, action="suppression.removed", target=suppression, data={"reason": suppression.reason})
    suppression.delete()
