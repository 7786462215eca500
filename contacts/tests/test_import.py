"""contact_import_run and the import_contacts command on files as spreadsheets really export them."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError

from audit.models import AuditEvent
from contacts.models import Contact, ContactImport, ContactImportError, ContactList, ContactListMembership, Suppression
from contacts.services.consent import contact_opt_out
from contacts.services.imports import contact_import_run
from contacts.services.suppressions import suppression_add
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

# A spreadsheet exported from another tool: BOM, semicolons, mixed-case headers, quoted delimiters and
# quotes, blank and short rows, numbers from several countries in their local formats, rubbish, a
# duplicate, an opted-out contact and a do-not-call number.
MESSY = (
    "\ufeffMobile;First Name;LAST_NAME;Company;Timezone;Notes\r\n"
    '(415) 555-0101;Ann;Lee;"Acme; Inc";;"said ""call me"""\r\n'  # 2 US, local format
    "+44 20 7946 0958;Bob;Brown;;;\r\n"  # 3 GB
    "\r\n"  # 4 blank
    "+33 1 23 45 67 89;Chloé;Dupont;;Europe/Paris\r\n"  # 5 FR, short row (5 cells)
    "+49 30 901820;Dieter\r\n"  # 6 DE, very short row
    "+91 98765 43210;Priya;;;;\r\n"  # 7 IN mobile
    "+55 11 91234-5678;João;Silva;;;\r\n"  # 8 BR
    " +61 2 9374 4000 ;  Olivia ;;;;\r\n"  # 9 AU, stray spaces
    "hello;Not;Anumber;;;\r\n"  # 10 rejected: not a number
    "+1 555 0100;Too;Short;;;\r\n"  # 11 rejected: no area code
    "415.555.0101;;Leeson;Acme;;second row\r\n"  # 12 duplicate of line 2
    "(415) 555-0199;Otto;Optedout;;;\r\n"  # 13 opted out earlier
    "+1 415 555 0198;Dora;Dnc;;;\r\n"  # 14 on the do-not-call list
    ";;;;;\r\n"  # 15 blank (empty cells)
    "+1 415 555 0197;Tim;Zone;;Mars/Olympus;\r\n"  # 16 rejected: timezone
)


def write(tmp_path: Path, text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(path: Path, **options):
    with path.open("rb") as file:
        return contact_import_run(file=file, source_name=path.name, **options)


@pytest.fixture
def opted_out_and_suppressed():
    otto = ContactFactory(phone_number="+14155550199", first_name="Otto", last_name="")
    contact_opt_out(contact=otto, source="inbound STOP")
    suppression_add(phone_number="+14155550198", reason=Suppression.Reason.DO_NOT_CALL)
    return otto


def test_messy_file_imports_every_good_row_and_reports_the_rest(tmp_path, opted_out_and_suppressed):
    errors = io.StringIO()
    summary = run(
        write(tmp_path, MESSY), consent_source="spring fair sheet", contact_list_name="Spring fair", errors_to=errors
    )

    assert (summary.read, summary.created, summary.duplicates, summary.rejected, summary.suppressed) == (13, 7, 1, 3, 2)
    assert summary.updated == summary.unchanged == 0
    ann = Contact.objects.get(phone_number="+14155550101")
    # No zone in the file: none stored (quiet hours derive the number's zones when sending).
    assert (ann.first_name, ann.last_name, ann.timezone, ann.country) == ("Ann", "Lee", "", "US")
    # The duplicate filled no blank of Ann's but brought an attribute she lacked.
    assert ann.attributes == {"company": "Acme; Inc", "notes": 'said "call me"'}
    assert ann.status == Contact.Status.SUBSCRIBED and ann.consent_source == "spring fair sheet"
    assert ann.consented_at is not None
    chloe = Contact.objects.get(phone_number="+33123456789")
    assert (chloe.first_name, chloe.timezone, chloe.country) == ("Chloé", "Europe/Paris", "FR")
    assert Contact.objects.get(phone_number="+61293744000").first_name == "Olivia"
    assert Contact.objects.get(phone_number="+5511912345678").timezone == ""
    assert Contact.objects.get(phone_number="+4930901820").country == "DE"

    otto = Contact.objects.get(phone_number="+14155550199")
    assert otto.status == Contact.Status.UNSUBSCRIBED and otto.last_name == ""  # reported, not changed
    assert not Contact.objects.filter(phone_number="+14155550198").exists()
    spring = ContactList.objects.get(name="Spring fair")
    assert set(spring.contacts.values_list("phone_number", flat=True)) == {
        "+14155550101",
        "+442079460958",
        "+33123456789",
        "+4930901820",
        "+919876543210",
        "+5511912345678",
        "+61293744000",
    }

    report = list(csv.reader(io.StringIO(errors.getvalue())))
    assert report[0] == ["line", "column", "value", "reason"]
    by_line = {int(row[0]): row for row in report[1:]}
    assert sorted(by_line) == [10, 11, 13, 14, 16]
    assert by_line[10][1:3] == ["Mobile", "hello"] and "not a phone number" in by_line[10][3]
    assert "without its area code" in by_line[11][3]
    assert "opted out" in by_line[13][3] and "do-not-call" in by_line[14][3]
    assert by_line[16][1:3] == ["Timezone", "Mars/Olympus"]

    record = ContactImport.objects.get()
    assert record.status == ContactImport.Status.COMPLETED
    assert (record.rows_read, record.created, record.rejected, record.suppressed) == (13, 7, 3, 2)
    assert record.errors.count() == 5
    assert AuditEvent.objects.filter(action="contacts.imported", target_id=str(record.pk)).exists()


def test_outcomes_add_up_to_rows_read(tmp_path, opted_out_and_suppressed):
    summary = run(write(tmp_path, MESSY), consent_source="fair")
    outcomes = [summary.created, summary.updated, summary.unchanged]
    outcomes += [summary.duplicates, summary.rejected, summary.suppressed]
    assert sum(outcomes) == summary.read


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    text = delimiter.join(["phone_number", "first_name", "city"]) + "\n"
    text += delimiter.join(['"+1 415 555 0101"', "Ann", '"San Francisco, CA"']) + "\n"
    summary = run(write(tmp_path, text))
    assert summary.created == 1
    assert Contact.objects.get().attributes == {"city": "San Francisco, CA"}


def test_header_names_are_matched_whatever_their_case_and_spacing(tmp_path):
    run(write(tmp_path, "  PHONE NUMBER ,First-Name,LastName,Loyalty Tier\n+14155550101,Ann,Lee,gold\n"))
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.attributes) == ("Ann", "Lee", {"loyalty_tier": "gold"})


