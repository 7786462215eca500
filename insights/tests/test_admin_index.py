"""The admin's front page: the dashboard for staff who read campaigns, the app list in the marketer's order,
logins and tokens for superusers only."""

from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from insights.services import daily_campaign_stats_add

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def app_labels(response) -> list[str]:
    return [app["app_label"] for app in response.context["app_list"]]


def test_a_viewer_sees_the_figures_of_the_period(client, viewer):
    campaign = CampaignFactory(name="Spring <sale>", status=Campaign.Status.COMPLETED, started_at=timezone.now())
    daily_campaign_stats_add(
        campaign_id=campaign.pk,
        deltas={"sent_count": 200, "delivered_count": 150, "undelivered_count": 10},
        cost=Decimal("1.25"),
        opt_outs=3,
        failed_by_error_code={"30": 10},
    )
    client.force_login(viewer)
    response = client.get("/admin/?days=7")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="figure-sent">200<' in html
    assert 'id="figure-delivery-rate">75.0%<' in html
    assert 'id="figure-opt-out-rate">2.0%<' in html
    assert 'id="figure-cost">1.25<' in html
    assert "Spring &lt;sale&gt;" in html
    assert "<rect" in html and "style=" not in html and "<script>" not in html
    assert "Last 7 days" in html


@pytest.mark.parametrize("days", ["365", "abc", "-1", ""])
def test_an_unknown_period_is_the_default_one(client, viewer, days):
    client.force_login(viewer)
    response = client.get(f"/admin/?days={days}")
    assert response.status_code == 200
    assert response.context["dashboard"].days == 30


def test_the_apps_follow_the_marketers_work_and_the_technical_ones_come_last(client, manager):
    client.force_login(manager)
    labels = app_labels(client.get("/admin/"))
    assert labels[:3] == ["campaigns", "contacts", "sends"]
    assert labels[-1] == "audit"
    assert not {"axes", "authtoken", "auth"} & set(labels)


def test_a_superuser_sees_logins_and_tokens_last(client, admin_user):
    client.force_login(admin_user)
    labels = app_labels(client.get("/admin/"))
    assert labels[:3] == ["campaigns", "contacts", "sends"]
    assert labels[-4:] == ["audit", "auth", "authtoken", "axes"]


def test_staff_without_campaigns_get_the_app_list_alone(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "dashboard" not in response.context
