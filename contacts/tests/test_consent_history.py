"""The consent history: every consent and opt-out event is its own row with its evidence, never overwritten
by the next; the contact page shows it, the export carries the latest event and the count."""

import csv
import importlib
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from contacts.models import ConsentEvent, Contact, Suppression
from contacts.selectors import consent_history
from contacts.services.consent import contact_opt_in, contact_opt_out, person_opt_in_record, person_opt_out_record
from contacts.services.contacts import contact_create
from contacts.services.imports import contact_import_run, suppression_import
from contacts.tests.factories import ContactFactory, fictional_number
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db
CONTACTS = "/api/v1/contacts/"
Kind, Method = ConsentEvent.Kind, ConsentEvent.Method


def test_each_consent_and_opt_out_through_the_api_is_its_own_event_with_who_where_and_the_words(api_client):
    client = api_client("contacts.add_contact", "contacts.change_contact")
    agent = {"HTTP_USER_AGENT": "crm-sync/2.1", "REMOTE_ADDR": "203.0.113.7"}
    created = client.post(
        CONTACTS,
        {"phone_number": fictional_number(501), "consent_source": "checkout", "consent_text": "Yes, text me deals"},
        format="json",
        **agent,
    ).json()
    client.post(f"{CONTACTS}{created['id']}/opt-out/", {"source": "phone call"}, format="json", **agent)
    client.post(f"{CONTACTS}{created['id']}/opt-in/", {"consent_source": "phone call again"}, format="json", **agent)

    events = list(ConsentEvent.objects.filter(contact_id=created["id"]).order_by("id"))
    assert [(e.kind, e.method, e.source) for e in events] == [
        (Kind.CONSENT_GIVEN, Method.API, "checkout"),
        (Kind.OPTED_OUT, Method.API, "phone call"),
        (Kind.OPT_OUT_LIFTED, Method.API, "phone call again"),
        (Kind.CONSENT_GIVEN, Method.API, "phone call again"),
    ]
    assert events[0].text == "Yes, text me deals"  # the first consent's wording survives the later ones
    assert {(e.actor_id, e.ip, e.user_agent) for e in events} == {(client.user.pk, "203.0.113.7", "crm-sync/2.1")}
    assert Contact.objects.get(pk=created["id"]).consent_source == "phone call again"


def test_a_person_opt_out_and_opt_in_record_the_exact_words_even_before_the_number_is_a_contact():
    number = fictional_number(502)
    first = person_opt_out_record(e164=number, method=Method.INBOUND_KEYWORD, source="inbound", text="Stop!")
    again = person_opt_out_record(e164=number, method=Method.INBOUND_PHRASE, source="inbound", text="remove me pls")
    assert (first.contact, first.newly_opted_out, again.newly_opted_out) == (None, True, False)
    contact = contact_create(phone_number=number, first_name="Dee")
    assert person_opt_in_record(e164=number, keyword="START", text="start", to_number="+14155550100")
    history = list(consent_history(contact=contact))
    assert [(e.kind, e.text) for e in history] == [
        (Kind.OPTED_IN, "start"),
        (Kind.OPTED_OUT, "remove me pls"),
        (Kind.OPTED_OUT, "Stop!"),
    ]
    assert history[0].contact == contact and history[-1].contact is None


def test_a_person_opt_out_is_refused_a_staff_method():
    with pytest.raises(ApplicationError, match="not a way a person opts out"):
        person_opt_out_record(e164=fictional_number(503), method=Method.ADMIN, source="x")


def test_the_rule_holds_for_every_role_and_names_the_event(staff_user):
    contact = ContactFactory(phone_number=fictional_number(504))
    with time_machine.travel(datetime(2026, 11, 20, 14, 3, tzinfo=UTC), tick=False):
        person_opt_out_record(e164=fictional_number(504), method=Method.INBOUND_KEYWORD, source="in", text="STOP")
    staff_user.is_superuser = True
    with pytest.raises(ApplicationError) as refused:
        contact_opt_in(contact=contact, consent_source="trust me", actor=staff_user)
    assert refused.value.code == "opted_out_by_person"
    assert refused.value.message == (
        "+14155550504 opted out by texting STOP on 2026-11-20 14:03 UTC; only they can opt back in, by texting START"
    )
    assert not ConsentEvent.objects.filter(kind__in=[Kind.CONSENT_GIVEN, Kind.OPT_OUT_LIFTED]).exists()


