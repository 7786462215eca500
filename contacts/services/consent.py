"""Writes to contacts, lists and suppressions. Every rule about consent is enforced here."""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import BinaryIO, TextIO

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, user_or_none
from contacts.attributes import attributes_validate
from contacts.bulksql import sql_row_sources
from contacts.consent import initial_consent
from contacts.csvfiles import ContactCsv, RowError, spreadsheet_safe_writer
from contacts.importer import (
    BATCH_SIZE,
    ERROR_REPORT_HEADER,
    ImportSummary,
    ProgressCallback,
    contact_rows_import,
)
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactList,
    ContactListMembership,
    Suppression,
    is_timezone_name,
)
from contacts.phones import NormalizedNumber, normalize_phone
from contacts.selectors import batched, person_opt_out, suppression_reasons_blocking_opt_in, utc_minute
from contacts.uploads import upload_names, upload_size_check
from smscampaigns.errors import ApplicationError


@dataclass(frozen=True)
class ConsentContext:
    """Where a staff request came from, kept on the consent events it writes (the API fills it in)."""

    method: str = ConsentEvent.Method.API
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request, *, method: str) -> "ConsentContext":
        """The client address and user agent of an HTTP request (the address the server saw)."""
        meta = request.META
        return cls(method=method, ip=meta.get("REMOTE_ADDR") or None, user_agent=meta.get("HTTP_USER_AGENT", ""))


