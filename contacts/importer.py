"""The engine behind `contact_import_run`: rows in, batches of set-based writes out, one transaction per batch.

Reading the file stays in one process, in file order (line numbers, encodings, quoted line breaks); the rest
of a row's checking (the number parsed and validated, names, attributes, zone, tags) is CPU work that may run
in worker processes (`workers`), a batch at a time, its results taken back in file order. Numbers repeated
within a batch are merged there; the batch's existing contacts and suppressions are then read with one query
each and its outcome written.

How a batch is written depends on the database. On PostgreSQL the checked rows arrive as CSV text, already
made by whoever checked them, and are loaded with COPY into a temporary staging table; the numbers that the
database knows already (an existing contact, a suppression) are read back and decided row by row, and every
new number is created, put on the list and given its consent event by one set-based statement. So the process
that writes does next to nothing per row, which is what lets two processes checking rows keep it busy. On
SQLite every row is decided in Python and written with INSERT ... ON CONFLICT per few hundred rows. Both are
written by hand rather than with `bulk_create(update_conflicts=True)` because PhoneNumberField parses and
validates every number again on its way into the database, which doubled the cost per row.

A crash or Ctrl-C leaves whole batches behind; every write is an upsert decided from what the database
holds, so running the same import again finishes the job without duplicates.
"""

import csv
import gc
import io
import json
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from itertools import dropwhile, islice
from typing import TextIO

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from contacts.attributes import attribute_problem
from contacts.bulksql import SQLITE_ROWS_PER_STATEMENT, is_postgresql, sql_in, sql_row_sources
from contacts.csvfiles import ContactCsv, RowError, RowLayout, SourceRow, shortened, spreadsheet_safe_writer
from contacts.custom_fields import field_value_parse
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactImportError,
    ContactList,
    ContactListMembership,
    ContactTag,
    CustomField,
    Suppression,
    is_timezone_name,
)
from contacts.phones import normalize_phone
from contacts.selectors import (
    OptOutSuppression,
    custom_fields_by_key,
    opt_out_suppressions,
    person_opt_outs,
    suppression_reasons,
)
from contacts.services.consent import initial_consent
from contacts.services.custom_fields import contact_field_values_write
from contacts.services.tags import tag_name_problem, tag_names_split, tags_get_or_create
from smscampaigns import domain_events
from smscampaigns.errors import ApplicationError

BATCH_SIZE = 2000
ERRORS_SHOWN = 10
ERROR_REPORT_HEADER = ["line", "column", "value", "reason"]
NAME_MAX_LENGTH = Contact._meta.get_field("first_name").max_length


@dataclass
class ImportCounts:
    """Each data row lands in exactly one of the six outcomes, so they add up to `read`."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0

    def add(self, other: "ImportCounts") -> None:
        for counter in fields(ImportCounts):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class ImportSummary(ImportCounts):
    """What an import did."""

    elapsed: float = 0.0
    dry_run: bool = False
    subscribed: bool = False
    lines_done: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    encoding: str = ""  # the text encoding the file was read in, as people name it ("Windows-1252")
    errors: list[RowError] = field(default_factory=list)  # the first few, for the screen

    @property
    def rows_per_second(self) -> float:
        return self.read / self.elapsed if self.elapsed else 0.0

    def counts(self) -> dict[str, int]:
        """The counters under ContactImport's field names."""
        return {counter: getattr(self, _summary_name(counter)) for counter in ContactImport.COUNTERS}


def _summary_name(counter: str) -> str:
    return "read" if counter == "rows_read" else counter


@dataclass(slots=True)
class _Row:
    line: int
    e164: str
    country: str
    timezone: str
    first_name: str
    last_name: str
    attributes: dict
    timezone_given: bool = False
    tags: list[str] = field(default_factory=list)


ProgressCallback = Callable[[ImportSummary], None]