def test_file_without_a_phone_column_is_refused_naming_the_headers_found(tmp_path):
    path = write(tmp_path, "name;email\nAnn;ann@example.com\n")
    with pytest.raises(CommandError) as excinfo:
        call_command("import_contacts", str(path), stdout=io.StringIO())
    message = str(excinfo.value)
    assert "no phone column" in message and "'name', 'email'" in message and "\n" not in message
    assert not ContactImport.objects.exclude(status=ContactImport.Status.FAILED).exists()


def test_windows_1252_file_is_read_as_such_and_the_command_says_so(tmp_path):
    # Excel's plain "CSV" on a Western Windows: é, ë and curly quotes are single bytes, not UTF-8.
    path = write(tmp_path, "phone,first_name,note\n+14155550101,Ann,“hi”\n+14155550102,Zoë,café\n", encoding="cp1252")
    out = io.StringIO()
    call_command("import_contacts", str(path), stdout=out)
    assert "Encoding: Windows-1252" in out.getvalue()
    zoe = Contact.objects.get(phone_number="+14155550102")
    assert (zoe.first_name, zoe.attributes) == ("Zoë", {"note": "café"})
    assert Contact.objects.get(phone_number="+14155550101").attributes == {"note": "“hi”"}
    assert ContactImport.objects.get().encoding == "Windows-1252"


def test_byte_that_is_no_character_in_utf8_or_windows_1252_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"phone,first_name\n+14155550101,Ann\n+14155550102,Bo\x81\n")
    with pytest.raises(CommandError, match=r"line 3 is neither UTF-8 nor Windows-1252 text \(byte 0x81"):
        call_command("import_contacts", str(path), stdout=io.StringIO())
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("encoding", "bom", "shown"),
    [
        ("utf-16-le", "\ufeff", "UTF-16 (with BOM)"),
        ("utf-16-be", "\ufeff", "UTF-16 (with BOM)"),
        # Excel's "Unicode Text": UTF-16LE, tab separated (written without a BOM by some versions).
        ("utf-16-le", "", "UTF-16LE (no BOM)"),
    ],
)
def test_utf16_file_is_read_and_its_encoding_reported(tmp_path, encoding, bom, shown):
    text = f"{bom}phone\tfirst_name\tcity\r\n+14155550101\tZoë\tKöln\r\n+14155550102\tΑλέξης\t東京\r\n"
    summary = run(write(tmp_path, text, encoding=encoding))
    assert (summary.created, summary.rejected, summary.encoding) == (2, 0, shown)
    greek = Contact.objects.get(phone_number="+14155550102")
    assert (greek.first_name, greek.attributes) == ("Αλέξης", {"city": "東京"})


def test_row_with_more_cells_than_the_header_is_rejected_not_shifted(tmp_path):
    summary = run(write(tmp_path, "phone,first_name,city\n+14155550101,Ann,Paris,France\n+14155550102,Bo,Rome\n"))
    assert (summary.created, summary.rejected) == (1, 1)
    assert summary.errors[0].line == 2 and "4 cells but the header has 3" in summary.errors[0].reason