def consent_event_record(
    *,
    phone_number: str,
    kind: str,
    method: str,
    contact: Contact | None = None,
    source: str = "",
    text: str = "",
    actor=None,
    ip: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Append one event to the consent history; called in the transaction of the change it records."""
    return ConsentEvent.objects.create(
        contact=contact,
        phone_number=str(phone_number),
        kind=kind,
        method=method,
        source=source[:255],
        text=text,
        actor=user_or_none(actor),
        ip=ip or None,
        user_agent=(user_agent or "")[:512],
    )


def _staff_event(*, context: ConsentContext, **values) -> ConsentEvent:
    return consent_event_record(method=context.method, ip=context.ip, user_agent=context.user_agent, **values)


@transaction.atomic
def contact_create(
    *,
    phone_number: str,
    first_name: str = "",
    last_name: str = "",
    timezone_name: str = "",
    attributes: dict | None = None,
    consent_source: str = "",
    consent_text: str = "",
    consented_at=None,
    lists: list[ContactList] | None = None,
    region: str | None = None,
    actor=None,
    context: ConsentContext = ConsentContext(),
) -> Contact:
    """Create a contact; subscribed only when consent evidence is given and the number is not suppressed.

    A number that opted out before it was a contact is stored all the same (names, attributes, lists), as
    opted out with that opt-out's evidence: when the person texts START they are subscribed on those lists.
    """
    number = contact_details_validate(
        phone_number=phone_number, timezone_name=timezone_name, attributes=attributes or {}, region=region
    )
    suppressions = {s.reason: s for s in Suppression.objects.filter(phone_number=number.e164)}
    initial = initial_consent(
        consent_source=consent_source,
        consent_text=consent_text,
        consented_at=consented_at,
        suppressed=bool(suppressions),
        opt_out=suppressions.get(Suppression.Reason.OPT_OUT),
        now=timezone.now(),
    )
    contact = Contact.objects.create(
        phone_number=number.e164,
        country=number.region,
        first_name=first_name,
        last_name=last_name,
        # Only a zone the person gave is stored; quiet hours derive the number's zones at send time.
        timezone=timezone_name,
        attributes=attributes or {},
        **asdict(initial),
    )
    if lists:
        contact_lists_add(contact=contact, contact_lists=lists)
    if initial.subscribed:
        _staff_event(
            context=context,
            contact=contact,
            phone_number=number.e164,
            kind=ConsentEvent.Kind.CONSENT_GIVEN,
            source=initial.consent_source,
            text=initial.consent_text,
            actor=actor,
        )
    if actor is not None:
        audit_record(actor=actor, action="contact.created", target=contact)
    return contact


def contact_lists_add(*, contact: Contact, contact_lists: list[ContactList]) -> None:
    ContactListMembership.objects.bulk_create(
        [ContactListMembership(contact=contact, contact_list=cl) for cl in contact_lists], ignore_conflicts=True
    )


def _contact_subscribe(contact: Contact, *, consent_source: str, consent_text: str) -> None:
    contact.status = Contact.Status.SUBSCRIBED
    contact.consented_at = timezone.now()
    contact.consent_source = consent_source
    contact.consent_text = consent_text.strip()
    contact.save(update_fields=["status", "consented_at", "consent_source", "consent_text", "updated_at"])


def _contact_unsubscribe(contact: Contact, *, source: str, now) -> None:
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.opted_out_at = now
    contact.opt_out_source = source
    contact.save(update_fields=["status", "opted_out_at", "opt_out_source", "updated_at"])


@transaction.atomic
def contact_opt_out(
    *, contact: Contact, source: str, actor=None, context: ConsentContext = ConsentContext()
) -> Contact:
    """Staff record an opt-out: unsubscribe the contact and suppress the number, so no import or list can
    bring it back. Staff may lift an opt-out they made; one the person made stays the person's."""
    now = timezone.now()
    _contact_unsubscribe(contact, source=source, now=now)
    suppression_add(
        phone_number=str(contact.phone_number), reason=Suppression.Reason.OPT_OUT, source=source, actor=actor
    )
    _staff_event(
        context=context,
        contact=contact,
        phone_number=str(contact.phone_number),
        kind=ConsentEvent.Kind.OPTED_OUT,
        source=source,
        actor=actor,
    )
    audit_record(actor=actor, action="contact.opted_out", target=contact, data={"source": source})
    return contact


@dataclass(frozen=True)
class PersonOptOut:
    contact: Contact | None
    newly_opted_out: bool  # False when the number was already opted out (a repeated STOP)


@transaction.atomic
def person_opt_out_record(*, e164: str, method: str, source: str, text: str = "") -> PersonOptOut:
    """The person opted out (a keyword, an informal phrase, Plivo's opt-out intent, their carrier): suppress
    the number as the person's opt-out, which only they can lift, even without a contact (so that a later
    import keeps it opted out), unsubscribe the contact, and record the event with the words received."""
    if method not in ConsentEvent.PERSON_METHODS:
        raise ApplicationError(f"{method!r} is not a way a person opts out", field="method")
    already = Suppression.objects.filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).exists()
    now = timezone.now()
    table = connection.ops.quote_name(Suppression._meta.db_table)
    # One statement, so a staff member lifting a staff opt-out of this number at this moment cannot make the
    # person's opt-out vanish: the conflict waits for that lift, then inserts or takes over the row.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (phone_number, reason, origin, source, note, created_by_id, created_at) "
            "VALUES (%s, %s, %s, %s, '', NULL, %s) ON CONFLICT (phone_number, reason) DO UPDATE SET "
            "origin = excluded.origin, source = excluded.source, created_at = excluded.created_at, "
            f"created_by_id = NULL WHERE {table}.origin <> excluded.origin",
            [
                e164,
                Suppression.Reason.OPT_OUT,
                Suppression.Origin.PERSON,
                source[:255],
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
    # Concurrent opt-outs of one number queue on this row, so each sees what the one before it did.
    suppression = (
        Suppression.objects.select_for_update().filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).first()
    )
    contact = Contact.objects.filter(phone_number=e164).first()
    if contact is None:
        newly = not already
    else:
        newly = contact.status != Contact.Status.UNSUBSCRIBED or contact.opted_out_at is None
        if newly:
            _contact_unsubscribe(contact, source=source, now=now)
            audit_record(actor=None, action="contact.opted_out", target=contact, data={"source": source})
    if not already and suppression is not None:
        audit_record(actor=None, action="suppression.added", target=suppression, data={"reason": "opt-out"})
    consent_event_record(
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.OPTED_OUT,
        method=method,
        source=source,
        text=text,
    )
    return PersonOptOut(contact=contact, newly_opted_out=newly)


