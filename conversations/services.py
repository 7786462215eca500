"""Writes of the inbox: conversations kept current from the webhooks, staff replies sent exactly once,
assignment, the done state and notes. Every staff action is audited."""

from dataclasses import dataclass

import structlog
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import audit_record
from campaigns.segments import message_length_problem, segment_info
from contacts.models import Contact
from conversations.models import LAST_TEXT_CHARACTERS, Conversation, ConversationNote, Reply
from conversations.selectors import reply_check, reply_sender
from sends.backends import get_connection
from sends.backends.base import OutboundMessage, SendResult
from sends.models import CampaignSend, DeliveryReport, InboundMessage
from sends.services.delivery_reports import (
    PLIVO_STATUS,
    delivery_report_lock,
    delivery_report_parse,
    report_apply_to,
)
from sends.webhook_paths import status_callback_url
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)
S = Reply.Status

NOTE_MAX_CHARACTERS = 2000


def conversation_inbound_record(*, message: InboundMessage) -> None:
    """A contact's text makes their conversation unread (and open again if it was done); one statement, so two
    texts arriving together both count."""
    if message.contact_id is None:
        return
    table = connection.ops.quote_name(Conversation._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(message.received_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (contact_id, status, unread_count, last_inbound_at, last_message_at, last_text) "
            f"VALUES (%s, %s, 1, %s, %s, %s) ON CONFLICT (contact_id) DO UPDATE SET "
            f"unread_count = {table}.unread_count + 1, status = excluded.status, "
            f"last_inbound_at = excluded.last_inbound_at, last_message_at = excluded.last_message_at, "
            f"last_text = excluded.last_text",
            [message.contact_id, Conversation.Status.OPEN, at, at, message.text[:LAST_TEXT_CHARACTERS]],
        )


def conversation_get_or_create(*, contact: Contact) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(contact=contact)
    return conversation


def conversation_mark_read(*, conversation: Conversation) -> None:
    """Staff opened the conversation: its texts are read."""
    if conversation.unread_count:
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, read_at=timezone.now())
        conversation.unread_count = 0


def conversation_update(*, conversation: Conversation, assigned_to=None, status: str, actor) -> Conversation:
    """Assign the conversation (None: to nobody) and set it open or done; audited."""
    if status not in Conversation.Status.values:
        raise ApplicationError(f"status must be one of {', '.join(Conversation.Status.values)}", field="status")
    if assigned_to is not None and not (assigned_to.is_staff and assigned_to.is_active):
        raise ApplicationError("a conversation is assigned to an active staff member", field="assigned_to")
    changes = {}
    if conversation.assigned_to_id != (assigned_to.pk if assigned_to else None):
        changes["assigned_to"] = assigned_to.get_username() if assigned_to else None
    if conversation.status != status:
        changes["status"] = status
    if changes:
        conversation.assigned_to, conversation.status = assigned_to, status
        Conversation.objects.filter(pk=conversation.pk).update(assigned_to=assigned_to, status=status)
    # Audited even when nothing changed: the trail says who looked at it and saved.
    audit_record(actor=actor, action="conversation.updated", target=conversation, data=changes)
    return conversation


def conversation_note_add(*, conversation: Conversation, body: str, actor) -> ConversationNote:
    body = (body or "").strip()
    if not body:
        raise ApplicationError("write the note first", field="body")
    if len(body) > NOTE_MAX_CHARACTERS:
        raise ApplicationError(f"a note holds at most {NOTE_MAX_CHARACTERS} characters", field="body")
    note = ConversationNote.objects.create(conversation=conversation, author=actor, body=body)
    audit_record(actor=actor, action="conversation.note_added", target=conversation, data={"note": note.pk})
    return note


@dataclass(frozen=True)
class ReplyOutcome:
    reply: Reply
    replayed: bool = False  # the same form was submitted before: nothing was sent now