def test_a_staff_opt_out_of_a_number_the_person_already_opted_out_stays_the_persons(staff_user):
    contact = ContactFactory(phone_number=fictional_number(505))
    person_opt_out_record(e164=fictional_number(505), method=Method.CARRIER_ERROR, source="carrier", text="Plivo 200")
    contact_opt_out(contact=contact, source="complaint", actor=staff_user)
    assert Suppression.objects.get(phone_number=contact.phone_number).origin == Suppression.Origin.PERSON


def test_an_import_records_a_consent_event_for_each_contact_it_subscribes(staff_user):
    ContactFactory(phone_number=fictional_number(507), status="unsubscribed", consented_at=None, consent_source="")
    ContactFactory(phone_number=fictional_number(508))  # already subscribed: its consent on file stays
    rows = "phone\n" + "\n".join(fictional_number(n) for n in (506, 507, 508)) + "\n"
    contact_import_run(file=io.BytesIO(rows.encode()), consent_source="spring fair", update=True, actor=staff_user)
    events = ConsentEvent.objects.filter(kind=Kind.CONSENT_GIVEN)
    assert sorted(events.values_list("phone_number", "method", "source", "actor")) == [
        (fictional_number(506), Method.IMPORT, "spring fair", staff_user.pk),
        (fictional_number(507), Method.IMPORT, "spring fair", staff_user.pk),
    ]
    assert all(e.contact.phone_number == e.phone_number for e in events)


def test_an_imported_opt_out_list_is_the_persons_and_recorded():
    suppression_import(file=io.BytesIO(f"{fictional_number(509)}\n".encode()), reason="opt-out", source="old.csv")
    assert Suppression.objects.get().origin == Suppression.Origin.PERSON
    event = ConsentEvent.objects.get()
    assert (event.kind, event.method, event.source) == (Kind.OPTED_OUT, Method.IMPORT, "old.csv")
    suppression_import(file=io.BytesIO(f"{fictional_number(510)}\n".encode()), reason="do-not-call")
    assert Suppression.objects.get(reason="do-not-call").origin == Suppression.Origin.STAFF


