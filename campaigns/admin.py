from django.contrib import admin

from campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status",
        "scheduled_at",
        "recipients_count",
        "sent_count",
        "delivered_count",
        "failed_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "body"]
    list_select_related = ["created_by"]
    filter_horizontal = ["lists"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "status",
        "status_reason",
        "started_at",
        "completed_at",
        "created_by",
        "created_at",
        "updated_at",
        "recipients_count",
        "queued_count",
        "sent_count",
        "delivered_count",
        "undelivered_count",
        "failed_count",
        "skipped_count",
        "unknown_count",
        "opt_out_count",
        "skipped_by_reason",
        "segments_count",
        "cost",
    ]