def contact_rows_import(
    *,
    file,
    contact_list_name: str,
    default_region: str,
    consent_source: str,
    update: bool,
    dry_run: bool,
    errors_to: TextIO | None,
    progress: ProgressCallback | None,
    record: ContactImport | None,
    batch_size: int,
    mapping: dict[str, str] | None = None,
    workers: int = 1,
) -> ImportSummary:
    started = time.perf_counter()
    source = ContactCsv(file, mapping=mapping)
    fields = import_fields(source)
    summary = ImportSummary(
        dry_run=dry_run, subscribed=bool(consent_source), bytes_total=source.bytes_total, encoding=source.encoding
    )
    if record is not None:
        ContactImport.objects.filter(pk=record.pk).update(encoding=source.encoding)
    resume_after = 0
    if record is not None:
        resume_after = record.lines_done
        for counter in ContactImport.COUNTERS:
            setattr(summary, _summary_name(counter), getattr(record, counter))
        summary.lines_done = record.lines_done
    contact_list = None
    if contact_list_name and not dry_run:
        contact_list, _ = ContactList.objects.get_or_create(name=contact_list_name)
    report = spreadsheet_safe_writer(errors_to) if errors_to is not None else None
    if report is not None and not resume_after:
        report.writerow(ERROR_REPORT_HEADER)
    columns = {name: source.headers[index] for name, index in source.named.items()}
    attribute_columns = {name: source.headers[index] for name, index in source.attributes.items()}
    tags_column = source.headers[source.tags_index] if source.tags_index is not None else None
    checker = _RowChecker(
        layout=source.layout,
        default_region=default_region,
        update=update,
        phone_column=source.phone_header,
        columns=columns,
        attribute_columns=attribute_columns,
        tags_column=tags_column,
        fields=fields,
    )
    batch_writer = _BatchWriter(
        contact_list=contact_list,
        consent_source=consent_source,
        update=update,
        dry_run=dry_run,
        phone_column=source.phone_header,
        attribute_columns=attribute_columns,
        tags_column=tags_column,
        fields=fields,
        actor_id=record.created_by_id if record is not None else None,
    )
    staged = is_postgresql()
    chunks = _chunks(source, resume_after=resume_after, size=batch_size)
    checked = _checked_batches(chunks, checker, staged=staged, workers=workers if staged else 1)
    # Closed on the way out, whatever the way: that ends the worker processes at once.
    with _objects_frozen(), _import_tables(staged=staged) as seen, closing(checked) as batches:
        for batch in batches:
            with transaction.atomic():
                if staged:
                    batch_writer.write_staged(batch.outcome, batch.rows)
                else:
                    batch_writer.write(batch.outcome, batch.rows, seen_before=seen.add(list(batch.rows)))
                summary.add(batch.outcome)
                summary.lines_done = batch.last_line
                summary.bytes_done = batch.bytes_read
                if record is not None:
                    _record_batch(record, summary, batch.outcome.errors)
            if report is not None:
                for error in batch.outcome.errors:
                    report.writerow(error.as_row())
            room = ERRORS_SHOWN - len(summary.errors)
            if room > 0:
                summary.errors.extend(batch.outcome.errors[:room])
            summary.elapsed = time.perf_counter() - started
            if progress is not None:
                progress(summary)
    summary.bytes_done = source.bytes_read
    summary.elapsed = time.perf_counter() - started
    return summary


