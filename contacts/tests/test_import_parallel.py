"""The import with rows checked in worker processes gives what the one-process import gives, to the row."""

import csv
import gc
import io
import multiprocessing
from pathlib import Path

import pytest
from django.db import connection

from contacts.importer import _STAGE_MARK_SQL, _import_tables
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactList,
    ContactListMembership,
    ContactTag,
    Suppression,
    Tag,
)
from contacts.services.consent import contact_opt_out
from contacts.services.imports import contact_import_run
from contacts.services.suppressions import suppression_add
from contacts.tests.factories import ContactFactory
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db

BATCH = 4  # rows per batch: the file below crosses many batch (and so worker chunk) boundaries


def messy_rows() -> list[str]:
    """Lines of a messy file: repeats within a batch and across batches, rubbish, blank lines, a quoted line
    break, an existing, an opted-out and a suppressed number, tags."""
    lines = ["phone,first_name,last_name,city,tags"]
    for n in range(30):
        lines.append(f"+1415555{100 + n:04d},Person{n},,City{n % 3},{'gold' if n % 4 == 0 else ''}")
        if n % 7 == 3:
            lines.append(f"({415}) 555-{100 + n - 1:04d},,Again{n},,Silver")  # the row before, repeated
        if n % 9 == 5 and n > 9:
            lines.append(f"1-415-555-{100 + n - 6:04d},,Later{n},Elsewhere,GOLD;vip")  # a batch or more back
        if n == 11:
            lines.append("nope,Not,A,Number,")
        if n == 13:
            lines.append("")  # blank
            lines.append('+1 555 0100,"Two\nLines",Short,,')  # rejected, after a quoted line break
        if n == 17:
            lines.append("+14155550197,Otto,,,")  # opted out before
            lines.append("+14155550198,Dora,,,")  # on the do-not-call list
            lines.append("+14155550196,,Filled,,vip")  # an existing contact: its blank is filled
        if n == 23:
            lines.append("+14155550110,Late,Repeat,,gold")  # repeats row 10, many batches later
    return lines


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def known_numbers() -> None:
    otto = ContactFactory(phone_number="+14155550197", first_name="Otto", last_name="")
    contact_opt_out(contact=otto, source="inbound STOP")
    suppression_add(phone_number="+14155550198", reason=Suppression.Reason.DO_NOT_CALL)
    ContactFactory(phone_number="+14155550196", first_name="Ed", last_name="", attributes={"tier": "old"})


def imported(path: Path, **options) -> dict:
    """Import `path` and return everything the import decided, free of ids and timestamps."""
    errors = io.StringIO()
    with path.open("rb") as file:
        summary = contact_import_run(
            file=file,
            source_name=path.name,
            consent_source="fair",
            contact_list_name="Fair",
            errors_to=errors,
            batch_size=BATCH,
            mapping={"tags": "tags"},
            **options,
        )
    return {
        "counts": summary.counts(),
        "report": list(csv.reader(io.StringIO(errors.getvalue()))),
        **state(),
    }


def state() -> dict:
    return {
        "contacts": sorted(
            Contact.objects.values_list(
                "phone_number", "first_name", "last_name", "attributes", "status", "consent_source", "country"
            ),
            key=str,
        ),
        "members": sorted(ContactListMembership.objects.values_list("contact__phone_number", flat=True)),
        "consent": sorted(
            ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONSENT_GIVEN).values_list("phone_number", "source")
        ),
        "tags": sorted(ContactTag.objects.values_list("contact__phone_number", "tag__name")),
        "checkpoint": ContactImport.objects.values_list("lines_done", "status").get(),
    }


def forget_everything() -> None:
    for model in (ContactTag, Tag, ContactListMembership, ContactList, ConsentEvent, ContactImport, Suppression):
        model.objects.all().delete()
    Contact.objects.all().delete()


def test_workers_give_the_same_contacts_counts_and_report_as_one_process(tmp_path):
    path = write(tmp_path, messy_rows())
    known_numbers()
    alone = imported(path, workers=1)
    forget_everything()
    known_numbers()
    assert imported(path, workers=2) == alone

    counts = alone["counts"]
    assert (counts["created"], counts["updated"], counts["rejected"], counts["suppressed"]) == (30, 1, 2, 2)
    assert counts["duplicates"] == 7
    by_line = {int(row[0]): row for row in alone["report"][1:]}
    lines = path.read_text().split("\n")
    # Each reported line is the line of the file where the row starts (a quoted line break is a line too).
    nope = next(line for line, row in by_line.items() if row[2] == "nope")
    short = next(line for line, row in by_line.items() if "without its area code" in row[3])
    assert lines[nope - 1].startswith("nope") and lines[short - 1].startswith("+1 555 0100")
    assert any(line > short and lines[line - 1].startswith("+14155550197") for line in by_line)
    assert {row[2] for row in by_line.values() if "opted out" in row[3] or "do-not-call" in row[3]} == {
        "+14155550197",
        "+14155550198",
    }
    contacts = {contact[0]: contact for contact in alone["contacts"]}
    # Repeated batches later, in another format: the blank last name filled, the city kept, the tags added.
    assert contacts["+14155550108"][1:4] == ("Person8", "Later14", {"city": "City2"})
    assert {tag for phone, tag in alone["tags"] if phone == "+14155550108"} == {"gold", "vip"}
    assert contacts["+14155550196"][1:3] == ("Ed", "Filled")


