import secrets
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import models

from contacts.models import ContactList, Segment, UntextableReason


class ExclusionReason(models.TextChoices):
    """Why a contact of a campaign's audience gets no message: left out by the audience rules (the preview
    counts them, the fan-out skips them), or skipped later, at fan-out or right before the send. Stored as
    CampaignSend.skip_reason and as the keys of Campaign.skipped_by_reason."""

    # Who may be texted at all is the contacts app's rule: its reasons are these five.
    OPTED_OUT = UntextableReason.OPTED_OUT.value, UntextableReason.OPTED_OUT.label
    SUPPRESSED = UntextableReason.SUPPRESSED.value, UntextableReason.SUPPRESSED.label
    PENDING = UntextableReason.PENDING.value, UntextableReason.PENDING.label
    NO_CONSENT = UntextableReason.NO_CONSENT.value, UntextableReason.NO_CONSENT.label
    INVALID_NUMBER = UntextableReason.INVALID_NUMBER.value, UntextableReason.INVALID_NUMBER.label
    LINE_TYPE = UntextableReason.LINE_TYPE.value, UntextableReason.LINE_TYPE.label
    DUPLICATE_NUMBER = "duplicate_number", "Duplicate number"
    CANCELLED = "cancelled", "Campaign cancelled"
    # No zone given, and the zones the number may be in never share a moment inside quiet hours' window.
    NO_COMMON_QUIET_WINDOW = "no_common_quiet_window", "No common quiet-hours window (zone unknown)"
    # The recipient's own text would be longer than Plivo accepts or SMS_MAX_SEGMENTS allows (their values
    # made it so). Decided when the text is rendered, by dispatch and the preview, not by the audience rules.
    MESSAGE_TOO_LONG = "message_too_long", "Message too long"
    # Decided when the send is claimed, across every campaign sending at that moment (sends' caps): the
    # contact already had FrequencyCap's number of marketing messages in its rolling window, or was texted
    # within the campaign's skip_recent_hours.
    FREQUENCY_CAP = "frequency_cap", "Frequency cap reached"
    RECENTLY_TEXTED = "recently_texted", "Texted recently"


# The reasons the audience rules give (contacts.selectors.contacts_with_exclusion_reason), in the order they
# apply; the others arise at fan-out or right before a send.
ExclusionReason.ALL = (
    ExclusionReason.INVALID_NUMBER,
    ExclusionReason.OPTED_OUT,
    ExclusionReason.SUPPRESSED,
    ExclusionReason.PENDING,
    ExclusionReason.NO_CONSENT,
    ExclusionReason.LINE_TYPE,
)


class CampaignMove(NamedTuple):
    from_statuses: frozenset[str]
    to_status: str


class SenderPool(models.Model):
    """Where a campaign's messages come from when one number is not enough: a pool of the account's numbers
    managed here (sticky per contact, local area code first, a rate per number) or a Plivo Powerpack (Plivo
    picks the number; sent with `powerpack_uuid` instead of `src`)."""

    class Kind(models.TextChoices):
        NUMBERS = "numbers", "Numbers managed here"
        POWERPACK = "powerpack", "Plivo Powerpack"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NUMBERS)
    powerpack_uuid = models.CharField(max_length=64, blank=True, help_text="The Powerpack's UUID (Powerpack only)")
    rate_per_number = models.PositiveIntegerField(
        default=1, help_text="Segments per second each number may send (unless the number sets its own)"
    )
    sticky_sender = models.BooleanField(
        default=True, help_text="A contact always hears from the same number of the pool, across campaigns"
    )
    local_match = models.BooleanField(
        default=True, help_text="Prefer a number with the recipient's area code when the pool has one"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def number_rates(self) -> dict[str, int]:
        """Each number of the pool and its rate in segments per second."""
        return {n.number: n.rate or self.rate_per_number for n in self.numbers.all()}

    @property
    def total_rate(self) -> int:
        """The pool's rate: the sum of its numbers' rates."""
        return sum(self.number_rates().values())


class PoolNumber(models.Model):
    pool = models.ForeignKey(SenderPool, on_delete=models.CASCADE, related_name="numbers")
    number = models.CharField(max_length=32, help_text="E.164, one of the account's numbers")
    rate = models.PositiveIntegerField(
        null=True, blank=True, help_text="Segments per second; blank uses the pool's rate per number"
    )

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["pool", "number"], name="unique_number_per_pool")]

    def __str__(self) -> str:
        return self.number


