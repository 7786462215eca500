"""The links app on the campaign page: the table of its tracked links and their clicks (campaigns' admin
offers the hook; campaigns knows nothing of links)."""

from campaigns.admin import CampaignAdminExtension, campaign_admin_extend
from campaigns.models import Campaign
from links.selectors import campaign_link_stats


class CampaignLinksExtension(CampaignAdminExtension):
    template = "admin/links/campaign/links_panel.html"

    def change_view_context(self, request, campaign: Campaign) -> dict:
        links = campaign_link_stats(campaign_id=campaign.pk)
        if not links:
            return {}
        return {"tracked_links": links, "tracked_links_clicked": campaign.clicked_count}


campaign_admin_extend(CampaignLinksExtension())