@transaction.atomic
def person_opt_in_record(*, e164: str, keyword: str, text: str, to_number: str = "") -> bool:
    """The person texted a START-family keyword: lift their opt-out (the only way it is lifted), subscribe
    their contact with the keyword as consent evidence, and record the event. False when a do-not-call or
    manual suppression forbids it."""
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        return False
    contact = Contact.objects.select_for_update().filter(phone_number=e164).first()
    opt_outs = list(
        Suppression.objects.select_for_update().filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT)
    )
    if contact is not None and contact.status == Contact.Status.SUBSCRIBED and not opt_outs:
        # Already subscribed (a YES to a question, say): the consent evidence on file stays as it is.
        return True
    consent_source = f"inbound keyword {keyword[:40]}"
    for suppression in opt_outs:
        audit_record(actor=None, action="suppression.lifted", target=suppression, data={"source": consent_source})
        suppression.delete()
    if contact is not None:
        _contact_subscribe(contact, consent_source=consent_source, consent_text=f"Texted {keyword[:40]} to {to_number}")
        audit_record(actor=None, action="contact.opted_in", target=contact, data={"source": consent_source})
    consent_event_record(
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.OPTED_IN,
        method=ConsentEvent.Method.INBOUND_KEYWORD,
        source=f"inbound text to {to_number}" if to_number else "inbound text",
        text=text,
    )
    return True


def _opt_outs_locked_unless_the_persons(*, e164: str) -> list[Suppression]:
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


def _opt_out_lift_by_staff(*, contact: Contact, source: str, actor, context: ConsentContext) -> int:
    """Lift the opt-outs staff made of the contact's number, audited and recorded; how many."""
    e164 = str(contact.phone_number)
    opt_outs = _opt_outs_locked_unless_the_persons(e164=e164)
    for suppression in opt_outs:
        audit_record(actor=actor, action="suppression.lifted", target=suppression, data={"source": source})
        _staff_event(
            context=context,
            contact=contact,
            phone_number=e164,
            kind=ConsentEvent.Kind.OPT_OUT_LIFTED,
            source=source,
            text=f"opt-out of {utc_minute(suppression.created_at)} ({suppression.source})",
            actor=actor,
        )
        suppression.delete()
    return len(opt_outs)


@transaction.atomic
def contact_opt_in(
    *,
    contact: Contact,
    consent_source: str,
    consent_text: str = "",
    actor=None,
    context: ConsentContext = ConsentContext(),
) -> Contact:
    """Staff record new consent: refused while the person's own opt-out stands or the number is on a
    do-not-call or manual list; lifts an opt-out that staff made (audited)."""
    if not consent_source:
        raise ApplicationError("consent evidence is required to subscribe a contact", field="consent_source")
    e164 = str(contact.phone_number)
    _opt_out_lift_by_staff(contact=contact, source=consent_source, actor=actor, context=context)
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        raise ApplicationError(f"{contact.phone_number} is suppressed ({', '.join(blocking)}) and cannot be subscribed")
    _contact_subscribe(contact, consent_source=consent_source, consent_text=consent_text or contact.consent_text)
    _staff_event(
        context=context,
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.CONSENT_GIVEN,
        source=consent_source,
        text=consent_text,
        actor=actor,
    )
    audit_record(actor=actor, action="contact.opted_in", target=contact, data={"source": consent_source})
    return contact


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
    _suppression_reason_validate(reason)
    return normalize_phone(phone_number, region=region)


def _suppression_reason_validate(reason: str) -> None:
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


# --- Imports ----------------------------------------------------------------------------------------