def test_without_consent_source_contacts_arrive_unsubscribed_and_the_summary_says_so(tmp_path):
    out = io.StringIO()
    call_command("import_contacts", str(write(tmp_path, "phone\n+14155550101\n")), stdout=out)
    assert Contact.objects.get().status == Contact.Status.UNSUBSCRIBED
    assert "No --consent-source given" in out.getvalue()


def test_existing_contact_gets_blanks_filled_by_default_and_overwritten_with_update(tmp_path):
    ContactFactory(phone_number="+14155550101", first_name="Ann", last_name="", attributes={"tier": "gold"})
    path = write(tmp_path, "phone,first_name,last_name,tier,city\n+14155550101,Annie,Lee,silver,Paris\n")

    summary = run(path)
    contact = Contact.objects.get()
    assert summary.updated == 1
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
    assert contact.attributes == {"tier": "gold", "city": "Paris"}

    summary = run(path, update=True)
    contact.refresh_from_db()
    assert summary.updated == 1
    assert (contact.first_name, contact.attributes["tier"]) == ("Annie", "silver")
    assert run(path, update=True).unchanged == 1


def test_consent_subscribes_an_unsubscribed_contact_who_never_opted_out(tmp_path):
    ContactFactory(
        phone_number="+14155550101", status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source=""
    )
    summary = run(write(tmp_path, "phone\n+14155550101\n"), consent_source="paper form 2026")
    contact = Contact.objects.get()
    assert summary.updated == 1
    assert (contact.status, contact.consent_source) == (Contact.Status.SUBSCRIBED, "paper form 2026")


def test_duplicates_across_batches_are_merged_and_counted(tmp_path):
    rows = ["phone,first_name,last_name,city", "+14155550101,Ann,,", "+14155550102,Bob,,", "+14155550103,Cy,,"]
    rows += ["(415) 555-0101,,Lee,Paris", "+14155550102,Robert,,"]
    summary = run(write(tmp_path, "\n".join(rows) + "\n"), batch_size=2)
    assert (summary.read, summary.created, summary.duplicates) == (5, 3, 2)
    ann = Contact.objects.get(phone_number="+14155550101")
    assert (ann.first_name, ann.last_name, ann.attributes) == ("Ann", "Lee", {"city": "Paris"})
    assert Contact.objects.get(phone_number="+14155550102").first_name == "Bob"


def test_dry_run_writes_nothing_and_counts_like_the_real_run(tmp_path, opted_out_and_suppressed):
    path = write(tmp_path, MESSY)
    tables = [Contact, ContactList, ContactListMembership, Suppression, ContactImport, ContactImportError, AuditEvent]
    before = {model: model.objects.count() for model in tables}
    dry = run(path, consent_source="fair", contact_list_name="Spring fair", dry_run=True, batch_size=3)
    assert {model: model.objects.count() for model in tables} == before
    real = run(path, consent_source="fair", contact_list_name="Spring fair", batch_size=3)
    assert dry.counts() == real.counts()


def test_running_the_same_import_again_changes_nothing(tmp_path, opted_out_and_suppressed):
    path = write(tmp_path, MESSY)
    run(path, consent_source="fair", contact_list_name="Spring fair")
    contacts = list(Contact.objects.order_by("id").values())
    members = ContactListMembership.objects.count()

    again = run(path, consent_source="fair", contact_list_name="Spring fair")
    assert (again.created, again.updated, again.unchanged, again.duplicates) == (0, 0, 7, 1)
    assert list(Contact.objects.order_by("id").values()) == contacts
    assert ContactListMembership.objects.count() == members


def numbered_file(tmp_path: Path, count: int) -> Path:
    lines = ["phone,first_name"] + [f"+1415555{100 + n:04d},Person {n}" for n in range(count)]
    return write(tmp_path, "\n".join(lines) + "\n")


def test_a_batch_failing_midway_leaves_whole_batches_and_a_rerun_finishes(tmp_path, failing_insert):
    path = numbered_file(tmp_path, 10)  # +14155550105 is the 6th row: third batch of two
    with pytest.raises(DatabaseError, match="disk on fire"):
        run(path, consent_source="fair", batch_size=2)
    assert Contact.objects.count() == 4  # batches 1 and 2, nothing of batch 3
    record = ContactImport.objects.get()
    assert record.status == ContactImport.Status.FAILED and record.lines_done == 5
    assert "line 5" in record.failure and record.created == 4

    failing_insert()
    summary = run(path, consent_source="fair", batch_size=2)
    assert (summary.created, summary.unchanged) == (6, 4)
    assert Contact.objects.count() == 10


