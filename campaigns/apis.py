"""The campaigns part of the REST API: drafts, their lifecycle, and their counters. Every write goes through
campaigns.services, the same functions the admin calls.

One view class per operation with its own input and output serializers; where several operations share a
URL, a small class joins their views.
"""

import django_filters
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from campaigns.models import ABTest, Campaign, ExclusionReason, SenderPool
from campaigns.selectors import campaign_preview
from campaigns.services.ab_tests import ABSettings, VariantSender, campaign_ab_test_remove, campaign_ab_test_set
from campaigns.services.drafts import MAX_SKIP_RECENT_HOURS, campaign_create, campaign_delete, campaign_update
from campaigns.services.lifecycle import (
    campaign_cancel,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
)
from campaigns.services.quick_send import MAX_QUICK_SEND_RECIPIENTS, RecipientResult, campaign_quick_send
from contacts.models import ContactList, Segment
from smscampaigns.api import (
    ApiErrorSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictFilterSet,
    StrictIntegerField,
    StrictPrimaryKeyRelatedField,
    ids_field,
)
from smscampaigns.api_views import ApiView

CONFLICT = {409: ApiErrorSerializer}


class CampaignStatsSerializer(serializers.Serializer):
    """The campaign's counters, kept current by the send engine (each send counts in its current status)."""

    recipients = serializers.IntegerField(source="recipients_count", help_text="Sends created at fan-out")
    queued = serializers.IntegerField(source="queued_count", help_text="Waiting or being sent")
    sent = serializers.IntegerField(source="sent_count", help_text="Accepted by Plivo, no delivery report yet")
    delivered = serializers.IntegerField(source="delivered_count")
    undelivered = serializers.IntegerField(source="undelivered_count")
    failed = serializers.IntegerField(source="failed_count")
    skipped = serializers.IntegerField(source="skipped_count", help_text="Never sent; see skipped_by_reason")
    unknown = serializers.IntegerField(source="unknown_count", help_text="Outcome unknown, being reconciled")
    skipped_by_reason = serializers.DictField(child=serializers.IntegerField(), help_text='e.g. {"opted_out": 3}')
    opt_outs = serializers.IntegerField(source="opt_out_count", help_text="Recipients who replied STOP")
    segments = serializers.IntegerField(source="segments_count", help_text="SMS segments sent")
    cost = serializers.DecimalField(max_digits=14, decimal_places=5, help_text="Reported by Plivo so far")
    clicked = serializers.IntegerField(
        source="clicked_count", help_text="Recipients who clicked a short link (people, not previews or scanners)"
    )


class VariantSenderSerializer(serializers.Serializer):
    label = serializers.CharField()
    sender = serializers.CharField(allow_blank=True, help_text="Its own sender; blank: the campaign's (or its pool)")
    sender_pool = serializers.IntegerField(
        source="sender_pool_id", allow_null=True, help_text="Id of its own sender pool, if any"
    )


class ABTestSerializer(serializers.ModelSerializer):
    """A campaign's A/B test as configured; its results are on campaigns/{id}/variants/."""

    variants = serializers.SerializerMethodField()
    variant_senders = serializers.SerializerMethodField()
    winner = serializers.SlugRelatedField(
        slug_field="label", read_only=True, allow_null=True, help_text="The winning variant's label"
    )
    # Declared so that the schema allows "" (not decided yet): DRF drops allow_blank from read-only fields.
    decided_by = serializers.ChoiceField(choices=ABTest.DecidedBy.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ABTest
        fields = [
            "variants",
            "variant_senders",
            "test_percent",
            "metric",
            "wait_minutes",
            "confidence_percent",
            "fallback",
            "seed",
            "test_sent_at",
            "winner",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    def get_variants(self, ab_test: ABTest) -> list[str]:
        return [variant.body for variant in ab_test.campaign.variants.all()]

    @extend_schema_field(VariantSenderSerializer(many=True))
    def get_variant_senders(self, ab_test: ABTest) -> list[dict]:
        """Each variant's own sender or pool, in the order of `variants`."""
        return VariantSenderSerializer(ab_test.campaign.variants.all(), many=True).data


class VariantWriteSerializer(serializers.Serializer):
    body = StrictCharField(max_length=1600)
    sender = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    sender_pool = StrictPrimaryKeyRelatedField(
        queryset=SenderPool.objects.all(), required=False, allow_null=True, default=None
    )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": 1600, "description": "The variant's text"},
            {
                "type": "object",
                "description": "The variant's text, and a sender of its own (a number or alphanumeric id) or a "
                "sender pool's id, not both; without either it goes from the campaign's",
                "properties": {
                    "body": {"type": "string", "minLength": 1, "maxLength": 1600},
                    "sender": {"type": "string", "maxLength": 32},
                    "sender_pool": {"type": "integer", "nullable": True},
                },
                "required": ["body"],
            },
        ]
    }
)
class VariantField(serializers.Field):
    """A variant: its text alone, or an object with its text and its own sender or pool."""

    default_error_messages = {"invalid": "a text, or an object with body and optionally sender or sender_pool"}

    def to_internal_value(self, data) -> dict:
        if isinstance(data, str):
            data = {"body": data}
        if not isinstance(data, dict):
            self.fail("invalid")
        variant = VariantWriteSerializer(data=data)
        variant.is_valid(raise_exception=True)
        return dict(variant.validated_data)


