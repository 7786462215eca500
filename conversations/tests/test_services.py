"""The inbox's services against PostgreSQL: conversations kept from the webhooks, replies sent exactly once
and refused when they must be, assignment, the done state, notes, the audit trail."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory, SuppressionFactory
from conversations.models import Conversation, Reply
from conversations.selectors import conversation_timeline, conversations_inbox, inbox_unread_count
from conversations.services import (
    conversation_mark_read,
    conversation_note_add,
    conversation_reply_send,
    conversation_update,
    reply_dispatch,
)
from conversations.tests.conftest import LA_NIGHT, OUR_NUMBER
from sends.models import CampaignSend, InboundMessage
from sends.tests.factories import CampaignSendFactory
from sends.tests.plivo_callbacks import record_and_drain, status_payload
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]


@pytest.fixture
def manager(staff_member):
    return staff_member("Marketing manager", "ann")


def test_a_text_makes_the_contacts_conversation_unread_and_reopens_a_done_one(receive, manager):
    contact = ContactFactory()
    receive(contact.phone_number, "what size?")
    receive(contact.phone_number, "the blue one")
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.unread_count == 2 and conversation.status == Conversation.Status.OPEN
    assert inbox_unread_count().messages == 2 and inbox_unread_count().conversations == 1

    conversation_mark_read(conversation=conversation)
    conversation_update(conversation=conversation, status=Conversation.Status.DONE, actor=manager)
    receive(contact.phone_number, "one more thing")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.unread_count == 1


def test_a_text_from_a_number_that_is_no_contact_makes_no_conversation(receive):
    receive("+14155550177", "who is this?")
    assert InboundMessage.objects.count() == 1 and not Conversation.objects.exists()


def test_reply_goes_through_the_backend_once_and_is_audited(receive, manager, sms_outbox):
    contact = ContactFactory()
    receive(contact.phone_number, "when does it end?", to="+14155550111")
    outcome = conversation_reply_send(contact=contact, body="Sunday night!", actor=manager, client_token="t1")
    assert [(m.sender, list(m.destinations), m.body) for m in sms_outbox] == [
        ("+14155550111", [str(contact.phone_number)], "Sunday night!")
    ]
    reply = outcome.reply
    assert reply.status == Reply.Status.SENT and reply.provider_message_uuid and reply.segments == 1
    # The same form submitted again (a double click, a retried request) sends nothing more.
    again = conversation_reply_send(contact=contact, body="Sunday night!", actor=manager, client_token="t1")
    assert again.replayed and again.reply.pk == reply.pk and len(sms_outbox) == 1
    # A reply already claimed is never handed to the backend a second time.
    assert reply_dispatch(reply_id=reply.pk) is False and len(sms_outbox) == 1
    event = AuditEvent.objects.get(action="conversation.replied")
    assert event.actor == manager and event.data["reply"] == reply.pk
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.last_reply_at is not None and not conversation.unanswered


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda c: Contact.objects.filter(pk=c.pk).update(status="unsubscribed", opted_out_at=timezone.now()),
            "opted out",
        ),
        (
            lambda c: SuppressionFactory(phone_number=c.phone_number, reason=Suppression.Reason.DO_NOT_CALL),
            "do-not-call",
        ),
    ],
    ids=["opted-out", "suppressed"],
)
def test_reply_is_refused_for_an_opted_out_or_suppressed_number_saying_why(receive, manager, sms_outbox, make, words):
    contact = ContactFactory()
    receive(contact.phone_number, "hello?")
    make(contact)
    with pytest.raises(ApplicationError) as refused:
        conversation_reply_send(contact=contact, body="Hi!", actor=manager)
    assert words in refused.value.message and str(contact.phone_number) in refused.value.message
    assert sms_outbox == [] and not Reply.objects.filter(kind=Reply.Kind.STAFF).exists()


def test_a_contact_without_consent_may_be_answered_when_they_wrote_but_not_texted_cold(receive, manager, sms_outbox):
    contact = ContactFactory(status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source="")
    with pytest.raises(ApplicationError, match="no recorded consent"):
        conversation_reply_send(contact=contact, body="Hi!", actor=manager)
    receive(contact.phone_number, "is this the shoe shop?")
    conversation_reply_send(contact=contact, body="It is!", actor=manager)
    assert [m.body for m in sms_outbox] == ["It is!"]


def test_a_cold_message_in_quiet_hours_needs_confirmation_a_reply_to_a_recent_text_does_not(
    daytime, receive, manager, sms_outbox, settings
):
    settings.INBOX_REPLY_WINDOW_SECONDS = 3600
    cold, warm = ContactFactory(), ContactFactory()
    daytime.move_to(LA_NIGHT)
    receive(warm.phone_number, "are you open tomorrow?")
    conversation_reply_send(contact=warm, body="From 9!", actor=manager)
    with pytest.raises(ApplicationError) as asked:
        conversation_reply_send(contact=cold, body="Sale tomorrow", actor=manager)
    assert asked.value.code == "quiet_hours" and "quiet hours" in asked.value.message
    assert [m.body for m in sms_outbox] == ["From 9!"]
    reply = conversation_reply_send(contact=cold, body="Sale tomorrow", actor=manager, confirm_quiet_hours=True).reply
    assert reply.quiet_hours_confirmed and [m.body for m in sms_outbox] == ["From 9!", "Sale tomorrow"]
    # Once their text is older than the window, a message to them is a cold one again.
    daytime.move_to(LA_NIGHT + timedelta(hours=2))
    with pytest.raises(ApplicationError, match="quiet hours"):
        conversation_reply_send(contact=warm, body="Still there?", actor=manager)


def test_a_reply_too_long_or_empty_is_refused_before_anything_is_stored(manager, sms_outbox):
    contact = ContactFactory()
    with pytest.raises(ApplicationError, match="write the reply"):
        conversation_reply_send(contact=contact, body="   ", actor=manager)
    with pytest.raises(ApplicationError, match="Plivo refuses"):
        conversation_reply_send(contact=contact, body="x" * 1700, actor=manager)
    assert not Reply.objects.exists() and sms_outbox == []


def test_delivery_reports_move_a_reply_forward_with_its_cost_even_when_they_come_first(manager, sms_outbox):
    contact = ContactFactory()
    reply = conversation_reply_send(contact=contact, body="Thanks!", actor=manager).reply
    to = str(contact.phone_number)
    assert record_and_drain(status_payload(message_uuid=reply.provider_message_uuid, status="delivered", to=to)) == (
        "applied"
    )
    # A late "sent" does not move it back.
    record_and_drain(status_payload(message_uuid=reply.provider_message_uuid, status="sent", to=to))
    reply.refresh_from_db()
    assert reply.status == Reply.Status.DELIVERED and reply.cost == Decimal("0.00550")


def test_a_report_stored_before_the_replys_uuid_is_applied_when_the_uuid_is_recorded(manager):
    from conversations.services import reply_result_record
    from sends.backends.base import SendResult

    contact = ContactFactory()
    reply = Reply.objects.create(
        contact=contact,
        author=manager,
        sender=OUR_NUMBER,
        to_number=str(contact.phone_number),
        body="Hi",
        status=Reply.Status.SENDING,
    )
    assert record_and_drain(status_payload(message_uuid="early-1", status="delivered", to=reply.to_number)) == (
        "unmatched"
    )
    reply_result_record(reply_id=reply.pk, result=SendResult(destination=reply.to_number, message_uuid="early-1"))
    reply.refresh_from_db()
    assert reply.status == Reply.Status.DELIVERED and reply.cost == Decimal("0.00550")


def test_the_timeline_holds_campaign_messages_texts_automatic_and_staff_replies_and_notes(receive, manager, sms_outbox):
    contact = ContactFactory()
    campaign = CampaignFactory(name="Autumn sale")
    CampaignSendFactory(
        campaign=campaign, contact=contact, body="Autumn sale today", status=CampaignSend.Status.DELIVERED
    )
    CampaignSendFactory(campaign=CampaignFactory(), contact=contact, status=CampaignSend.Status.SKIPPED)
    receive(contact.phone_number, "HELP")
    receive(contact.phone_number, "what sizes?")
    conversation_reply_send(contact=contact, body="All of them", actor=manager)
    conversation_note_add(conversation=Conversation.objects.get(contact=contact), body="VIP customer", actor=manager)
    items = conversation_timeline(contact=contact)
    assert [(i.kind, i.label.split(":")[0]) for i in items] == [
        ("campaign", "Campaign"),
        ("inbound", "Received"),
        ("auto", "Automatic reply to HELP"),
        ("inbound", "Received"),
        ("staff", "Reply by ann"),
        ("note", "Note by ann"),
    ]
    assert items[0].label == "Campaign: Autumn sale" and items[0].status == "delivered"
    assert items[2].status == "sent" and items[2].body == sms_outbox[0].body


def test_inbox_filters_and_search(receive, manager, staff_member):
    other = staff_member("Marketing editor", "bob")
    unread, answered, opted_out = (
        ContactFactory(first_name="Una"),
        ContactFactory(first_name="Ansel"),
        ContactFactory(first_name="Otto"),
    )
    campaign = CampaignFactory()
    CampaignSendFactory(campaign=campaign, contact=answered)
    for contact in (unread, answered, opted_out):
        receive(contact.phone_number, "hi")
    for contact in (answered, opted_out):
        conversation_mark_read(conversation=Conversation.objects.get(contact=contact))
    conversation_reply_send(contact=answered, body="hello", actor=manager)
    receive(opted_out.phone_number, "STOP")
    conversation_update(
        conversation=Conversation.objects.get(contact=unread), assigned_to=other, status="open", actor=manager
    )

    def shown(**kwargs):
        return [c.contact.first_name for c in conversations_inbox(**kwargs)]

    assert shown()[0] in ("Una", "Otto") and set(shown()[:2]) == {"Una", "Otto"}  # unread first
    assert set(shown(show="unread")) == {"Una", "Otto"}
    assert set(shown(show="unanswered")) == {"Una", "Otto"}
    assert shown(show="mine", user=other) == ["Una"] and shown(show="mine", user=manager) == []
    assert shown(show="opted_out") == ["Otto"]
    assert shown(campaign_id=campaign.pk) == ["Ansel"]
    assert shown(search="ansel") == ["Ansel"]
    assert shown(search=str(unread.phone_number)[2:]) == ["Una"]


def test_assignment_is_to_active_staff_and_notes_are_bounded(manager, django_user_model):
    conversation = Conversation.objects.create(contact=ContactFactory())
    outsider = django_user_model.objects.create_user("outsider")
    with pytest.raises(ApplicationError, match="active staff"):
        conversation_update(conversation=conversation, assigned_to=outsider, status="open", actor=manager)
    conversation_update(conversation=conversation, assigned_to=manager, status="done", actor=manager)
    assert AuditEvent.objects.get(action="conversation.updated").data == {"assigned_to": "ann", "status": "done"}
    with pytest.raises(ApplicationError, match="at most"):
        conversation_note_add(conversation=conversation, body="x" * 2001, actor=manager)
