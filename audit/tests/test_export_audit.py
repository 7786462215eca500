import csv
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from audit.services import audit_record
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _export(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("export_audit", *args, stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.fixture
def trail(admin_user):
    contact = ContactFactory(first_name="Ann")
    for day, action in [(1, "contact.created"), (15, "contact.opted_out"), (31, "contact.opted_in")]:
        with time_machine.travel(datetime(2026, 1, day, 23, 59, tzinfo=UTC), tick=False):
            audit_record(actor=admin_user, action=action, target=contact, data={"source": "sms", "day": day})
    with time_machine.travel(datetime(2026, 2, 1, 0, 0, tzinfo=UTC), tick=False):
        audit_record(actor=None, action="contact.opted_out", target=contact)
    return contact


def test_export_is_the_whole_trail_oldest_first_with_every_column(trail, admin_user):
    rows = _export()
    assert [row["action"] for row in rows] == [
        "contact.created",
        "contact.opted_out",
        "contact.opted_in",
        "contact.opted_out",
    ]
    first = rows[0]
    assert first["created_at"] == "2026-01-01T23:59:00+00:00"
    assert first["actor_id"] == str(admin_user.pk)
    assert first["actor_label"] == "admin"
    assert first["target_type"] == "contacts.contact"
    assert first["target_id"] == str(trail.pk)
    assert json.loads(first["data"]) == {"day": 1, "source": "sms"}
    assert rows[-1]["actor_label"] == "system" and rows[-1]["actor_id"] == ""


def test_since_and_until_are_days_both_included(trail):
    rows = _export("--since", "2026-01-15", "--until", "2026-01-31")
    assert [row["action"] for row in rows] == ["contact.opted_out", "contact.opted_in"]
    assert [row["created_at"][:10] for row in _export("--since", "2026-02-01")] == ["2026-02-01"]
    assert len(_export("--until", "2026-01-01")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "January"], "--since must be a date such as 2026-01-31, got 'January'"),
        (["--until", "2026-02-30"], "--until must be a date such as 2026-01-31, got '2026-02-30'"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since 2026-02-01 is after --until 2026-01-01"),
    ],
)
def test_a_bad_range_is_refused_naming_the_option(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_audit", *args, stdout=io.StringIO())


def test_export_neutralises_a_formula_typed_as_a_name(admin_user):
    contact = ContactFactory(phone_number="+14155550123", first_name='=HYPERLINK("http://evil.example")', last_name="")
    audit_record(actor=admin_user, action="contact.created", target=contact)
    [row] = _export()
    assert row["target_repr"] == '\'=HYPERLINK("http://evil.example") (+14155550123)'
