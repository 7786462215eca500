"""The sends part of the REST API: each campaign's sends (delivery results) and inbound texts, read-only."""

import django_filters
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.models import Campaign
from contacts.selectors import number_q
from sends.models import CampaignSend, InboundMessage
from smscampaigns.api import IdCursorPagination, StrictFilterSet
from smscampaigns.api_views import ApiView


class CampaignSendSerializer(serializers.ModelSerializer):
    # Declared so that the schema allows "" (not skipped): DRF drops allow_blank from read-only fields.
    skip_reason = serializers.ChoiceField(
        choices=CampaignSend.SkipReason.choices, allow_blank=True, read_only=True, help_text="Why it was never sent"
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