@contextmanager
def _objects_frozen() -> Iterator[None]:
    """The objects this process holds when an import starts (Django, the app registry, the loaded metadata)
    left out of the garbage collections while it runs, here and in the workers forked meanwhile. Each batch's
    rows pass through as new objects; a collection of the oldest generation visited every old object as well,
    a third of the time spent reading the file. And a collection writes to every object it visits, which
    copied the memory pages this process shares with its workers (a million rows: 164 MB peak, now 129)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def import_workers_default() -> int:
    """One process checking rows per CPU this process may run on (the import_contacts command's default)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def import_fields(source: ContactCsv) -> dict[str, CustomField]:
    """The custom fields the file's columns give (mapped to one, or headed by its key); an unknown key mapped
    explicitly refuses the file before any row is read."""
    fields = custom_fields_by_key()
    for target in source.mapping.values():
        key = target.removeprefix("field:")
        if target.startswith("field:") and key not in fields:
            known = ", ".join(sorted(fields)) or "none yet"
            raise ApplicationError(
                f"the mapping names the custom field {key!r}, which does not exist (fields: {known})", field="mapping"
            )
    return {key: fields[key] for key in source.attributes if key in fields}


@dataclass
class _BatchOutcome(ImportCounts):
    errors: list[RowError] = field(default_factory=list)


def _record_batch(record: ContactImport, summary: ImportSummary, errors: list[RowError]) -> None:
    # In the batch's own transaction: the counts and the checkpoint never disagree with the data.
    ContactImport.objects.filter(pk=record.pk).update(
        progress_at=timezone.now(),
        lines_done=summary.lines_done,
        bytes_done=summary.bytes_done,
        **{counter: getattr(summary, _summary_name(counter)) for counter in ContactImport.COUNTERS},
    )
    if errors:
        ContactImportError.objects.bulk_create(
            ContactImportError(contact_import=record, line=e.line, column=e.column, value=e.value, reason=e.reason)
            for e in errors
        )


# --- Checking rows, in this process or in workers ---------------------------------------------------------

_Records = list[tuple[int, list[str]]]  # (line, cells) of a batch's rows, as ContactCsv.records() reads them


@dataclass(slots=True)
class _CheckedBatch:
    outcome: _BatchOutcome  # read, rejected and the duplicates within the batch so far, with the rejected rows
    rows: dict[str, _Row] | str  # the rows to write by number, or (PostgreSQL) as CSV text for COPY
    last_line: int
    bytes_read: int  # of the file, when the batch had been read: progress shown once it is written


def _chunks(source: ContactCsv, *, resume_after: int, size: int) -> Iterator[tuple[_Records, int, int]]:
    """The file's rows after line `resume_after`, `size` at a time: (records, last line, bytes read so far)."""
    records = source.records()
    if resume_after:
        records = dropwhile(lambda record: record[0] <= resume_after, records)
    while chunk := list(islice(records, size)):
        yield chunk, chunk[-1][0], source.bytes_read


def _checked_batches(chunks, checker: "_RowChecker", *, staged: bool, workers: int) -> Iterator[_CheckedBatch]:
    """Each chunk checked, in file order: here, or by `workers` processes while this one writes."""
    check = checker.check_for_copy if staged else checker.check
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for records, last_line, bytes_read in chunks:
            outcome, rows = check(records)
            yield _CheckedBatch(outcome, rows, last_line, bytes_read)
        return
    yield from _checked_in_workers(chunks, checker, workers)


# Chunks handed to the workers and not yet written, per worker: enough to keep them busy while this process
# writes a batch, few enough that memory stays flat whatever the file's size.
_CHUNKS_AHEAD_PER_WORKER = 2


def _checked_in_workers(chunks, checker: "_RowChecker", workers: int) -> Iterator[_CheckedBatch]:
    # Forked, the workers start at once with this process's settings, custom fields and loaded metadata;
    # they only compute, never touch the database connection they inherit.
    context = multiprocessing.get_context("fork")
    pending: deque = deque()
    unreadable = None
    # Forked while the objects this process held before the import are frozen (_objects_frozen): left out of
    # the workers' garbage collections too, their memory pages stay shared.
    pool = context.Pool(workers, initializer=_worker_start, initargs=(checker,))
    with pool:
        chunks = iter(chunks)
        while True:
            try:
                records, last_line, bytes_read = next(chunks)
            except StopIteration:
                break
            except ApplicationError as exc:
                # As in one process: the batches read before the unreadable line are written, then it stops.
                unreadable = exc
                break
            pending.append((pool.apply_async(_check_for_copy_in_worker, (records,)), last_line, bytes_read))
            if len(pending) > _CHUNKS_AHEAD_PER_WORKER * workers:
                yield _checked_batch(*pending.popleft())
        while pending:
            yield _checked_batch(*pending.popleft())
    if unreadable is not None:
        raise unreadable


def _checked_batch(result, last_line: int, bytes_read: int) -> _CheckedBatch:
    outcome, rows = result.get()
    return _CheckedBatch(outcome, rows, last_line, bytes_read)


_worker_state: dict[str, "_RowChecker"] = {}


def _worker_start(checker: "_RowChecker") -> None:
    # Ctrl-C reaches every process of the terminal: the parent handles it (it ends the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_state["checker"] = checker


def _check_for_copy_in_worker(records: _Records) -> tuple[_BatchOutcome, str]:
    return _worker_state["checker"].check_for_copy(records)


class _RowChecker:
    """Turns a batch's rows into checked contact rows (or rejected ones with the reason): CPU only, no database,
    so that it can run in a worker process."""

    def __init__(
        self,
        *,
        layout: RowLayout,
        default_region: str,
        update: bool,
        phone_column: str,
        columns: dict[str, str],
        attribute_columns: dict[str, str],
        tags_column: str | None,
        fields: dict[str, CustomField],
    ):
        self.layout = layout
        self.default_region = default_region
        self.update = update
        self.phone_column = phone_column
        self.columns = columns
        self.attribute_columns = attribute_columns
        self.tags_column = tags_column
        self.fields = fields

    def check(self, records: _Records) -> tuple[_BatchOutcome, dict[str, _Row]]:
        """Parse and validate a batch, merging repeated numbers (a later row fills the blanks of the first)."""
        outcome = _BatchOutcome(read=len(records))
        merged: dict[str, _Row] = {}
        source_row = self.layout.source_row
        errors = outcome.errors
        for line, cells in records:
            row = self._parse(source_row(line, cells), errors)
            if row is None:
                continue
            earlier = merged.get(row.e164)
            if earlier is None:
                merged[row.e164] = row
            else:
                outcome.duplicates += 1
                _merge_into(earlier, row, overwrite=self.update)
        outcome.rejected = len(errors)
        return outcome, merged

    def check_for_copy(self, records: _Records) -> tuple[_BatchOutcome, str]:
        """`check`, the rows then written as the CSV that _BatchWriter.write_staged loads with COPY."""
        outcome, merged = self.check(records)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(
            (
                row.line,
                e164,
                row.country,
                row.first_name,
                row.last_name,
                row.timezone,
                # As JSONField stores it (ensure_ascii), like _contact_values.
                json.dumps(row.attributes) if row.attributes else "{}",
                json.dumps(row.tags) if row.tags else "",
            )
            for e164, row in merged.items()
        )
        return outcome, text.getvalue()

    def _parse(self, source_row: SourceRow, errors: list[RowError]) -> _Row | None:
        if source_row.problem is not None:
            errors.append(source_row.problem)
            return None
        try:
            number = normalize_phone(source_row.phone, region=self.default_region)
        except ApplicationError as exc:
            errors.append(RowError(source_row.line, self.phone_column, source_row.phone, exc.message))
            return None
        for name in ("first_name", "last_name"):
            value = getattr(source_row, name)
            if len(value) > NAME_MAX_LENGTH:
                errors.append(
                    RowError(
                        source_row.line,
                        self.columns[name],
                        shortened(value),
                        f"longer than {NAME_MAX_LENGTH} characters",
                    )
                )
                return None
        if problem := attribute_problem(source_row.attributes):
            value = source_row.attributes.get(problem.name, "")
            errors.append(
                RowError(
                    source_row.line, self.attribute_columns.get(problem.name, ""), shortened(value), problem.message
                )
            )
            return None
        zone = source_row.timezone
        if zone and not is_timezone_name(zone):
            errors.append(
                RowError(source_row.line, self.columns["timezone"], zone, "not a timezone name such as Europe/Paris")
            )
            return None
        attributes = source_row.attributes
        for key, custom_field in self.fields.items():
            if key in attributes:
                try:
                    attributes[key] = field_value_parse(custom_field, attributes[key]).text
                except ValueError as exc:
                    column = self.attribute_columns.get(key, key)
                    errors.append(
                        RowError(source_row.line, column, shortened(attributes[key]), f"{custom_field.label}: {exc}")
                    )
                    return None
        tags = tag_names_split(source_row.tags) if source_row.tags else []
        for name in tags:
            if problem := tag_name_problem(name):
                errors.append(RowError(source_row.line, self.tags_column or "", shortened(name), problem))
                return None
        return _Row(
            line=source_row.line,
            e164=number.e164,
            country=number.region,
            timezone=zone,  # only a zone the file gives; the number's zones are derived at send time
            first_name=source_row.first_name,
            last_name=source_row.last_name,
            attributes=attributes,
            timezone_given=bool(zone),
            tags=tags,
        )


# --- Writing a batch --------------------------------------------------------------------------------------


@dataclass
class _Decision:
    """What writing a batch's rows does, decided from what the database holds."""

    inserts: list[tuple] = field(default_factory=list)  # new contacts (_contact_values)
    upserts: list[tuple] = field(default_factory=list)  # existing contacts that change
    members: list[str] = field(default_factory=list)  # numbers put on the list (and given consent)
    typed: list[str] = field(default_factory=list)  # numbers whose custom field values this batch may change


class _BatchWriter:
    def __init__(
        self,
        *,
        contact_list: ContactList | None,
        consent_source: str,
        update: bool,
        dry_run: bool,
        phone_column: str,
        attribute_columns: dict[str, str],
        tags_column: str | None = None,
        fields: dict[str, CustomField] | None = None,
        actor_id: int | None = None,
    ):
        self.actor_id = actor_id
        self.tags_column = tags_column
        self.fields = fields or {}
        self.contact_list = contact_list
        self.consent_source = consent_source
        self.update = update
        self.dry_run = dry_run
        self.phone_column = phone_column
        self.attribute_columns = attribute_columns

    def write(self, outcome: _BatchOutcome, merged: dict[str, _Row], *, seen_before: set[str]) -> None:
        """Decide each number's outcome from what the database holds, and write it (unless a dry run)."""
        if not merged:
            return
        now = timezone.now()
        decision = self._decide(outcome, merged, seen_before=seen_before, now=now)
        if self.dry_run:
            return
        subscribed = self._apply(decision, now)
        if self.fields and decision.typed:
            _field_values_write(decision.typed, self.fields)
        if self.tags_column is not None and decision.members:
            _tags_add({e164: merged[e164].tags for e164 in decision.members}, now)
        _subscribed_by_import(subscribed, now)

    def write_staged(self, outcome: _BatchOutcome, rows: str) -> None:
        """PostgreSQL: `write`, for rows given as the CSV of _RowChecker.check_for_copy. The numbers the database
        knows are decided as `write` does; every new one is written by one statement, nothing done per row here."""
        if not rows:
            return
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {_STAGE}")
            with cursor.copy(f"COPY {_STAGE} ({', '.join(_STAGED_COLUMNS)}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(rows)
            cursor.execute(_STAGE_MARK_SQL)
            new, repeated, known = cursor.fetchone()
            known_rows = []
            if known:
                cursor.execute(
                    "SELECT duplicate, line, phone_number, country, first_name, last_name, timezone, "
                    f"attributes::text, tags FROM {_STAGE} WHERE known ORDER BY line"
                )
                known_rows = cursor.fetchall()
        # New numbers met in an earlier batch were not created there (a dry run, or rejected): duplicates still.
        outcome.created += new
        outcome.duplicates += repeated
        merged: dict[str, _Row] = {}
        seen_before = set()
        for duplicate, line, e164, country, first_name, last_name, zone, attributes, tags in known_rows:
            tag_names = json.loads(tags) if tags else []
            merged[e164] = _Row(
                line, e164, country, zone, first_name, last_name, json.loads(attributes), bool(zone), tag_names
            )
            if duplicate:
                seen_before.add(e164)
        decision = self._decide(outcome, merged, seen_before=seen_before, now=now)
        if self.dry_run:
            return
        subscribed = self._create_staged(now) + self._apply(decision, now)
        if self.fields:
            _field_values_write(decision.typed + _staged_new_numbers(), self.fields)
        if self.tags_column is not None:
            tagged = [(merged[e164].line, e164, merged[e164].tags) for e164 in decision.members]
            tagged += _staged_tags()
            _tags_add({e164: tags for _, e164, tags in sorted(tagged)}, now)
        _subscribed_by_import(subscribed, now)

    def _decide(self, outcome: _BatchOutcome, merged: dict[str, _Row], *, seen_before: set[str], now) -> _Decision:
        """Count and report each row by what the database holds for its number; say what to write."""
        decision = _Decision()
        if not merged:
            return decision
        numbers = list(merged)
        existing = _existing_contacts(numbers)
        suppressed = suppression_reasons(numbers=numbers)
        opted_out = [e164 for e164 in numbers if Suppression.Reason.OPT_OUT in suppressed.get(e164, ())]
        opt_outs = opt_out_suppressions(numbers=opted_out)
        persons = person_opt_outs(numbers=opted_out)
        inserts, upserts, members, typed = decision.inserts, decision.upserts, decision.members, decision.typed
        for e164, row in merged.items():
            contact = existing.get(e164)
            # A number met in an earlier batch of this file is a duplicate whatever else happens to it.
            duplicate = e164 in seen_before
            if duplicate:
                outcome.duplicates += 1
            if e164 in suppressed or (contact is not None and contact.opted_out):
                # A number that opted out before it was a contact is kept (names, attributes, lists) as an
                # opted-out contact: the person's START later subscribes it on those lists.
                keep = contact is None and e164 in opt_outs
                if not duplicate:
                    outcome.suppressed += 1
                    why = ["opted out"] if contact is not None and contact.opted_out else []
                    if e164 in suppressed:
                        why.append(f"suppressed ({', '.join(suppressed[e164])})")
                    detail = persons.get(e164) or " and ".join(why)
                    reason = (
                        f"kept as an opted-out contact, not subscribed: {detail}"
                        if keep
                        else f"left unchanged, never re-subscribed by an import: {detail}"
                    )
                    outcome.errors.append(RowError(row.line, self.phone_column, e164, reason))
                    if keep:
                        inserts.append(self._new_contact(row, now, suppressed=True, opt_out=opt_outs[e164]))
                        typed.append(e164)
                if keep:
                    members.append(e164)
                continue
            members.append(e164)
            if contact is None:
                if not duplicate:
                    outcome.created += 1
                    inserts.append(self._new_contact(row, now, suppressed=False, opt_out=None))
                    typed.append(e164)
                continue
            try:
                values = self._merged_contact(contact, row, now)
            except _RowRejected as rejected:
                members.pop()  # nothing of a rejected row is applied, list membership included
                outcome.errors.append(rejected.error)
                outcome.rejected += 0 if duplicate else 1
                continue
            if values is None:
                outcome.unchanged += 0 if duplicate else 1
            else:
                outcome.updated += 0 if duplicate else 1
                upserts.append(values)
                typed.append(e164)
        return decision

    def _apply(self, decision: _Decision, now) -> int:
        """Write the contacts and list membership decided; the number of contacts given consent."""
        _insert_contacts(decision.inserts, update=False)
        _insert_contacts(decision.upserts, update=True)
        if self.contact_list is not None and decision.members:
            _add_to_list(self.contact_list, decision.members, now)
        if self.consent_source and decision.members:
            return _consent_events_add(decision.members, source=self.consent_source, actor_id=self.actor_id, now=now)
        return 0

    def _create_staged(self, now) -> int:
        """Create the contacts of the staged numbers that are new, put them on the list and record their
        consent, in one statement; the number of contacts given consent."""
        initial = initial_consent(consent_source=self.consent_source, suppressed=False, opt_out=None, now=now)
        contacts = connection.ops.quote_name(Contact._meta.db_table)
        params = {**asdict(initial), "now": now}
        # A contact created by someone else since the batch was staged is theirs: left be, as in `write`.
        sql = (
            f"WITH created AS (INSERT INTO {contacts} ({', '.join(_CONTACT_COLUMNS)}) "
            "SELECT phone_number, country, first_name, last_name, timezone, %(status)s::text, "
            "%(consented_at)s::timestamptz, %(consent_source)s::text, %(consent_text)s::text, "
            "%(opted_out_at)s::timestamptz, %(opt_out_source)s::text, attributes, %(now)s::timestamptz, "
            f"%(now)s::timestamptz FROM {_STAGE} WHERE NOT known AND NOT duplicate ORDER BY line "
            "ON CONFLICT (phone_number) DO NOTHING RETURNING id, phone_number, status)"
        )
        if self.contact_list is not None:
            membership = connection.ops.quote_name(ContactListMembership._meta.db_table)
            sql += (
                f", listed AS (INSERT INTO {membership} (contact_id, contact_list_id, added_at) "
                "SELECT id, %(list)s::integer, %(now)s::timestamptz FROM created)"
            )
            params["list"] = self.contact_list.pk
        if not initial.subscribed:
            sql += " SELECT count(*) FROM created"
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
            return 0
        events = connection.ops.quote_name(ConsentEvent._meta.db_table)
        sql += (
            f" INSERT INTO {events} (contact_id, phone_number, kind, method, source, text, actor_id, ip, user_agent, "
            "backfilled, created_at) SELECT id, phone_number, %(kind)s::text, %(method)s::text, %(source)s::text, "
            "'', %(actor)s::integer, NULL, '', false, %(now)s::timestamptz FROM created"
        )
        params |= {
            "kind": ConsentEvent.Kind.CONSENT_GIVEN,
            "method": ConsentEvent.Method.IMPORT,
            "source": self.consent_source[:255],
            "actor": self.actor_id,
        }
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return max(cursor.rowcount, 0)

    def _new_contact(self, row: _Row, now, *, suppressed: bool, opt_out: OptOutSuppression | None) -> tuple:
        initial = initial_consent(consent_source=self.consent_source, suppressed=suppressed, opt_out=opt_out, now=now)
        return _contact_values(
            row,
            now=now,
            status=initial.status,
            consented_at=initial.consented_at,
            consent_source=initial.consent_source,
            consent_text=initial.consent_text,
            opted_out_at=initial.opted_out_at,
            opt_out_source=initial.opt_out_source,
        )

    def _merged_contact(self, contact: "_Existing", row: _Row, now) -> tuple | None:
        """The contact's new values (None when nothing changes): fill blanks, or overwrite with --update."""
        if self.update:
            first_name = row.first_name or contact.first_name
            last_name = row.last_name or contact.last_name
            attributes = {**contact.attributes, **row.attributes}
            zone = row.timezone if row.timezone_given else contact.timezone
        else:
            first_name = contact.first_name or row.first_name
            last_name = contact.last_name or row.last_name
            attributes = {**row.attributes, **contact.attributes}
            zone = contact.timezone or row.timezone
        if attributes != contact.attributes and (problem := attribute_problem(attributes)):
            # The row alone was within the limits (checked in _parse); with the contact's own it is not.
            column = self.attribute_columns.get(problem.name, "")
            raise _RowRejected(
                RowError(row.line, column, shortened(str(attributes.get(problem.name, ""))), problem.message)
            )
        status, consented_at, consent_source = contact.status, contact.consented_at, contact.consent_source
        if self.consent_source and status != Contact.Status.SUBSCRIBED:
            status, consented_at, consent_source = Contact.Status.SUBSCRIBED, now, self.consent_source
        if (first_name, last_name, attributes, zone, status) == (
            contact.first_name,
            contact.last_name,
            contact.attributes,
            contact.timezone,
            contact.status,
        ):
            return None
        merged = _Row(row.line, row.e164, contact.country or row.country, zone, first_name, last_name, attributes)
        return _contact_values(merged, status=status, consented_at=consented_at, consent_source=consent_source, now=now)


class _RowRejected(Exception):
    def __init__(self, error: RowError):
        super().__init__(error.reason)
        self.error = error


def _merge_into(kept: _Row, later: _Row, *, overwrite: bool) -> None:
    """Fold a repeated row of the same number into the first: later values fill blanks (or win with --update)."""
    if later.timezone_given and (overwrite or not kept.timezone_given):
        kept.timezone, kept.timezone_given = later.timezone, True
    kept.tags = list(dict.fromkeys([*kept.tags, *later.tags]))
    if overwrite:
        kept.first_name = later.first_name or kept.first_name
        kept.last_name = later.last_name or kept.last_name
        kept.attributes = {**kept.attributes, **later.attributes}
    else:
        kept.first_name = kept.first_name or later.first_name
        kept.last_name = kept.last_name or later.last_name
        kept.attributes = {**later.attributes, **kept.attributes}


# --- SQL ------------------------------------------------------------------------------------------------

# Column -> PostgreSQL type, in the order of the tuples _contact_values returns.
_CONTACT_COLUMNS = {
    "phone_number": "text",
    "country": "text",
    "first_name": "text",
    "last_name": "text",
    "timezone": "text",
    "status": "text",
    "consented_at": "timestamptz",
    "consent_source": "text",
    "consent_text": "text",
    "opted_out_at": "timestamptz",
    "opt_out_source": "text",
    "attributes": "jsonb",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}
_UPDATED_ON_CONFLICT = (
    "first_name",
    "last_name",
    "timezone",
    "status",
    "consented_at",
    "consent_source",
    "attributes",
    "updated_at",
)


def _contact_values(
    row: _Row,
    *,
    status,
    consented_at,
    consent_source: str,
    now,
    consent_text: str = "",
    opted_out_at=None,
    opt_out_source: str = "",
) -> tuple:
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(now)
    return (
        row.e164,
        row.country,
        row.first_name,
        row.last_name,
        row.timezone,
        status,
        ops.adapt_datetimefield_value(consented_at),
        consent_source,
        consent_text,
        ops.adapt_datetimefield_value(opted_out_at),
        opt_out_source,
        # As JSONField stores it (ensure_ascii), so a re-run compares equal.
        json.dumps(row.attributes),
        stamp,
        stamp,
    )


@dataclass(slots=True)
class _Existing:
    first_name: str
    last_name: str
    timezone: str
    country: str
    attributes: dict
    status: str
    consented_at: object
    consent_source: str
    opted_out: bool


def _existing_contacts(numbers: list[str]) -> dict[str, _Existing]:
    table = connection.ops.quote_name(Contact._meta.db_table)
    # On PostgreSQL the rows are locked until the batch commits, so an opt-out arriving meanwhile waits
    # and is applied after, never overwritten by this import.
    lock = " ORDER BY phone_number FOR UPDATE" if connection.features.has_select_for_update else ""
    matching, params = sql_in(numbers)
    sql = (
        "SELECT phone_number, first_name, last_name, timezone, country, attributes, status, consented_at, "
        f"consent_source, opted_out_at FROM {table} WHERE phone_number {matching}{lock}"
    )
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for phone, first, last, zone, country, attributes, status, consented_at, source, opted_out_at in cursor:
            if isinstance(attributes, str):
                attributes = json.loads(attributes)
            found[phone] = _Existing(
                first,
                last,
                zone,
                country,
                attributes or {},
                status,
                consented_at,
                source,
                # contact_opt_in keeps the date of an earlier opt-out, so the status decides.
                opted_out=opted_out_at is not None and status != Contact.Status.SUBSCRIBED,
            )
    return found


def _insert_contacts(rows: list[tuple], *, update: bool) -> None:
    table = connection.ops.quote_name(Contact._meta.db_table)
    if update:
        assignments = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED_ON_CONFLICT)
        conflict = f"ON CONFLICT (phone_number) DO UPDATE SET {assignments}"
    else:
        # A contact created by someone else since this batch read the table is theirs: leave it be.
        conflict = "ON CONFLICT (phone_number) DO NOTHING"
    with connection.cursor() as cursor:
        for source, params in sql_row_sources(_CONTACT_COLUMNS, rows):
            cursor.execute(f"INSERT INTO {table} ({', '.join(_CONTACT_COLUMNS)}) {source} {conflict}", params)


def _consent_events_add(numbers: list[str], *, source: str, actor_id: int | None, now) -> int:
    """A consent event for each of these contacts that this batch subscribed (they carry its timestamp); how many."""
    events = connection.ops.quote_name(ConsentEvent._meta.db_table)
    contacts = connection.ops.quote_name(Contact._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    subscribed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(numbers), SQLITE_ROWS_PER_STATEMENT * 10):
            matching, params = sql_in(numbers[start : start + SQLITE_ROWS_PER_STATEMENT * 10])
            cursor.execute(
                f"INSERT INTO {events} (contact_id, phone_number, kind, method, source, text, actor_id, ip, "
                "user_agent, backfilled, created_at) "
                f"SELECT id, phone_number, %s, %s, %s, '', %s, NULL, '', %s, %s FROM {contacts} "
                f"WHERE phone_number {matching} AND status = %s AND consented_at = %s",
                [
                    ConsentEvent.Kind.CONSENT_GIVEN,
                    ConsentEvent.Method.IMPORT,
                    source[:255],
                    actor_id,
                    False,
                    stamp,
                    *params,
                    Contact.Status.SUBSCRIBED,
                    stamp,
                ],
            )
            subscribed += max(cursor.rowcount, 0)
    return subscribed


def _subscribed_by_import(count: int, now) -> None:
    if count:
        # Counted by the dashboard as subscribers gained; one event per batch, not one per contact.
        domain_events.events_emit(
            [
                domain_events.DomainEvent(
                    type=domain_events.CONTACTS_SUBSCRIBED_BY_IMPORT,
                    order_key="import",
                    data={"count": count},
                    occurred_at=now,
                )
            ]
        )


def _add_to_list(contact_list: ContactList, numbers: list[str], now) -> None:
    membership = connection.ops.quote_name(ContactListMembership._meta.db_table)
    contacts = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(numbers), SQLITE_ROWS_PER_STATEMENT * 10):
            matching, params = sql_in(numbers[start : start + SQLITE_ROWS_PER_STATEMENT * 10])
            cursor.execute(
                f"INSERT INTO {membership} (contact_id, contact_list_id, added_at) "
                f"SELECT id, %s, %s FROM {contacts} WHERE phone_number {matching} ON CONFLICT DO NOTHING",
                [contact_list.pk, connection.ops.adapt_datetimefield_value(now), *params],
            )


