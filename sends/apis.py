"""The sends part of the REST API: each campaign's sends (delivery results), test sends, and inbound texts."""

import django_filters
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import ABTest, Campaign, CampaignVariant, ExclusionReason
from contacts.models import Contact, ContactList
from contacts.selectors import number_q
from sends.models import CampaignSend, InboundMessage, LookupRun
from sends.selectors import sends_with_clicks
from sends.services.ab_tests import ab_decide, ab_report
from sends.services.lookups import contact_lookup, lookup_run_start
from sends.services.staff_test_sends import MAX_TEST_NUMBERS, campaign_test_send
from smscampaigns.api import IdCursorPagination, StrictCharField, StrictFilterSet
from smscampaigns.api_views import ApiView


class CampaignSendSerializer(serializers.ModelSerializer):
    # Declared so that the schema allows "" (not skipped): DRF drops allow_blank from read-only fields.
    skip_reason = serializers.ChoiceField(
        choices=ExclusionReason.choices, allow_blank=True, read_only=True, help_text="Why it was never sent"
    )
    clicks = serializers.IntegerField(
        source="human_clicks",
        read_only=True,
        help_text="The recipient's clicks on their short links (people, not link previews)",
    )

    class Meta:
        model = CampaignSend
        fields = [
            "id",
            "campaign",
            "contact",
            "to_number",
            "body",
            "status",
            "skip_reason",
            "error_code",
            "error_message",
            "provider_message_uuid",
            "segments",
            "cost",
            "attempts",
            "queued_at",
            "sent_at",
            "status_updated_at",
            "clicks",
        ]
        read_only_fields = fields


class CampaignSendFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignSend.Status.choices)

    class Meta:
        model = CampaignSend
        fields = ["status"]


class CampaignSendListApi(ApiView):
    queryset = CampaignSend.objects.all()
    filterset_class = CampaignSendFilter
    pagination_class = IdCursorPagination

    @extend_schema(operation_id="campaigns_sends_list", responses={200: CampaignSendSerializer(many=True)})
    def get(self, request, pk):
        """A campaign's sends in id order, cursor-paginated (stable while sends are added); filter by status."""
        # 404 for a campaign that does not exist, rather than an empty page that looks like "nothing sent yet".
        campaign = get_object_or_404(Campaign.objects.only("id"), pk=pk)
        sends = sends_with_clicks(self.get_queryset().filter(campaign=campaign))
        return self.paginated_response(sends, CampaignSendSerializer)


class InboundMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "message_uuid",
            "from_number",
            "to_number",
            "text",
            "intent",
            "action",
            "contact",
            "received_at",
        ]
        read_only_fields = fields


class InboundMessageFilter(StrictFilterSet):
    action = django_filters.ChoiceFilter(choices=InboundMessage.Action.choices)
    search = django_filters.CharFilter(method="filter_search", label="The sender's number in any format, or text")

    class Meta:
        model = InboundMessage
        fields = ["action", "search"]

    def filter_search(self, queryset, name, value):
        by_number = number_q(value, field="from_number")
        return queryset.filter(by_number if by_number is not None else Q(text__icontains=value.strip()))


class _InboundView(ApiView):
    queryset = InboundMessage.objects.all()


class InboundMessageListApi(_InboundView):
    filterset_class = InboundMessageFilter

    @extend_schema(operation_id="inbound_list", responses={200: InboundMessageSerializer(many=True)})
    def get(self, request):
        """Texts people sent to our numbers, newest first, with what we did (opt-out, opt-in, help)."""
        return self.paginated_response(self.get_queryset(), InboundMessageSerializer)


class InboundMessageRetrieveApi(_InboundView):
    @extend_schema(operation_id="inbound_retrieve", responses={200: InboundMessageSerializer})
    def get(self, request, pk):
        """One inbound text."""
        return Response(InboundMessageSerializer(self.get_object()).data)


class CampaignTestSendSerializer(serializers.Serializer):
    numbers = serializers.ListField(
        child=StrictCharField(max_length=64),
        min_length=1,
        max_length=MAX_TEST_NUMBERS,
        help_text="Phone numbers in any format; none may be opted out, suppressed, or a contact without consent",
    )


class CampaignTestSendResultSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="As given")
    to_number = serializers.CharField(help_text="E.164")
    ok = serializers.BooleanField(help_text="Accepted by the SMS backend")
    rendered_for = serializers.ChoiceField(
        choices=["contact", "sample", "blank"],
        help_text="Whose fields filled the template: the number's contact, a sample recipient, or none",
    )
    body = serializers.CharField()
    segments = serializers.IntegerField()
    message_uuid = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_blank=True)


class CampaignTestSendApi(ApiView):
    queryset = Campaign.objects.all()
    required_permissions = ["campaigns.view_campaign", Campaign.SEND_PERMISSION]

    @extend_schema(
        operation_id="campaigns_test",
        request=CampaignTestSendSerializer,
        responses={200: CampaignTestSendResultSerializer(many=True)},
    )
    def post(self, request, pk):
        """Send the rendered message to a few numbers now; answers each number's result. Not counted on the
        campaign. A number that is invalid, opted out, suppressed or a contact without recorded consent refuses the
        whole request: nothing is sent."""
        campaign = self.get_object()
        data = self.validated(CampaignTestSendSerializer, request.data)
        results = campaign_test_send(campaign=campaign, numbers=data["numbers"], actor=request.user)
        return Response(CampaignTestSendResultSerializer(results, many=True).data)


# --- Number lookups ----------------------------------------------------------------------------------------

# A lookup costs money: those who may start a bulk lookup in the admin may ask for one here.
LOOKUP_PERMISSIONS = ["contacts.view_contact", "sends.add_lookuprun"]


class ContactLookupResultSerializer(serializers.ModelSerializer):
    looked_up = serializers.BooleanField(
        help_text="true: looked up now; false: the last lookup is recent enough and was reused (not paid again)"
    )

    class Meta:
        model = Contact
        fields = ["id", "phone_number", "looked_up", "line_type", "carrier", "number_ported", "lookup_country",
                  "looked_up_at"]  # fmt: skip
        read_only_fields = fields


class ContactLookupApi(ApiView):
    queryset = Contact.objects.all()
    required_permissions = LOOKUP_PERMISSIONS

    @extend_schema(operation_id="contacts_lookup", request=None, responses={200: ContactLookupResultSerializer})
    def post(self, request, pk):
        """Look up the contact's carrier and line type now, unless its last lookup is younger than
        NUMBER_LOOKUP_MAX_AGE_DAYS (then it is answered as stored, and not paid again)."""
        contact = self.get_object()
        looked_up = contact_lookup(contact=contact)
        contact.looked_up = looked_up
        return Response(ContactLookupResultSerializer(contact).data)


class LookupRunSerializer(serializers.ModelSerializer):
    percent_done = serializers.IntegerField(read_only=True)

    class Meta:
        model = LookupRun
        fields = ["id", "scope", "scope_id", "scope_label", "status", "total", "looked_up", "failed", "percent_done",
                  "estimated_cost", "cost", "error", "created_at", "finished_at"]  # fmt: skip
        read_only_fields = fields