class Campaign(models.Model):
    """One message to an audience. Its status changes only through campaigns.services."""

    class ScheduleMode(models.TextChoices):
        INSTANT = "instant", "At one instant for everyone"
        LOCAL_TIME = "local_time", "At a wall-clock time in each recipient's zone"

    class LocalTimePassed(models.TextChoices):
        NEXT_DAY = "next_day", "The next day at that time"
        IMMEDIATELY = "immediately", "Right away"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    # Every move a campaign's status can make: its name (the service, the admin button), the statuses it
    # starts from and the one it ends in. The only place these are written; terminal statuses move nowhere.
    MOVES: dict[str, CampaignMove] = {
        "schedule": CampaignMove(frozenset({Status.DRAFT}), Status.SCHEDULED),
        "send_now": CampaignMove(frozenset({Status.DRAFT}), Status.SCHEDULED),
        "unschedule": CampaignMove(frozenset({Status.SCHEDULED}), Status.DRAFT),
        "launch": CampaignMove(frozenset({Status.SCHEDULED}), Status.SENDING),
        "pause": CampaignMove(frozenset({Status.SENDING}), Status.PAUSED),
        "resume": CampaignMove(frozenset({Status.PAUSED}), Status.SENDING),
        "complete": CampaignMove(frozenset({Status.SENDING}), Status.COMPLETED),
        "cancel": CampaignMove(
            frozenset({Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED}), Status.CANCELLED
        ),
    }
    EDITABLE_STATUSES = frozenset({Status.DRAFT})
    # A test send is for before launch: once it is sending, the real messages are the test.
    TEST_SEND_STATUSES = frozenset({Status.DRAFT, Status.SCHEDULED})
    # The permission that sending, scheduling, resuming and test sends need, wherever they are asked for.
    SEND_PERMISSION = "campaigns.send_campaign"

    name = models.CharField(max_length=200)
    body = models.TextField(help_text="Template: {{ first_name }}, {{ last_name }}, contact attributes")
    sender = models.CharField(
        max_length=32, blank=True, help_text="E.164 number or alphanumeric id; blank uses PLIVO_SENDER"
    )
    sender_pool = models.ForeignKey(
        SenderPool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="Send from a pool of numbers or a Powerpack instead of one sender",
    )
    # The audience: whoever is on any of the lists or matches any of the segments when the campaign goes,
    # minus whoever is on an excluded list or matches an excluded segment (contacts_in_audience).
    lists = models.ManyToManyField(ContactList, related_name="campaigns", blank=True)
    segments = models.ManyToManyField(Segment, related_name="campaigns", blank=True)
    excluded_lists = models.ManyToManyField(ContactList, related_name="excluding_campaigns", blank=True)
    excluded_segments = models.ManyToManyField(Segment, related_name="excluding_campaigns", blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(blank=True, help_text="Why it was paused or cancelled, for staff")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    max_per_second = models.PositiveIntegerField(
        null=True, blank=True, help_text="Segments per second; blank uses SEND_RATE_PER_SECOND"
    )
    track_links = models.BooleanField(
        default=True,
        help_text="Each link in the text becomes a short link per recipient, to count who clicks (when the text "
        "holds a link)",
    )
    utm_source = models.CharField(
        "UTM source", max_length=100, blank=True, help_text="utm_source added to each tracked link's destination"
    )
    utm_medium = models.CharField(
        "UTM medium", max_length=100, blank=True, help_text="utm_medium added to each tracked link's destination"
    )
    utm_campaign = models.CharField(
        "UTM campaign", max_length=100, blank=True, help_text="utm_campaign added to each tracked link's destination"
    )
    # Sending at each recipient's local time: every recipient's share goes when their own clock reaches
    # local_send_time (the zones quiet hours use), counted from the launch; those whose time has already
    # passed that day at the launch go as local_time_passed says.
    schedule_mode = models.CharField(max_length=16, choices=ScheduleMode.choices, default=ScheduleMode.INSTANT)
    local_send_time = models.TimeField(
        null=True, blank=True, help_text="With local-time mode: the recipients' wall-clock time, e.g. 10:00"
    )
    local_time_passed = models.CharField(
        max_length=16,
        choices=LocalTimePassed.choices,
        default=LocalTimePassed.NEXT_DAY,
        help_text="With local-time mode: recipients whose time has already passed that day at the launch",
    )
    # Frequency caps: a marketing campaign skips anyone over the global cap (FrequencyCap) and, when set,
    # anyone texted in the last skip_recent_hours. A transactional one (an order code, a staff test) does
    # neither, and its sends do not count towards anyone's cap.
    skip_recent_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Skip anyone texted in the last this many hours (blank: no such rule)"
    )
    transactional = models.BooleanField(
        default=False, help_text="Not marketing: bypasses the frequency caps and is not counted in them"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Counters kept current by the send engine, so that progress pages never count a million rows.
    recipients_count = models.PositiveIntegerField(default=0)
    queued_count = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    delivered_count = models.PositiveIntegerField(default=0)
    undelivered_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    unknown_count = models.PositiveIntegerField(default=0)
    opt_out_count = models.PositiveIntegerField(default=0)
    skipped_by_reason = models.JSONField(default=dict, blank=True)
    # Sends now failed or undelivered, by error code ("" when the failure came without one): the campaign
    # page names its failures without grouping a million sends.
    failed_by_error_code = models.JSONField(default=dict, blank=True)
    segments_count = models.PositiveIntegerField(default=0)
    # Recipients who clicked one of its short links (people, not link previews or scanners), kept by links.
    clicked_count = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=5, default=Decimal("0"))

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("send_campaign", "Can send, schedule or resume a campaign")]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="campaign_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE_STATUSES

    @property
    def may_test_send(self) -> bool:
        return self.status in self.TEST_SEND_STATUSES

    @property
    def effective_sender(self) -> str:
        return self.sender or settings.PLIVO_SENDER

    @property
    def effective_max_per_second(self) -> int:
        return self.max_per_second or settings.SEND_RATE_PER_SECOND

    @property
    def sends_at_local_time(self) -> bool:
        return self.schedule_mode == self.ScheduleMode.LOCAL_TIME and self.local_send_time is not None


