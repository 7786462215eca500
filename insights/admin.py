from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from campaigns.admin import CampaignAdminExtension, campaign_admin_extend
from campaigns.models import Campaign
from insights.apis import campaign_results_response


def _may_export(request) -> bool:
    return request.user.has_perms(["campaigns.view_campaign", "sends.view_campaignsend"])


class CampaignResultsExportExtension(CampaignAdminExtension):
    """ "Export results (CSV)" on a campaign's page, once it has been launched."""

    template = "admin/insights/campaign/export_panel.html"

    def get_urls(self, model_admin):
        view = model_admin.admin_site.admin_view(self.export_view)
        return [path("<int:pk>/export/", view, name="campaigns_campaign_export")]

    def change_view_context(self, request, campaign: Campaign) -> dict:
        if campaign.started_at is None or not _may_export(request):
            return {}
        return {"export_url": reverse("admin:campaigns_campaign_export", args=[campaign.pk])}

    def export_view(self, request, pk: int):
        if not _may_export(request):
            raise PermissionDenied
        return campaign_results_response(get_object_or_404(Campaign, pk=pk))


campaign_admin_extend(CampaignResultsExportExtension())