def _contact_ids(numbers: list[str], *, attributes: bool) -> list[tuple]:
    """(phone, id[, attributes]) of the contacts with these numbers; in SQL, as the numbers are E.164 already
    (the ORM would parse and validate each again, the cost the module docstring describes)."""
    table = connection.ops.quote_name(Contact._meta.db_table)
    columns = "phone_number, id, attributes" if attributes else "phone_number, id"
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(numbers), SQLITE_ROWS_PER_STATEMENT * 10):
            matching, params = sql_in(numbers[start : start + SQLITE_ROWS_PER_STATEMENT * 10])
            cursor.execute(f"SELECT {columns} FROM {table} WHERE phone_number {matching}", params)
            for row in cursor.fetchall():
                if attributes and isinstance(row[2], str):
                    row = (row[0], row[1], json.loads(row[2]))
                found.append(row)
    return found


def _field_values_write(numbers: list[str], fields: dict[str, CustomField]) -> None:
    """Typed values from the attributes as committed (a contact written meanwhile by someone else keeps its own)."""
    stored = _contact_ids(numbers, attributes=True)
    contact_field_values_write(attributes_by_contact={pk: attributes for _, pk, attributes in stored}, fields=fields)


def _tags_add(tags_by_number: dict[str, list[str]], now) -> None:
    """Put each contact's tags on it (created on first use); tags it has already are left, none removed."""
    # In file order, so a tag new to the database takes the spelling of its first mention.
    names = list(dict.fromkeys(name for tags in tags_by_number.values() for name in tags))
    if not names:
        return
    tags = {tag.name.lower(): tag for tag in tags_get_or_create(names=names)}
    ids = dict(_contact_ids([e164 for e164, given in tags_by_number.items() if given], attributes=False))
    ContactTag.objects.bulk_create(
        [
            ContactTag(contact_id=ids[e164], tag=tags[name.lower()], added_at=now)
            for e164, given in tags_by_number.items()
            if e164 in ids
            for name in given
        ],
        ignore_conflicts=True,
        batch_size=SQLITE_ROWS_PER_STATEMENT,
    )