def test_export_contacts_carries_the_latest_consent_event_and_the_count(staff_user):
    ann = contact_create(phone_number=fictional_number(511), consent_source="web", consent_text="Yes please")
    contact_opt_out(contact=ann, source="phone call", actor=staff_user)
    ContactFactory(phone_number=fictional_number(512))  # no history
    out = io.StringIO()
    call_command("export_contacts", stdout=out)
    rows = {row["phone_number"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows[fictional_number(511)]["last_consent_event"] == "opted_out"
    assert rows[fictional_number(511)]["last_consent_event_source"] == "phone call"
    assert rows[fictional_number(511)]["last_consent_event_at"]
    assert rows[fictional_number(511)]["consent_events"] == "2"
    assert rows[fictional_number(511)]["consent_source"] == "web"  # the existing columns stay
    assert (rows[fictional_number(512)]["last_consent_event"], rows[fictional_number(512)]["consent_events"]) == (
        "",
        "0",
    )


def test_the_contact_page_shows_the_consent_history_read_only(admin_client):
    number = fictional_number(513)
    person_opt_out_record(e164=number, method=Method.INBOUND_KEYWORD, source="inbound text", text="BAJA")
    contact = contact_create(phone_number=number, first_name="Eve")
    page = admin_client.get(f"/admin/contacts/contact/{contact.pk}/change/")
    assert page.status_code == 200
    assert "Consent history" in page.content.decode()
    assert "Texted a keyword · inbound text · “BAJA”" in page.content.decode()
    event = ConsentEvent.objects.get()
    assert admin_client.get(f"/admin/contacts/consentevent/{event.pk}/change/").status_code == 200
    # Read only: the form offers no save, and a post changes nothing.
    admin_client.post(f"/admin/contacts/consentevent/{event.pk}/change/", {"text": "START"})
    admin_client.post(f"/admin/contacts/consentevent/{event.pk}/delete/", {"post": "yes"})
    assert ConsentEvent.objects.get().text == "BAJA"


def test_the_migration_backfills_history_from_existing_contacts_and_opt_outs(staff_user):
    consented = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    ContactFactory(phone_number=fictional_number(514), consented_at=consented, consent_source="fair")
    ContactFactory(
        phone_number=fictional_number(515),
        status="unsubscribed",
        consented_at=None,
        opted_out_at=consented,
        opt_out_source="inbound STOP",
    )
    Suppression.objects.create(phone_number=fictional_number(516), reason="opt-out", source="inbound STOP")
    by_staff = Suppression.objects.create(
        phone_number=fictional_number(517), reason="opt-out", source="api", created_by=staff_user
    )
    migration = importlib.import_module("contacts.migrations.0003_consent_history")
    migration.backfill(apps, None)

    events = ConsentEvent.objects.order_by("phone_number")
    assert list(events.values_list("phone_number", "kind", "source", "backfilled")) == [
        (fictional_number(514), Kind.CONSENT_GIVEN, "fair", True),
        (fictional_number(515), Kind.OPTED_OUT, "inbound STOP", True),
        (fictional_number(516), Kind.OPTED_OUT, "inbound STOP", True),
        (fictional_number(517), Kind.OPTED_OUT, "api", True),
    ]
    assert events.first().created_at == consented
    by_staff.refresh_from_db()
    assert by_staff.origin == Suppression.Origin.STAFF
    assert Suppression.objects.get(phone_number=fictional_number(516)).origin == Suppression.Origin.PERSON


# --- The admin: the same rule, as a message or a form error -------------------------------------------


def _opted_out_by_texting(number: str) -> Contact:
    contact = ContactFactory(phone_number=number)
    with time_machine.travel(datetime(2026, 11, 20, 14, 3, tzinfo=UTC), tick=False):
        person_opt_out_record(e164=number, method=Method.INBOUND_KEYWORD, source="inbound", text="STOP")
    return contact


def test_the_admin_opt_in_action_refuses_a_persons_opt_out_even_for_a_superuser(admin_client):
    contact = _opted_out_by_texting(fictional_number(520))
    page = admin_client.post(
        "/admin/contacts/contact/",
        {"action": "opt_in", "_selected_action": [contact.pk], "apply": "yes", "consent_source": "called us"},
        follow=True,
    )
    shown = [str(m) for m in page.context["messages"]]
    assert any(
        "+14155550520 opted out by texting STOP on 2026-11-20 14:03 UTC; only they can opt back in" in m for m in shown
    ), shown
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert Suppression.objects.get(phone_number=contact.phone_number).origin == Suppression.Origin.PERSON


def test_the_admin_opt_in_action_lifts_a_staff_opt_out_and_records_it_as_the_admins(admin_client, admin_user):
    contact = ContactFactory(phone_number=fictional_number(521))
    contact_opt_out(contact=contact, source="complaint", actor=admin_user)
    admin_client.post(
        "/admin/contacts/contact/",
        {"action": "opt_in", "_selected_action": [contact.pk], "apply": "yes", "consent_source": "called us"},
        REMOTE_ADDR="198.51.100.4",
    )
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    lifted = ConsentEvent.objects.get(kind=Kind.OPT_OUT_LIFTED)
    assert (lifted.method, lifted.actor, lifted.ip) == (Method.ADMIN, admin_user, "198.51.100.4")


def test_deleting_a_persons_opt_out_in_the_admin_is_refused_with_when_and_how(admin_client):
    contact = _opted_out_by_texting(fictional_number(522))
    suppression = Suppression.objects.get(phone_number=contact.phone_number)
    page = admin_client.post(f"/admin/contacts/suppression/{suppression.pk}/delete/", {"post": "yes"}, follow=True)
    shown = " ".join(str(m) for m in page.context["messages"])
    assert "opted out by texting STOP on 2026-11-20 14:03 UTC" in shown
    bulk = admin_client.post(
        "/admin/contacts/suppression/",
        {"action": "delete_selected", "_selected_action": [suppression.pk], "post": "yes"},
        follow=True,
    )
    assert "only they can opt back in" in " ".join(str(m) for m in bulk.context["messages"])
    assert Suppression.objects.filter(pk=suppression.pk).exists()


def test_adding_a_contact_in_the_admin_for_a_number_that_opted_out_keeps_it_opted_out(admin_client):
    number = fictional_number(523)
    person_opt_out_record(e164=number, method=Method.INBOUND_KEYWORD, source="inbound", text="STOP")
    admin_client.post(
        "/admin/contacts/contact/add/",
        {
            "phone_number": number,
            "first_name": "Fay",
            "timezone": "",
            "attributes": "{}",
            "consent_source": "paper form",
            "consent_text": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    contact = Contact.objects.get(phone_number=number)
    assert (contact.first_name, contact.status, contact.consent_source) == ("Fay", "unsubscribed", "")
    assert contact.opted_out_at is not None


def test_a_contact_s_consent_events_are_indexed_once():
    """Each consent event writes one index entry for its contact: consent_event_contact_idx (which lookups by
    contact use) and not also a second index on the contact alone."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ConsentEvent._meta.db_table)
    by_contact = {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"] and info["columns"][:1] == ["contact_id"]
    }
    assert by_contact == {"consent_event_contact_idx": ["contact_id", "created_at"]}
