"""The simulator's recipients open their short links over HTTP, so a demo shows a live click rate: a campaign
sent through the real plivo backend to the simulator, delivered by its callbacks to the live server."""

import time

import pytest

from campaigns.models import Campaign
from links.models import Click
from links.services.clicks import link_clicks_flush
from sends.models import CampaignSend
from sends.services.delivery_reports import delivery_reports_drain

pytestmark = pytest.mark.django_db(transaction=True)


def delivered(campaign: Campaign, n: int, plivo_simulator) -> None:
    deadline = time.monotonic() + 20
    while True:
        # The webhook stores each report; the beat's drain applies them: here, as it would.
        delivery_reports_drain()
        if CampaignSend.objects.filter(campaign=campaign, status=CampaignSend.Status.DELIVERED).count() >= n:
            return
        statuses = list(CampaignSend.objects.filter(campaign=campaign).values_list("status", "error_code"))
        sim = [(m["status"], m["url"]) for m in plivo_simulator.messages()]
        assert time.monotonic() < deadline, f"no delivery reports: sends {statuses}, simulator {sim}"
        time.sleep(0.05)


def test_simulated_recipients_click_their_own_links(plivo_simulator_live, sent_campaign):
    campaign, _ = sent_campaign(4)
    delivered(campaign, 4, plivo_simulator_live)
    plivo_simulator_live.wait_for_callbacks()
    assert plivo_simulator_live.clicks(share=1.0) == {"clicking": 4}
    plivo_simulator_live.wait_for_callbacks()
    # Each recipient opened both of their links: 8 redirects, 4 people.
    assert plivo_simulator_live.stats()["clicks_302"] == 8
    link_clicks_flush()
    assert Click.objects.filter(kind=Click.Kind.CLICK).count() == 4
    assert Click.objects.filter(kind=Click.Kind.REPEAT).count() == 4
    campaign.refresh_from_db()
    assert campaign.clicked_count == 4
    # Asked again, nobody clicks twice.
    assert plivo_simulator_live.clicks(share=1.0) == {"clicking": 0}


def test_the_click_share_knob_clicks_as_messages_are_delivered(plivo_simulator_live, sent_campaign):
    plivo_simulator_live.set_faults(click_share=1.0)
    campaign, _ = sent_campaign(3, body="Sale at https://shop.example.com/s today. STOP to opt out")
    delivered(campaign, 3, plivo_simulator_live)
    plivo_simulator_live.wait_for_callbacks()
    assert plivo_simulator_live.stats()["clicks_302"] == 3
    link_clicks_flush()
    campaign.refresh_from_db()
    assert campaign.clicked_count == 3


def test_click_settings_are_checked(plivo_simulator):
    import requests

    assert requests.post(f"{plivo_simulator.url}/_sim/clicks", json={"share": 2}, timeout=5).status_code == 400
    bad = requests.post(f"{plivo_simulator.url}/_sim/faults", json={"click_share": -1}, timeout=5)
    assert bad.status_code == 400


def test_only_the_recipients_of_one_sender_click_when_asked(plivo_simulator_live, sent_campaign):
    campaign, _ = sent_campaign(3, body="Sale at https://shop.example.com/s today. STOP to opt out")
    delivered(campaign, 3, plivo_simulator_live)
    plivo_simulator_live.wait_for_callbacks()
    assert plivo_simulator_live.clicks(share=1.0, src="+12125550199") == {"clicking": 0}
    # Compared by digits, as Plivo's own filters compare numbers.
    assert plivo_simulator_live.clicks(share=1.0, src="+1 (415) 555-0100") == {"clicking": 3}
    import requests

    bad = requests.post(f"{plivo_simulator_live.url}/_sim/clicks", json={"src": 14155550100}, timeout=5)
    assert bad.status_code == 400
