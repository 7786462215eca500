import csv
import io

import pytest
from django.core.management import CommandError, call_command

from contacts.csvfiles import spreadsheet_safe_cell
from contacts.models import Contact, Suppression
from contacts.services.consent import contact_opt_out
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db


def test_import_suppressions_reads_a_bare_list_of_numbers(tmp_path):
    ContactFactory(phone_number="+14155550102")
    path = tmp_path / "dnc-2026-11.txt"
    path.write_text("(415) 555-0101\n+1 415 555 0102\n\nnot a number\n415-555-0101\n")
    out = io.StringIO()
    call_command("import_suppressions", str(path), "--reason=do-not-call", stdout=out)

    assert set(Suppression.objects.values_list("phone_number", "reason", "source")) == {
        ("+14155550101", "do-not-call", "dnc-2026-11.txt"),
        ("+14155550102", "do-not-call", "dnc-2026-11.txt"),
    }
    text = out.getvalue()
    assert "line 4:" in text
    assert "read 4, suppressed 2 new, 1 already suppressed or repeated, rejected 1" in text
    assert "1 subscribed contacts have a number now suppressed" in text


def test_import_suppressions_reads_a_csv_with_a_phone_column_and_is_idempotent(tmp_path):
    path = tmp_path / "optouts.csv"
    path.write_text("Name;Phone Number\nAnn;+44 20 7946 0958\n")
    for _ in range(2):
        call_command("import_suppressions", str(path), "--reason=opt-out", stdout=io.StringIO())
    assert list(Suppression.objects.values_list("phone_number", "reason")) == [("+442079460958", "opt-out")]


def test_import_suppressions_requires_a_known_reason(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("phone\n+14155550101\n")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("import_suppressions", str(path), "--reason=because")


def export(*args) -> list[dict]:
    out = io.StringIO()
    call_command("export_contacts", *args, stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_export_contacts_carries_the_consent_and_opt_out_evidence():
    vip = ContactListFactory(name="VIP")
    ann = ContactFactory(phone_number="+14155550101", consent_source="web form", attributes={"tier": "gold"})
    contact_lists_add(contact=ann, contact_lists=[vip])
    bob = ContactFactory(phone_number="+14155550102")
    contact_opt_out(contact=bob, source="inbound STOP")

    rows = {row["phone_number"]: row for row in export()}
    assert rows["+14155550101"]["consent_source"] == "web form"
    assert rows["+14155550101"]["consented_at"].startswith(str(ann.consented_at.date()))
    assert rows["+14155550101"]["lists"] == "VIP"
    assert rows["+14155550101"]["attributes"] == '{"tier": "gold"}'
    assert rows["+14155550102"]["status"] == "unsubscribed"
    assert rows["+14155550102"]["opt_out_source"] == "inbound STOP"
    assert rows["+14155550102"]["opted_out_at"]
    assert rows["+14155550102"]["suppressed"] == "opt-out"


def test_export_contacts_filters_by_list_and_status():
    vip = ContactListFactory(name="VIP")
    for n, status in enumerate([Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED]):
        contact = ContactFactory(phone_number=f"+1415555010{n}", status=status)
        contact_lists_add(contact=contact, contact_lists=[vip])
    ContactFactory(phone_number="+14155550109")
    assert len(export()) == 3
    assert [row["phone_number"] for row in export("--list=VIP", "--status=subscribed")] == ["+14155550100"]
    with pytest.raises(CommandError, match="no list named 'Nope'"):
        export("--list=Nope")


def test_export_neutralises_formulas_typed_by_people_and_keeps_numbers_as_they_are():
    ContactFactory(
        phone_number="+14155550123",
        first_name="+1-800 CALL",
        last_name='=HYPERLINK("http://evil.example","click")',
        consent_source="@SUM(A1)",
        opt_out_source="-2+3",
        attributes={"note": "=1+1"},
    )
    ContactFactory(phone_number="+14155550124", first_name="\tTab", last_name="\rReturn", consent_source="Ann")
    rows = {row["phone_number"]: row for row in export()}
    assert set(rows) == {"+14155550123", "+14155550124"}  # E.164 stays a number a spreadsheet reads as one
    first = rows["+14155550123"]
    assert first["first_name"] == "'+1-800 CALL"
    assert first["last_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert (first["consent_source"], first["opt_out_source"]) == ("'@SUM(A1)", "'-2+3")
    assert first["attributes"] == '{"note": "=1+1"}'  # a JSON cell starts with "{": nothing to run
    second = rows["+14155550124"]
    assert (second["first_name"], second["last_name"], second["consent_source"]) == ("'\tTab", "'\rReturn", "Ann")


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("+14155550123", "+14155550123"),
        ("+442079460958", "+442079460958"),
        ("+1-800 CALL", "'+1-800 CALL"),
        ("+14155550123)", "'+14155550123)"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ann = Bob", "Ann = Bob"),
        ("", ""),
        (12, 12),
    ],
)
def test_spreadsheet_safe_cell(cell, written):
    assert spreadsheet_safe_cell(cell) == written
