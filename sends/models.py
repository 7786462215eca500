from django.conf import settings
from django.db import models
from django.utils import timezone

from campaigns.models import Campaign, CampaignVariant, ExclusionReason, SenderPool
from contacts.models import Contact


class CampaignSend(models.Model):
    """One recipient of one campaign: the unit of work of the send engine.

    Status only moves forward: queued -> sending -> sent -> delivered | undelivered | failed; skipped is
    never sent (with the reason); unknown means the process died between the API call and the commit and
    the provider could not be asked; held waits for an A/B test's winner, then becomes queued with it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        UNKNOWN = "unknown", "Unknown"
        HELD = "held", "Held for the A/B winner"

    # The order statuses move in: a status only ever moves to a later one. Skipped is not listed: it never moves.
    STATUS_ORDER: dict[str, int] = {
        Status.HELD: 0,
        Status.QUEUED: 0,
        Status.SENDING: 0,
        Status.UNKNOWN: 0,
        Status.SENT: 1,
        Status.DELIVERED: 2,
        Status.UNDELIVERED: 2,
        Status.FAILED: 2,
    }

    # Neither key has an index of its own: send_campaign_status_idx and unique_send_per_contact start with the
    # campaign, send_contact_idx with the contact, and serve every lookup by either. A send gets a new entry
    # in every index at its creation and at each status change; two more cost fan-out, dispatch and the
    # delivery-report drain on every send.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends", db_index=False)
    # SET_NULL: erasing a person must not erase the record that they were texted (to_number stays).
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="sends", db_index=False
    )
    to_number = models.CharField(max_length=32, help_text="Destination as sent, E.164")
    body = models.TextField(blank=True, help_text="The rendered text")
    # The A/B variant this recipient got (NULL without an A/B test, and while held for the winner).
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Held, then sent the winner: the test's results are its share's alone, which these would dilute. A
    # default in the database too, for the set-based INSERTs that name their columns.
    ab_rest = models.BooleanField(
        default=False, db_default=False, help_text="Of the rest of an A/B test's audience, sent the winner"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=32, choices=ExclusionReason.choices, blank=True)
    # NULL until Plivo answers, so that the index stays small and never holds a million empty strings.
    provider_message_uuid = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    segments = models.PositiveSmallIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    status_updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="unique_send_per_contact"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="send_campaign_status_idx"),
            # The sends admin filtered by campaign and error code, in id order. Partial: most sends never
            # have an error code, so the index holds only the few that do.
            models.Index(
                fields=["campaign", "error_code", "id"],
                name="send_campaign_error_idx",
                condition=~models.Q(error_code=""),
            ),
            models.Index(fields=["provider_message_uuid"], name="send_message_uuid_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="send_due_idx"),
            models.Index(fields=["to_number"], name="send_to_number_idx"),
            models.Index(fields=["contact", "-queued_at"], name="send_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} -> {self.to_number} ({self.status})"

    @classmethod
    def status_moves_forward(cls, old_status: str, new_status: str) -> bool:
        """Whether a send at `old_status` may move to `new_status` (a late or repeated report may not)."""
        return old_status in cls.STATUS_ORDER and cls.STATUS_ORDER[new_status] > cls.STATUS_ORDER[old_status]


class DeliveryReport(models.Model):
    """A status callback from Plivo, kept raw for audit, whether or not it matched a send.

    The webhook only stores it (pending); the drainer (sends.services.delivery_reports.delivery_reports_drain)
    applies pending reports to their sends and the campaign counters in batches, and clears the flag in the
    same transaction, so that each report is applied once.
    """

    message_uuid = models.CharField(max_length=64)
    send = models.ForeignKey(
        CampaignSend, null=True, blank=True, on_delete=models.SET_NULL, related_name="delivery_reports"
    )
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=16, blank=True)
    units = models.PositiveSmallIntegerField(null=True, blank=True)
    total_amount = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    # Rows stored before the drainer existed were applied as they arrived: false for them.
    pending = models.BooleanField(default=False, help_text="Stored, not yet applied to its send and counters")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Plivo retries callbacks: one row per (message, status) makes the handler idempotent.
            models.UniqueConstraint(fields=["message_uuid", "status"], name="unique_report_per_status"),
        ]
        # No index of message_uuid alone: the unique constraint's index, which starts with it, serves every
        # lookup by it, and a second one cost every stored and every applied report one more index entry.
        indexes = [
            # The drainer's queue: only the few rows not yet applied, in arrival order.
            models.Index(fields=["id"], condition=models.Q(pending=True), name="report_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_uuid}: {self.status}"


class InboundMessage(models.Model):
    """A text a person sent to one of our numbers, and what we did about it."""

    class Action(models.TextChoices):
        OPT_OUT = "opt-out", "Opt-out"
        OPT_IN = "opt-in", "Opt-in"
        HELP = "help", "Help"
        JOIN = "join", "Asked to join a list (keyword)"
        CONFIRM = "opt-in-confirm", "Confirmed a request to join"
        NONE = "none", "None"

    # NULL when Plivo gave none; unique otherwise, which makes a retried inbound webhook a no-op.
    message_uuid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    text = models.TextField(blank=True)
    intent = models.CharField(max_length=32, blank=True, help_text="Plivo's MessageIntent")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.NONE)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["from_number", "-received_at"], name="inbound_from_idx")]

    def __str__(self) -> str:
        return f"{self.from_number}: {self.text[:40]}"


class StaffPhone(models.Model):
    """Where a staff member receives test sends ("Send test to my phone"): the number they last used."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_phone")
    phone_number = models.CharField(max_length=32, help_text="E.164")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.phone_number}"


