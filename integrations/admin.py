from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from integrations.models import EVENT_TYPE_CHOICES, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.services.endpoints import (
    webhook_deliveries_replay,
    webhook_endpoint_delete,
    webhook_endpoint_save,
    webhook_endpoints_enable,
)
from smscampaigns.service_admin import ServiceModelAdmin


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text=WebhookEndpoint._meta.get_field("url").help_text
    )
    events = forms.MultipleChoiceField(choices=EVENT_TYPE_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "secret", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "events_display", "is_active", "failing_since", "disabled_reason"]
    list_filter = ["is_active"]
    readonly_fields = ["failing_since", "disabled_at", "disabled_reason", "created_at", "deliveries_link"]
    actions = ["enable_again"]

    @admin.display(description="events")
    def events_display(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:integrations_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">Every delivery to this endpoint, with its attempts</a>', url)

    def save_model(self, request, obj, form, change):
        webhook_endpoint_save(endpoint=obj, actor=request.user)

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint=obj, actor=request.user)

    def changelist_view(self, request, extra_context=None):
        # Staff learn here (and by e-mail) that an endpoint failing for a day was disabled.
        if request.method == "GET":
            for endpoint in WebhookEndpoint.objects.filter(is_active=False, disabled_at__isnull=False):
                self.message_user(
                    request,
                    f"{endpoint.url} was disabled on {endpoint.disabled_at:%Y-%m-%d %H:%M} UTC: "
                    f"{endpoint.disabled_reason}. Its events wait; enable it again once it answers.",
                    messages.WARNING,
                )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Enable again (deliver what waits)", permissions=["change"])
    def enable_again(self, request, queryset):
        n = webhook_endpoints_enable(endpoints=list(queryset), actor=request.user)
        self.message_user(request, f"{n} endpoint(s) enabled again.", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["attempted_at", "response_status", "error", "response_excerpt", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "order_key",
        "endpoint",
        "status",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type", "endpoint"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = [
        "endpoint", "event_type", "event_id", "order_key", "status", "attempts", "created_at", "last_attempt_at",
        "next_attempt_at", "delivered_at", "replay_of", "payload",
    ]  # fmt: skip
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj):
        return str(obj.event.event_id)

    @admin.display(description="object")
    def payload(self, obj):
        return obj.event.payload

    def has_replay_permission(self, request):
        return request.user.has_perm("integrations.change_webhookendpoint")

    @admin.action(description="Replay: send these events again", permissions=["replay"])
    def replay(self, request, queryset):
        n = webhook_deliveries_replay(deliveries=list(queryset), actor=request.user)
        self.message_user(request, f"{n} event(s) will be sent again.", messages.SUCCESS)
