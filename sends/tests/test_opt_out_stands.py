"""A person's opt-out stands: whatever told us (a keyword, an informal phrase, Plivo's intent, their carrier),
no staff path lifts it (API opt-in and suppression delete, an import with --update, a quick send), whatever
the role; only the person's own START does. Staff opt-outs stay staff's to lift."""

import io
import uuid
from datetime import UTC, datetime

import pytest
import time_machine

from contacts.models import ConsentEvent, Contact, ContactList, Suppression
from contacts.services.imports import contact_import_run
from contacts.tests.factories import ContactFactory, fictional_number
from sends.models import InboundMessage
from sends.services.delivery_reports import delivery_report_record
from sends.services.inbound import inbound_message_receive
from sends.tests.plivo_callbacks import inbound_payload, status_payload

pytestmark = pytest.mark.django_db
CONTACTS = "/api/v1/contacts/"
STOPPED_AT = datetime(2026, 11, 20, 14, 3, 27, tzinfo=UTC)


@pytest.fixture
def superuser_api(api_client):
    return api_client(superuser=True)


def texted(number: str, text: str, *, intent: str = "", at: datetime = STOPPED_AT) -> InboundMessage:
    with time_machine.travel(at, tick=False):
        return inbound_message_receive(payload=inbound_payload(sender=number, text=text, intent=intent)).message


def carrier_opted_out(number: str) -> None:
    with time_machine.travel(STOPPED_AT, tick=False):
        delivery_report_record(
            payload=status_payload(message_uuid=str(uuid.uuid4()), status="undelivered", to=number, error_code="200")
        )


def opt_in(client, contact: Contact):
    return client.post(f"{CONTACTS}{contact.pk}/opt-in/", {"consent_source": "customer called"}, format="json")


def assert_still_opted_out(number: str) -> None:
    assert Suppression.objects.get(phone_number=number, reason=Suppression.Reason.OPT_OUT).origin == "person"
    contact = Contact.objects.filter(phone_number=number).first()
    assert contact is None or contact.status == Contact.Status.UNSUBSCRIBED


# --- API opt-in ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opt_out", "how"),
    [
        (lambda number: texted(number, "Stop"), "by texting Stop"),
        (lambda number: texted(number, "please remove me from this"), "by texting 'please remove me from this'"),
        (
            lambda number: texted(number, "no gracias", intent="optout"),
            "by texting 'no gracias', which Plivo read as an opt-out",
        ),
        (carrier_opted_out, "through their carrier (Plivo error 200)"),
    ],
    ids=["keyword", "informal phrase", "plivo intent", "carrier error 200"],
)
def test_a_superuser_cannot_opt_in_a_person_who_opted_out_and_is_told_when_and_how(superuser_api, opt_out, how):
    contact = ContactFactory(phone_number=fictional_number(401))
    opt_out(str(contact.phone_number))
    response = opt_in(superuser_api, contact)
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"{contact.phone_number} opted out {how} on 2026-11-20 14:03 UTC; only they can opt back in, by texting START"
    )
    assert_still_opted_out(str(contact.phone_number))


def test_a_stop_after_a_staff_opt_out_makes_the_opt_out_the_persons(superuser_api):
    contact = ContactFactory(phone_number=fictional_number(402))
    superuser_api.post(f"{CONTACTS}{contact.pk}/opt-out/", {"source": "asked by e-mail"}, format="json")
    texted(str(contact.phone_number), "STOP")
    assert opt_in(superuser_api, contact).status_code == 409
    assert_still_opted_out(str(contact.phone_number))


def test_staff_lift_an_opt_out_staff_made_with_new_consent_audited_and_recorded(api_client):
    client = api_client("contacts.change_contact")
    contact = ContactFactory(phone_number=fictional_number(403))
    client.post(f"{CONTACTS}{contact.pk}/opt-out/", {"source": "asked by e-mail"}, format="json")
    response = opt_in(client, contact)
    assert response.status_code == 200 and response.json()["status"] == "subscribed"
    assert not Suppression.objects.filter(phone_number=contact.phone_number).exists()
    kinds = list(ConsentEvent.objects.filter(contact=contact).order_by("id").values_list("kind", "actor"))
    assert kinds == [
        ("opted_out", client.user.pk),
        ("opt_out_lifted", client.user.pk),
        ("consent_given", client.user.pk),
    ]


