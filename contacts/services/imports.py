"""Imports: contacts from a CSV (run here, or uploaded and queued for a worker) and suppressions from a file."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO, TextIO

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, user_or_none
from contacts.csvfiles import ContactCsv, RowError, spreadsheet_safe_writer
from contacts.importer import (
    BATCH_SIZE,
    ERROR_REPORT_HEADER,
    ImportSummary,
    ProgressCallback,
    contact_rows_import,
    import_fields,
)
from contacts.models import (
    Contact,
    ContactImport,
    Suppression,
)
from contacts.phones import normalize_phone
from contacts.selectors import batched, custom_fields_by_key
from contacts.services.suppressions import suppression_reason_validate, suppressions_add_many
from contacts.uploads import upload_names, upload_size_check
from smscampaigns.errors import ApplicationError


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
    mapping: dict[str, str] | None = None,
    workers: int = 1,
) -> ImportSummary:
    """Import contacts from a CSV file, batch by batch; the one path used by the command, admin and API.

    `mapping` ({header: target}, see contacts.csvfiles.IMPORT_TARGETS) says what columns are; a column it
    does not name is understood by its header.

    Without `consent_source` contacts arrive unsubscribed. Opted-out contacts and suppressed numbers are
    reported and left unchanged. A non-dry run is tracked by a ContactImport (`record`, created when not
    given) whose counts and checkpoint are committed with each batch; given a record that already has a
    checkpoint, the import resumes after it.

    On PostgreSQL, `workers` processes (forked) check the rows while this one writes them, with the same
    results; a process that may not have children (a Celery worker's) keeps the default of one.
    """
    region = _import_region(default_region)
    if record is None and not dry_run:
        record = ContactImport.objects.create(
            source_name=source_name[:255],
            list_name=contact_list_name,
            default_region=region,
            consent_source=consent_source,
            update_existing=update,
            mapping=mapping or {},
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
            mapping=mapping,
            workers=workers,
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
    mapping: dict[str, str] | None = None,
    map_later: bool = False,
    actor=None,
) -> ContactImport:
    """Check an uploaded file, store it and queue its import for a worker; returns the import to poll.

    With `map_later` the import waits for contact_import_map (the admin's mapping step) instead, and the
    file need not have a column recognisable as the phone yet."""
    region = _import_region(default_region)
    upload_size_check(file)
    source_name, stored_name = upload_names(file)
    # A file that cannot be read is refused now, with the reason, not later in a worker.
    source = ContactCsv(file, mapping=mapping, phone_required=not map_later)
    import_fields(source)
    file.seek(0)
    record = ContactImport(
        source_name=source_name,
        list_name=contact_list_name,
        default_region=region,
        consent_source=consent_source,
        update_existing=update,
        dry_run=dry_run,
        mapping=mapping or {},
        encoding=source.encoding,
        status=ContactImport.Status.MAPPING if map_later else ContactImport.Status.PENDING,
        bytes_total=getattr(file, "size", 0) or 0,
        created_by=user_or_none(actor),
    )
    record.file.save(stored_name, file, save=False)
    record.save()
    if not map_later:
        _contact_import_enqueue(record)
    return record


@dataclass
class ImportColumns:
    """An uploaded file as the mapping step shows it: headers, what each is taken for, the first rows."""

    encoding: str
    headers: list[str]
    targets: list[str]
    rows: list[list[str]]


IMPORT_PREVIEW_ROWS = 5


def contact_import_columns(*, contact_import: ContactImport) -> ImportColumns:
    """The uploaded file's columns with their automatic targets and its first rows (for the mapping step)."""
    with contact_import.file.open("rb") as file:
        source = ContactCsv(file, phone_required=False)
        targets = source.automatic_targets(frozenset(custom_fields_by_key()))
        return ImportColumns(source.encoding, source.headers, targets, source.preview(IMPORT_PREVIEW_ROWS))


def contact_import_map(*, contact_import: ContactImport, mapping: dict[str, str], actor=None) -> ContactImport:
    """Record the column mapping of an import waiting for one, check the file with it and queue it."""
    if contact_import.status != ContactImport.Status.MAPPING:
        raise ApplicationError(f"import #{contact_import.pk} is {contact_import.get_status_display().lower()}")
    with contact_import.file.open("rb") as file:
        import_fields(ContactCsv(file, mapping=mapping))
    claimed = ContactImport.objects.filter(pk=contact_import.pk, status=ContactImport.Status.MAPPING).update(
        mapping=mapping, status=ContactImport.Status.PENDING
    )
    if not claimed:
        raise ApplicationError(f"import #{contact_import.pk} has been mapped already")
    contact_import.refresh_from_db()
    audit_record(actor=actor, action="contact_import.mapped", target=contact_import, data={"mapping": mapping})
    _contact_import_enqueue(contact_import)
    return contact_import


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
                mapping=record.mapping,
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
    suppression_reason_validate(reason=reason)
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
