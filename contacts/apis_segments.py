"""The segments part of the REST API: saved rule sets over contacts and how many they match now. Every write
goes through contacts.services.segments, the same functions the admin calls."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contacts.models import Segment
from contacts.segment_rules import MAX_CONDITIONS_PER_GROUP, MAX_GROUPS
from contacts.selectors import segment_count
from contacts.services.segments import segment_create, segment_delete, segment_update
from smscampaigns.api import StrictCharField, StrictFilterSet
from smscampaigns.api_views import ApiView

RULES_HELP = (
    'AND/OR groups of conditions: {"match": "all"|"any", "groups": [{"match": "all"|"any", "conditions": '
    '[{"field": "country", "operator": "in", "value": ["US"]}]}]}. Conditions: first_name, last_name, status, '
    "country, timezone, lists, tags, custom_field (with key), consented_at, consent_source, created_at, texted, "
    f"delivered, replied; at most {MAX_GROUPS} groups of {MAX_CONDITIONS_PER_GROUP} conditions. See the README."
)


class SegmentSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(help_text=RULES_HELP)

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000)
    # Checked by the service (contacts.segment_rules), which says where each fault is.
    rules = serializers.JSONField(help_text=RULES_HELP)


class SegmentCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(source="matching", help_text="Contacts the rules match now")
    textable = serializers.IntegerField(help_text="Of them, those who may be texted now (consent, not opted out)")


class SegmentFilter(StrictFilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = Segment
        fields = ["search"]


class _SegmentView(ApiView):
    queryset = Segment.objects.order_by("name")


class SegmentListApi(_SegmentView):
    filterset_class = SegmentFilter

    @extend_schema(operation_id="segments_list", responses={200: SegmentSerializer(many=True)})
    def get(self, request):
        """List segments by name."""
        return self.paginated_response(self.get_queryset(), SegmentSerializer)


class SegmentCreateApi(_SegmentView):
    @extend_schema(operation_id="segments_create", request=SegmentWriteSerializer, responses={201: SegmentSerializer})
    def post(self, request):
        """Create a segment; the rules are checked strictly and every fault is named with where it is."""
        data = self.validated(SegmentWriteSerializer, request.data)
        segment = segment_create(actor=request.user, **data)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentsApi(SegmentListApi, SegmentCreateApi):  # segments/
    pass


class SegmentRetrieveApi(_SegmentView):
    @extend_schema(operation_id="segments_retrieve", responses={200: SegmentSerializer})
    def get(self, request, pk):
        """One segment."""
        return Response(SegmentSerializer(self.get_object()).data)


class SegmentUpdateApi(_SegmentView):
    @extend_schema(
        operation_id="segments_update", request=SegmentWriteSerializer(partial=True), responses={200: SegmentSerializer}
    )
    def patch(self, request, pk):
        """Rename a segment or change its rules; campaigns using it reach who matches when they go."""
        segment = self.get_object()
        data = self.validated(SegmentWriteSerializer, request.data, partial=True)
        return Response(SegmentSerializer(segment_update(segment=segment, actor=request.user, **data)).data)


class SegmentDeleteApi(_SegmentView):
    @extend_schema(operation_id="segments_destroy", responses={204: None})
    def delete(self, request, pk):
        """Delete a segment; campaigns lose it from their audience and their exclusions."""
        segment_delete(segment=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentApi(SegmentRetrieveApi, SegmentUpdateApi, SegmentDeleteApi):  # segments/{id}/
    pass


class SegmentCountApi(_SegmentView):
    @extend_schema(operation_id="segments_count", responses={200: SegmentCountSerializer})
    def get(self, request, pk):
        """How many contacts the segment matches now, and how many of them may be texted (one query)."""
        segment = self.get_object()
        return Response(SegmentCountSerializer(segment_count(rules=segment.rules)).data)
