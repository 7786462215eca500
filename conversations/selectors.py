"""Reads of the inbox: the list of conversations, one contact's timeline, the unread count, whether a reply
may go out (and why not)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from campaigns.quiet_hours import quiet_hours_verdict
from contacts.models import Contact, Suppression, UntextableReason
from contacts.selectors import ELIGIBLE, contacts_matching, contacts_with_exclusion_reason
from conversations.models import INBOX_ORDER, Conversation, ConversationNote, Reply
from sends.models import CampaignSend, InboundMessage

# Per kind of message, at most this many of the latest are put on a timeline (page and poll alike).
TIMELINE_LIMIT = 200

# Filters of the inbox list, by the name the admin's filter and the API's `filter` take.
INBOX_FILTERS = {
    "unread": "Unread",
    "unanswered": "Unanswered",
    "mine": "Assigned to me",
    "opted_out": "Opted out",
    "done": "Done",
}


def conversations_inbox(
    *, user=None, show: str = "", campaign_id: int | None = None, search: str = ""
) -> QuerySet[Conversation]:
    """Conversations with unread texts first, then the most recent; filtered as `inbox_filter` says."""
    queryset = Conversation.objects.select_related("contact", "assigned_to")
    queryset = inbox_filter(queryset, user=user, show=show, campaign_id=campaign_id, search=search)
    return queryset.order_by(*INBOX_ORDER)


def inbox_filter(
    queryset: QuerySet[Conversation], *, user=None, show: str = "", campaign_id: int | None = None, search: str = ""
) -> QuerySet[Conversation]:
    """Filter conversations by `show` (a key of INBOX_FILTERS; "mine" is `user`'s), by a campaign their contact
    received, and by the contact's number in any format or name."""
    if show == "unread":
        queryset = queryset.filter(unread_count__gt=0)
    elif show == "unanswered":
        queryset = conversations_unanswered(queryset)
    elif show == "mine":
        queryset = queryset.filter(assigned_to=user) if user is not None else queryset.none()
    elif show == "opted_out":
        queryset = queryset.filter(contact__status=Contact.Status.UNSUBSCRIBED, contact__opted_out_at__isnull=False)
    elif show == "done":
        queryset = queryset.filter(status=Conversation.Status.DONE)
    if campaign_id is not None:
        queryset = queryset.filter(
            Exists(CampaignSend.objects.filter(contact_id=OuterRef("contact_id"), campaign_id=campaign_id))
        )
    if search.strip():
        queryset = queryset.filter(contact__in=contacts_matching(Contact.objects.all(), search).values("pk"))
    return queryset


def conversations_unanswered(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Those whose contact wrote after our last reply (or was never answered)."""
    return queryset.filter(last_inbound_at__isnull=False).filter(
        Q(last_reply_at__isnull=True) | Q(last_reply_at__lt=F("last_inbound_at"))
    )


@dataclass(frozen=True)
class UnreadCount:
    conversations: int
    messages: int


def inbox_unread_count() -> UnreadCount:
    """How many conversations have unread texts, and how many texts: one aggregate over the partial index of
    conversations with any, cheap enough for every admin page."""
    totals = Conversation.objects.filter(unread_count__gt=0).aggregate(
        messages=Sum("unread_count"), conversations=Count("pk")
    )
    return UnreadCount(conversations=totals["conversations"], messages=totals["messages"] or 0)


@dataclass(frozen=True)
class TimelineItem:
    key: str  # stable across polls: "<kind>-<id>"
    direction: str  # "in", "out" or "note"
    kind: str  # "inbound", "campaign", "staff", "auto", "note"
    label: str  # "Campaign: Autumn sale", "Reply by ann", "Automatic reply to STOP", "Note by ann"
    body: str
    at: datetime
    status: str = ""  # a CampaignSend.Status value for outgoing messages
    status_label: str = ""
    detail: str = ""  # the error of an undelivered message, or what an inbound text did


def conversation_timeline(*, contact: Contact, limit: int = TIMELINE_LIMIT) -> list[TimelineItem]:
    """What the contact received (campaign messages, replies, automatic replies) and sent, with notes, oldest
    first; for each kind only the latest `limit`."""
    items: list[TimelineItem] = []
    status_labels = dict(CampaignSend.Status.choices)
    sends = (
        CampaignSend.objects.filter(contact=contact)
        .exclude(status=CampaignSend.Status.SKIPPED)
        .select_related("campaign")
        .order_by("-queued_at", "-id")[:limit]
    )
    for send in sends:
        items.append(
            TimelineItem(
                key=f"campaign-{send.pk}",
                direction="out",
                kind="campaign",
                label=f"Campaign: {send.campaign.name}",
                body=send.body,
                at=send.sent_at or send.queued_at,
                status=send.status,
                status_label=status_labels.get(send.status, send.status),
                detail=send.error_message,
            )
        )
    actions = dict(InboundMessage.Action.choices)
    for message in InboundMessage.objects.filter(contact=contact).order_by("-received_at", "-id")[:limit]:
        items.append(
            TimelineItem(
                key=f"inbound-{message.pk}",
                direction="in",
                kind="inbound",
                label="Received",
                body=message.text,
                at=message.received_at,
                detail="" if message.action == InboundMessage.Action.NONE else actions.get(message.action, ""),
            )
        )
    for reply in Reply.objects.filter(contact=contact).select_related("author", "in_reply_to")[:limit]:
        if reply.kind == Reply.Kind.AUTO:
            keyword = (reply.in_reply_to.text if reply.in_reply_to else "").strip()[:20]
            label = f"Automatic reply to {keyword.upper()}" if keyword else "Automatic reply"
        else:
            label = f"Reply by {reply.author.get_username() if reply.author else 'a former staff member'}"
        items.append(
            TimelineItem(
                key=f"reply-{reply.pk}",
                direction="out",
                kind=reply.kind,
                label=label,
                body=reply.body,
                at=reply.sent_at or reply.created_at,
                status=reply.status,
                status_label=status_labels.get(reply.status, reply.status),
                detail=reply.error_message,
            )
        )
    notes = ConversationNote.objects.filter(conversation__contact=contact).select_related("author")
    for note in notes.order_by("-created_at", "-id")[:limit]:
        items.append(
            TimelineItem(
                key=f"note-{note.pk}",
                direction="note",
                kind="note",
                label=f"Note by {note.author.get_username() if note.author else 'a former staff member'}",
                body=note.body,
                at=note.created_at,
            )
        )
    return sorted(items, key=lambda item: (item.at, item.key))


def contact_last_wrote_at(*, contact: Contact) -> datetime | None:
    return (
        InboundMessage.objects.filter(contact=contact).order_by("-received_at").values_list("received_at", flat=True)
    ).first()


def contact_wrote_recently(*, contact: Contact, now: datetime | None = None) -> bool:
    """Whether the contact wrote to us within INBOX_REPLY_WINDOW_SECONDS: a reply then answers them."""
    last = contact_last_wrote_at(contact=contact)
    now = now or timezone.now()
    return last is not None and now - last <= timedelta(seconds=settings.INBOX_REPLY_WINDOW_SECONDS)


REFUSALS = {
    UntextableReason.OPTED_OUT: "{number} opted out: nobody may text them until they text START themselves",
    UntextableReason.SUPPRESSED: "{number} is on the suppression list ({detail}): nobody may text it",
    UntextableReason.INVALID_NUMBER: "{number} is not a valid phone number: it cannot be texted",
    UntextableReason.NO_CONSENT: (
        "{number} has no recorded consent and has not written in the last {hours} hours: a message now would be "
        "a cold one; record their consent first"
    ),
}


@dataclass(frozen=True)
class ReplyCheck:
    """Whether staff may reply to a contact now: `refusal` says why not; `quiet_hours` why to confirm first."""

    refusal: str = ""
    refusal_code: str = ""
    quiet_hours: str = ""  # non-empty: a cold message during the contact's quiet hours, to be confirmed
    wrote_recently: bool = False

    @property
    def allowed(self) -> bool:
        return not self.refusal


def reply_check(*, contact: Contact, now: datetime | None = None) -> ReplyCheck:
    """May staff text this contact now, and is it a cold message at night (the author must confirm)?"""
    now = now or timezone.now()
    reason = contacts_with_exclusion_reason(Contact.objects.filter(pk=contact.pk)).values_list(
        "exclusion_reason", flat=True
    )[0]
    recent = contact_wrote_recently(contact=contact, now=now)
    if reason != ELIGIBLE and not (reason == UntextableReason.NO_CONSENT and recent):
        detail = ", ".join(
            sorted(set(Suppression.objects.filter(phone_number=contact.phone_number).values_list("reason", flat=True)))
        )
        message = REFUSALS[reason].format(
            number=contact.phone_number, detail=detail, hours=settings.INBOX_REPLY_WINDOW_SECONDS // 3600
        )
        return ReplyCheck(refusal=message, refusal_code=reason, wrote_recently=recent)
    quiet = ""
    if not recent:
        verdict = quiet_hours_verdict(
            now=now, timezone_name=contact.timezone, e164=str(contact.phone_number), country=contact.country
        )
        if not verdict.is_open:
            opens = (
                f"; the next window opens at {verdict.next_window:%Y-%m-%d %H:%M} UTC" if verdict.next_window else ""
            )
            quiet = (
                f"It is quiet hours for {contact.phone_number} ({', '.join(verdict.zones)}) and they have not "
                f"written in the last {settings.INBOX_REPLY_WINDOW_SECONDS // 3600} hours{opens}. "
                "Confirm to send it now anyway."
            )
    return ReplyCheck(quiet_hours=quiet, wrote_recently=recent)


def reply_sender(*, contact: Contact) -> str:
    """Where a reply comes from: the number the contact last texted, else the sender of the last campaign they
    received (of its A/B variant they got, when that has a sender of its own), else PLIVO_SENDER; so the
    conversation stays on one number on their phone."""
    texted = (
        InboundMessage.objects.filter(contact=contact)
        .exclude(to_number="")
        .order_by("-received_at")
        .values_list("to_number", flat=True)
        .first()
    )
    if texted:
        return texted
    send = (
        CampaignSend.objects.filter(contact=contact)
        .select_related("campaign", "variant")
        .order_by("-queued_at")
        .first()
    )
    if send is None:
        return settings.PLIVO_SENDER
    if send.variant is not None and send.variant.sender:
        return send.variant.sender
    return send.campaign.effective_sender


def conversation_cost(*, contact: Contact):
    """What the replies to this contact cost (delivery reports' amounts)."""
    return Reply.objects.filter(contact=contact).aggregate(total=Sum("cost"))["total"]


def replies_cost(*, since: datetime | None = None) -> Decimal:
    """What replies (staff and automatic) cost, from their delivery reports."""
    replies = Reply.objects.all() if since is None else Reply.objects.filter(created_at__gte=since)
    return replies.aggregate(total=Sum("cost"))["total"] or Decimal("0")
