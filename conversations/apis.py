"""The inbox in the REST API: the conversations, one contact's timeline, a reply."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from contacts.models import Contact
from conversations.models import Conversation
from conversations.selectors import INBOX_FILTERS, conversation_timeline, conversations_inbox, inbox_filter, reply_check
from conversations.services import conversation_reply_send
from smscampaigns.api import IdFilter, PagePagination, StrictBooleanField, StrictCharField, StrictFilterSet
from smscampaigns.api_views import ApiView


class ConversationSerializer(serializers.ModelSerializer):
    contact_id = serializers.IntegerField(source="contact.pk", read_only=True)
    phone_number = serializers.CharField(source="contact.phone_number", read_only=True)
    name = serializers.SerializerMethodField()
    assigned_to = serializers.CharField(
        source="assigned_to.get_username", read_only=True, allow_null=True, default=None
    )
    unanswered = serializers.BooleanField(read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "contact_id",
            "phone_number",
            "name",
            "status",
            "assigned_to",
            "unread_count",
            "unanswered",
            "last_text",
            "last_inbound_at",
            "last_reply_at",
            "last_message_at",
        ]
        read_only_fields = fields

    def get_name(self, obj) -> str:
        return f"{obj.contact.first_name} {obj.contact.last_name}".strip()


class TimelineItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    direction = serializers.ChoiceField(choices=["in", "out", "note"])
    kind = serializers.ChoiceField(choices=["inbound", "campaign", "staff", "auto", "note"])
    label = serializers.CharField()
    body = serializers.CharField()
    at = serializers.DateTimeField()
    status = serializers.CharField(allow_blank=True, help_text="Delivery status of an outgoing message")
    detail = serializers.CharField(allow_blank=True)


class ConversationDetailSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    phone_number = serializers.CharField()
    status = serializers.CharField()
    assigned_to = serializers.CharField(allow_null=True)
    unread_count = serializers.IntegerField()
    may_reply = serializers.BooleanField(help_text="Whether a reply may go to this contact now")
    refusal = serializers.CharField(allow_blank=True, help_text="Why not, when it may not")
    quiet_hours = serializers.CharField(allow_blank=True, help_text="Non-empty: a reply now needs confirm_quiet_hours")
    messages = TimelineItemSerializer(many=True)


class ConversationFilter(StrictFilterSet):
    filter = django_filters.ChoiceFilter(choices=list(INBOX_FILTERS.items()), method="filter_show")
    campaign = IdFilter(method="filter_campaign", label="Contacts who received this campaign")
    search = django_filters.CharFilter(method="filter_search", label="The contact's number in any format, or name")

    class Meta:
        model = Conversation
        fields = ["filter", "campaign", "search"]

    def filter_show(self, queryset, name, value):
        return inbox_filter(queryset, user=self.request.user, show=value)

    def filter_campaign(self, queryset, name, value):
        return inbox_filter(queryset, campaign_id=int(value))

    def filter_search(self, queryset, name, value):
        return inbox_filter(queryset, search=value)


class ConversationsApi(ApiView):
    queryset = Conversation.objects.all()
    filterset_class = ConversationFilter
    pagination_class = PagePagination

    @extend_schema(operation_id="conversations_list", responses={200: ConversationSerializer(many=True)})
    def get(self, request):
        """Conversations with contacts, unread ones first, then the latest; filter by `filter` (unread,
        unanswered, mine, opted_out, done), `campaign` (an id) or `search` (a number or a name)."""
        # A conversation whose contact was erased has no contact id to be reached by: the admin keeps it.
        queryset = conversations_inbox(user=request.user).filter(contact__isnull=False)
        return self.paginated_response(queryset, ConversationSerializer)


def _contact(pk: int) -> Contact:
    return get_object_or_404(Contact, pk=pk)


class ConversationApi(ApiView):
    queryset = Conversation.objects.all()

    @extend_schema(operation_id="conversations_retrieve", responses={200: ConversationDetailSerializer})
    def get(self, request, contact_id):
        """One contact's timeline, oldest first: the campaign messages and replies they received (with delivery
        status), what they sent, and staff notes; whether a reply may go to them now."""
        contact = _contact(contact_id)
        conversation = Conversation.objects.filter(contact=contact).select_related("assigned_to").first()
        check = reply_check(contact=contact)
        data = {
            "contact_id": contact.pk,
            "phone_number": str(contact.phone_number),
            "status": conversation.status if conversation else Conversation.Status.OPEN,
            "assigned_to": conversation.assigned_to.get_username()
            if conversation and conversation.assigned_to
            else None,
            "unread_count": conversation.unread_count if conversation else 0,
            "may_reply": check.allowed,
            "refusal": check.refusal,
            "quiet_hours": check.quiet_hours,
            "messages": [vars(item) for item in conversation_timeline(contact=contact)],
        }
        return Response(ConversationDetailSerializer(data).data)


class ReplyInputSerializer(serializers.Serializer):
    body = StrictCharField(max_length=1600)
    confirm_quiet_hours = StrictBooleanField(
        required=False, default=False, help_text="Send a cold message during the contact's quiet hours anyway"
    )
    client_token = StrictCharField(
        required=False, default="", allow_blank=True, max_length=64, help_text="The same token twice sends once"
    )


class ReplyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reply.pk")
    status = serializers.CharField(source="reply.status")
    to_number = serializers.CharField(source="reply.to_number")
    sender = serializers.CharField(source="reply.sender")
    body = serializers.CharField(source="reply.body")
    segments = serializers.IntegerField(source="reply.segments")
    provider_message_uuid = serializers.CharField(source="reply.provider_message_uuid", allow_null=True)
    error_code = serializers.CharField(source="reply.error_code", allow_blank=True)
    error_message = serializers.CharField(source="reply.error_message", allow_blank=True)
    replayed = serializers.BooleanField(help_text="The same client_token was sent before: nothing was sent now")


class ConversationReplyApi(ApiView):
    queryset = Conversation.objects.all()
    required_permissions = ["conversations.view_conversation", Conversation.REPLY_PERMISSION]

    @extend_schema(
        operation_id="conversations_reply", request=ReplyInputSerializer, responses={201: ReplyOutputSerializer}
    )
    def post(self, request, contact_id):
        """Text the contact now, through the SMS backend, once. Refused (400, saying why) for an opted-out,
        suppressed or invalid number, or a cold message to a contact without recorded consent; a cold message
        during the contact's quiet hours needs `confirm_quiet_hours`."""
        contact = _contact(contact_id)
        data = self.validated(ReplyInputSerializer, request.data)
        outcome = conversation_reply_send(contact=contact, actor=request.user, **data)
        return Response(ReplyOutputSerializer(outcome).data, status=200 if outcome.replayed else 201)
