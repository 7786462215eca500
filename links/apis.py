"""GET /api/v1/campaigns/{id}/links/: a campaign's tracked links and their clicks."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.models import Campaign
from links.selectors import campaign_link_stats
from smscampaigns.api_views import ApiView


class LinkStatsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField(help_text="Order of the link in the text, from 0")
    url = serializers.CharField(help_text="As written in the text")
    destination = serializers.CharField(help_text="Where its short links redirect (with the UTM parameters)")
    expires_at = serializers.DateTimeField(help_text="After this its short links go to SHORT_LINK_EXPIRED_URL")
    clicked = serializers.IntegerField(help_text="Recipients who clicked it (people, each once)")
    clicks = serializers.IntegerField(help_text="People's clicks, repeats included")
    previews = serializers.IntegerField(help_text="Fetches by link previews (messaging apps, social networks)")
    scanners = serializers.IntegerField(help_text="Fetches by security scanners and bots, and HEAD requests")


class CampaignLinksSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    clicked = serializers.IntegerField(help_text="Recipients who clicked any of its links (people, each once)")
    delivered = serializers.IntegerField(help_text="Sends delivered, the base of click_rate")
    click_rate = serializers.FloatField(help_text="clicked as a percentage of delivered")
    links = LinkStatsSerializer(many=True)


class CampaignLinksApi(ApiView):
    queryset = Campaign.objects.all()

    @extend_schema(operation_id="campaigns_links", responses={200: CampaignLinksSerializer})
    def get(self, request, pk):
        """The campaign's tracked links in text order, with who clicked them; empty when it tracks none."""
        campaign = get_object_or_404(Campaign.objects.only("id", "clicked_count", "delivered_count"), pk=pk)
        delivered = campaign.delivered_count
        data = {
            "campaign": campaign.pk,
            "clicked": campaign.clicked_count,
            "delivered": delivered,
            "click_rate": round(100 * campaign.clicked_count / delivered, 1) if delivered else 0.0,
            "links": campaign_link_stats(campaign_id=campaign.pk),
        }
        return Response(CampaignLinksSerializer(data).data)