class ABTestWriteSerializer(serializers.Serializer):
    """2 to 5 variants (A first: its text becomes the campaign's body), each a text or an object with its own
    sender, and how the winner is chosen."""

    variants = serializers.ListField(
        child=VariantField(), min_length=ABTest.MIN_VARIANTS, max_length=ABTest.MAX_VARIANTS
    )
    test_percent = StrictIntegerField(
        min_value=1, max_value=99, required=False, allow_null=True, help_text="Left out or null: split everyone"
    )
    metric = serializers.ChoiceField(ABTest.Metric.choices, default=ABTest.Metric.DELIVERY_RATE)
    wait_minutes = StrictIntegerField(min_value=0, max_value=7 * 24 * 60, default=120)
    confidence_percent = StrictIntegerField(min_value=50, max_value=99, default=95)
    fallback = serializers.ChoiceField(ABTest.Fallback.choices, default=ABTest.Fallback.VARIANT_A)


def _ab_test_apply(*, campaign: Campaign, ab_test: dict | None, actor) -> None:
    """`ab_test` from a create or update: null removes the test, an object sets it."""
    if ab_test is None:
        campaign_ab_test_remove(campaign=campaign, actor=actor)
        return
    variants = ab_test.pop("variants")
    campaign_ab_test_set(
        campaign=campaign,
        bodies=[variant["body"] for variant in variants],
        senders=[VariantSender(sender=variant["sender"], sender_pool=variant["sender_pool"]) for variant in variants],
        settings=ABSettings(**ab_test),
        actor=actor,
    )


# A wall-clock time as the API writes it ("10:00:00"): JSON Schema's "time" format would demand a UTC offset,
# which a time meant for every recipient's own zone does not have.
@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "example": "10:00:00"})
class WallClockTimeField(serializers.TimeField):
    pass


class CampaignSerializer(serializers.ModelSerializer):
    local_send_time = WallClockTimeField(
        read_only=True, allow_null=True, help_text="With local_time: the recipients' wall-clock time"
    )
    lists = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Ids of the audience lists")
    segments = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Ids of the audience segments")
    excluded_lists = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of lists whose contacts are left out"
    )
    excluded_segments = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of segments whose matching contacts are left out"
    )
    stats = CampaignStatsSerializer(source="*", read_only=True)
    ab_test = serializers.SerializerMethodField()

    @extend_schema_field(ABTestSerializer(allow_null=True))
    def get_ab_test(self, campaign: Campaign) -> dict | None:
        ab_test = ABTest.objects.filter(campaign=campaign).first()
        return ABTestSerializer(ab_test).data if ab_test else None

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "body",
            "sender",
            "sender_pool",
            "lists",
            "segments",
            "excluded_lists",
            "excluded_segments",
            "status",
            "status_reason",
            "scheduled_at",
            "started_at",
            "completed_at",
            "max_per_second",
            "track_links",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "schedule_mode",
            "local_send_time",
            "local_time_passed",
            "skip_recent_hours",
            "transactional",
            "created_at",
            "updated_at",
            "stats",
            "ab_test",
        ]
        read_only_fields = fields


