"""The inbox's admin pages through Django's test client: the list, the conversation, the reply form's
refusals, assignment, notes, the unread count in the navigation, hostile text shown as text."""

import pytest
from django.urls import reverse

from contacts.models import Suppression
from contacts.tests.factories import ContactFactory, SuppressionFactory
from conversations.models import Conversation, ConversationNote, Reply
from conversations.tests.conftest import LA_NIGHT
from smscampaigns.roles import EDITOR, VIEWER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def conversation_of(contact) -> int:
    return Conversation.objects.get(contact=contact).pk


def change_url(contact) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation_of(contact)])


def test_every_admin_page_shows_the_unread_count_to_those_who_may_read_the_inbox(client, staff_member, receive):
    contact = ContactFactory()
    receive(contact.phone_number, "hi")
    receive(contact.phone_number, "anyone?")
    client.force_login(staff_member(VIEWER))
    page = client.get("/admin/").content.decode()
    assert 'id="inbox-unread"' in page and 'data-count="2"' in page
    assert client.get(reverse("admin:conversations_conversation_unread")).json() == {
        "conversations": 1,
        "messages": 2,
    }


def test_the_conversation_page_shows_hostile_text_as_text_and_marks_it_read(client, staff_member, receive):
    contact = ContactFactory(first_name=HOSTILE)
    receive(contact.phone_number, HOSTILE)
    client.force_login(staff_member(VIEWER))
    listing = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert HOSTILE not in listing and "&lt;script&gt;" in listing
    page = client.get(change_url(contact)).content.decode()
    assert HOSTILE not in page and "&lt;script&gt;alert" in page
    assert 'id="reply-form"' not in page  # viewers read only
    assert Conversation.objects.get(contact=contact).unread_count == 0
    assert (
        client.get(reverse("admin:conversations_conversation_messages", args=[conversation_of(contact)])).json()[
            "items"
        ][0]["body"]
        == HOSTILE
    )


def test_reply_form_sends_and_says_why_it_refuses(client, staff_member, receive, sms_outbox):
    contact, suppressed = ContactFactory(), ContactFactory()
    receive(contact.phone_number, "hi")
    receive(suppressed.phone_number, "hi")
    SuppressionFactory(phone_number=suppressed.phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    client.force_login(staff_member(EDITOR))
    reply_url = reverse("admin:conversations_conversation_reply", args=[conversation_of(contact)])
    response = client.post(reply_url, {"body": "Hello back", "client_token": "tok-1"})
    assert response.status_code == 302 and [m.body for m in sms_outbox] == ["Hello back"]
    client.post(reply_url, {"body": "Hello back", "client_token": "tok-1"})  # the form submitted twice
    assert len(sms_outbox) == 1

    page = client.get(change_url(suppressed)).content.decode()
    assert "suppression list (do-not-call)" in page and 'id="reply-send"' not in page
    refused = client.post(
        reverse("admin:conversations_conversation_reply", args=[conversation_of(suppressed)]),
        {"body": "x", "client_token": "t2"},
    )
    assert refused.status_code == 400 and "do-not-call" in refused.content.decode() and len(sms_outbox) == 1


def test_a_cold_message_at_night_asks_for_confirmation_keeping_the_text(client, staff_member, daytime, sms_outbox):
    contact = ContactFactory()
    Conversation.objects.create(contact=contact)
    daytime.move_to(LA_NIGHT)
    client.force_login(staff_member(EDITOR))
    assert "quiet-hours-warning" in client.get(change_url(contact)).content.decode()
    url = reverse("admin:conversations_conversation_reply", args=[conversation_of(contact)])
    asked = client.post(url, {"body": "Late offer", "client_token": "n1"})
    assert asked.status_code == 400 and "Late offer" in asked.content.decode() and sms_outbox == []
    client.post(url, {"body": "Late offer", "client_token": "n1", "confirm_quiet_hours": "on"})
    assert [m.body for m in sms_outbox] == ["Late offer"]
    assert Reply.objects.get().quiet_hours_confirmed


def test_assignment_done_and_notes(client, staff_member):
    contact = ContactFactory()
    Conversation.objects.create(contact=contact)
    editor = staff_member(EDITOR)
    client.force_login(editor)
    response = client.post(change_url(contact), {"assigned_to": editor.pk, "status": "done"})
    assert response.status_code == 302
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.assigned_to == editor and conversation.status == "done"
    client.post(
        reverse("admin:conversations_conversation_note", args=[conversation_of(contact)]), {"body": "Called them"}
    )
    assert ConversationNote.objects.get().body == "Called them"
    mine = client.get(reverse("admin:conversations_conversation_changelist"), {"show": "mine"}).content.decode()
    assert str(contact.phone_number) in mine


def test_a_conversation_outlives_its_erased_contact_without_breaking_a_page(client, staff_member, receive):
    contact = ContactFactory()
    receive(contact.phone_number, "please forget me")
    conversation = Conversation.objects.get(contact=contact)
    contact.delete()
    client.force_login(staff_member(EDITOR))
    listing = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "(erased contact)" in listing
    page = client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    assert page.status_code == 200 and "was erased" in page.content.decode()
    assert client.get("/api/v1/conversations/").json()["results"] == []