class _SeenNumbers:
    """Numbers met earlier in this file, kept in a temporary table so memory stays bounded on any file."""

    table = "contact_import_seen"

    def add(self, numbers: list[str]) -> set[str]:
        """Record `numbers`; return those already met in an earlier batch."""
        added = set()
        with connection.cursor() as cursor:
            for source, params in sql_row_sources({"phone_number": "text"}, [(number,) for number in numbers]):
                cursor.execute(
                    f"INSERT INTO {self.table} (phone_number) {source} ON CONFLICT DO NOTHING RETURNING phone_number",
                    params,
                )
                added.update(phone for (phone,) in cursor.fetchall())
        return set(numbers) - added


# PostgreSQL: a batch's checked rows, loaded by COPY (the columns of _RowChecker.check_for_copy, in order), then
# marked: `duplicate` when an earlier batch had the number, `known` when the database has a contact or a
# suppression for it (those rows are decided in Python; the others are new contacts).
# `known` is looked up with a scalar subquery (LIMIT 1) per staged row, never EXISTS: the planner may run an
# EXISTS as a hash of the whole table, which it did for the contacts table whenever its statistics were
# stale (as after a TRUNCATE, or while the import grows it), reading every contact once per batch, so the
# import slowed down as it went. A scalar subquery can only be run row by row, by the unique index.
# Only the rows flagged (a few in a hundred) are then rewritten: updating every staged row, with the index
# that it needed, cost a third of the marking.
_STAGE = "contact_import_stage"
_STAGED_COLUMNS = ("line", "phone_number", "country", "first_name", "last_name", "timezone", "attributes", "tags")
_STAGE_TABLE_SQL = (
    f"CREATE TEMPORARY TABLE {_STAGE} (line integer NOT NULL, phone_number varchar(32) NOT NULL, "
    "country text NOT NULL, first_name text NOT NULL, last_name text NOT NULL, timezone text NOT NULL, "
    "attributes jsonb NOT NULL, tags text NOT NULL, duplicate boolean NOT NULL DEFAULT false, "
    "known boolean NOT NULL DEFAULT false)"
)
_STAGE_MARK_SQL = (
    f"WITH fresh AS (INSERT INTO {_SeenNumbers.table} (phone_number) SELECT phone_number FROM {_STAGE} "
    "ON CONFLICT DO NOTHING RETURNING phone_number), "
    "flags AS (SELECT s.phone_number, fresh.phone_number IS NULL AS duplicate, "
    f"(SELECT true FROM {Contact._meta.db_table} c WHERE c.phone_number = s.phone_number LIMIT 1) IS NOT NULL "
    f"OR (SELECT true FROM {Suppression._meta.db_table} x WHERE x.phone_number = s.phone_number LIMIT 1) "
    f"IS NOT NULL AS known FROM {_STAGE} s LEFT JOIN fresh USING (phone_number)), "
    f"marked AS (UPDATE {_STAGE} s SET duplicate = flags.duplicate, known = flags.known FROM flags "
    "WHERE flags.phone_number = s.phone_number AND (flags.duplicate OR flags.known)) "
    "SELECT count(*) FILTER (WHERE NOT known AND NOT duplicate), count(*) FILTER (WHERE NOT known AND duplicate), "
    "count(*) FILTER (WHERE known) FROM flags"
)