class CampaignMessageSerializer(serializers.Serializer):
    """What a draft and a quick send both give: the name, the text and how it is sent."""

    name = StrictCharField(max_length=200)
    body = StrictCharField(max_length=1600, help_text="Template: {{ first_name }}, {{ last_name }}, attributes")
    sender = StrictCharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="E.164 number (any format) or alphanumeric id; blank uses PLIVO_SENDER",
    )
    max_per_second = StrictIntegerField(
        min_value=1, max_value=10000, required=False, allow_null=True, help_text="Segments per second"
    )


def transactional_field() -> StrictBooleanField:
    return StrictBooleanField(
        required=False,
        help_text="Not marketing (an order update, a code): bypasses the frequency caps and is not counted in "
        "them; audited",
    )


class CampaignSendingRulesSerializer(serializers.Serializer):
    """When each recipient's share goes and the frequency caps it is held to."""

    schedule_mode = serializers.ChoiceField(
        choices=Campaign.ScheduleMode.choices,
        required=False,
        help_text="instant: everyone at the start; local_time: each recipient when their clock reaches local_send_time",
    )
    local_send_time = WallClockTimeField(
        required=False, allow_null=True, help_text="With local_time: the recipients' wall-clock time, e.g. 10:00"
    )
    local_time_passed = serializers.ChoiceField(
        choices=Campaign.LocalTimePassed.choices,
        required=False,
        help_text="With local_time: recipients whose time has already passed that day at the start go the next "
        "day (next_day) or right away (immediately)",
    )
    skip_recent_hours = StrictIntegerField(
        min_value=1,
        max_value=MAX_SKIP_RECENT_HOURS,
        required=False,
        allow_null=True,
        help_text="Skip anyone texted in the last this many hours (by any campaign); null: no such rule",
    )
    transactional = transactional_field()


class CampaignWriteSerializer(CampaignMessageSerializer, CampaignSendingRulesSerializer):
    """A draft's audience: on any of `lists` or matching any of `segments` when it goes, minus whoever is on
    an excluded list or matches an excluded segment; each person once."""

    lists = ids_field(ContactList.objects.all(), required=False)
    segments = ids_field(Segment.objects.all(), required=False, help_text="Segment ids, evaluated when it goes")
    excluded_lists = ids_field(ContactList.objects.all(), required=False)
    excluded_segments = ids_field(Segment.objects.all(), required=False)
    track_links = StrictBooleanField(
        required=False, help_text="Each link becomes a short link per recipient, to count clicks (default true)"
    )
    utm_source = StrictCharField(max_length=100, required=False, allow_blank=True, help_text="Added to tracked links")
    utm_medium = StrictCharField(max_length=100, required=False, allow_blank=True, help_text="Added to tracked links")
    utm_campaign = StrictCharField(max_length=100, required=False, allow_blank=True, help_text="Added to tracked links")
    sender_pool = StrictPrimaryKeyRelatedField(
        queryset=SenderPool.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of a sender pool (numbers managed here, or a Plivo Powerpack) to send from instead of "
        "`sender`; null for none",
    )
    ab_test = ABTestWriteSerializer(
        required=False, allow_null=True, help_text="Message variants and an A/B test; null removes it (update)"
    )


# What only a draft takes: a quick send's audience is its recipients.
AUDIENCE_FIELDS = ("lists", "segments", "excluded_lists", "excluded_segments")


SEND_MUST_BE_TRUE = (
    "must be true with recipients: a quick send is launched at once (for a draft, put the numbers on a list and "
    "give lists)"
)


# The two values of `send` in the schema keep a draft and a quick send apart (a request is exactly one of them).
@extend_schema_field({"type": "boolean", "enum": [False]})
class DraftSendField(StrictBooleanField):
    """`send` on a draft: false or left out."""


@extend_schema_field({"type": "boolean", "enum": [True]})
class QuickSendSendField(StrictBooleanField):
    """`send` on a quick send: true, the campaign is launched at once."""

    def to_internal_value(self, data):
        if super().to_internal_value(data) is not True:
            raise serializers.ValidationError(SEND_MUST_BE_TRUE)
        return True


