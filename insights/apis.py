from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema

from campaigns.models import Campaign
from insights.exports import campaign_results_csv, campaign_results_filename
from smscampaigns.api_views import ApiView


def campaign_results_response(campaign: Campaign) -> StreamingHttpResponse:
    response = StreamingHttpResponse(campaign_results_csv(campaign=campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign_results_filename(campaign)}"'
    return response


class CampaignResultsExportApi(ApiView):
    # Reading campaigns and their sends: the view permissions of both (Django's model permissions).
    queryset = Campaign.objects.all()
    required_permissions = ["campaigns.view_campaign", "sends.view_campaignsend"]

    def perform_content_negotiation(self, request, force=False):
        # The answer is CSV whatever the Accept header says; errors (404, 403) keep the API's JSON format.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="campaigns_export",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per recipient")},
    )
    def get(self, request, pk):
        """Every recipient of the campaign as CSV (streamed): status, skip reason, error, segments, cost, times."""
        return campaign_results_response(get_object_or_404(Campaign, pk=pk))