class ListLookupApi(ApiView):
    queryset = ContactList.objects.all()
    required_permissions = ["contacts.view_contactlist", "sends.add_lookuprun"]

    @extend_schema(operation_id="lists_lookup", request=None, responses={202: LookupRunSerializer})
    def post(self, request, pk):
        """Look up every contact of the list whose lookup is due, in the background (202); follow its progress
        at GET /api/v1/lookups/{id}/. `estimated_cost` is the due lookups at NUMBER_LOOKUP_PRICE each."""
        contact_list = self.get_object()
        run = lookup_run_start(scope="list", scope_id=contact_list.pk, actor=request.user)
        return Response(LookupRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class LookupRunApi(ApiView):
    queryset = LookupRun.objects.all()

    @extend_schema(operation_id="lookups_retrieve", responses={200: LookupRunSerializer})
    def get(self, request, pk):
        """A bulk lookup's progress and cost."""
        return Response(LookupRunSerializer(self.get_object()).data)


class VariantResultSerializer(serializers.Serializer):
    label = serializers.CharField()
    body = serializers.CharField()
    sender = serializers.CharField(allow_blank=True, help_text="Its own sender; blank: the campaign's (or its pool)")
    sender_pool = serializers.IntegerField(allow_null=True, help_text="Id of its own sender pool, if any")
    trials = serializers.IntegerField(help_text="Messages handed to the provider")
    successes = serializers.IntegerField(help_text="Of those, how many succeeded by the metric")
    rate = serializers.FloatField()
    low = serializers.FloatField(help_text="Wilson interval at the confidence, lower bound")
    high = serializers.FloatField()
    winner = serializers.BooleanField()


class VariantComparisonSerializer(serializers.Serializer):
    other = serializers.CharField(help_text="The variant the leader is compared with")
    z = serializers.FloatField()
    p_value = serializers.FloatField(help_text="Two-sided, two-proportion z-test")
    lift = serializers.FloatField(allow_null=True, help_text="(leader - other) / other")
    significant = serializers.BooleanField(help_text="At the confidence, Bonferroni-corrected beyond two variants")


class CampaignVariantsSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(ABTest.Metric.choices)
    metric_label = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    unavailable = serializers.CharField(allow_blank=True, help_text="Why the metric cannot be measured, if so")
    test_percent = serializers.IntegerField(allow_null=True, help_text="null: a plain split of everyone")
    wait_minutes = serializers.IntegerField()
    confidence_percent = serializers.IntegerField()
    fallback = serializers.ChoiceField(ABTest.Fallback.choices)
    seed = serializers.IntegerField()
    phase = serializers.ChoiceField(["split", "testing", "waiting", "decided"])
    test_sent_at = serializers.DateTimeField(allow_null=True)
    decide_after = serializers.DateTimeField(allow_null=True)
    variants = VariantResultSerializer(many=True)
    leader = serializers.CharField(allow_null=True)
    significant = serializers.BooleanField()
    p_value = serializers.FloatField(allow_null=True)
    comparisons = VariantComparisonSerializer(many=True)
    winner = serializers.CharField(allow_null=True)
    decided_by = serializers.CharField(allow_blank=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision = serializers.DictField(help_text="The statistics the decision was made on, as they were then")


def _ab_tested(campaign: Campaign) -> Campaign:
    if not ABTest.objects.filter(campaign=campaign).exists():
        raise Http404("this campaign has no A/B test")
    return campaign


class CampaignVariantsApi(ApiView):
    queryset = Campaign.objects.all()

    @extend_schema(operation_id="campaigns_variants", responses={200: CampaignVariantsSerializer})
    def get(self, request, pk):
        """An A/B tested campaign's variants side by side: each one's rate by the test's metric with its
        confidence interval, the comparison of the leader with the others, and the decision (404 without an
        A/B test)."""
        campaign = _ab_tested(self.get_object())
        return Response(CampaignVariantsSerializer(ab_report(campaign=campaign)).data)


class CampaignVariantsDecideSerializer(serializers.Serializer):
    variant = StrictCharField(
        max_length=1, required=False, help_text="A label to pick the winner by hand; left out: decide by the statistics"
    )


class CampaignVariantsDecideApi(ApiView):
    queryset = Campaign.objects.all()
    required_permissions = ["campaigns.change_campaign", Campaign.SEND_PERMISSION]

    @extend_schema(
        operation_id="campaigns_variants_decide",
        request=CampaignVariantsDecideSerializer,
        responses={200: CampaignVariantsSerializer},
    )
    def post(self, request, pk):
        """Decide now instead of after the waiting period (by the statistics, or the fallback when not
        significant), or pick the winner by hand with `variant`; the rest of the audience then gets the
        winner. Deciding twice changes nothing."""
        campaign = _ab_tested(self.get_object())
        data = self.validated(CampaignVariantsDecideSerializer, request.data)
        variant = None
        if "variant" in data:
            variant = CampaignVariant.objects.filter(campaign=campaign, label=data["variant"].upper()).first()
            if variant is None:
                raise serializers.ValidationError({"variant": [f"no variant {data['variant']!r} in this campaign"]})
        ab_decide(campaign=campaign, actor=request.user, variant=variant)
        return Response(CampaignVariantsSerializer(ab_report(campaign=campaign)).data)