class CampaignCreateSerializer(CampaignWriteSerializer):
    """A draft for `lists`, previewed and sent later (POST .../{id}/send/)."""

    send = DraftSendField(required=False, help_text="false or left out: a draft (true, with recipients, quick sends)")

    def validate(self, data):
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        quick_send_only = [name for name in ("consent_source", "consent_text") if name in given]
        if quick_send_only:
            raise serializers.ValidationError(
                {name: ["only with recipients (a quick send)"] for name in quick_send_only}
            )
        data.pop("send", None)
        return data


class CampaignQuickSendSerializer(CampaignMessageSerializer):
    """A quick send: a campaign for `recipients` instead of lists, created and launched at once (202)."""

    name = StrictCharField(max_length=200, required=False, help_text="Default: 'Quick send' and the time")
    recipients = serializers.ListField(
        child=StrictCharField(max_length=64),
        min_length=1,
        max_length=MAX_QUICK_SEND_RECIPIENTS,
        # Braces doubled: DRF formats its error messages.
        error_messages={"required": "required with send: true (to send a draft for lists, POST .../{{id}}/send/)"},
        help_text="Phone numbers in any format, instead of lists",
    )
    consent_source = StrictCharField(
        max_length=255,
        error_messages={"required": "required with recipients: where did they consent to be texted?"},
        help_text="Where the recipients consented (e.g. 'checkout form'); recorded on the contacts created and on "
        "those without consent, never over an existing consent or an opt-out",
    )
    consent_text = StrictCharField(
        max_length=2000, required=False, allow_blank=True, help_text="The wording they agreed to"
    )
    send = QuickSendSendField(
        error_messages={"required": SEND_MUST_BE_TRUE},
        help_text="true: launch at once; needs the send permission",
    )
    transactional = transactional_field()

    def validate(self, data):
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        drafts_only = [name for name in AUDIENCE_FIELDS if name in given]
        if drafts_only:
            raise serializers.ValidationError(
                {name: [f"give either {name} or recipients, not both"] for name in drafts_only}
            )
        data.pop("send")
        return data


# Why a quick send's number is not accepted (named in settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
RECIPIENT_REASONS = [ExclusionReason.INVALID_NUMBER, ExclusionReason.OPTED_OUT, ExclusionReason.SUPPRESSED]


class QuickSendRecipientSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position in recipients (the first, for a number given twice)")
    number = serializers.CharField(help_text="As given")
    result = serializers.ChoiceField(
        choices=RecipientResult.ALL,
        help_text="accepted: being texted; invalid: no phone number; excluded: opted out or suppressed, never texted",
    )
    phone_number = serializers.CharField(allow_null=True, help_text="E.164; null when invalid")
    reason = serializers.ChoiceField(
        choices=RECIPIENT_REASONS,
        allow_blank=True,
        help_text="Why not accepted; blank when accepted",
    )
    detail = serializers.CharField(allow_blank=True, help_text="The reason in words")
    contact = serializers.IntegerField(source="contact_id", allow_null=True, help_text="The contact's id, if any")
    contact_created = serializers.BooleanField(help_text="The number was not a contact yet")
    consent_recorded = serializers.BooleanField(
        help_text="consent_source recorded as the contact's consent; false when its existing consent was kept"
    )
    duplicates = serializers.ListField(
        child=serializers.IntegerField(), help_text="Later positions in recipients of the same number; texted once"
    )


class QuickSendSummarySerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    invalid = serializers.IntegerField()
    excluded = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Numbers given again, in any format, and not counted twice")


class QuickSendSerializer(serializers.Serializer):
    campaign = CampaignSerializer(help_text="Scheduled for now: the send engine starts it within seconds")
    summary = QuickSendSummarySerializer()
    recipients = QuickSendRecipientSerializer(
        many=True, help_text="One per number given (duplicates folded into the first), in the order given"
    )


class CampaignScheduleSerializer(CampaignSendingRulesSerializer):
    scheduled_at = serializers.DateTimeField(
        required=False,
        help_text="When to start; must be in the future. Required unless the campaign sends at each recipient's "
        "local time, which starts now when it is left out",
    )


class CampaignReasonSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class CampaignFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices)
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = Campaign
        fields = ["status", "search"]


class _CampaignView(ApiView):
    queryset = Campaign.objects.prefetch_related("lists", "segments", "excluded_lists", "excluded_segments")

    def campaign_response(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        return Response(CampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data, status=code)


class CampaignListApi(_CampaignView):
    filterset_class = CampaignFilter

    @extend_schema(operation_id="campaigns_list", responses={200: CampaignSerializer(many=True)})
    def get(self, request):
        """List campaigns, newest first; filter by status or part of the name."""
        return self.paginated_response(self.get_queryset(), CampaignSerializer)


IDEMPOTENCY_HEADER = "Idempotency-Key"


def _idempotency_key(request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > 255 or not key.isprintable():
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["at most 255 printable characters, new for each request"]}
        )
    return key


class CampaignCreateApi(_CampaignView):
    def post(self, request):
        """Create a draft campaign for lists (201)."""
        data = self.validated(CampaignCreateSerializer, request.data)
        ab_test = data.pop("ab_test", None)
        with transaction.atomic():
            campaign = campaign_create(actor=request.user, **data)
            if ab_test is not None:
                _ab_test_apply(campaign=campaign, ab_test=ab_test, actor=request.user)
        return self.campaign_response(campaign, status.HTTP_201_CREATED)


class CampaignQuickSendApi(_CampaignView):
    def check_permissions(self, request):
        super().check_permissions(request)
        missing = [p for p in QUICK_SEND_PERMISSIONS if not request.user.has_perm(p)]
        if missing:
            raise exceptions.PermissionDenied(f"quick send needs these permissions: {', '.join(missing)}")

    def post(self, request):
        """Quick send: create the campaign for recipients and launch it (202), answering for each number."""
        data = self.validated(CampaignQuickSendSerializer, request.data)
        result = campaign_quick_send(actor=request.user, idempotency_key=_idempotency_key(request), **data)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(QuickSendSerializer(result).data, status=status.HTTP_202_ACCEPTED, headers=headers)


def _is_quick_send(data) -> bool:
    """recipients, or send given as anything but false, make a POST to campaigns/ a quick send."""
    return isinstance(data, dict) and ("recipients" in data or data.get("send") not in (None, False))


class CampaignsApi(CampaignListApi):  # campaigns/
    @extend_schema(
        operation_id="campaigns_create",
        request=PolymorphicProxySerializer(
            component_name="CampaignCreateOrQuickSend",
            serializers=[CampaignCreateSerializer, CampaignQuickSendSerializer],
            resource_type_field_name=None,
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                location=OpenApiParameter.HEADER,
                required=False,
                description="Quick send: any text up to 255 characters, new for each request. Sent again with the "
                "same request (a retry after a timeout), it answers the first request's 202 again, with "
                "Idempotent-Replayed: true, and texts nobody twice; with another request it is refused (409).",
            )
        ],
        responses={201: CampaignSerializer, 202: QuickSendSerializer},
    )
    def post(self, request):
        """Create a draft campaign for lists (201); or quick send: with recipients, body, consent_source and
        send: true, create and launch it in one call (202) and answer what became of each number. Numbers
        not yet contacts become contacts with that consent; opted-out and suppressed ones are never texted.
        Delivery results follow on campaigns/{id}/sends/."""
        operation = CampaignQuickSendApi if _is_quick_send(request.data) else CampaignCreateApi
        view = operation(request=request, args=self.args, kwargs=self.kwargs, format_kwarg=self.format_kwarg)
        view.check_permissions(request)
        return view.post(request)


class CampaignRetrieveApi(_CampaignView):
    @extend_schema(operation_id="campaigns_retrieve", responses={200: CampaignSerializer})
    def get(self, request, pk):
        """One campaign with its counters."""
        return Response(CampaignSerializer(self.get_object()).data)


