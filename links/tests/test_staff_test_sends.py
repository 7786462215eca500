"""A staff test send carries short links like the recipients' (the same length, the same destination), which
count in no campaign figure."""

import re

import pytest
from django.test import Client

from campaigns.tests.factories import CampaignFactory
from links.models import Click, StaffTestLink, TrackedLink
from links.services.clicks import link_clicks_flush
from links.tests.test_clicks import IPHONE
from sends.services.staff_test_sends import campaign_test_send
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db

# Not \b after the code: a code may end in "-", after which a space is no word boundary (one code in 64).
CODE = re.compile(r"http://testserver/l/([A-Za-z0-9_-]{8})(?![A-Za-z0-9_-])")
# 150 characters of tracking URL: 2 segments written out, 1 with its 28-character short link.
LONG_URL = "https://shop.example.com/spring/sale?ref=" + "x" * 109
BODY = f"Spring sale! {LONG_URL} Reply STOP to opt out"
PHONE = "+14155550199"


def test_a_test_send_gets_a_short_link_to_the_campaigns_destination_and_its_taps_count_nowhere(staff_user):
    campaign = CampaignFactory(body=BODY, utm_source="sms")
    [result] = campaign_test_send(campaign=campaign, numbers=[PHONE], actor=staff_user)
    assert LONG_URL not in result.body
    [code] = CODE.findall(result.body)
    assert result.body == f"Spring sale! http://testserver/l/{code} Reply STOP to opt out"
    link = StaffTestLink.objects.get(code=code)
    assert (link.campaign, link.url, link.destination) == (campaign, LONG_URL, f"{LONG_URL}&utm_source=sms")
    response = Client(HTTP_USER_AGENT=IPHONE).get(f"/l/{code}")
    assert (response.status_code, response["Location"]) == (302, link.destination)
    link_clicks_flush()
    assert not Click.objects.exists()
    campaign.refresh_from_db()
    assert campaign.clicked_count == 0
    # The campaign's own tracked links are made at launch, from the text as it is then.
    assert not TrackedLink.objects.filter(campaign=campaign).exists()


def test_a_test_send_is_measured_with_its_short_link_as_the_campaign_will_be(staff_user, settings, sms_outbox):
    settings.SMS_MAX_SEGMENTS = 1
    campaign = CampaignFactory(body=BODY)
    [result] = campaign_test_send(campaign=campaign, numbers=[PHONE], actor=staff_user)
    assert result.ok and result.segments == 1
    assert sms_outbox[0].body == result.body


def test_each_test_and_each_number_gets_its_own_codes(staff_user):
    campaign = CampaignFactory(body=f"{BODY} and again {LONG_URL} or https://shop.example.com/faq")
    first, second = campaign_test_send(campaign=campaign, numbers=[PHONE, "+14155550198"], actor=staff_user)
    codes = CODE.findall(first.body)
    assert len(codes) == 3 and codes[0] == codes[1]  # one code per URL of the text
    assert set(codes).isdisjoint(CODE.findall(second.body))
    assert StaffTestLink.objects.filter(campaign=campaign).count() == 4


def test_a_campaign_not_tracking_links_is_tested_with_its_urls_as_written(staff_user):
    campaign = CampaignFactory(body=BODY, track_links=False)
    [result] = campaign_test_send(campaign=campaign, numbers=[PHONE], actor=staff_user)
    assert LONG_URL in result.body
    assert not StaffTestLink.objects.exists()


def test_a_refused_test_leaves_no_test_links(staff_user, sms_outbox):
    campaign = CampaignFactory(body=BODY + " {{ bio }}")
    too_long = "x" * 2000
    from contacts.tests.factories import ContactFactory

    contact = ContactFactory(attributes={"bio": too_long})
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=campaign, numbers=[PHONE, str(contact.phone_number)], actor=staff_user)
    assert refused.value.code == "message_too_long"
    assert not StaffTestLink.objects.exists()
    assert sms_outbox == []