class WebhookNonce(models.Model):
    """A signature nonce of an accepted Plivo webhook, with a fingerprint of the request it came on.

    The same nonce on the same request again is Plivo retrying; on a different request it is a captured
    signature replayed. A V2 signature covers only the URL and the nonce and never expires, so V2 nonces are
    kept for as long as V2-only requests are accepted; the rest are pruned after the acceptance window.
    """

    class Version(models.TextChoices):
        V2 = "v2", "V2 / Ma-V2"
        V3 = "v3", "V3 / Ma-V3"

    # Digests cut to 128 bits and kept in uuid columns: 16 bytes a value, fixed whatever a header carries,
    # and no second (pattern) index as PostgreSQL gets for a text key; one row per callback adds up.
    nonce_digest = models.UUIDField(primary_key=True, help_text="SHA-256 of the version and the nonce")
    version = models.CharField(max_length=2, choices=Version.choices)
    fingerprint = models.UUIDField(help_text="SHA-256 of the request's method, URL and fields")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["version", "seen_at"], name="webhook_nonce_prune_idx")]

    def __str__(self) -> str:
        return f"{self.version} nonce {self.nonce_digest}"


class HelpReply(models.Model):
    """When a number was last answered HELP: it is answered at most once per SMS_HELP_REPLY_INTERVAL_SECONDS."""

    phone_number = models.CharField(max_length=32, unique=True, help_text="E.164")
    replied_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.phone_number}: HELP answered {self.replied_at:%Y-%m-%d %H:%M}"


class SenderAssignment(models.Model):
    """The number of a pool a contact hears from: kept, so that every campaign on the pool texts them from
    it and their replies stay in one thread."""

    pool = models.ForeignKey(SenderPool, on_delete=models.CASCADE, related_name="assignments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="sender_assignments")
    number = models.CharField(max_length=32)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "contact"], name="unique_sender_per_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} <- {self.number} ({self.pool_id})"


class LookupRun(models.Model):
    """A bulk carrier lookup staff started (of a list, a segment), run by a Celery task with its progress."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped"

    scope = models.CharField(max_length=32, help_text="What was looked up: list, segment")
    scope_id = models.PositiveIntegerField()
    scope_label = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0, help_text="Contacts due for a lookup when it started")
    looked_up = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "number lookup"

    def __str__(self) -> str:
        return f"Lookup of {self.scope_label}"

    @property
    def done(self) -> int:
        return self.looked_up + self.failed

    @property
    def percent_done(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)
