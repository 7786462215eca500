"""The progress panel of a launched campaign's page and its JSON endpoint, from the campaign's counters.

The same page over real sends (the engine, then delivery reports) is in sends/tests/test_admin_progress.py."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.progress_selectors import RATE_WINDOW_SECONDS, campaign_progress
from campaigns.tests.admin_pages import change_url
from campaigns.tests.factories import CampaignFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
Status = Campaign.Status


@pytest.fixture(autouse=True)
def no_rate_samples():
    cache.clear()
    yield
    cache.clear()


def progress_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_progress", args=[campaign.pk])


def sending_campaign(**counters) -> Campaign:
    values = {
        "status": Status.SENDING,
        "started_at": timezone.now() - timedelta(minutes=5),
        "recipients_count": 1000,
        "queued_count": 400,
        "sent_count": 150,
        "delivered_count": 300,
        "undelivered_count": 20,
        "failed_count": 30,
        "skipped_count": 95,
        "unknown_count": 5,
        "skipped_by_reason": {"opted_out": 90, "invalid_number": 5},
        "failed_by_error_code": {"30": 25, "invalid_number": 20, "": 5},
        "segments_count": 520,
        "cost": Decimal("2.86000"),
        "opt_out_count": 7,
        **counters,
    }
    return CampaignFactory(**values)


def status_row(page: str, key: str) -> str:
    return re.search(rf'<tr data-status="{key}">(.*?)</tr>', page, re.S).group(1)


def test_a_sending_campaign_page_shows_counts_progress_cost_and_opt_outs(admin_client):
    campaign = sending_campaign()
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'id="campaign-progress"' in page and 'data-live="true"' in page
    assert "60.0% done</strong>:\n    600 of 1,000 recipients" in page  # 1,000 less 400 queued
    assert ">300<" in status_row(page, "delivered") and "30.0%" in status_row(page, "delivered")
    assert ">150<" in status_row(page, "sent") and ">400<" in status_row(page, "queued")
    assert "$2.86" in page and "520 segments" in page
    assert re.search(r'class="campaign-opt-outs">7 ', page)
    # Each count links to the sends list, pre-filtered by this campaign and that status.
    sends = reverse("admin:sends_campaignsend_changelist")
    assert f'href="{sends}?campaign={campaign.pk}&amp;status__in=delivered"' in status_row(page, "delivered")
    assert f'href="{sends}?campaign={campaign.pk}&amp;status__in=queued,sending"' in status_row(page, "queued")
    # Nothing from elsewhere: the panel is plain markup and one script of our own.
    assert "https://" not in page.replace("https://www.djangoproject.com", "") and "//cdn" not in page
    assert "campaigns/campaign-progress.js" in page


def test_the_funnel_is_inline_svg_with_its_numbers_in_words(admin_client):
    campaign = sending_campaign()
    page = admin_client.get(change_url(campaign)).content.decode()
    funnel = re.search(r'<svg class="campaign-funnel".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in funnel and 'aria-labelledby="funnel-title funnel-desc"' in funnel
    assert '<title id="funnel-title">Delivery funnel of 1,000 recipients</title>' in funnel
    description = re.search(r'<desc id="funnel-desc">(.*?)</desc>', funnel).group(1)
    # Queued to send = recipients - skipped; sent = accepted by Plivo (sent, delivered, undelivered).
    for words in ["Recipients: 1,000", "Queued to send: 905", "Sent: 470", "Delivered: 300"]:
        assert words in description
    assert "Failed or undelivered, 30: Spam detected: blocked by a carrier&#x27;s filter: 25" in description
    assert "<image" not in funnel and "href" not in funnel  # nothing loaded by the chart


def test_failures_are_listed_by_error_code_with_their_meaning_and_a_filtered_link(admin_client):
    campaign = sending_campaign()
    page = admin_client.get(change_url(campaign)).content.decode()
    table = re.search(r'<table class="campaign-failures-table">.*?</table>', page, re.S).group(0)
    codes = re.findall(r'data-error-code="([^"]*)"', table)
    assert codes == ["30", "invalid_number", ""]  # most first
    assert "30: Spam detected" in table and "invalid number" in table and "no error code" in table
    sends = reverse("admin:sends_campaignsend_changelist")
    assert f'href="{sends}?campaign={campaign.pk}&amp;error_code=30&amp;status__in=failed,undelivered"' in table


def test_a_draft_has_no_progress_panel(admin_client):
    page = admin_client.get(change_url(CampaignFactory())).content.decode()
    assert 'id="campaign-progress"' not in page


def completed_campaign(*, run_seconds: int) -> Campaign:
    """The sending campaign of `sending_campaign`, finished: 905 sends left the queue in `run_seconds`."""
    started = timezone.now() - timedelta(minutes=10)
    return sending_campaign(
        status=Status.COMPLETED,
        queued_count=0,
        sent_count=550,
        started_at=started,
        completed_at=started + timedelta(seconds=run_seconds),
    )


def test_a_completed_campaign_is_read_only_and_its_panel_stops_polling(admin_client):
    campaign = completed_campaign(run_seconds=100)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'data-live="false"' in page and "100.0% done" in page
    assert 'name="_save"' not in page and 'name="body"' not in page
    # Over the run: 550 sent + 300 delivered + 20 undelivered + 30 failed + 5 unknown left the queue in 100 s.
    assert "9.1 messages/s" in page and "average over the whole run (100 s)" in page


def test_a_slow_rate_is_shown_with_two_decimals_not_as_zero(admin_client):
    campaign = completed_campaign(run_seconds=20_000)
    page = admin_client.get(change_url(campaign)).content.decode()
    # 905 messages left the queue in 20,000 s: 0.045 per second, 3 per minute.
    assert "0.05 messages/s (3/min)" in page


def test_the_rate_is_measured_between_samples_of_the_recent_window():
    campaign = sending_campaign()
    start = timezone.now()
    first = campaign_progress(campaign=campaign, now=start)
    assert not first.rate.recent  # one sample only: the average since the start stands in
    Campaign.objects.filter(pk=campaign.pk).update(queued_count=280, sent_count=270)  # 120 more left the queue
    campaign.refresh_from_db()
    later = campaign_progress(campaign=campaign, now=start + timedelta(seconds=10))
    assert later.rate.recent and later.rate.over_seconds == 10 and later.rate.per_second == pytest.approx(12.0)
    # Samples older than the window are forgotten: after a quiet minute the rate is measured afresh.
    quiet = campaign_progress(campaign=campaign, now=start + timedelta(seconds=10 + RATE_WINDOW_SECONDS + 1))
    assert not quiet.rate.recent


def test_progress_json_serves_the_counters_and_the_panel(admin_client):
    campaign = sending_campaign()
    response = admin_client.get(progress_url(campaign))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["status"] == "sending" and data["live"] is True
    assert data["counts"] == {
        "delivered": 300,
        "sent": 150,
        "undelivered": 20,
        "failed": 30,
        "unknown": 5,
        "skipped": 95,
        "queued": 400,
    }
    assert (data["recipients"], data["done"], data["percent_done"]) == (1000, 600, 60.0)
    assert data["failed_by_error_code"] == {"30": 25, "invalid_number": 20, "": 5}
    assert (data["cost"], data["segments"], data["opt_outs"]) == ("2.86000", 520, 7)
    assert data["html"].startswith('<div class="module campaign-progress" id="campaign-progress"')


def test_a_viewer_sees_the_progress_but_cannot_change_the_campaign(client, viewer):
    client.force_login(viewer)
    campaign = sending_campaign()
    page = client.get(change_url(campaign))
    assert page.status_code == 200 and b'id="campaign-progress"' in page.content
    assert b'name="_save"' not in page.content and b'id="campaign-actions"' not in page.content
    assert client.get(progress_url(campaign)).status_code == 200
    assert client.post(change_url(campaign), {"name": "Renamed"}).status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).name == campaign.name


def test_progress_json_needs_the_view_permission(client, django_user_model):
    campaign = sending_campaign()
    assert client.get(progress_url(campaign)).status_code == 302  # to the login page
    staff = django_user_model.objects.create_user("no-role", password="pw-123-abc!", is_staff=True)
    client.force_login(staff)
    assert client.get(progress_url(campaign)).status_code == 403


def test_progress_json_of_a_missing_campaign_is_404(admin_client):
    assert admin_client.get(reverse("admin:campaigns_campaign_progress", args=[999999])).status_code == 404


def test_skips_are_listed_by_reason_with_those_no_common_quiet_window_left_unsent(admin_client):
    campaign = sending_campaign(skipped_by_reason={"opted_out": 90, "no_common_quiet_window": 5})
    page = admin_client.get(change_url(campaign)).content.decode()
    row = re.search(r'<tr data-skip-reason="no_common_quiet_window">(.*?)</tr>', page, re.S).group(1)
    assert "No common quiet-hours window" in row and ">5<" in row
    assert re.search(r'<tr data-skip-reason="opted_out">.*?Opted out.*?>90<', page, re.S)
    assert admin_client.get(progress_url(campaign)).json()["skipped_by_reason"] == {
        "opted_out": 90,
        "no_common_quiet_window": 5,
    }
