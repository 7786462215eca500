import csv
import io

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, Suppression
from contacts.services import contact_lists_add, contact_opt_out
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
