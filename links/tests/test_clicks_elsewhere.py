"""Clicks where other features read them: the A/B click rate, segments' click conditions, and link.clicked
for integrators and the dashboard."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ABTest
from campaigns.services.ab_tests import ABSettings, campaign_ab_test_set
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.selectors import segment_contacts
from contacts.tests.factories import ContactFactory, ContactListFactory, condition_dict
from links.models import Click, ShortLink
from links.services.clicks import ClickEvent, clicks_apply
from sends.models import CampaignSend
from sends.services.ab_tests import ab_decide
from sends.tests.engine import run_in_process
from smscampaigns import domain_events

pytestmark = pytest.mark.django_db
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile Safari"


def click(send: CampaignSend, *, user_agent: str = PHONE, at=None) -> None:
    code = ShortLink.objects.filter(send=send).order_by("link__position").values_list("code", flat=True).first()
    event = ClickEvent(str(uuid.uuid4()), code, at or timezone.now(), "GET", user_agent, "hash")
    clicks_apply(events=[event])


def rules(*conditions) -> dict:
    return {"match": "all", "groups": [{"match": "all", "conditions": list(conditions)}]}


def test_an_ab_test_on_clicks_picks_the_variant_people_clicked(daytime):
    audience = ContactListFactory()
    for _ in range(120):
        ContactFactory().lists.add(audience)
    campaign = CampaignFactory(body="x")
    campaign.lists.add(audience)
    bodies = ["Sale: https://shop.example.com/a STOP to opt out", "Deals: https://shop.example.com/b STOP to opt out"]
    campaign_ab_test_set(
        campaign=campaign, bodies=bodies, settings=ABSettings(test_percent=50, metric=ABTest.Metric.CLICK_RATE)
    )
    campaign_send_now(campaign=campaign, actor=None)
    run_in_process()
    a_sends = list(CampaignSend.objects.filter(campaign=campaign, variant__label="A"))
    b_sends = list(CampaignSend.objects.filter(campaign=campaign, variant__label="B"))
    for send in a_sends[:3]:
        click(send)
    for send in b_sends[:20]:
        click(send)
        click(send)  # a repeat: counted once
    click(a_sends[5], user_agent="facebookexternalhit/1.1")  # a preview fetcher is no person
    winner = ab_decide(campaign=campaign)
    ab_test = ABTest.objects.get(campaign=campaign)
    assert (winner.label, ab_test.decided_by) == ("B", ABTest.DecidedBy.STATISTICS)
    assert [v["successes"] for v in ab_test.decision["variants"]] == [3, 20]


def test_segments_select_who_clicked_lately_or_in_a_campaign(sent_campaign, daytime):
    campaign, (ann, bob, cat) = sent_campaign(3)
    sends = {s.contact_id: s for s in CampaignSend.objects.filter(campaign=campaign)}
    click(sends[ann.pk])
    click(sends[bob.pk], at=timezone.now() - timedelta(days=40))
    click(sends[cat.pk], user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)")  # a scanner is no click
    recent = segment_contacts(rules=rules(condition_dict("clicked", "in_last_days", 30)))
    assert set(recent) == {ann}
    assert set(segment_contacts(rules=rules(condition_dict("clicked", "never")))) >= {cat}
    in_campaign = segment_contacts(rules=rules(condition_dict("clicked_campaign", "in_any", [campaign.pk])))
    assert set(in_campaign) == {ann, bob}


def test_a_first_click_is_a_link_clicked_event(sent_campaign, monkeypatch):
    got = []

    class Sink:
        def wants(self, event_type):
            return event_type == domain_events.LINK_CLICKED

        def receive(self, events):
            got.extend(events)

    monkeypatch.setattr(domain_events, "_sinks", [*domain_events._sinks, Sink()])
    campaign, (ann, _bob) = sent_campaign(2)
    send = CampaignSend.objects.get(campaign=campaign, contact=ann)
    click(send)
    click(send)  # a repeat is not a new click
    [event] = got
    stored = Click.objects.get(kind=Click.Kind.CLICK)
    assert event.data["id"] == stored.pk and event.data["campaign_id"] == campaign.pk
    assert (event.data["send_id"], event.data["contact_id"]) == (send.pk, ann.pk)


def test_the_results_export_gives_each_recipients_clicks(sent_campaign):
    import csv

    from insights.exports import campaign_results_csv

    campaign, (ann, bob) = sent_campaign(2)
    send = CampaignSend.objects.get(campaign=campaign, contact=ann)
    click(send)
    click(send)  # a repeat is a click too
    click(send, user_agent="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")  # a preview is not
    rows = list(csv.DictReader("".join(campaign_results_csv(campaign=campaign)).splitlines()))
    assert {row["contact_id"]: row["clicks"] for row in rows} == {str(ann.pk): "2", str(bob.pk): "0"}
