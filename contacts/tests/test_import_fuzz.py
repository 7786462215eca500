"""Property-based fuzzing of the contact import (contacts.services.contact_import_run over contacts/csvfiles.py and
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

import csv
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.importer import ImportSummary
from contacts.models import Contact, ContactImport, ContactList, ContactListMembership, Suppression
from contacts.services.imports import contact_import_run, contact_import_run_queued
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
    return contact_import_run(
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


# --- Hostile files through every import path -----------------------------------------------------------
#
# The same bytes go through each way a file gets in: the import_contacts command, the admin upload, the
# API upload (POST /api/v1/contacts/import/, then the worker) and import_suppressions. Each answers with a
# clear error naming the line (and column) or imports the good rows and reports the bad ones by line and
# column; none answers 500, and none loses a good row beside a bad one. Big inputs are written to disk in
# chunks and streamed into the request, so the test holds a few MB whatever the size of the file.

GOOD_1, GOOD_2, GOOD_3 = fictional_number(501), fictional_number(502), fictional_number(503)
IMPORT_API = "/api/v1/contacts/import/"
BOUNDARY = "hostileBoundary7MA4YWxkTrZu0gW"


@dataclass
class Outcome:
    refused: str | None  # the error, when the file was refused as a whole
    status: int | None  # the HTTP status of an upload
    report: list[tuple[int, str, str, str]]  # rows not imported: line, column, value, reason
    kept: set[str]  # the numbers written (contacts, or suppressions)


def chunks_of(*parts) -> list:
    return [part.encode() if isinstance(part, str) else part for part in parts]


def write_chunks(path: Path, chunks) -> Path:
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


def multipart_request(tmp_path: Path, name: str, chunks, fields: dict) -> dict:
    """A multipart body written to disk and streamed as the request's input, as a server would hand it."""
    path = tmp_path / "request.body"
    with path.open("wb") as out:
        for key, value in fields.items():
            out.write(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        out.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
        )
        for chunk in chunks:
            out.write(chunk)
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    stream = path.open("rb")
    return {
        "content_type": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(path.stat().st_size),
        "wsgi.input": stream,
    }


def report_rows(rows) -> list[tuple[int, str, str, str]]:
    return [(int(line), column, value, reason) for line, column, value, reason in rows]


def kept_contacts() -> set[str]:
    return {str(number) for number in Contact.objects.values_list("phone_number", flat=True)}


def kept_suppressions() -> set[str]:
    return {str(number) for number in Suppression.objects.values_list("phone_number", flat=True)}


def command_run(tmp_path, name, chunks, command: str, option: str, kept) -> Outcome:
    """A management command on the file, with --errors: its refusal, or its error report and what it kept."""
    source = write_chunks(tmp_path / name, chunks)
    errors = tmp_path / "errors.csv"
    try:
        call_command(command, str(source), option, f"--errors={errors}", stdout=io.StringIO())
    except CommandError as exc:
        return Outcome(str(exc), None, [], kept())
    with errors.open(newline="", encoding="utf-8") as report:
        return Outcome(None, None, report_rows(list(csv.reader(report))[1:]), kept())


def admin_path(client, tmp_path, name, chunks) -> Outcome:
    request = multipart_request(tmp_path, name, chunks, {"default_region": "US", "consent_source": "hostile test"})
    with request["wsgi.input"]:
        response = client.generic("POST", reverse("admin:contacts_contactimport_add"), b"", **request)
    if response.status_code == 200:
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*><li>(.*?)</li>', response.content.decode(), re.S)
        assert errors, "the upload page came back without saying what is wrong"
        return Outcome(html.unescape(errors[0]), 200, [], kept_contacts())
    assert response.status_code == 302, response.status_code
    record = ContactImport.objects.get()
    mapped = map_columns_as_shown(client, record)
    if mapped.status_code == 200:
        return Outcome(mapping_errors(mapped), 200, [], kept_contacts())
    contact_import_run_queued(contact_import_id=record.pk)  # what the worker does with it
    download = client.get(reverse("admin:contacts_contactimport_errors", args=[record.pk]))
    text = b"".join(download.streaming_content).decode()
    return Outcome(None, 302, report_rows(list(csv.reader(io.StringIO(text)))[1:]), kept_contacts())


