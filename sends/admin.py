from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from audit.admin import ReadOnlyAdmin
from campaigns.admin import SEND_PERMISSION, CampaignAdmin
from campaigns.models import Campaign
from sends.models import CampaignSend, DeliveryReport, InboundMessage
from sends.selectors import staff_phone_number
from sends.services.test_sends import campaign_test_send_to_staff
from smscampaigns.errors import ApplicationError


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


# --- "Send test to my phone" on the campaign page ------------------------------------------------------
# The test send is a sends service (it needs an SMS backend) and campaigns may not import sends, so sends
# extends the campaign admin rather than campaigns reaching for it: a subclass adds the button and its view,
# and is registered in the place of the campaigns app's own. campaigns/admin.py stays whole without sends.

# Before launch: once it is sending, the real messages are the test.
TEST_SEND_STATUSES = frozenset({Campaign.Status.DRAFT, Campaign.Status.SCHEDULED})


class StaffTestSendForm(forms.Form):
    phone_number = forms.CharField(
        max_length=32, label="My phone", help_text="Any format; remembered for your next test"
    )


class CampaignWithTestSendAdmin(CampaignAdmin):
    change_form_template = "admin/sends/campaign/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.test_send_view))
        return [path("<int:pk>/test-send/", view, name="campaigns_campaign_test_send"), *super().get_urls()]

    def _may_test(self, request, campaign: Campaign) -> bool:
        return request.user.has_perm(SEND_PERMISSION) and campaign.status in TEST_SEND_STATUSES

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        if campaign is not None and self._may_test(request, campaign):
            extra_context = {
                **(extra_context or {}),
                "test_send_form": StaffTestSendForm(initial={"phone_number": staff_phone_number(user=request.user)}),
                "test_send_url": reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def test_send_view(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not request.user.has_perm(SEND_PERMISSION):
            raise PermissionDenied
        back = redirect("admin:campaigns_campaign_change", campaign.pk)
        if not self._may_test(request, campaign):
            messages.error(request, f"No test: the campaign is {campaign.get_status_display().lower()}.")
            return back
        form = StaffTestSendForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"No test: {form.errors.as_text()}")
            return back
        try:
            result = campaign_test_send_to_staff(
                campaign=campaign, phone_number=form.cleaned_data["phone_number"], actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, f"No test: {exc.message}")
            return back
        if result.ok:
            messages.success(
                request,
                f"Test sent to {result.to_number} ({result.segments} segment{'s' if result.segments != 1 else ''}): "
                f"“{result.body}”",
            )
        else:
            messages.error(
                request, f"The test to {result.to_number} failed: {result.error_message} ({result.error_code})"
            )
        return back


admin.site.unregister(Campaign)
admin.site.register(Campaign, CampaignWithTestSendAdmin)
