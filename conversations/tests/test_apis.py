"""The inbox's API: the list with its filters, one contact's timeline, a reply (sent once, refused saying why)."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from conversations.models import Conversation, Reply
from smscampaigns.roles import EDITOR, VIEWER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]


@pytest.fixture
def api(staff_member):
    def client(role: str = EDITOR) -> APIClient:
        api_client = APIClient()
        api_client.force_authenticate(staff_member(role))
        return api_client

    return client


def test_list_puts_unread_first_and_filters(api, receive):
    read, unread = ContactFactory(first_name="Rita"), ContactFactory(first_name="Ugo")
    receive(read.phone_number, "hi")
    Conversation.objects.filter(contact=read).update(unread_count=0)
    receive(unread.phone_number, "<b>hello</b>")
    Conversation.objects.filter(contact=read).update(last_message_at=timezone.now())  # the latest, but read
    client = api(VIEWER)
    body = client.get("/api/v1/conversations/").json()
    assert [row["name"].split()[0] for row in body["results"]] == ["Ugo", "Rita"]
    assert body["results"][0]["last_text"] == "<b>hello</b>" and body["results"][0]["unread_count"] == 1
    assert [r["contact_id"] for r in client.get("/api/v1/conversations/?filter=unread").json()["results"]] == [
        unread.pk
    ]
    assert client.get("/api/v1/conversations/?filter=bogus").status_code == 400
    for campaign in ("-6.9e117", "0", "1.5", str(2**63)):  # -6.9e117 overflowed SQLite: a 500
        refused = client.get("/api/v1/conversations/", {"campaign": campaign})
        assert refused.status_code == 400 and "campaign" in refused.json()["errors"], campaign
    found = client.get("/api/v1/conversations/", {"search": "rita"}).json()["results"]
    assert [r["contact_id"] for r in found] == [read.pk]


def test_detail_is_the_timeline_with_whether_a_reply_may_go(api, receive):
    contact = ContactFactory()
    receive(contact.phone_number, "when does it end?")
    client = api(VIEWER)
    body = client.get(f"/api/v1/conversations/{contact.pk}/").json()
    assert body["may_reply"] is True and body["refusal"] == ""
    assert [(m["kind"], m["body"]) for m in body["messages"]] == [("inbound", "when does it end?")]
    assert client.get("/api/v1/conversations/999999/").status_code == 404


def test_reply_is_sent_once_per_token_and_refused_for_an_opted_out_contact(api, receive, sms_outbox):
    contact = ContactFactory()
    receive(contact.phone_number, "question")
    client = api(EDITOR)
    payload = {"body": "Answer", "client_token": "abc"}
    first = client.post(f"/api/v1/conversations/{contact.pk}/reply/", payload, format="json")
    assert first.status_code == 201 and first.json()["status"] == "sent" and first.json()["replayed"] is False
    again = client.post(f"/api/v1/conversations/{contact.pk}/reply/", payload, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True and len(sms_outbox) == 1

    Contact.objects.filter(pk=contact.pk).update(status="unsubscribed", opted_out_at=timezone.now())
    refused = client.post(f"/api/v1/conversations/{contact.pk}/reply/", {"body": "More"}, format="json")
    assert refused.status_code == 400 and "opted out" in refused.json()["detail"]
    assert Reply.objects.filter(kind=Reply.Kind.STAFF).count() == 1


def test_viewers_may_not_reply(api):
    contact = ContactFactory()
    response = api(VIEWER).post(f"/api/v1/conversations/{contact.pk}/reply/", {"body": "x"}, format="json")
    assert response.status_code == 403