def _staged_new_numbers() -> list[str]:
    """The staged numbers that are new contacts, in file order."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone_number FROM {_STAGE} WHERE NOT known AND NOT duplicate ORDER BY line")
        return [e164 for (e164,) in cursor.fetchall()]


def _staged_tags() -> list[tuple[int, str, list[str]]]:
    """(line, number, tag names) of the staged new numbers that have tags."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT line, phone_number, tags FROM {_STAGE} WHERE NOT known AND tags <> ''")
        return [(line, e164, json.loads(tags)) for line, e164, tags in cursor.fetchall()]


class _import_tables:
    """The temporary tables of one import: the numbers seen so far, and (PostgreSQL) the staging table."""

    def __init__(self, *, staged: bool):
        self.staged = staged
        self._jit: str | None = None  # the session's own setting, given back at the end

    def __enter__(self) -> _SeenNumbers:
        with connection.cursor() as cursor:
            self._drop(cursor)
            cursor.execute(f"CREATE TEMPORARY TABLE {_SeenNumbers.table} (phone_number varchar(32) PRIMARY KEY)")
            if self.staged:
                cursor.execute(_STAGE_TABLE_SQL)
                # A batch's statements run in milliseconds: compiling them (the planner's estimate for a
                # staging table without statistics can pass jit_above_cost) took longer than running them.
                cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', false)")
                self._jit = cursor.fetchone()[0]
        return _SeenNumbers()

    def __exit__(self, *exc_info) -> None:
        # After a failure the connection may be unusable; the tables then go with the session.
        with suppress(DatabaseError), connection.cursor() as cursor:
            self._drop(cursor)

    def _drop(self, cursor) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {_SeenNumbers.table}")
        if self.staged:
            cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
            if self._jit is not None:
                cursor.execute("SELECT set_config('jit', %s, false)", [self._jit])