def map_columns_as_shown(client, record):
    """The upload's second step, each column taken as the page proposes."""
    url = reverse("admin:contacts_contactimport_mapping", args=[record.pk])
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    form = page.context["form"]
    return client.post(url, {name: field.initial for name, field in form.fields.items()})


def mapping_errors(response) -> str:
    errors = re.findall(r'<p class="errornote">(.*?)</p>', response.content.decode(), re.S)
    assert errors, "the mapping page came back without saying what is wrong"
    return html.unescape(errors[0])


def api_path(client, tmp_path, name, chunks) -> Outcome:
    request = multipart_request(tmp_path, name, chunks, {"consent_source": "hostile test"})
    with request["wsgi.input"]:
        response = client.generic("POST", IMPORT_API, b"", **request)
    body = response.json()
    if response.status_code != 202:
        assert response.status_code in (400, 413), (response.status_code, body)
        assert set(body) == {"detail", "errors"} and body["errors"]["file"] == [body["detail"]], body
        return Outcome(body["detail"], response.status_code, [], kept_contacts())
    contact_import_run_queued(contact_import_id=body["id"])
    errors = client.get(f"{IMPORT_API}{body['id']}/errors/", {"page_size": 100}).json()["results"]
    rows = [(e["line"], e["column"], e["value"], e["reason"]) for e in errors]
    return Outcome(None, 202, rows, kept_contacts())


CONTACT_PATHS = ["command", "admin", "api"]
EVERY_PATH = [*CONTACT_PATHS, "suppressions"]
UPLOAD_PATHS = ["admin", "api"]


