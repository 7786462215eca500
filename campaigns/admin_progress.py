"""The progress panel of a launched campaign's admin page, and the JSON endpoint that keeps it live.

Everything here reads the campaign's counters (campaigns.progress_selectors): no query touches its sends,
however many there are. The sends themselves are listed by the sends app's admin, linked pre-filtered."""

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache

from campaigns import charts
from campaigns.models import Campaign
from campaigns.progress_selectors import LIVE_STATUSES, campaign_progress

PANEL_TEMPLATE = "admin/campaigns/campaign/progress_panel.html"


def campaign_has_progress(campaign: Campaign) -> bool:
    """A draft has nothing to show; a campaign on its way (scheduled) or launched has."""
    return campaign.started_at is not None or campaign.status in LIVE_STATUSES


class CampaignProgressAdminMixin:
    """For CampaignAdmin: `progress_urls()` in get_urls, `progress_context()` in change_view's context."""

    def progress_urls(self):
        view = self.admin_site.admin_view(never_cache(self.progress_view))
        return [path("<int:pk>/progress.json", view, name="campaigns_campaign_progress")]

    def progress_context(self, request, campaign: Campaign) -> dict:
        if not campaign_has_progress(campaign):
            return {}
        return {"progress_panel": _panel_html(request, self._panel_context(campaign))}

    def progress_view(self, request, pk: int):
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise Http404(f"no campaign with id {pk}")
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        context = self._panel_context(campaign)
        return JsonResponse({**context["progress"].as_json(), "html": _panel_html(request, context)})

    def _panel_context(self, campaign: Campaign) -> dict:
        progress = campaign_progress(campaign=campaign, now=timezone.now())
        sends = reverse("admin:sends_campaignsend_changelist")
        return {
            "progress": progress,
            "progress_url": reverse("admin:campaigns_campaign_progress", args=[campaign.pk]),
            "sends_url": f"{sends}?{urlencode({'campaign': campaign.pk})}",
            "bar": charts.progress_bar(progress),
            "bar_width": charts.PROGRESS_BAR_WIDTH,
            "funnel": charts.funnel(progress),
        }


def _panel_html(request, context: dict) -> str:
    # Stripped: the script swaps the panel in by outerHTML, and the page should not grow blank lines.
    return mark_safe(render_to_string(PANEL_TEMPLATE, context, request=request).strip())