class CampaignUpdateApi(_CampaignView):
    @extend_schema(
        operation_id="campaigns_update",
        request=CampaignWriteSerializer(partial=True),
        responses={200: CampaignSerializer, **CONFLICT},
    )
    def patch(self, request, pk):
        """Edit a draft; 409 once it is scheduled or later."""
        campaign = self.get_object()
        data = self.validated(CampaignWriteSerializer, request.data, partial=True)
        given_ab_test, ab_test = "ab_test" in data, data.pop("ab_test", None)
        with transaction.atomic():
            campaign = campaign_update(campaign=campaign, actor=request.user, **data)
            if given_ab_test:
                _ab_test_apply(campaign=campaign, ab_test=ab_test, actor=request.user)
        return self.campaign_response(campaign)


class CampaignDeleteApi(_CampaignView):
    @extend_schema(operation_id="campaigns_destroy", responses={204: None, **CONFLICT})
    def delete(self, request, pk):
        """Delete a draft; 409 once it is scheduled or later (cancel it instead)."""
        campaign_delete(campaign=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignApi(CampaignRetrieveApi, CampaignUpdateApi, CampaignDeleteApi):  # campaigns/{id}/
    pass


SEND_PERMISSIONS = ["campaigns.change_campaign", Campaign.SEND_PERMISSION]
# A quick send also makes contacts (recording consent on those without) and the list of its audience.
QUICK_SEND_PERMISSIONS = [
    "campaigns.add_campaign",
    *SEND_PERMISSIONS,
    "contacts.add_contact",
    "contacts.change_contact",
    "contacts.add_contactlist",
]


class CampaignSendApi(_CampaignView):
    required_permissions = SEND_PERMISSIONS

    @extend_schema(operation_id="campaigns_send", request=None, responses={202: CampaignSerializer, **CONFLICT})
    def post(self, request, pk):
        """Send a draft now: it becomes due at once and the send engine starts it within seconds."""
        campaign = campaign_send_now(campaign=self.get_object(), actor=request.user)
        return self.campaign_response(campaign, status.HTTP_202_ACCEPTED)


class CampaignScheduleApi(_CampaignView):
    required_permissions = SEND_PERMISSIONS

    @extend_schema(
        operation_id="campaigns_schedule",
        request=CampaignScheduleSerializer,
        responses={200: CampaignSerializer, **CONFLICT},
    )
    def post(self, request, pk):
        """Schedule a draft to start at scheduled_at, which must be in the future; the sending rules given
        (a local-time schedule, the caps) are saved on the draft with it."""
        campaign = self.get_object()
        data = self.validated(CampaignScheduleSerializer, request.data)
        return self.campaign_response(campaign_schedule(campaign=campaign, actor=request.user, **data))


class CampaignPauseApi(_CampaignView):
    required_permissions = ["campaigns.change_campaign"]

    @extend_schema(
        operation_id="campaigns_pause",
        request=CampaignReasonSerializer,
        responses={200: CampaignSerializer, **CONFLICT},
    )
    def post(self, request, pk):
        """Pause a sending campaign: no further message leaves until it is resumed."""
        campaign = self.get_object()
        data = self.validated(CampaignReasonSerializer, request.data)
        return self.campaign_response(campaign_pause(campaign=campaign, actor=request.user, reason=data["reason"]))


class CampaignResumeApi(_CampaignView):
    required_permissions = SEND_PERMISSIONS

    @extend_schema(operation_id="campaigns_resume", request=None, responses={200: CampaignSerializer, **CONFLICT})
    def post(self, request, pk):
        """Resume a paused campaign."""
        return self.campaign_response(campaign_resume(campaign=self.get_object(), actor=request.user))


class CampaignCancelApi(_CampaignView):
    # Final (what is not yet sent never will be), so it needs the send permission, as in the admin.
    required_permissions = SEND_PERMISSIONS

    @extend_schema(
        operation_id="campaigns_cancel",
        request=CampaignReasonSerializer,
        responses={200: CampaignSerializer, **CONFLICT},
    )
    def post(self, request, pk):
        """Cancel a campaign that has not finished; messages not yet sent are never sent."""
        campaign = self.get_object()
        data = self.validated(CampaignReasonSerializer, request.data)
        return self.campaign_response(campaign_cancel(campaign=campaign, actor=request.user, reason=data["reason"]))


class CampaignStatsApi(_CampaignView):
    @extend_schema(operation_id="campaigns_stats", responses={200: CampaignStatsSerializer})
    def get(self, request, pk):
        """The campaign's counters: sends per status, skips per reason, segments and cost."""
        return Response(CampaignStatsSerializer(self.get_object()).data)


class CampaignAudienceSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        help_text="Contacts on the campaign's lists or in its segments, minus the excluded ones, each once"
    )
    eligible = serializers.IntegerField(
        help_text="Those the audience rules let through; of them, the preview's message_too_long are skipped at send"
    )
    excluded = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"Contacts left out per reason ({', '.join(ExclusionReason.ALL)}); only reasons that occur",
    )
    duplicates = serializers.IntegerField(
        help_text="List entries of people already on another of the lists: texted once, not counted in total"
    )