def contact_import_run(
    *,
    file: BinaryIO,
    source_name: str = "",
    contact_list_name: str = "",
    default_region: str | None = None,
    consent_source: str = "",
    update: bool = False,
    dry_run: bool = False,
    errors_to: TextIO | None = None,
    progress: ProgressCallback | None = None,
    record: ContactImport | None = None,
    actor=None,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Import contacts from a CSV file, batch by batch; the one path used by the command, admin and API.

    Without `consent_source` contacts arrive unsubscribed. Opted-out contacts and suppressed numbers are
    reported and left unchanged. A non-dry run is tracked by a ContactImport (`record`, created when not
    given) whose counts and checkpoint are committed with each batch; given a record that already has a
    checkpoint, the import resumes after it.
    """
    region = _import_region(default_region)
    if record is None and not dry_run:
        record = ContactImport.objects.create(
            source_name=source_name[:255],
            list_name=contact_list_name,
            default_region=region,
            consent_source=consent_source,
            update_existing=update,
            created_by=user_or_none(actor),
        )
    if record is not None:
        now = timezone.now()
        ContactImport.objects.filter(pk=record.pk).update(
            status=ContactImport.Status.RUNNING, started_at=record.started_at or now, progress_at=now, failure=""
        )
    try:
        summary = contact_rows_import(
            file=file,
            contact_list_name=contact_list_name,
            default_region=region,
            consent_source=consent_source,
            update=update,
            dry_run=dry_run,
            errors_to=errors_to,
            progress=progress,
            record=record,
            batch_size=batch_size,
        )
    except BaseException as exc:  # Ctrl-C included: the record must not stay "running"
        if record is not None:
            _contact_import_failed(record, exc)
        raise
    if record is not None:
        ContactImport.objects.filter(pk=record.pk).update(
            status=ContactImport.Status.COMPLETED,
            finished_at=timezone.now(),
            bytes_total=summary.bytes_total,
            bytes_done=summary.bytes_done,
            **summary.counts(),
        )
        record.refresh_from_db()
        if not dry_run:
            audit_record(actor=actor, action="contacts.imported", target=record, data=summary.counts())
    return summary


def contact_import_start(
    *,
    file,
    contact_list_name: str = "",
    default_region: str | None = None,
    consent_source: str = "",
    update: bool = False,
    dry_run: bool = False,
    actor=None,
) -> ContactImport:
    """Check an uploaded file, store it and queue its import for a worker; returns the import to poll."""
    region = _import_region(default_region)
    upload_size_check(file)
    source_name, stored_name = upload_names(file)
    ContactCsv(file)  # a file that cannot be read is refused now, with the reason, not later in a worker
    file.seek(0)
    record = ContactImport(
        source_name=source_name,
        list_name=contact_list_name,
        default_region=region,
        consent_source=consent_source,
        update_existing=update,
        dry_run=dry_run,
        bytes_total=getattr(file, "size", 0) or 0,
        created_by=user_or_none(actor),
    )
    record.file.save(stored_name, file, save=False)
    record.save()
    _contact_import_enqueue(record)
    return record


def contact_import_resume(*, contact_import: ContactImport) -> ContactImport:
    """Queue a failed or interrupted upload again; it carries on after the last committed batch."""
    if not contact_import.file:
        raise ApplicationError("only uploaded imports can be resumed; run the command again instead")
    if contact_import.status != ContactImport.Status.FAILED:
        # A running import whose worker died is redelivered by the broker; queueing it again here could
        # let two workers run it at once.
        raise ApplicationError(f"import #{contact_import.pk} is {contact_import.get_status_display().lower()}")
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ContactImport.Status.PENDING, failure="")
    _contact_import_enqueue(contact_import)
    return contact_import


def contact_import_delete(*, contact_import: ContactImport, actor=None) -> None:
    """Delete an import's record, its error report and its uploaded file (the people's numbers and names)."""
    with transaction.atomic():
        locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if locked.status == ContactImport.Status.RUNNING:
            # Its worker still writes the counts and the rejected rows to this record.
            raise ApplicationError(f"import #{locked.pk} is running; delete it once it has finished or failed")
        audit_record(actor=actor, action="contact_import.deleted", target=locked, data={"file": locked.source_name})
        stored = locked.file
        locked.delete()
    if stored:
        stored.delete(save=False)


IMPORT_WORKER_PRESUMED_DEAD = timedelta(minutes=5)  # a batch commits in about a second


def contact_import_run_queued(*, contact_import_id: int) -> ImportSummary | None:
    """Run (or carry on) an uploaded import queued by contact_import_start or _resume; what a worker calls."""
    # Claim it: a message redelivered while a worker still runs the import (a long import outlasts the
    # broker's visibility timeout) must not start a second run; a worker silent for long has died.
    claimed = (
        ContactImport.objects.filter(pk=contact_import_id)
        .filter(
            Q(status=ContactImport.Status.PENDING)
            | Q(status=ContactImport.Status.RUNNING, progress_at__lt=timezone.now() - IMPORT_WORKER_PRESUMED_DEAD)
        )
        .update(status=ContactImport.Status.RUNNING, progress_at=timezone.now())
    )
    if not claimed:
        return None
    record = ContactImport.objects.select_related("created_by").get(pk=contact_import_id)
    try:
        file = record.file.open("rb")
    except OSError as exc:
        _contact_import_failed(record, ApplicationError(f"the uploaded file cannot be read: {exc}"))
        return None
    with file:
        try:
            return contact_import_run(
                file=file,
                contact_list_name=record.list_name,
                default_region=record.default_region,
                consent_source=record.consent_source,
                update=record.update_existing,
                dry_run=record.dry_run,
                record=record,
                actor=record.created_by,
            )
        except ApplicationError:
            return None  # a fault of the file, recorded on the import for the person who uploaded it


def _contact_import_enqueue(record: ContactImport) -> None:
    from contacts.tasks import contact_import_run_queued as task

    transaction.on_commit(lambda: task.delay(record.pk))


def _contact_import_failed(record: ContactImport, exc: BaseException) -> None:
    record.refresh_from_db(fields=["lines_done"])
    if isinstance(exc, ApplicationError):
        failure = exc.message
    elif isinstance(exc, KeyboardInterrupt):
        failure = f"interrupted after line {record.lines_done}; every row up to it is imported"
    else:
        failure = f"stopped after line {record.lines_done} by {type(exc).__name__}: {exc}"
    ContactImport.objects.filter(pk=record.pk).update(
        status=ContactImport.Status.FAILED, failure=failure, finished_at=timezone.now()
    )


def _import_region(default_region: str | None) -> str:
    region = (default_region or settings.DEFAULT_PHONE_REGION).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ApplicationError(
            f"unknown region {region!r}: expected a two-letter country code such as US or GB", field="default_region"
        )
    return region


@dataclass
class SuppressionImportSummary:
    read: int = 0
    added: int = 0
    already: int = 0
    rejected: int = 0
    subscribed_contacts: int = 0  # subscribed contacts whose number is now suppressed: they will not be texted
    errors: list[RowError] = field(default_factory=list)


def suppression_import(
    *,
    file: BinaryIO,
    reason: str,
    source: str = "",
    default_region: str | None = None,
    errors_to: TextIO | None = None,
    actor=None,
    batch_size: int = BATCH_SIZE,
) -> SuppressionImportSummary:
    """Suppress every number of a file (a CSV with a phone column, or a bare list of numbers), batch by batch."""
    _suppression_reason_validate(reason)
    region = _import_region(default_region)
    source_file = ContactCsv(file, headerless_ok=True)
    report = spreadsheet_safe_writer(errors_to) if errors_to is not None else None
    if report is not None:
        report.writerow(ERROR_REPORT_HEADER)
    summary = SuppressionImportSummary()
    for batch in batched(source_file.rows(), batch_size):
        numbers: set[str] = set()
        errors = []
        for row in batch:
            try:
                numbers.add(normalize_phone(row.phone, region=region).e164)
            except ApplicationError as exc:
                errors.append(RowError(row.line, source_file.phone_header, row.phone, exc.message))
        with transaction.atomic():
            added = suppressions_add_many(numbers=sorted(numbers), reason=reason, source=source, actor=actor)
            summary.subscribed_contacts += Contact.objects.filter(
                phone_number__in=added, status=Contact.Status.SUBSCRIBED
            ).count()
        summary.read += len(batch)
        summary.added += len(added)
        summary.already += len(batch) - len(errors) - len(added)
        summary.rejected += len(errors)
        if report is not None:
            report.writerows(error.as_row() for error in errors)
        summary.errors.extend(errors[: max(0, 10 - len(summary.errors))])
    if actor is not None and summary.added:
        audit_record(
            actor=actor,
            action="suppressions.imported",
            target=Suppression.objects.filter(reason=reason).order_by("-id").first(),
            data={"reason": reason, "source": source, "added": summary.added},
        )
    return summary


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


# --- Bulk changes from the admin --------------------------------------------------------------------


@transaction.atomic
def contact_list_add_contacts(*, contact_list: ContactList, contact_ids: list[int], actor=None) -> int:
    """Put contacts on a list (those already on it are left alone); audited on the list; how many were added."""
    memberships = [ContactListMembership(contact_id=pk, contact_list=contact_list) for pk in contact_ids]
    before = ContactListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids).count()
    ContactListMembership.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=BATCH_SIZE)
    added = len(set(contact_ids)) - before
    audit_record(actor=actor, action="contact_list.contacts_added", target=contact_list, data={"count": added})
    return added


@transaction.atomic
def contact_list_remove_contacts(*, contact_list: ContactList, contact_ids: list[int], actor=None) -> int:
    """Take contacts off a list; audited on the list; how many were removed."""
    removed, _ = ContactListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids).delete()
    audit_record(actor=actor, action="contact_list.contacts_removed", target=contact_list, data={"count": removed})
    return removed


def contacts_opt_out(*, contacts: list[Contact], reason: str, actor) -> int:
    """Opt out each contact as contact_opt_out does (status, suppression, audit), with staff's reason."""
    if not reason.strip():
        raise ApplicationError("say why these contacts are opted out", field="reason")
    for contact in contacts:
        contact_opt_out(
            contact=contact,
            source=f"staff: {reason.strip()}"[:255],
            actor=actor,
            context=ConsentContext(method=ConsentEvent.Method.ADMIN),
        )
    return len(contacts)