class FrequencyCap(models.Model):
    """The global frequency cap, one row (pk 1): no contact gets more than `max_messages` marketing messages
    in a rolling `window_days`. A blank field falls back to FREQUENCY_CAP_MAX_MESSAGES /
    FREQUENCY_CAP_WINDOW_DAYS; 0 messages means no cap. Changed only through campaigns.services.caps."""

    SINGLETON_ID = 1

    max_messages = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="At most this many marketing messages per contact (0: no cap; blank: the "
        "FREQUENCY_CAP_MAX_MESSAGES setting)",
    )
    window_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="In any rolling window of this many days (blank: FREQUENCY_CAP_WINDOW_DAYS)"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "frequency cap"
        verbose_name_plural = "frequency cap"

    def __str__(self) -> str:
        return "Frequency cap"


class QuickSendRequest(models.Model):
    """A quick send made with an Idempotency-Key. The same key from the same user answers this one again,
    instead of launching a second campaign: an integration that retries after a timeout texts nobody twice."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    # The request's numbers, text and consent, hashed: a key reused for another request is refused.
    fingerprint = models.CharField(max_length=64)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    recipients = models.JSONField(help_text="What became of each number, as first answered")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["created_by", "idempotency_key"], name="unique_quick_send_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} -> campaign #{self.campaign_id}"


def _ab_seed() -> int:
    return secrets.randbits(31)


class ABTest(models.Model):
    """A campaign's A/B test: 2 to 5 variants (CampaignVariant), a test share split evenly and at random
    between them, then the rest of the audience sent the winner. Without a test share the whole audience
    is split (a plain split test) and nobody waits for a winner."""

    class Metric(models.TextChoices):
        CLICK_RATE = "click_rate", "Unique click rate"
        REPLY_RATE = "reply_rate", "Reply rate"
        OPT_OUT_RATE = "opt_out_rate", "Opt-out rate (lower is better)"
        DELIVERY_RATE = "delivery_rate", "Delivery rate"

    class Fallback(models.TextChoices):
        VARIANT_A = "variant_a", "Variant A"
        BEST_ESTIMATE = "best_estimate", "The best point estimate"

    class DecidedBy(models.TextChoices):
        STATISTICS = "statistics", "Significant at the confidence"
        FALLBACK = "fallback", "Not significant: the fallback"
        STAFF = "staff", "Picked by staff"

    MIN_VARIANTS, MAX_VARIANTS = 2, 5
    LOWER_IS_BETTER = frozenset({Metric.OPT_OUT_RATE})

    campaign = models.OneToOneField("Campaign", on_delete=models.CASCADE, related_name="ab_test")
    test_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Share of the audience in the test (1-99); blank splits everyone"
    )
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.DELIVERY_RATE)
    wait_minutes = models.PositiveIntegerField(default=120, help_text="After the test share was sent")
    confidence_percent = models.PositiveSmallIntegerField(default=95)
    fallback = models.CharField(max_length=16, choices=Fallback.choices, default=Fallback.VARIANT_A)
    seed = models.BigIntegerField(default=_ab_seed, help_text="Makes the random split reproducible")
    test_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the last test message went out")
    winner = models.ForeignKey("CampaignVariant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=16, choices=DecidedBy.choices, blank=True)
    decision = models.JSONField(default=dict, blank=True, help_text="The statistics the decision was made on")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(test_percent__isnull=True) | models.Q(test_percent__gte=1, test_percent__lte=99),
                name="ab_test_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence_percent__gte=50, confidence_percent__lte=99),
                name="ab_test_confidence_range",
            ),
        ]

    def __str__(self) -> str:
        return f"A/B test of {self.campaign}"

    @property
    def has_test_share(self) -> bool:
        return self.test_percent is not None


class CampaignVariant(models.Model):
    """One message variant of an A/B tested campaign; sends record which one they got."""

    campaign = models.ForeignKey("Campaign", on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1, help_text="A to E")
    body = models.TextField()
    # Its own sender, for its share of the test and, if it wins, for the rest of the audience: a number or
    # alphanumeric id, or a pool (never both); neither means the campaign's sender or pool.
    sender = models.CharField(
        max_length=32, blank=True, help_text="E.164 number or alphanumeric id; blank uses the campaign's sender"
    )
    sender_pool = models.ForeignKey(
        SenderPool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="variants",
        help_text="Send this variant from a pool of numbers or a Powerpack",
    )

    class Meta:
        ordering = ["campaign", "label"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="unique_variant_label")]

    def __str__(self) -> str:
        return f"{self.campaign} variant {self.label}"

    @property
    def has_own_sender(self) -> bool:
        return bool(self.sender or self.sender_pool_id)
