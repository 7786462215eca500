"""POST /api/v1/subscriptions/: an integration (a checkout form, a partner site) passes on a person's request
to join a list; the person confirms by replying Y to the text we send them."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contacts.models import ContactList, SubscriptionRequest
from contacts.services.subscriptions import Evidence, subscription_request_start
from smscampaigns.api import MAX_ID, ApiErrorSerializer, StrictCharField, StrictIntegerField
from smscampaigns.api_views import ApiView
from smscampaigns.client_address import client_address
from smscampaigns.errors import ApplicationError


class SubscriptionStartSerializer(serializers.Serializer):
    phone_number = StrictCharField(max_length=40, help_text="Any format; without a country code, `region` applies")
    list = StrictIntegerField(min_value=1, max_value=MAX_ID, help_text="Id of the list to join")
    region = StrictCharField(
        max_length=2,
        required=False,
        allow_blank=True,
        default="",
        help_text="ISO region, e.g. US (default: the server's)",
    )
    source = StrictCharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Where the person asked, e.g. checkout"
    )
    consent_text = StrictCharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="The wording the person agreed to"
    )
    page_url = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")
    ip = serializers.IPAddressField(required=False, allow_null=True, default=None, help_text="The person's address")
    user_agent = StrictCharField(max_length=512, required=False, allow_blank=True, default="")


class SubscriptionContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phone_number = serializers.CharField()
    status = serializers.CharField(help_text="pending until the person confirms (subscribed if they already were)")


class SubscriptionRequestSerializer(serializers.ModelSerializer):
    contact = SubscriptionContactSerializer(read_only=True, allow_null=True)
    list = serializers.IntegerField(source="contact_list_id", read_only=True)
    confirmation_sent = serializers.SerializerMethodField()

    class Meta:
        model = SubscriptionRequest
        fields = ["id", "status", "list", "phone_number", "contact", "created_at", "expires_at", "confirmation_sent"]
        read_only_fields = fields

    def get_confirmation_sent(self, request: SubscriptionRequest) -> bool:
        return request.confirmation_sent_at is not None


class SubscriptionsApi(ApiView):
    required_permissions = ["contacts.add_contact"]

    @extend_schema(
        operation_id="subscriptions_start",
        request=SubscriptionStartSerializer,
        responses={202: SubscriptionRequestSerializer, 400: ApiErrorSerializer, 409: ApiErrorSerializer},
    )
    def post(self, request):
        """Start a double opt-in: the contact is pending (never texted a campaign) and is sent the confirmation
        text; it is subscribed when the person replies Y. Idempotent on (number, list) while pending: asking
        again answers the same pending request and sends nothing. 409 when the person opted out themselves."""
        data = self.validated(SubscriptionStartSerializer, request.data)
        contact_list = ContactList.objects.filter(pk=data["list"]).first()
        if contact_list is None:
            raise ApplicationError(f"no list with id {data['list']}", field="list")
        source = data["source"].strip() or "API"
        started = subscription_request_start(
            phone_number=data["phone_number"],
            region=data["region"].upper() or None,
            contact_list=contact_list,
            actor=request.user,
            evidence=Evidence(
                source=SubscriptionRequest.Source.API,
                detail=f"{source} (via API user {request.user.get_username()}, from {client_address(request)})",
                text=data["consent_text"],
                page_url=data["page_url"],
                ip=data["ip"],
                user_agent=data["user_agent"],
            ),
        )
        started.request.refresh_from_db()
        return Response(SubscriptionRequestSerializer(started.request).data, status=status.HTTP_202_ACCEPTED)
