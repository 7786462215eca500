"""Custom fields: their types checked on every write path (API, admin, import), values kept typed for
filtering, promotion of a free attribute, and the /api/v1/custom-fields/ endpoints."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from contacts.custom_fields import field_value_parse
from contacts.models import Contact, ContactFieldValue, ContactImport, CustomField
from contacts.services.contacts import contact_create, contact_update
from contacts.services.custom_fields import custom_field_create
from contacts.tests.factories import ContactFactory
from contacts.tests.test_import import run, write
from smscampaigns.errors import ApplicationError
from smscampaigns.tests.admin_forms import posted_back

pytestmark = pytest.mark.django_db

FIELDS = "/api/v1/custom-fields/"
CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def fields():
    return {
        "score": custom_field_create(key="score", label="Score", type=CustomField.Type.NUMBER),
        "birthday": custom_field_create(key="birthday", label="Birthday", type=CustomField.Type.DATE),
        "vip": custom_field_create(key="vip", label="VIP", type=CustomField.Type.YES_NO),
        "tier": custom_field_create(key="tier", label="Tier", type=CustomField.Type.CHOICE, choices=["Gold", "Silver"]),
        "city": custom_field_create(key="city", label="City", type=CustomField.Type.TEXT),
    }


@pytest.fixture
def client(api_client):
    return api_client(
        "contacts.view_contact",
        "contacts.add_contact",
        "contacts.change_contact",
        "contacts.view_customfield",
        "contacts.add_customfield",
        "contacts.change_customfield",
        "contacts.delete_customfield",
    )


def typed(contact: Contact) -> dict:
    return {v.field.key: v.value for v in ContactFieldValue.objects.filter(contact=contact).select_related("field")}


# --- The rule of each type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "text", "value"),
    [
        ("number", " 12.50 ", "12.5", Decimal("12.5")),
        ("number", 7, "7", Decimal(7)),
        ("number", "-0.000", "0", Decimal(0)),
        ("number", "1e3", "1000", Decimal(1000)),
        ("date", "2026-03-31", "2026-03-31", datetime.date(2026, 3, 31)),
        ("yes_no", "Yes", "yes", True),
        ("yes_no", "0", "no", False),
        ("yes_no", False, "no", False),
        ("choice", "gold", "Gold", "Gold"),
        ("text", "  Lyon ", "Lyon", "Lyon"),
    ],
)
def test_a_valid_value_gets_its_canonical_text_and_typed_value(kind, raw, text, value):
    field = CustomField(key="f", label="F", type=kind, choices=["Gold", "Silver"] if kind == "choice" else [])
    parsed = field_value_parse(field, raw)
    assert (parsed.text, parsed.value) == (text, value)


@pytest.mark.parametrize(
    ("kind", "raw", "says"),
    [
        ("number", "12,5", "not a number"),
        ("number", "NaN", "not a number"),
        ("number", "1e30", "too large"),
        ("number", "0.0000001", "more than 6 decimals"),
        ("number", True, "expected a number"),
        ("date", "03/04/2026", "YYYY-MM-DD"),
        ("date", "2026-02-30", "YYYY-MM-DD"),
        ("yes_no", "maybe", "not yes or no"),
        ("choice", "Bronze", "not one of the choices: 'Gold', 'Silver'"),
        ("text", "x" * 256, "at most 255"),
        ("text", ["a"], "expected text"),
    ],
)
def test_an_invalid_value_is_refused_saying_what_was_expected(kind, raw, says):
    field = CustomField(key="f", label="F", type=kind, choices=["Gold", "Silver"] if kind == "choice" else [])
    with pytest.raises(ValueError, match=says):
        field_value_parse(field, raw)


# --- Every write path ----------------------------------------------------------------------------------


def test_api_create_stores_canonical_values_and_typed_rows(client, fields):
    response = client.post(
        CONTACTS,
        {
            "phone_number": "+14155550101",
            "attributes": {"score": "12.50", "birthday": "2001-05-04", "vip": "Y", "tier": "silver", "note": "x"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    attributes = response.json()["attributes"]
    assert attributes == {"score": "12.5", "birthday": "2001-05-04", "vip": "yes", "tier": "Silver", "note": "x"}
    contact = Contact.objects.get()
    assert typed(contact) == {
        "score": Decimal("12.5"),
        "birthday": datetime.date(2001, 5, 4),
        "vip": True,
        "tier": "Silver",
    }


def test_api_refuses_an_invalid_value_naming_the_attribute_and_writes_nothing(client, fields):
    response = client.post(CONTACTS, {"phone_number": "+14155550101", "attributes": {"score": "lots"}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "attributes.score" in body["errors"] and "not a number" in body["detail"]
    assert not Contact.objects.exists() and not ContactFieldValue.objects.exists()


def test_api_update_changes_and_removes_typed_values(client, fields):
    contact = contact_create(phone_number="+14155550101", attributes={"score": "3", "city": "Lyon"})
    response = client.patch(f"{CONTACTS}{contact.pk}/", {"attributes": {"score": "15"}}, format="json")
    assert response.status_code == 200, response.json()
    assert typed(contact) == {"score": Decimal(15)}  # city gone with its attribute
    refused = client.patch(f"{CONTACTS}{contact.pk}/", {"attributes": {"score": "x"}}, format="json")
    assert refused.status_code == 400 and "attributes.score" in refused.json()["errors"]
    contact.refresh_from_db()
    assert contact.attributes == {"score": "15"} and typed(contact) == {"score": Decimal(15)}


def test_admin_form_refuses_an_invalid_value_beside_the_attributes(admin_client, fields):
    contact = contact_create(phone_number="+14155550101", attributes={"score": "3"})
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    shown = posted_back(admin_client.get(url))
    response = admin_client.post(url, {**shown, "attributes": '{"score": "3", "birthday": "31/12/2000"}'})
    assert response.status_code == 200
    assert "YYYY-MM-DD" in str(response.context["adminform"].form.errors["attributes"])
    saved = admin_client.post(url, {**shown, "attributes": '{"score": "4.0"}'})
    assert saved.status_code == 302
    contact.refresh_from_db()
    assert contact.attributes == {"score": "4"} and typed(contact) == {"score": Decimal(4)}


def test_service_update_of_attributes_checks_the_fields(fields):
    contact = contact_create(phone_number="+14155550101")
    with pytest.raises(ApplicationError) as refused:
        contact_update(contact=contact, attributes={"vip": "perhaps"})
    assert refused.value.field == "attributes.vip"


def test_import_checks_field_columns_and_reports_row_and_column(tmp_path, fields):
    path = write(
        tmp_path,
        "phone,Score,birthday\n+14155550101,12,2000-01-31\n+14155550102,twelve,2000-01-31\n+14155550103,5,31/01/2000\n",
    )
    errors = tmp_path / "errors.csv"
    out = io.StringIO()
    call_command("import_contacts", str(path), "--map", "Score=field:score", f"--errors={errors}", stdout=out)
    report = errors.read_text()
    assert "3,Score,twelve,Score: 'twelve' is not a number" in report
    assert "4,birthday,31/01/2000,\"Birthday: '31/01/2000' is not a date written YYYY-MM-DD" in report
    assert "created 1" in out.getvalue() and "rejected 2" in out.getvalue()
    ann = Contact.objects.get()
    assert typed(ann) == {"score": Decimal(12), "birthday": datetime.date(2000, 1, 31)}


def test_import_update_rewrites_the_typed_values(tmp_path, fields):
    contact_create(phone_number="+14155550101", attributes={"score": "1"})
    run(write(tmp_path, "phone,score\n+14155550101,2.5\n"), update=True)
    assert typed(Contact.objects.get()) == {"score": Decimal("2.5")}
    run(write(tmp_path, "phone,score\n+14155550101,9\n"))  # without update the contact's own value stays
    assert typed(Contact.objects.get()) == {"score": Decimal("2.5")}


def test_import_mapping_to_an_unknown_field_refuses_the_file(tmp_path, fields):
    path = write(tmp_path, "phone,Points\n+14155550101,3\n")
    with pytest.raises(CommandError, match="custom field 'points', which does not exist"):
        call_command("import_contacts", str(path), "--map", "Points=field:points", stdout=io.StringIO())
    assert not Contact.objects.exists()


# --- Filtering, set-based and indexed -----------------------------------------------------------------


def test_a_range_condition_is_one_indexed_query_on_the_value_table(fields):
    for n, score in enumerate(["5", "10", "15", "20", "25"]):
        contact_create(phone_number=f"+1415555010{n}", attributes={"score": score})
    in_range = ContactFieldValue.objects.filter(
        field=fields["score"], value_number__gte=10, value_number__lte=20
    ).values("contact_id")
    matched = Contact.objects.filter(pk__in=in_range)
    # The contacts' own attributes: a key read in SQL comes back as a number on SQLite, as text on PostgreSQL.
    assert sorted(contact.attributes["score"] for contact in matched) == ["10", "15", "20"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: show the index can answer it
    plan = in_range.explain()
    assert "field_value_number_idx" in plan, plan


# --- Promotion of a free attribute -------------------------------------------------------------------


def test_promotion_refuses_naming_the_contacts_whose_value_fails_and_changes_nothing():
    good = ContactFactory(attributes={"points": " 7 "})
    bad = ContactFactory(attributes={"points": "seven"})
    with pytest.raises(ApplicationError) as refused:
        custom_field_create(key="points", label="Points", type=CustomField.Type.NUMBER)
    assert f"contact #{bad.pk}" in refused.value.message and "1 of 2" in refused.value.message
    assert not CustomField.objects.exists() and not ContactFieldValue.objects.exists()
    good.refresh_from_db()
    assert good.attributes == {"points": " 7 "}


def test_promotion_command_reports_failures_then_promotes_once_fixed(tmp_path):
    good = ContactFactory(attributes={"points": " 7 ", "city": "Lyon"})
    bad = ContactFactory(attributes={"points": "seven"})
    ContactFactory(attributes={"city": "Paris"})
    report = tmp_path / "report.csv"
    out = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("promote_attribute", "points", "--type", "number", f"--report={report}", stdout=out)
    assert f"{bad.pk},{bad.phone_number},seven," in report.read_text()
    assert "2 contact(s) hold 'points'; 1 value(s) not valid" in out.getvalue()
    contact_update(contact=bad, attributes={"points": "8"})  # a free attribute still: anything goes
    call_command("promote_attribute", "points", "--type", "number", "--label", "Points", stdout=io.StringIO())
    good.refresh_from_db()
    assert good.attributes == {"points": "7", "city": "Lyon"}  # canonical from now on
    assert sorted(ContactFieldValue.objects.values_list("value_number", flat=True)) == [Decimal(7), Decimal(8)]


# --- The API of the fields themselves ------------------------------------------------------------------


def test_custom_fields_api_create_list_update_delete(client):
    created = client.post(
        FIELDS, {"key": "tier", "label": "Tier", "type": "choice", "choices": ["Gold", "Silver"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert client.get(FIELDS).json()["results"][0]["key"] == "tier"
    contact = contact_create(phone_number="+14155550101", attributes={"tier": "gold"})
    refused = client.patch(f"{FIELDS}{pk}/", {"choices": ["Silver"]}, format="json")
    assert refused.status_code == 400 and "1 contact(s) hold the choice 'Gold'" in refused.json()["detail"]
    renamed = client.patch(
        f"{FIELDS}{pk}/", {"label": "Loyalty tier", "choices": ["Gold", "Silver", "Bronze"]}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["choices"] == ["Gold", "Silver", "Bronze"]
    assert client.delete(f"{FIELDS}{pk}/").status_code == 204
    contact.refresh_from_db()
    assert contact.attributes == {"tier": "Gold"} and not ContactFieldValue.objects.exists()
    assert AuditEvent.objects.filter(action__startswith="custom_field.").count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Score", "label": "S", "type": "number"}, "key"),
        ({"key": "score", "label": "S", "type": "money"}, "type"),
        ({"key": "tier", "label": "T", "type": "choice"}, "choices"),
        ({"key": "score", "label": "S", "type": "number", "choices": ["a"]}, "choices"),
    ],
)
def test_custom_fields_api_refuses_a_bad_definition_naming_the_field(client, body, field):
    response = client.post(FIELDS, body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not CustomField.objects.exists()


def test_import_records_the_mapping_and_encoding(tmp_path, fields):
    path = write(tmp_path, "Mobile;Points\n+14155550101;3\n", encoding="cp1252")
    call_command(
        "import_contacts", str(path), "--map", "Mobile=phone", "--map", "Points=field:score", stdout=io.StringIO()
    )
    record = ContactImport.objects.get()
    assert record.mapping == {"Mobile": "phone", "Points": "field:score"}
    assert typed(Contact.objects.get()) == {"score": Decimal(3)}


def test_admin_add_form_names_the_contacts_whose_value_fails_and_creates_nothing(admin_client):
    bad = ContactFactory(attributes={"joined": "last spring"})
    ContactFactory(attributes={"joined": "2024-04-01"})
    url = reverse("admin:contacts_customfield_add")
    form = {"key": "joined", "label": "Joined", "type": "date", "choices": "", "description": ""}
    refused = admin_client.post(url, form)
    assert refused.status_code == 200
    errors = str(refused.context["adminform"].form.errors["key"])
    assert f"contact #{bad.pk}" in errors and "YYYY-MM-DD" in errors
    assert not CustomField.objects.exists()
    contact_update(contact=bad, attributes={"joined": "2025-03-21"})
    assert admin_client.post(url, form).status_code == 302
    assert sorted(ContactFieldValue.objects.values_list("value_date", flat=True)) == [
        datetime.date(2024, 4, 1),
        datetime.date(2025, 3, 21),
    ]


def test_admin_choice_field_takes_one_choice_a_line(admin_client):
    url = reverse("admin:contacts_customfield_add")
    form = {"key": "tier", "label": "Tier", "type": "choice", "choices": "Gold\r\n Silver \r\n\r\n", "description": ""}
    assert admin_client.post(url, form).status_code == 302
    assert CustomField.objects.get().choices == ["Gold", "Silver"]
