"""Property-based fuzzing of the contact import (contacts.services.contact_import over contacts/csvfiles.py and
contacts/importer.py): whatever the bytes, it ends in a summary or in an ApplicationError that says what is
wrong, and it never writes half of anything.

What the import promises, and what is checked here:
- A file that cannot be read as a whole (not UTF-8, UTF-16, empty, no phone column, a header twice, a NUL
  byte) is refused with an ApplicationError before anything is written: contacts, lists and memberships are
  as they were. The import's own record is kept, marked failed with the reason, for whoever uploaded it.
- A readable file is imported row by row: every good row is written (created, updated, unchanged or merged
  as a duplicate), every bad row (not a phone number, a name over 150 characters, an unknown timezone, more
  cells than the header) is reported with its line and written nowhere, and the counts add up to the rows
  read. Batches commit one by one (a crash leaves whole batches: contacts/tests/test_import.py).
Runs are bounded (max_examples, no deadline) and derandomized: the same cases every run, so CI fails on a
regression, not on a lucky draw.
"""

import io
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.importer import ImportSummary
from contacts.models import Contact, ContactImport, ContactList, ContactListMembership, Suppression
from contacts.services import contact_import
from contacts.tests.factories import ContactFactory, fictional_number
from smscampaigns.errors import ApplicationError
from smscampaigns.tests.helpers import rolled_back

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXISTING = fictional_number(9001)  # a contact already in the database before each import


def database_state() -> tuple:
    return (
        sorted(Contact.objects.values_list("phone_number", "first_name", "last_name", "timezone", "status")),
        sorted(ContactList.objects.values_list("name", flat=True)),
        sorted(ContactListMembership.objects.values_list("contact__phone_number", "contact_list__name")),
        sorted(Suppression.objects.values_list("phone_number", "reason")),
    )


def import_bytes(data: bytes, **options) -> ImportSummary:
    return contact_import(
        file=io.BytesIO(data), source_name="fuzz.csv", contact_list_name="Fuzz", consent_source="fuzz", **options
    )


def assert_refused_cleanly_or_imported(data: bytes) -> ImportSummary | None:
    """The property every input must have; returns the summary when the file was imported."""
    ContactFactory(phone_number=EXISTING, first_name="Kept")
    before = database_state()
    try:
        summary = import_bytes(data, batch_size=3)
    except ApplicationError as exc:
        assert exc.message and exc.field == "file", exc
        assert database_state() == before, f"refused ({exc.message}) yet something was written"
        record = ContactImport.objects.get()
        assert record.status == ContactImport.Status.FAILED and exc.message in record.failure
        return None
    counted = summary.created + summary.updated + summary.unchanged + summary.duplicates
    assert counted + summary.rejected + summary.suppressed == summary.read
    return summary


# --- Any bytes at all ----------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=600))
def test_any_bytes_are_imported_or_refused_with_a_clear_error_and_nothing_written(data):
    with rolled_back():
        assert_refused_cleanly_or_imported(data)


@FUZZ
@given(
    header=st.sampled_from(["phone", "Phone Number,first_name", "mobile;surname;Tier", "name\tMOBILE", "x,y"]),
    body=st.text(max_size=400),
)
def test_any_text_under_a_header_is_imported_or_refused_with_a_clear_error(header, body):
    with rolled_back():
        assert_refused_cleanly_or_imported(f"{header}\n{body}".encode())


# --- CSV shapes with a known answer: good rows kept, bad rows reported, nothing in between --------------

_GOOD_ZONES = ["", "America/New_York", "Europe/Paris"]


@dataclass(frozen=True)
class Row:
    phone: str
    first_name: str
    timezone: str
    extra_cell: bool
    imported_as: str | None  # the number the import must write, None for a row it must reject


def _row(kind: str, n: int, name: str, zone: str) -> Row:
    number = fictional_number(200 + n)
    if kind == "good":
        return Row(number, name, zone, extra_cell=False, imported_as=number)
    if kind == "good, written as people write it":
        national = number.removeprefix("+1")
        return Row(f"({national[:3]}) {national[3:6]}-{national[6:]}", name, zone, False, imported_as=number)
    if kind == "not a number":
        return Row(f"call me {n}", name, zone, extra_cell=False, imported_as=None)
    if kind == "too short":
        return Row(str(n % 1000), name, zone, extra_cell=False, imported_as=None)
    if kind == "name too long":
        return Row(number, "N" * 151, zone, extra_cell=False, imported_as=None)
    if kind == "unknown timezone":
        return Row(number, name, "Mars/Olympus_Mons", extra_cell=False, imported_as=None)
    return Row(number, name, zone, extra_cell=True, imported_as=None)  # an unquoted separator: a cell too many


