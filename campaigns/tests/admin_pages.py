"""The campaign pages of the admin as tests reach them: their URLs, and launching through the preview."""

import re

from django.urls import reverse


def action_url(campaign, name):
    return reverse("admin:campaigns_campaign_action", args=[campaign.pk, name])


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def preview_url(campaign):
    return reverse("admin:campaigns_campaign_preview", args=[campaign.pk])


def hidden_inputs(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def confirm_through_preview(client, campaign, name: str = "send_now", **query):
    """What staff do: open the preview from the campaign page's button, then press its confirm button."""
    page = client.get(preview_url(campaign), {"action": name, **query}).content.decode()
    fields = hidden_inputs(page)
    assert "preview_token" in fields, "the preview offers no confirmation"
    return client.post(action_url(campaign, name), fields, follow=True)
