"""Short links at fan-out and send time: one code per recipient and link, set-based, in the text as sent."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.tracked_links import SHORT_LINK_CODE_LENGTH
from links.models import ShortLink, TrackedLink
from links.services.codes import link_destination, short_links_create
from sends.models import CampaignSend

pytestmark = pytest.mark.django_db

CODE = re.compile(rf"http://testserver/l/([A-Za-z0-9_-]{{{SHORT_LINK_CODE_LENGTH}}})")


def test_each_recipient_gets_a_code_per_link_written_into_their_text(sent_campaign, sms_outbox):
    campaign, _ = sent_campaign(3)
    links = list(TrackedLink.objects.filter(campaign=campaign).order_by("position"))
    assert [link.url for link in links] == ["https://shop.example.com/sale?ref=sms", "https://shop.example.com/faq"]
    assert ShortLink.objects.filter(link__campaign=campaign).count() == 6
    texts = {m.destinations[0]: m.body for m in sms_outbox}
    assert len(texts) == 3
    for send in CampaignSend.objects.filter(campaign=campaign):
        text = texts[send.to_number]
        assert "shop.example.com" not in text
        codes = CODE.findall(text)
        own = dict(ShortLink.objects.filter(send=send).values_list("link__position", "code"))
        assert codes == [own[0], own[1]]
        assert text.endswith(". STOP to opt out")  # the sentence's full stop is not part of the link


def test_codes_are_made_in_one_statement_whatever_the_audience(sent_campaign):
    campaign, _ = sent_campaign(2)
    ShortLink.objects.all().delete()
    CampaignSend.objects.filter(campaign=campaign).update(status=CampaignSend.Status.QUEUED)
    campaign.refresh_from_db()
    campaign.queued_count = 2
    with CaptureQueriesContext(connection) as queries:
        assert short_links_create(campaign=campaign) == 4
    inserts = [q["sql"] for q in queries if "INSERT INTO links_shortlink" in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1  # one INSERT ... SELECT for the whole campaign
    # A repeated fan-out adds nothing.
    assert short_links_create(campaign=campaign) == 0
    assert ShortLink.objects.count() == 4


def test_codes_are_unguessable_and_url_safe(sent_campaign):
    sent_campaign(40)
    codes = list(ShortLink.objects.values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 80
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{8}", code) for code in codes)
    # 48 random bits: over 80 codes every one of the 64 characters' positions varies.
    for position in range(SHORT_LINK_CODE_LENGTH):
        assert len({code[position] for code in codes}) > 10


def test_skipped_recipients_get_no_code(sent_campaign):
    campaign, _ = sent_campaign(2, opted_out=1)
    skipped = CampaignSend.objects.get(campaign=campaign, status=CampaignSend.Status.SKIPPED)
    assert not ShortLink.objects.filter(send=skipped).exists()
    assert ShortLink.objects.filter(link__campaign=campaign).count() == 4  # the two others, two links each


def test_a_campaign_not_tracking_links_sends_them_as_written(sent_campaign, sms_outbox):
    campaign, _ = sent_campaign(2, track_links=False)
    assert not TrackedLink.objects.filter(campaign=campaign).exists()
    assert all("https://shop.example.com/faq" in m.body for m in sms_outbox)


def test_a_link_built_from_a_placeholder_is_not_tracked(sent_campaign, sms_outbox):
    campaign, _ = sent_campaign(1, body="Hi, see https://shop.example.com/u/{{ first_name }} now. STOP to opt out")
    assert not TrackedLink.objects.filter(campaign=campaign).exists()
    assert "https://shop.example.com/u/" in sms_outbox[0].body


def test_utm_parameters_are_added_to_the_destination_only(sent_campaign):
    campaign, _ = sent_campaign(1, utm_source="sms", utm_campaign="spring sale")
    sale, faq = TrackedLink.objects.filter(campaign=campaign).order_by("position")
    assert sale.destination == "https://shop.example.com/sale?ref=sms&utm_source=sms&utm_campaign=spring+sale"
    assert faq.destination == "https://shop.example.com/faq?utm_source=sms&utm_campaign=spring+sale"


def test_utm_parameter_already_in_the_url_is_kept():
    from campaigns.models import Campaign

    campaign = Campaign(utm_source="sms", utm_medium="text")
    url = "https://a.example/?utm_source=newsletter#top"
    assert (
        link_destination(url=url, campaign=campaign) == "https://a.example/?utm_source=newsletter&utm_medium=text#top"
    )


def test_deleting_a_send_deletes_its_codes(sent_campaign):
    campaign, _ = sent_campaign(2)
    send = CampaignSend.objects.filter(campaign=campaign).first()
    send.delete()
    assert not ShortLink.objects.filter(send_id=send.pk).exists()
    assert ShortLink.objects.filter(link__campaign=campaign).count() == 2


def test_every_ab_variant_links_are_tracked(daytime, sms_outbox):
    from campaigns.services.ab_tests import ABSettings, campaign_ab_test_set
    from campaigns.services.lifecycle import campaign_send_now
    from campaigns.tests.factories import CampaignFactory
    from contacts.tests.factories import ContactFactory, ContactListFactory
    from sends.tests.engine import run_in_process

    audience = ContactListFactory()
    for _ in range(4):
        ContactFactory().lists.add(audience)
    campaign = CampaignFactory(body="x")
    campaign.lists.add(audience)
    campaign_ab_test_set(
        campaign=campaign,
        bodies=["A: https://shop.example.com/a STOP to opt out", "B: https://shop.example.com/b STOP to opt out"],
        settings=ABSettings(),
    )
    campaign.refresh_from_db()
    campaign_send_now(campaign=campaign, actor=None)
    run_in_process()
    assert list(TrackedLink.objects.filter(campaign=campaign).values_list("url", flat=True)) == [
        "https://shop.example.com/a",
        "https://shop.example.com/b",
    ]
    assert sms_outbox and all("shop.example.com" not in m.body and CODE.search(m.body) for m in sms_outbox)