def test_ctrl_c_between_batches_keeps_what_was_committed_and_a_rerun_finishes(tmp_path):
    path = numbered_file(tmp_path, 10)

    def interrupt_after_two_batches(summary):
        if summary.lines_done >= 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(path, batch_size=2, progress=interrupt_after_two_batches)
    assert Contact.objects.count() == 4
    assert "interrupted after line 5" in ContactImport.objects.get().failure

    assert run(path, batch_size=2).created == 6
    assert Contact.objects.count() == 10


def test_import_command_prints_a_summary_and_writes_the_error_report(tmp_path, opted_out_and_suppressed):
    out = io.StringIO()
    errors_path = tmp_path / "errors.csv"
    call_command(
        "import_contacts",
        str(write(tmp_path, MESSY)),
        "--list=Spring fair",
        "--consent-source=spring fair",
        f"--errors={errors_path}",
        "--default-region=US",
        stdout=out,
    )
    text = out.getvalue()
    assert "line 10, column 'Mobile'" in text
    assert "read 13, created 7, updated 0, unchanged 0, duplicates 1, rejected 3, suppressed 2" in text
    assert "rows/s" in text
    assert len(errors_path.read_text().splitlines()) == 6


def test_import_command_refuses_an_unknown_region(tmp_path):
    with pytest.raises(CommandError, match="unknown region 'XX'"):
        call_command("import_contacts", str(numbered_file(tmp_path, 1)), "--default-region=XX")


def test_dry_run_command_says_nothing_was_written(tmp_path):
    out = io.StringIO()
    call_command("import_contacts", str(numbered_file(tmp_path, 3)), "--dry-run", "--list=Fair", stdout=out)
    assert "Dry run, nothing written: read 3, created 3" in out.getvalue()
    assert not Contact.objects.exists() and not ContactList.objects.exists()


def test_line_numbers_count_blank_lines_before_the_header_and_quoted_line_breaks(tmp_path):
    text = '\n\nphone,note\n+14155550101,"two\nlines"\nnope,\n'
    summary = run(write(tmp_path, text))
    assert [(e.line, e.value) for e in summary.errors] == [(6, "nope")]


def test_an_import_without_a_timezone_column_stores_no_guessed_zone(tmp_path):
    """An Australian mobile and a Russian one may each be in many zones: the first of them was once stored as
    if the person had given it."""
    run(write(tmp_path, "phone\n+61412345678\n+79161234567\n+18005550199\n"))
    assert set(Contact.objects.values_list("timezone", flat=True)) == {""}


def test_an_update_import_without_a_zone_keeps_the_given_one(tmp_path):
    ContactFactory(phone_number="+61412345678", timezone="Australia/Perth")
    run(write(tmp_path, "phone,first_name\n+61412345678,Ann\n"), update=True)
    assert Contact.objects.get().timezone == "Australia/Perth"


def test_a_timezone_given_in_the_file_wins_over_the_stored_one_only_with_update(tmp_path):
    ContactFactory(phone_number="+14155550101", timezone="America/Los_Angeles")
    path = write(tmp_path, "phone,timezone\n+14155550101,America/Denver\n")
    assert run(path).unchanged == 1
    assert run(path, update=True).updated == 1
    assert Contact.objects.get().timezone == "America/Denver"


def test_a_row_without_a_number_is_rejected_naming_the_phone_column(tmp_path):
    summary = run(write(tmp_path, "Mobile,first_name\n,Jane\n+14155550101,Ann\n"))
    assert (summary.created, summary.rejected) == (1, 1)
    assert (summary.errors[0].line, summary.errors[0].column, summary.errors[0].reason) == (
        2,
        "Mobile",
        "phone number is empty",
    )


def test_a_row_that_would_take_a_contact_past_the_attribute_cap_is_rejected_and_changes_nothing(tmp_path, settings):
    settings.CONTACT_MAX_ATTRIBUTES = 2
    ContactFactory(phone_number="+14155550101", first_name="", attributes={"city": "Lyon", "tier": "gold"})
    errors = io.StringIO()
    text = "phone,first_name,shoe_size\n+14155550101,Ann,42\n+14155550102,Bob,43\n"
    summary = run(write(tmp_path, text), update=True, contact_list_name="Shoes", errors_to=errors)

    assert (summary.read, summary.created, summary.rejected) == (2, 1, 1)
    ann = Contact.objects.get(phone_number="+14155550101")
    assert (ann.first_name, ann.attributes) == ("", {"city": "Lyon", "tier": "gold"})
    assert list(ContactListMembership.objects.values_list("contact__phone_number", flat=True)) == ["+14155550102"]
    [_header, row] = list(csv.reader(io.StringIO(errors.getvalue())))
    assert row[:2] == ["2", ""] and "3 attributes; a contact holds at most 2" in row[3]