class LocalWaveSerializer(serializers.Serializer):
    zones = serializers.ListField(
        child=serializers.CharField(), help_text="The zones of this share (several: a number of several zones)"
    )
    local_time = serializers.CharField(help_text='"10:00", "10:00 next day" or "right away (time passed)"')
    send_at = serializers.DateTimeField(help_text="When it goes (UTC); quiet hours may hold it later")
    count = serializers.IntegerField()


class CampaignPreviewSerializer(serializers.Serializer):
    audience = CampaignAudienceSerializer()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"], help_text="UCS-2 if any recipient's text needs it")
    ucs2_characters = serializers.ListField(
        child=serializers.CharField(), help_text="The characters that force UCS-2, over all recipients' texts"
    )
    segments_per_message = serializers.IntegerField(help_text="Segments of the longest recipient's text")
    segments_total = serializers.IntegerField(help_text="Segments over all eligible recipients")
    estimated_cost = serializers.DecimalField(
        max_digits=14, decimal_places=5, help_text="From SMS_PRICE_PER_SEGMENT and each recipient's country"
    )
    deferred_by_quiet_hours = serializers.IntegerField(
        help_text="Eligible recipients outside their quiet-hours window right now, who would wait for it"
    )
    uncertain_zone = serializers.IntegerField(
        help_text="Eligible recipients with no timezone given whose number may be in several zones: texted only "
        "while the window is open in all of them"
    )
    waiting_for_common_window = serializers.IntegerField(
        help_text="Of uncertain_zone, those deferred right now until a window common to all their zones "
        "(counted in deferred_by_quiet_hours too)"
    )
    no_common_quiet_window = serializers.IntegerField(
        help_text="Eligible recipients whose possible zones share no window at all: skipped, never texted at a guess"
    )
    tracked_links = serializers.IntegerField(
        help_text="Links in the text that become a short link per recipient (counted at the short link's length)"
    )
    public_shorteners = serializers.ListField(
        child=serializers.CharField(),
        help_text="Public shorteners the text links to (bit.ly and the like): carriers filter such texts",
    )
    message_too_long = serializers.IntegerField(
        help_text="Eligible recipients whose own text (their values filled in) would be longer than Plivo accepts "
        f"or SMS_MAX_SEGMENTS allows: skipped at send with reason {ExclusionReason.MESSAGE_TOO_LONG}, and not "
        "counted in the segments and cost"
    )
    capped = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Eligible recipients the frequency caps would skip now, per reason "
        f"({ExclusionReason.FREQUENCY_CAP}, {ExclusionReason.RECENTLY_TEXTED}); decided again when each is sent",
    )
    waves = LocalWaveSerializer(
        many=True, help_text="Sending at each recipient's local time: when each zone's share goes, in time order"
    )


class CampaignPreviewApi(_CampaignView):
    # 400 when a stored body is no valid template (only a row written around the services can be).
    @extend_schema(
        operation_id="campaigns_preview", responses={200: CampaignPreviewSerializer, 400: ApiErrorSerializer}
    )
    def get(self, request, pk):
        """What sending now would do: audience after exclusions, segments, encoding, cost, quiet-hours effect."""
        preview = campaign_preview(campaign=self.get_object(), now=timezone.now())
        return Response(CampaignPreviewSerializer(preview).data)