def interrupted_then_resumed(path: Path, workers: int) -> list[int]:
    """Import `path`, Ctrl-C after three batches, resume it; the import's counts."""

    def interrupt_after_three_batches(summary):
        if summary.lines_done >= 3 * BATCH:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        imported(path, workers=workers, progress=interrupt_after_three_batches)
    assert not multiprocessing.active_children()  # the workers ended with the import
    record = ContactImport.objects.get()
    assert record.status == ContactImport.Status.FAILED and 3 * BATCH <= record.lines_done < 5 * BATCH
    with path.open("rb") as file:
        contact_import_run(
            file=file,
            consent_source="fair",
            contact_list_name="Fair",
            batch_size=BATCH,
            mapping={"tags": "tags"},
            record=record,
            workers=workers,
        )
    record.refresh_from_db()
    return [getattr(record, counter) for counter in ContactImport.COUNTERS]


def test_workers_resume_after_ctrl_c_where_the_last_committed_batch_ends(tmp_path):
    path = write(tmp_path, messy_rows())
    known_numbers()
    whole = imported(path, workers=1)
    forget_everything()
    known_numbers()
    alone = interrupted_then_resumed(path, workers=1)
    forget_everything()
    known_numbers()
    assert interrupted_then_resumed(path, workers=2) == alone
    assert state() == {key: value for key, value in whole.items() if key not in ("counts", "report")}
    # A number first met before the checkpoint and again after it counts as updated, not as a duplicate,
    # as in one process: the numbers met are not kept across runs.
    assert alone[0] == whole["counts"]["rows_read"] and sum(alone[1:]) == alone[0]


def test_workers_write_the_batches_before_an_unreadable_line_then_stop_naming_it(tmp_path):
    # A quote left open: the cell runs on over the lines after it, past the csv module's limit on a cell.
    lines = messy_rows()[:20] + ['+14155559999,"open quote'] + ["x" * 100] * 2000
    path = write(tmp_path, lines)
    with pytest.raises(ApplicationError) as alone:
        imported(path, workers=1)
    written = state()["contacts"]
    forget_everything()
    with pytest.raises(ApplicationError) as parallel:
        imported(path, workers=2)
    assert parallel.value.message == alone.value.message and "cannot be read as CSV" in alone.value.message
    assert state()["contacts"] == written and written
    assert not multiprocessing.active_children()


def test_each_staged_batch_looks_up_its_own_numbers_never_the_whole_contacts_table():
    # Statistics of the contacts table are stale while an import grows it: the planner then hashed the whole
    # table once per batch to tell which staged numbers it knows, and the import slowed down as it went.
    if connection.vendor != "postgresql":
        pytest.skip("the staging table is PostgreSQL's")
    ContactFactory.create_batch(3)
    with _import_tables(staged=True), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {_STAGE_MARK_SQL}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    contacts_read = [line for line in plan.splitlines() if " on contacts_contact " in line]
    assert contacts_read and all("Index" in line for line in contacts_read), plan


def test_staged_batches_are_never_compiled_and_the_session_gets_its_setting_back():
    # Compiling the marking statement (its estimate for a staging table without statistics passed
    # jit_above_cost) took longer than running it: it doubled the marking's share of an import.
    if connection.vendor != "postgresql":
        pytest.skip("the staging table is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        before = cursor.fetchone()
        with _import_tables(staged=True):
            cursor.execute("SHOW jit")
            assert cursor.fetchone() == ("off",)
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == before


def test_objects_held_before_an_import_are_frozen_while_it_runs_and_given_back_however_it_ends(tmp_path):
    # Collections of the oldest generation visited Django's every object again and again while the rows went
    # through (a third of the reading's time), and copied the pages the workers shared with this process.
    path = write(tmp_path, messy_rows())
    assert gc.get_freeze_count() == 0
    frozen_while_running = []

    def note_frozen(summary):
        frozen_while_running.append(gc.get_freeze_count())

    imported(path, workers=2, progress=note_frozen)
    assert frozen_while_running and min(frozen_while_running) > 10_000  # Django's objects, at least
    assert gc.get_freeze_count() == 0

    def interrupt(summary):
        raise KeyboardInterrupt

    forget_everything()
    with pytest.raises(KeyboardInterrupt):
        imported(path, workers=2, progress=interrupt)
    assert gc.get_freeze_count() == 0
