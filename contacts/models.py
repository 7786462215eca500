from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField


@cache
def _timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone_name(name: str) -> bool:
    """Whether `name` is an IANA time zone: a contact's quiet hours are computed in it, so an unknown
    name would make them silently wrong. The one check used by the services, the admin and the importer."""
    return name in _timezone_names()


class ContactList(models.Model):
    """A named audience that campaigns target; a contact may be on many lists."""

    class OptInMode(models.TextChoices):
        DOUBLE = "double", "Double opt-in: the person confirms by replying Y"
        SINGLE = "single", "Single opt-in: a keyword subscribes at once"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # How people join the list by themselves (contacts.services.subscriptions): keywords, the sign-up page.
    slug = models.SlugField(
        max_length=60, unique=True, null=True, blank=True, help_text="The sign-up page's address: /join/<slug>/"
    )
    opt_in_mode = models.CharField(
        max_length=8,
        choices=OptInMode.choices,
        default=OptInMode.DOUBLE,
        help_text="For keywords; the sign-up page and the API always ask for a confirming reply",
    )
    program_name = models.CharField(max_length=80, blank=True, help_text="Named in the confirmation text")
    DEFAULT_FREQUENCY = "Msg frequency varies"
    message_frequency = models.CharField(max_length=80, default=DEFAULT_FREQUENCY, help_text="e.g. Up to 4 msgs/month")
    disclosure_text = models.TextField(blank=True, help_text="What the sign-up page asks the person to agree to")
    disclosure_version = models.PositiveIntegerField(default=1, help_text="Goes up each time the disclosure changes")
    welcome_message = models.TextField(blank=True, help_text="Sent once the person is subscribed; blank for none")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UntextableReason(models.TextChoices):
    """Why a contact may not be texted (contacts.selectors.contacts_with_exclusion_reason gives the first
    that applies). campaigns.models.ExclusionReason takes these values and adds those of a campaign."""

    OPTED_OUT = "opted_out", "Opted out"
    SUPPRESSED = "suppressed", "Suppressed"
    PENDING = "pending_confirmation", "Awaiting opt-in confirmation"
    NO_CONSENT = "no_consent", "No consent recorded"
    INVALID_NUMBER = "invalid_number", "Invalid number"
    # A carrier lookup found a line that cannot take SMS (a landline, by default: NUMBER_LOOKUP_EXCLUDED_LINE_TYPES).
    LINE_TYPE = "line_type", "Line cannot receive SMS"


class LineType(models.TextChoices):
    """What a carrier lookup says a number is (Plivo's carrier.type)."""

    MOBILE = "mobile", "Mobile"
    FIXED = "fixed", "Landline"
    VOIP = "voip", "VoIP"
    TOLL_FREE = "toll-free", "Toll-free"
    UNKNOWN = "unknown", "Unknown"


class Contact(models.Model):
    """A person we may text, with the evidence of their consent and of any opt-out."""

    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        # Asked to join (a keyword, the sign-up page, the API) and not yet confirmed: never texted a campaign.
        PENDING = "pending", "Pending confirmation"

    phone_number = PhoneNumberField(unique=True, help_text="E.164, e.g. +14155550123")
    country = models.CharField(max_length=2, blank=True, help_text="ISO region of the number, e.g. US")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA name the person or an import gave. Blank: quiet hours hold in every zone the number may be in",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNSUBSCRIBED)
    consented_at = models.DateTimeField(null=True, blank=True)
    consent_source = models.CharField(max_length=255, blank=True, help_text="Where consent was given")
    consent_text = models.TextField(blank=True, help_text="The wording the person agreed to")
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_source = models.CharField(max_length=255, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Values for personalisation")
    lists = models.ManyToManyField(ContactList, through="ContactListMembership", related_name="contacts", blank=True)
    tags = models.ManyToManyField("Tag", through="ContactTag", related_name="contacts", blank=True)
    # The last carrier lookup of the number (blank until one is made); repeated only once it is older than
    # NUMBER_LOOKUP_MAX_AGE_DAYS.
    # db_default: the importer inserts rows in bulk SQL that names only the columns it fills.
    line_type = models.CharField(max_length=16, choices=LineType.choices, blank=True, db_default="")
    carrier = models.CharField(max_length=100, blank=True, db_default="")
    number_ported = models.BooleanField(null=True, blank=True, help_text="Unknown outside the US and Canada")
    lookup_country = models.CharField(max_length=2, blank=True, db_default="", help_text="ISO region the lookup gave")
    looked_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status"], name="contact_status_idx"),
            models.Index(fields=["country"], name="contact_country_idx"),
            models.Index(fields=["consent_source"], name="contact_consent_source_idx"),
        ]
        constraints = [
            # Consent law: nobody is subscribed without recorded consent.
            models.CheckConstraint(
                condition=~Q(status="subscribed") | Q(consented_at__isnull=False),
                name="contact_subscribed_requires_consent",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.phone_number})" if name else str(self.phone_number)


