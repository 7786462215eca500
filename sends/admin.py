from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from sends.models import CampaignSend, DeliveryReport, InboundMessage


@admin.register(CampaignSend)
class CampaignSendAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "to_number", "status", "skip_reason", "error_code", "attempts", "sent_at"]
    list_filter = ["status", "skip_reason", "error_code"]
    search_fields = ["to_number", "provider_message_uuid"]
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign", "contact"]


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ["message_uuid", "status", "error_code", "units", "total_amount", "received_at"]
    list_filter = ["status", "error_code"]
    search_fields = ["message_uuid"]
    raw_id_fields = ["send"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """What people texted us and what was done about it (opt-out, opt-in, help, none)."""

    list_display = ["received_at", "from_number", "contact", "text", "action", "to_number", "intent"]
    # No date_hierarchy or filter on a free-text column: each would run a DISTINCT over the whole table per view.
    list_filter = ["action", "intent", "received_at"]
    search_fields = ["from_number", "text"]
    list_select_related = ["contact"]
    raw_id_fields = ["contact"]
