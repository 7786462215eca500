"""The sends part of the REST API: each campaign's sends (delivery results), test sends, and inbound texts."""

import django_filters
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import Campaign, ExclusionReason
from contacts.models import Contact, ContactList
from contacts.selectors import number_q
from sends.models import CampaignSend, InboundMessage, LookupRun
from sends.services.lookups import contact_lookup, lookup_run_start
from sends.services.staff_test_sends import MAX_TEST_NUMBERS, campaign_test_send
from smscampaigns.api import IdCursorPagination, StrictCharField, StrictFilterSet
from smscampaigns.api_views import ApiView


class CampaignSendSerializer(serializers.ModelSerializer):
    # Declared so that the schema allows "" (not skipped): DRF drops allow_blank from read-only fields.
    skip_reason = serializers.ChoiceField(
        choices=ExclusionReason.choices, allow_blank=True, read_only=True, help_text="Why it was never sent"
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
        return self.paginated_response(self.get_queryset().filter(campaign=campaign), CampaignSendSerializer)


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