def conversation_reply_send(
    *, contact: Contact, body: str, actor, confirm_quiet_hours: bool = False, client_token: str = ""
) -> ReplyOutcome:
    """Text the contact `body` from the conversation, through the SMS backend, exactly once.

    Refused (ApplicationError saying why) for an opted-out, suppressed or invalid number, and for a contact
    without recorded consent who has not written within INBOX_REPLY_WINDOW_SECONDS. During the contact's quiet
    hours a cold message (they have not written within that window) needs `confirm_quiet_hours`. The reply is
    stored and audited first, then claimed and sent; `client_token` makes a form submitted twice one reply.
    """
    body = (body or "").strip()
    if not body:
        raise ApplicationError("write the reply first", field="body")
    if problem := message_length_problem(segment_info(body)):
        raise ApplicationError(f"this reply cannot be sent: {problem}", field="body")
    client_token = (client_token or "")[:64]
    if client_token and (earlier := Reply.objects.filter(author=actor, client_token=client_token).first()):
        return ReplyOutcome(reply=earlier, replayed=True)
    try:
        with transaction.atomic():
            # Locked: an opt-out being recorded for this contact commits first, and is seen by the check.
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            check = reply_check(contact=contact)
            if not check.allowed:
                raise ApplicationError(check.refusal, field="body", code=check.refusal_code)
            if check.quiet_hours and not confirm_quiet_hours:
                raise ApplicationError(check.quiet_hours, field="confirm_quiet_hours", code="quiet_hours")
            now = timezone.now()
            reply = Reply.objects.create(
                kind=Reply.Kind.STAFF,
                contact=contact,
                author=actor,
                sender=reply_sender(contact=contact),
                to_number=str(contact.phone_number),
                body=body,
                segments=segment_info(body).segments,
                quiet_hours_confirmed=bool(check.quiet_hours),
                client_token=client_token,
                created_at=now,
            )
            conversation = conversation_get_or_create(contact=contact)
            Conversation.objects.filter(pk=conversation.pk).update(last_reply_at=now, last_message_at=now)
            audit_record(
                actor=actor,
                action="conversation.replied",
                target=conversation,
                data={"reply": reply.pk, "segments": reply.segments, "quiet_hours_confirmed": bool(check.quiet_hours)},
            )
    except IntegrityError:
        # The twin submission of the same form committed first: answer with its reply.
        earlier = Reply.objects.filter(author=actor, client_token=client_token).first()
        if not client_token or earlier is None:
            raise
        return ReplyOutcome(reply=earlier, replayed=True)
    reply_dispatch(reply_id=reply.pk)
    reply.refresh_from_db()
    return ReplyOutcome(reply=reply)


def reply_dispatch(*, reply_id: int) -> bool:
    """Claim a queued reply (queued -> sending) and hand it to the backend; False when another caller had
    claimed it. The claim commits before the API call: a process dying after it leaves the reply `sending`,
    never sent twice."""
    claimed = Reply.objects.filter(pk=reply_id, status=S.QUEUED).update(
        status=S.SENDING, status_updated_at=timezone.now()
    )
    if not claimed:
        return False
    reply = Reply.objects.get(pk=reply_id)
    message = OutboundMessage(
        sender=reply.sender, destinations=[reply.to_number], body=reply.body, status_callback_url=status_callback_url()
    )
    try:
        with get_connection() as backend:
            [result] = backend.send_message(message)
    except Exception:
        # The backend broke its contract: whether the provider took the message cannot be known.
        log.exception("reply_backend_raised", reply_id=reply_id)
        result = None
    reply_result_record(reply_id=reply_id, result=result)
    return True


def reply_result_record(*, reply_id: int, result: SendResult | None) -> None:
    """Store the backend's answer for a reply being sent, then apply any delivery report that came first."""
    now = timezone.now()
    if result is None:
        Reply.objects.filter(pk=reply_id).update(
            status=S.UNKNOWN, status_updated_at=now, error_message="the SMS backend gave no answer"
        )
        return
    if not result.ok:
        error = result.error
        Reply.objects.filter(pk=reply_id).update(
            status=S.FAILED,
            status_updated_at=now,
            error_code=(error.code if error else "no_message_uuid")[:16],
            error_message=error.message if error else "the SMS backend answered no message uuid",
        )
        return
    with transaction.atomic():
        delivery_report_lock(result.message_uuid)
        Reply.objects.filter(pk=reply_id).update(
            status=S.SENT, status_updated_at=now, sent_at=now, provider_message_uuid=result.message_uuid
        )
        _early_reports_apply(message_uuid=result.message_uuid)


def _early_reports_apply(*, message_uuid: str) -> None:
    # Reports stored before the uuid was (Plivo can be that fast): re-read from their payloads, one parser.
    for stored in DeliveryReport.objects.filter(message_uuid=message_uuid).order_by("id"):
        reply_delivery_report_apply(report=delivery_report_parse(stored.payload))


def reply_delivery_report_apply(*, report) -> bool:
    """Apply a status callback to the reply with its message uuid (forward only, with cost and segments);
    False when no reply has it."""
    reply = Reply.objects.select_for_update().filter(provider_message_uuid=report.message_uuid).first()
    if reply is None:
        return False
    new_status = PLIVO_STATUS.get(report.status)
    if new_status is None or not CampaignSend.status_moves_forward(reply.status, new_status):
        return True
    report_apply_to(reply, report=report, new_status=new_status, now=timezone.now())
    reply.save(
        update_fields=["status", "status_updated_at", "sent_at", "segments", "cost", "error_code", "error_message"]
    )
    return True


def auto_reply_record(*, message: InboundMessage, body: str, result: SendResult | None) -> Reply | None:
    """Put an automatic answer to STOP / START / HELP on the contact's timeline, with its delivery status to
    come; None for a number that is no contact."""
    if message.contact_id is None:
        return None
    now = timezone.now()
    reply = Reply.objects.create(
        kind=Reply.Kind.AUTO,
        contact_id=message.contact_id,
        in_reply_to=message,
        sender=message.to_number,
        to_number=message.from_number,
        body=body,
        segments=segment_info(body).segments,
        status=S.SENDING,
        created_at=now,
    )
    reply_result_record(reply_id=reply.pk, result=result)
    Conversation.objects.filter(contact_id=message.contact_id).update(last_message_at=now)
    return reply