class TestHostileFilesThroughEveryImportPath:
    @pytest.fixture(autouse=True)
    def media_root(self, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path / "media"

    @pytest.fixture
    def through(self, request, tmp_path, admin_client, api_client):
        """through(path, chunks, name=...) -> Outcome, for path in EVERY_PATH."""
        importer = api_client("contacts.add_contactimport", "contacts.view_contactimport")

        def run(path: str, chunks, name: str = "hostile.csv") -> Outcome:
            if path == "command":
                return command_run(tmp_path, name, chunks, "import_contacts", "--consent-source=test", kept_contacts)
            if path == "suppressions":
                return command_run(tmp_path, name, chunks, "import_suppressions", "--reason=manual", kept_suppressions)
            if path == "admin":
                return admin_path(admin_client, tmp_path, name, chunks)
            return api_path(importer, tmp_path, name, chunks)

        return run

    @staticmethod
    def assert_refused(outcome: Outcome, *fragments: str) -> None:
        assert outcome.refused is not None, f"imported instead of refused: {outcome}"
        for fragment in fragments:
            assert fragment in outcome.refused, outcome.refused
        assert outcome.kept == set(), "a refused file wrote something"
        assert not Contact.objects.exists() and not Suppression.objects.exists()

    # Refused as a whole, with the line (and column): nothing written

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_nul_byte_is_refused_naming_its_line(self, through, path):
        outcome = through(path, chunks_of(f"phone,first_name\n{GOOD_1},Ann\n{GOOD_2},B\x00b\n"))
        self.assert_refused(outcome, "line 3 holds a NUL byte")

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_mixed_encodings_are_refused_naming_the_first_line_not_utf8(self, through, path):
        data = f"phone,first_name\n{GOOD_1},Chloé\n".encode() + f"{GOOD_2},Zoë\n".encode("latin-1")
        self.assert_refused(through(path, [data]), "line 3 is not UTF-8 text (byte 0xEB)")

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_utf16_file_is_read(self, through, path):
        data = f"phone,first_name\n{GOOD_1},Ann\n".encode("utf-16")
        outcome = through(path, [data])
        assert outcome.refused is None and outcome.kept == {GOOD_1}, outcome

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_50_mb_header_line_is_refused_without_reading_it_into_memory(self, through, path):
        megabyte = b"x" * 1_000_000
        outcome = through(path, [b"phone,", *[megabyte] * 50, f"\n{GOOD_1}\n".encode()])
        self.assert_refused(outcome, "line 1 is longer than 1,048,576 bytes")

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_header_cell_over_the_csv_field_limit_is_refused_naming_its_column(self, through, path):
        huge = "h" * (csv.field_size_limit() + 1)
        outcome = through(path, chunks_of(f"phone,{huge},city\n{GOOD_1},x,Lyon\n"))
        self.assert_refused(outcome, "line 1, column 2", "field larger than field limit")

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_header_of_100000_columns_is_refused_naming_the_line_and_the_cap(self, through, path):
        header = "phone," + ",".join(f"c{n}" for n in range(100_000))
        outcome = through(path, chunks_of(f"{header}\n{GOOD_1},x\n"))
        self.assert_refused(outcome, "line 1 has 100,001 columns", "at most 200", "CONTACT_IMPORT_MAX_COLUMNS")

    @pytest.mark.parametrize("path", CONTACT_PATHS)
    def test_a_header_too_long_to_be_an_attribute_name_is_refused_naming_its_column(self, through, path):
        outcome = through(path, chunks_of(f"phone,city,{'q' * 500}\n{GOOD_1},Lyon,x\n"))
        self.assert_refused(outcome, "line 1, column 3", "at most 100 characters")

    @pytest.mark.parametrize("path", UPLOAD_PATHS)
    def test_a_very_long_file_name_is_refused(self, through, path):
        outcome = through(path, chunks_of(f"phone\n{GOOD_1}\n"), name="a" * 400 + ".csv")
        # Django keeps the first 255 characters of an uploaded file's name.
        self.assert_refused(outcome, "the file name is 255 characters long")
        assert not ContactImport.objects.exists()

    @pytest.mark.parametrize("path", UPLOAD_PATHS)
    def test_an_upload_over_the_cap_is_refused_before_it_is_read(self, through, path, settings):
        settings.CONTACT_IMPORT_MAX_BYTES = 10_000
        big = f"phone,notes\n{GOOD_1},{'n' * 200_000}\n"
        outcome = through(path, chunks_of(big))
        self.assert_refused(outcome, "larger than 10,000 bytes", "CONTACT_IMPORT_MAX_BYTES")
        assert outcome.status == (413 if path == "api" else 200)
        assert not ContactImport.objects.exists()

    @pytest.mark.parametrize("path", UPLOAD_PATHS)
    def test_an_upload_just_over_the_cap_is_cut_off_while_read(self, through, path, settings):
        # Its Content-Length is within the allowance for the form's other fields, so only counting the
        # file's bytes as they arrive catches it (as it catches a body whose length was not announced).
        settings.CONTACT_IMPORT_MAX_BYTES = 10_000
        outcome = through(path, chunks_of(f"phone,notes\n{GOOD_1},{'n' * 12_000}\n"))
        self.assert_refused(outcome, "larger than 10,000 bytes")
        assert outcome.status == (413 if path == "api" else 200)
        assert not ContactImport.objects.exists()

    @pytest.mark.parametrize("path", UPLOAD_PATHS)
    def test_an_announced_length_over_the_cap_is_refused_without_reading_a_byte(
        self, path, tmp_path, settings, admin_client, api_client
    ):
        settings.CONTACT_IMPORT_MAX_BYTES = 10_000
        big = chunks_of(f"phone,notes\n{GOOD_1},{'n' * 200_000}\n")
        request = multipart_request(tmp_path, "big.csv", big, {"default_region": "US"})
        if path == "admin":
            client, url = admin_client, reverse("admin:contacts_contactimport_add")
        else:
            client, url = api_client("contacts.add_contactimport"), IMPORT_API
        with request["wsgi.input"] as body:
            response = client.generic("POST", url, b"", **request)
            assert body.tell() == 0, "the body was read"
        assert response.status_code == (200 if path == "admin" else 413)
        assert "larger than 10,000 bytes" in response.content.decode()
        assert not ContactImport.objects.exists()

    # Read: every good row kept, every bad one reported by line and column

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_a_bom_and_lone_carriage_returns_are_read_line_by_line(self, through, path):
        outcome = through(path, chunks_of(f"\ufeffphone,first_name\r{GOOD_1},Ann\rnope,Bob\r{GOOD_2},Cy\r"))
        assert outcome.refused is None and outcome.kept == {GOOD_1, GOOD_2}
        assert [(line, column) for line, column, *_ in outcome.report] == [(3, "phone")]

    @pytest.mark.parametrize("path", EVERY_PATH)
    def test_formula_cells_are_stored_as_typed_and_reported_so_no_spreadsheet_runs_them(self, through, path):
        data = (
            "phone,first_name,last_name\n"
            f'{GOOD_1},"=HYPERLINK(""http://evil.example"",""x"")",+1-800 CALL\n'
            "=1+2,@SUM(A1),-3\n"
            f'{GOOD_2},\tTab,"\rCr"\n'
        )
        outcome = through(path, chunks_of(data))
        assert outcome.kept == {GOOD_1, GOOD_2}
        if path != "suppressions":
            ann = Contact.objects.get(phone_number=GOOD_1)
            assert (ann.first_name, ann.last_name) == ('=HYPERLINK("http://evil.example","x")', "+1-800 CALL")
        [(line, column, value, reason)] = outcome.report
        assert (line, column) == (3, "phone") and "not a valid phone number" in reason
        # The CSV reports are for spreadsheets; the API answers JSON, which no spreadsheet evaluates.
        assert value == ("=1+2" if path == "api" else "'=1+2")

    @pytest.mark.parametrize("path", CONTACT_PATHS)
    def test_a_row_of_100000_cells_is_rejected_and_its_neighbours_kept(self, through, path):
        wide = ",".join(["x"] * 100_000)
        outcome = through(path, chunks_of(f"phone,city\n{GOOD_1},Lyon\n{GOOD_2},{wide}\n{GOOD_3},Nice\n"))
        assert outcome.kept == {GOOD_1, GOOD_3}
        [(line, column, value, reason)] = outcome.report
        assert (line, column) == (3, "") and "100,001 cells but the header has 2" in reason
        assert len(value) <= 63, "the report quotes the start of the cells, not all of them"

    @pytest.mark.parametrize("path", CONTACT_PATHS)
    def test_attribute_limits_reject_the_row_naming_line_and_column_and_keep_the_rest(self, through, path, settings):
        settings.CONTACT_MAX_ATTRIBUTES = 2
        settings.CONTACT_ATTRIBUTE_MAX_CHARS = 20
        data = (
            "phone,city,tier,notes\n"
            f"{GOOD_1},Lyon,gold,\n"  # two attributes: kept
            f"{fictional_number(511)},Lyon,gold,vip\n"  # three: rejected
            f"{fictional_number(512)},{'L' * 21},,\n"  # a value of 21 characters: rejected
            f"{GOOD_2},,,fine\n"
        )
        outcome = through(path, chunks_of(data))
        assert outcome.kept == {GOOD_1, GOOD_2}
        assert Contact.objects.get(phone_number=GOOD_1).attributes == {"city": "Lyon", "tier": "gold"}
        rows = {(line, column): reason for line, column, _, reason in outcome.report}
        assert set(rows) == {(3, ""), (4, "city")}
        assert "3 attributes; a contact holds at most 2 (CONTACT_MAX_ATTRIBUTES)" in rows[3, ""]
        assert "21 characters; an attribute value holds at most 20" in rows[4, "city"]