class ContactListMembership(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="memberships")
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="unique_list_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.contact_list}"


class Tag(models.Model):
    """A label staff put on contacts (vip, walk-in, 2026-fair) to find them again; names are unique ignoring case."""

    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # "VIP" and "vip" are one tag: an import column and a staff member typing it must land on one row.
            models.UniqueConstraint(Lower("name"), name="unique_tag_name_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    """A tag on a contact. The unique index leads with the tag: "who has tag T" is a range scan of it that
    returns contact ids without touching the contacts table; the second index serves "tags of contact C"."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="contact_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_tags")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tag", "contact"], name="unique_contact_tag"),
        ]
        indexes = [models.Index(fields=["contact"], name="contact_tag_contact_idx")]

    def __str__(self) -> str:
        return f"{self.tag} on {self.contact}"


class CustomField(models.Model):
    """A typed contact field defined by staff (score: number, birthday: date, ...).

    Its `key` is an attribute name: the value lives in the contact's `attributes` under that key, in a
    canonical text form (so `{{ score }}` personalises a message as before), and the same value is kept,
    typed, in ContactFieldValue, which is what segments filter on. Every write path (API, admin, import)
    validates attributes against the fields through contacts.custom_fields and writes both in one transaction.
    """

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        YES_NO = "yes_no", "Yes/no"
        CHOICE = "choice", "Choice"

    key = models.CharField(
        max_length=100,
        unique=True,
        help_text="The attribute name and message placeholder, e.g. score for {{ score }}",
    )
    label = models.CharField(max_length=200, help_text="What staff see, e.g. Loyalty score")
    type = models.CharField(max_length=8, choices=Type.choices)
    choices = models.JSONField(default=list, blank=True, help_text="The allowed values of a choice field")
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class ContactFieldValue(models.Model):
    """A contact's value of one custom field, typed: exactly one value_* column is set, the one of the field's type.

    Why a typed value table rather than expression indexes on `attributes`: a condition such as "score
    between 10 and 20" becomes `field_id = %s AND value_number BETWEEN 10 AND 20`, answered by a range scan
    of one composite index (field, value, contact) that yields contact ids alone (an index-only scan on
    PostgreSQL), whatever the number of fields. Expression indexes on JSON keys would need DDL per field
    created by staff (CREATE INDEX over a million rows at run time), and casts in every query that must
    match the index expression exactly. Each index is partial (its value column not null), so it only holds
    the rows of its type. The unique (contact, field) pair is the upsert target and serves a contact's values.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="field_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    # NULL, not "", marks "not this type": the partial index of each column holds only the rows of its type.
    value_text = models.CharField(max_length=255, null=True, blank=True, help_text="Text and choice fields")  # noqa: DJ001
    value_number = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    value_bool = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "field"], name="unique_contact_field_value"),
        ]
        indexes = [
            models.Index(
                fields=["field", "value_number", "contact"],
                name="field_value_number_idx",
                condition=Q(value_number__isnull=False),
            ),
            models.Index(
                fields=["field", "value_date", "contact"],
                name="field_value_date_idx",
                condition=Q(value_date__isnull=False),
            ),
            models.Index(
                fields=["field", "value_text", "contact"],
                name="field_value_text_idx",
                condition=Q(value_text__isnull=False),
            ),
            models.Index(
                fields=["field", "value_bool", "contact"],
                name="field_value_bool_idx",
                condition=Q(value_bool__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field.key} of {self.contact_id}"

    @property
    def value(self):
        for column in ("value_text", "value_number", "value_date", "value_bool"):
            if getattr(self, column) is not None:
                return getattr(self, column)
        return None


class Suppression(models.Model):
    """A number that must never be texted, whether or not a contact exists for it."""

    class Reason(models.TextChoices):
        OPT_OUT = "opt-out", "Opted out"
        DO_NOT_CALL = "do-not-call", "Do-not-call list"
        MANUAL = "manual", "Manual"

    class Origin(models.TextChoices):
        # Who asked for the suppression decides who may lift it: the person's own opt-out is lifted only by
        # the person (a START-family keyword); staff lift what staff put in place.
        PERSON = "person", "The person (a keyword, a reply, their carrier)"
        STAFF = "staff", "Staff"

    phone_number = PhoneNumberField()
    # The contact with this number, if there is one (no column: the numbers are the link). It lets a whole
    # audience be matched against the suppressions by one join instead of an index probe per contact.
    contact = models.ForeignObject(
        "Contact",
        on_delete=models.DO_NOTHING,
        from_fields=["phone_number"],
        to_fields=["phone_number"],
        related_name="suppressions",
        null=True,
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    origin = models.CharField(
        max_length=8,
        choices=Origin.choices,
        default=Origin.PERSON,
        help_text="Who opted the number out: only the person lifts their own opt-out",
    )
    source = models.CharField(max_length=255, blank=True, help_text="e.g. inbound STOP, dnc-2026-11.csv")
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["phone_number"], name="suppression_phone_idx")]
        constraints = [
            # One row per reason: lifting an opt-out (START) must leave a do-not-call entry in place.
            models.UniqueConstraint(fields=["phone_number", "reason"], name="unique_suppression_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} ({self.get_reason_display()})"


class ContactImport(models.Model):
    """One run of a contact import: its options, who asked, and how far it got (committed with each batch)."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for its columns to be mapped"
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    file = models.FileField(upload_to="contact-imports/%Y/%m/", blank=True, help_text="The uploaded CSV")
    source_name = models.CharField(max_length=255, help_text="The file name as given")
    list_name = models.CharField(max_length=200, blank=True, help_text="List the contacts are added to")
    default_region = models.CharField(max_length=2, help_text="Region assumed for numbers without a country code")
    consent_source = models.CharField(max_length=255, blank=True, help_text="Consent evidence; blank: unsubscribed")
    update_existing = models.BooleanField(default=False, help_text="Overwrite names and attributes")
    dry_run = models.BooleanField(default=False, help_text="Check the file and count, write no contact")
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="Column header -> phone, first_name, last_name, name, timezone, field:<key>, tags or ignore",
    )
    encoding = models.CharField(max_length=32, blank=True, help_text="The text encoding the file was read in")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0, help_text="Every row up to this line is committed")
    rows_read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, help_text="Why the import stopped, when it did")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text="When the last batch was committed")
    finished_at = models.DateTimeField(null=True, blank=True)

    COUNTERS = ("rows_read", "created", "updated", "unchanged", "duplicates", "rejected", "suppressed")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} of {self.source_name}"

    @property
    def percent_done(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        return min(99, int(100 * self.bytes_done / self.bytes_total)) if self.bytes_total else 0


class ContactImportError(models.Model):
    """A row that was not imported, and why: the error report, written with the batch it belongs to."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.TextField(blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["contact_import", "line", "id"]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ConsentEvent(models.Model):
    """One consent or opt-out event as it happened, with its evidence; appended, never changed or replaced."""

    class Kind(models.TextChoices):
        CONSENT_GIVEN = "consent_given", "Consent given"
        OPTED_OUT = "opted_out", "Opted out"
        OPTED_IN = "opted_in", "Opted back in by the person"
        OPT_OUT_LIFTED = "opt_out_lifted", "Opt-out lifted by staff"
        OPT_IN_REQUESTED = "opt_in_requested", "Asked to join (awaiting confirmation)"
        REQUEST_ENDED = "request_ended", "Request to join ended unconfirmed"

    class Method(models.TextChoices):
        INBOUND_KEYWORD = "inbound_keyword", "Texted a keyword"
        INBOUND_PHRASE = "inbound_phrase", "Texted an informal opt-out"
        PLIVO_INTENT = "plivo_intent", "Text Plivo read as an opt-out"
        CARRIER_ERROR = "carrier_error", "Carrier reported an opt-out"
        IMPORT = "import", "Import"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        QUICK_SEND = "quick_send", "Quick send"
        SIGNUP_FORM = "signup_form", "Sign-up page"
        BACKFILL = "backfill", "Recorded before the consent history existed"

    # The ways a person opts out by themself; an opt-out made so is theirs to lift.
    PERSON_METHODS = frozenset(
        {Method.INBOUND_KEYWORD, Method.INBOUND_PHRASE, Method.PLIVO_INTENT, Method.CARRIER_ERROR}
    )

    # No index of its own: consent_event_contact_idx starts with it and serves every lookup by contact, and a
    # second one cost each imported or opted-in contact one more index entry.
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_events", db_index=False
    )
    phone_number = models.CharField(max_length=32, help_text="E.164; kept when the contact is deleted")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    method = models.CharField(max_length=16, choices=Method.choices)
    source = models.CharField(max_length=255, blank=True, help_text="e.g. checkout form, inbound text to +1...")
    text = models.TextField(blank=True, help_text="The exact words received, or the consent wording shown")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    backfilled = models.BooleanField(default=False, help_text="Rebuilt from a contact's fields, not seen happen")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phone_number", "-created_at"], name="consent_event_phone_idx"),
            models.Index(fields=["contact", "-created_at"], name="consent_event_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number}: {self.get_kind_display()} ({self.get_method_display()})"

    @property
    def by_person(self) -> bool:
        return self.method in self.PERSON_METHODS


class Segment(models.Model):
    """A saved rule set over contacts (contacts.segment_rules): who matches is decided in the database each
    time it is asked (a count, a preview, a campaign going out), never stored."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict, help_text="Groups of conditions; see contacts.segment_rules")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ListKeyword(models.Model):
    """A word that, texted alone to our numbers, asks to join a list (stored upper case, letters and digits)."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="keywords")
    keyword = models.CharField(max_length=20, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["keyword"]

    def __str__(self) -> str:
        return self.keyword


class SubscriptionRequest(models.Model):
    """One request to join a list and its evidence: how it was asked (keyword, sign-up page, API), the
    confirmation text sent, the reply that confirmed it, or why it ended. Written by
    contacts.services.subscriptions only; kept when the contact is deleted."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        EXPIRED = "expired", "Expired unconfirmed"
        CANCELLED = "cancelled", "Ended by an opt-out"

    class Source(models.TextChoices):
        KEYWORD = "keyword", "Texted a keyword"
        FORM = "form", "Sign-up page"
        API = "api", "API"

    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscription_requests"
    )
    # Evidence outlives the list: a deleted list leaves its requests (ended first, if pending) without one.
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscription_requests"
    )
    phone_number = models.CharField(max_length=32, help_text="E.164; kept when the contact or list is deleted")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=8, choices=Source.choices)
    double_opt_in = models.BooleanField(default=True)
    source_detail = models.CharField(
        max_length=255, blank=True, help_text="The keyword and our number, the page, or the integration"
    )
    request_text = models.TextField(blank=True, help_text="The words texted, or the disclosure the page showed")
    disclosure_version = models.PositiveIntegerField(null=True, blank=True)
    page_url = models.CharField(max_length=1000, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    our_number = models.CharField(max_length=32, blank=True, help_text="The number the person texted or is texted from")
    confirmation_text = models.TextField(blank=True)
    confirmation_claimed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmation_message_uuid = models.CharField(max_length=64, blank=True)
    confirmation_error = models.CharField(max_length=255, blank=True)
    reply_text = models.TextField(blank=True)
    reply_received_at = models.DateTimeField(null=True, blank=True)
    reply_message_uuid = models.CharField(max_length=64, blank=True)
    welcome_text = models.TextField(blank=True)
    welcome_claimed_at = models.DateTimeField(null=True, blank=True)
    welcome_sent_at = models.DateTimeField(null=True, blank=True)
    welcome_message_uuid = models.CharField(max_length=64, blank=True)
    welcome_segments = models.PositiveSmallIntegerField(default=0)
    welcome_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phone_number", "status"], name="subscription_phone_status_idx"),
            models.Index(fields=["status", "expires_at"], name="subscription_expiry_idx"),
        ]
        constraints = [
            # What makes a request idempotent: one pending request per number and list.
            models.UniqueConstraint(
                fields=["phone_number", "contact_list"],
                condition=Q(status="pending"),
                name="unique_pending_subscription",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} to {self.contact_list} ({self.get_status_display()})"