rows_strategy = st.lists(
    st.builds(
        _row,
        kind=st.sampled_from(
            [
                "good",
                "good, written as people write it",
                "not a number",
                "too short",
                "name too long",
                "unknown timezone",
                "extra cell",
            ]
        ),
        n=st.integers(0, 12),  # a small range, so that numbers repeat: duplicates within the file
        name=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20).map(str.strip),
        zone=st.sampled_from(_GOOD_ZONES),
    ),
    max_size=25,
)


def _quoted(value: str, delimiter: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in (delimiter, '"', "\n", "\r")) else value


def _file(rows: list[Row], delimiter: str, line_end: str, bom: bool) -> bytes:
    lines = [delimiter.join(["phone", "first_name", "timezone"])]
    for row in rows:
        cells = [_quoted(v, delimiter) for v in (row.phone, row.first_name, row.timezone)]
        lines.append(delimiter.join(cells + (["surplus"] if row.extra_cell else [])))
    return ("\ufeff" if bom else "").encode() + (line_end.join(lines) + line_end).encode()


@FUZZ
@given(
    rows=rows_strategy,
    delimiter=st.sampled_from([",", ";", "\t"]),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    batch_size=st.integers(1, 7),
)
def test_good_rows_are_kept_and_bad_rows_reported_never_half_written(rows, delimiter, line_end, bom, batch_size):
    with rolled_back():
        ContactFactory(phone_number=EXISTING, first_name="Kept")
        errors = io.StringIO()
        summary = import_bytes(_file(rows, delimiter, line_end, bom), batch_size=batch_size, errors_to=errors)

        good = [row for row in rows if row.imported_as]
        expected = {}  # number -> name: the first good row's, later rows filling a blank
        for row in good:
            expected[row.imported_as] = expected.get(row.imported_as) or row.first_name
        written = dict(Contact.objects.exclude(phone_number=EXISTING).values_list("phone_number", "first_name"))
        assert written == expected, "exactly the good rows are written, each whole"
        members = set(ContactListMembership.objects.values_list("contact__phone_number", flat=True))
        assert members == set(expected), "every written contact, and only those, joined the list"
        assert Contact.objects.get(phone_number=EXISTING).first_name == "Kept"

        bad_lines = {index + 2 for index, row in enumerate(rows) if not row.imported_as}  # line 1: the header
        reported = {int(line.split(",", 1)[0]) for line in errors.getvalue().splitlines()[1:]}
        assert reported == bad_lines, "every bad row is reported with its line, and no good one"
        assert summary.rejected == len(bad_lines) and summary.suppressed == 0
        assert summary.created + summary.duplicates == len(good)


# --- What the fuzzing found, kept as plain cases -------------------------------------------------------


def test_a_file_with_old_mac_line_endings_is_imported_line_by_line():
    data = f"phone,first_name\r{fictional_number(301)},Ann\r{fictional_number(302)},Bob\r".encode()
    summary = import_bytes(data)
    assert summary.created == 2
    assert dict(Contact.objects.values_list("phone_number", "first_name")) == {
        fictional_number(301): "Ann",
        fictional_number(302): "Bob",
    }


def test_a_nul_byte_refuses_the_file_naming_its_line_before_anything_is_written():
    data = f"phone,first_name\n{fictional_number(301)},Ann\n{fictional_number(302)},B\x00b\n".encode()
    with pytest.raises(ApplicationError, match=r"line 3 holds a NUL byte"):
        import_bytes(data)
    assert not Contact.objects.exists()
    assert ContactImport.objects.get().status == ContactImport.Status.FAILED


def test_a_quote_left_open_over_a_huge_cell_is_a_clear_error_not_a_crash():
    data = f'phone,first_name\n{fictional_number(301)},"Ann\n'.encode() + b"x" * 200_000 + b"\n"
    with pytest.raises(ApplicationError, match=r"line \d+ cannot be read as CSV .*quote left open"):
        import_bytes(data)
