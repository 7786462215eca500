from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import Contact
from sends.models import CampaignSend

LAST_TEXT_CHARACTERS = 160

HAS_UNREAD = models.Case(
    models.When(unread_count__gt=0, then=models.Value(1)), default=models.Value(0), output_field=models.IntegerField()
)
# Unread conversations first, then the latest; an index holds this order, so a page of the inbox is read from it.
INBOX_ORDER = (HAS_UNREAD.desc(), models.F("last_message_at").desc(), models.F("id").desc())


class Conversation(models.Model):
    """One contact's thread with us: read state, who handles it, whether it is done. The messages themselves
    stay where they are (campaign sends, inbound texts, replies); the timeline puts them together."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    REPLY_PERMISSION = "conversations.reply_conversation"

    # SET_NULL: erasing a person keeps the record that staff talked with them (as sends and replies are kept).
    contact = models.OneToOneField(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversation"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # Texts received since a member of staff last opened the conversation.
    unread_count = models.PositiveIntegerField(default=0)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # The start of the latest text, for the inbox list: kept here so the list reads no inbound rows.
    last_text = models.CharField(max_length=LAST_TEXT_CHARACTERS, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at"]
        permissions = [("reply_conversation", "Can reply to a contact from the inbox")]
        indexes = [
            # The navigation's unread count on every admin page reads only these few rows.
            models.Index(
                fields=["unread_count"], name="conversation_unread_idx", condition=models.Q(unread_count__gt=0)
            ),
            # The inbox's order: unread first, then the latest (conversations.selectors.INBOX_ORDER).
            models.Index(*INBOX_ORDER, name="conversation_inbox_order_idx"),
            models.Index(fields=["assigned_to", "-last_message_at"], name="conversation_assigned_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation with {self.contact.phone_number if self.contact else 'an erased contact'}"

    @property
    def unanswered(self) -> bool:
        return self.last_inbound_at is not None and (
            self.last_reply_at is None or self.last_reply_at < self.last_inbound_at
        )


class Reply(models.Model):
    """A text we sent a contact outside any campaign: a staff member's reply, or an automatic answer to
    STOP / START / HELP. Persisted before the backend is called and claimed (queued -> sending) by exactly one
    caller, so that a reply is sent at most once; delivery reports move its status forward."""

    class Kind(models.TextChoices):
        STAFF = "staff", "Staff reply"
        AUTO = "auto", "Automatic reply"

    class Status(models.TextChoices):
        # A send's statuses, in CampaignSend.STATUS_ORDER, less those of campaigns alone (skipped, held).
        QUEUED = CampaignSend.Status.QUEUED.value, CampaignSend.Status.QUEUED.label
        SENDING = CampaignSend.Status.SENDING.value, CampaignSend.Status.SENDING.label
        SENT = CampaignSend.Status.SENT.value, CampaignSend.Status.SENT.label
        DELIVERED = CampaignSend.Status.DELIVERED.value, CampaignSend.Status.DELIVERED.label
        UNDELIVERED = CampaignSend.Status.UNDELIVERED.value, CampaignSend.Status.UNDELIVERED.label
        FAILED = CampaignSend.Status.FAILED.value, CampaignSend.Status.FAILED.label
        UNKNOWN = CampaignSend.Status.UNKNOWN.value, CampaignSend.Status.UNKNOWN.label

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STAFF)
    # SET_NULL: erasing a person must not erase the record (and the cost) of what they were sent.
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversation_replies"
    )
    # What the automatic reply answered.
    in_reply_to = models.ForeignKey(
        "sends.InboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    sender = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, help_text="E.164")
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider_message_uuid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    # Sent during the contact's quiet hours because the author confirmed it.
    quiet_hours_confirmed = models.BooleanField(default=False)
    # A token the reply form carries: the same form submitted twice makes one reply.
    client_token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "replies"
        indexes = [models.Index(fields=["contact", "-created_at"], name="reply_contact_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "client_token"], name="unique_reply_per_form", condition=~models.Q(client_token="")
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_number} ({self.status})"


class ConversationNote(models.Model):
    """A note staff leave on a conversation for each other; never sent to the contact."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on {self.conversation_id}: {self.body[:40]}"