# --- Suppression delete -------------------------------------------------------------------------------


def test_deleting_a_persons_opt_out_suppression_is_409_naming_when_and_how(superuser_api):
    number = fictional_number(404)
    texted(number, "QUIT")
    suppression = Suppression.objects.get(phone_number=number)
    response = superuser_api.delete(f"/api/v1/suppressions/{suppression.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"{number} opted out by texting QUIT on 2026-11-20 14:03 UTC")
    assert_still_opted_out(number)


# --- Import with --update ------------------------------------------------------------------------------


def test_an_import_with_update_and_consent_leaves_the_persons_opt_out_and_says_why():
    contact = ContactFactory(phone_number=fictional_number(405), first_name="Ann")
    texted(str(contact.phone_number), "STOP")
    file = io.BytesIO(f"phone,first_name\n{contact.phone_number},Anna\n".encode())
    errors = io.StringIO()
    summary = contact_import_run(file=file, consent_source="spring fair", update=True, errors_to=errors)
    assert (summary.suppressed, summary.updated) == (1, 0)
    assert "opted out by texting STOP on 2026-11-20 14:03 UTC; only they can opt back in" in errors.getvalue()
    assert_still_opted_out(str(contact.phone_number))


# --- Keep the data, keep the opt-out ------------------------------------------------------------------


def test_an_import_keeps_a_number_that_opted_out_before_it_was_a_contact_and_start_subscribes_it():
    number = fictional_number(406)
    texted(number, "STOP")
    file = io.BytesIO(f"phone,first_name,city\n{number},Bea,Lyon\n".encode())
    summary = contact_import_run(file=file, contact_list_name="Fair", consent_source="spring fair")
    assert summary.suppressed == 1
    contact = Contact.objects.get(phone_number=number)
    assert (contact.first_name, contact.attributes, contact.status) == ("Bea", {"city": "Lyon"}, "unsubscribed")
    assert contact.opted_out_at == STOPPED_AT and "STOP" in contact.opt_out_source
    assert (contact.consent_source, contact.consented_at) == ("", None)
    assert list(contact.lists.values_list("name", flat=True)) == ["Fair"]

    texted(number, "START", at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED and "START" in contact.consent_source
    assert ContactList.objects.get(name="Fair").contacts.filter(pk=contact.pk, status="subscribed").exists()
    assert not Suppression.objects.filter(phone_number=number).exists()
    opted_in = ConsentEvent.objects.get(kind=ConsentEvent.Kind.OPTED_IN)
    assert (opted_in.contact, opted_in.method, opted_in.text) == (contact, "inbound_keyword", "START")


def test_the_api_stores_a_number_that_opted_out_as_an_opted_out_contact(superuser_api):
    number = fictional_number(407)
    texted(number, "unsubscribe")
    response = superuser_api.post(
        CONTACTS, {"phone_number": number, "first_name": "Cy", "consent_source": "checkout form"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["first_name"], body["consent_source"]) == ("unsubscribed", "Cy", "")
    assert body["opted_out_at"] == "2026-11-20T14:03:27Z" and "UNSUBSCRIBE" in body["opt_out_source"]
    # The contact's page shows the opt-out it inherited from its number.
    assert opt_in(superuser_api, Contact.objects.get(phone_number=number)).status_code == 409


# --- Quick send ----------------------------------------------------------------------------------------


def test_a_quick_send_never_lifts_a_persons_opt_out(superuser_api):
    known = ContactFactory(phone_number=fictional_number(408))
    unknown = fictional_number(409)
    texted(str(known.phone_number), "STOP")
    texted(unknown, "END")
    response = superuser_api.post(
        "/api/v1/campaigns/",
        {
            "body": "Flash sale",
            "recipients": [str(known.phone_number), unknown, fictional_number(410)],
            "consent_source": "signed up in store",
            "send": True,
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    results = {r["phone_number"]: r["result"] for r in response.json()["recipients"]}
    assert results[str(known.phone_number)] == results[unknown] == "excluded"
    assert_still_opted_out(str(known.phone_number))
    assert_still_opted_out(unknown)