def contact_details_validate(
    *,
    phone_number: str | None = None,
    timezone_name: str | None = None,
    attributes: dict | None = None,
    contact: Contact | None = None,
    region: str | None = None,
) -> NormalizedNumber | None:
    """Check details as contact_create and contact_update do, writing nothing; the number normalised if given.

    `contact` is the one being changed (its own number is not a duplicate). Forms call it to show the error
    beside the field instead of failing on save.
    """
    number = None
    if phone_number is not None:
        number = normalize_phone(phone_number, region=region)
        others = Contact.objects.filter(phone_number=number.e164)
        if contact is not None:
            others = others.exclude(pk=contact.pk)
        if others.exists():
            raise ApplicationError(f"a contact with number {number.e164} already exists", field="phone_number")
    if timezone_name and not is_timezone_name(timezone_name):
        raise ApplicationError(f"{timezone_name!r} is not an IANA time zone such as America/New_York", field="timezone")
    if attributes is not None and not isinstance(attributes, dict):
        # Messages are personalised by name ({{ city }}): a list or a bare value has no names.
        raise ApplicationError('attributes must be names and values, e.g. {"city": "Lyon"}', field="attributes")
    # Attributes stored before a limit was lowered stay editable as long as they are left as they are.
    if attributes is not None and (contact is None or attributes != contact.attributes):
        attributes_validate(attributes)
    return number


_UPDATABLE_CONTACT_FIELDS = ("first_name", "last_name", "timezone", "attributes")


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    phone_number: str | None = None,
    lists: list[ContactList] | None = None,
    region: str | None = None,
    actor=None,
    **fields,
) -> Contact:
    """Change a contact's details; consent and status change only through opt-in and opt-out."""
    unknown = set(fields) - set(_UPDATABLE_CONTACT_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    number = contact_details_validate(
        phone_number=phone_number,
        timezone_name=fields.get("timezone"),
        attributes=fields.get("attributes"),
        contact=contact,
        region=region,
    )
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, fields[name])
    if number is not None and number.e164 != contact.phone_number:
        contact.phone_number, contact.country = number.e164, number.region
        changed += ["phone_number", "country"]
        if "timezone" not in fields and contact.timezone:
            # The zone went with the old number (a person given one for a Los Angeles number and now on a
            # London one would be texted at night): the new number's zones are derived at send time.
            contact.timezone = ""
            changed.append("timezone")
    if changed:
        contact.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    if lists is not None:
        ContactListMembership.objects.filter(contact=contact).exclude(contact_list__in=lists).delete()
        contact_lists_add(contact=contact, contact_lists=lists)
    audit_record(actor=actor, action="contact.updated", target=contact, data={"fields": changed})
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:
    """Erase a contact; its sends keep the number they went to, and suppressions stay in force."""
    audit_record(actor=actor, action="contact.deleted", target=contact)
    contact.delete()


def contact_list_name_validate(*, name: str, contact_list: ContactList | None = None) -> None:
    """A list needs a name of its own (`contact_list`: the one being renamed); writes nothing."""
    if not name.strip():
        raise ApplicationError("a list needs a name", field="name")
    if ContactList.objects.filter(name=name).exclude(pk=getattr(contact_list, "pk", None)).exists():
        raise ApplicationError(f"a list named {name!r} already exists", field="name")


def contact_list_create(*, name: str, description: str = "", actor=None) -> ContactList:
    contact_list_name_validate(name=name)
    contact_list = ContactList.objects.create(name=name, description=description)
    audit_record(actor=actor, action="contact_list.created", target=contact_list)
    return contact_list


def contact_list_update(
    *, contact_list: ContactList, name: str | None = None, description: str | None = None, actor=None
) -> ContactList:
    if name is not None:
        contact_list_name_validate(name=name, contact_list=contact_list)
        contact_list.name = name
    if description is not None:
        contact_list.description = description
    contact_list.save()
    audit_record(actor=actor, action="contact_list.updated", target=contact_list)
    return contact_list


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList, actor=None) -> None:
    """Delete a list (its memberships go with it; the contacts stay)."""
    audit_record(actor=actor, action="contact_list.deleted", target=contact_list)
    contact_list.delete()


@transaction.atomic
def contact_list_members_change(
    *, contact_list: ContactList, add: list[Contact], remove: list[Contact], actor=None
) -> tuple[int, int]:
    """Add and remove contacts in one transaction; returns (added, removed), not counting those already so."""
    overlap = {c.pk for c in add} & {c.pk for c in remove}
    if overlap:
        ids = ", ".join(str(pk) for pk in sorted(overlap))
        raise ApplicationError(f"contacts {ids} are both added and removed", field="remove")
    removed = contact_list_remove_contacts(contact_list=contact_list, contact_ids=[c.pk for c in remove], actor=actor)
    added = contact_list_add_contacts(contact_list=contact_list, contact_ids=[c.pk for c in add], actor=actor)
    return added, removed


@transaction.atomic
def suppression_remove(*, suppression: Suppression, actor=None) -> None:
    """Lift a do-not-call or manual suppression, audited. An opt-out is never just deleted: the person's own
    is lifted only by their START, one staff made only by opting the contact in with consent evidence."""
    if suppression.reason == Suppression.Reason.OPT_OUT:
        _opt_outs_locked_unless_the_persons(e164=str(suppression.phone_number))
        raise ApplicationError(
            f"{suppression.phone_number} was opted out by staff ({suppression.source or 'no source given'}); "
            "only new consent lifts that: opt the contact in with consent evidence"
        )
    audit_record(actor=actor, action="suppression.removed", target=suppression, data={"reason": suppression.reason})
    suppression.delete()


def contact_timezones_clear(*, contact_ids: Iterable[int], reason: str, actor=None) -> int:
    """Clear the stored timezone of these contacts (quiet hours then hold in every zone their number may be
    in); each change audited with `reason`. Returns how many were cleared."""
    cleared = 0
    for batch in batched(contact_ids, BATCH_SIZE):
        with transaction.atomic():
            contacts = list(Contact.objects.filter(pk__in=batch).exclude(timezone="").select_for_update())
            for contact in contacts:
                audit_record(
                    actor=actor,
                    action="contact.timezone_cleared",
                    target=contact,
                    data={"timezone": contact.timezone, "reason": reason},
                )
            cleared += Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(
                timezone="", updated_at=timezone.now()
            )
    return cleared
