"""A recipient whose own text (their values filled in) is longer than Plivo accepts or SMS_MAX_SEGMENTS allows
is never sent it: dispatch skips them with reason message_too_long, counted like any skip; test sends refuse
such a text; and the simulator refuses what Plivo refuses."""

from collections import Counter

import pytest
import requests
from django.core.management import CommandError, call_command

from campaigns.models import ExclusionReason
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from sends.models import CampaignSend
from sends.services.staff_test_sends import campaign_test_send
from sends.simulator import DEMO_AUTH_ID
from sends.tests.test_engine import assert_counters_match_rows
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
# Noon in Los Angeles (the factories' timezone): inside quiet hours' allowed window.


def _campaign(*bios: str):
    audience = ContactListFactory()
    contacts = [ContactFactory(attributes={"bio": bio}) for bio in bios]
    for contact in contacts:
        contact.lists.add(audience)
    campaign = CampaignFactory(body="Hi {{ first_name }}, {{ bio }} STOP to opt out")
    campaign.lists.add(audience)
    return campaign, contacts


def test_a_5000_character_attribute_is_skipped_as_too_long_not_sent_in_33_segments(staff_user, run_engine, sms_outbox):
    campaign, (short, long) = _campaign("our sale starts today", "x" * 5000)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert Counter(d for m in sms_outbox for d in m.destinations) == Counter([str(short.phone_number)])
    assert all(len(m.body) < 200 for m in sms_outbox)
    skipped = CampaignSend.objects.get(contact=long)
    assert (skipped.status, skipped.skip_reason, skipped.segments) == (S.SKIPPED, "message_too_long", 0)
    campaign.refresh_from_db()
    assert campaign.skipped_by_reason == {"message_too_long": 1}
    assert (campaign.sent_count, campaign.skipped_count, campaign.status) == (1, 1, "completed")
    assert_counters_match_rows(campaign)


def test_a_text_over_the_segment_ceiling_is_skipped_though_plivo_would_take_it(
    staff_user, run_engine, sms_outbox, settings
):
    settings.SMS_MAX_SEGMENTS = 2
    campaign, (short, long) = _campaign("hello", "y" * 400)  # about 430 characters: 3 segments
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert [m.destinations for m in sms_outbox] == [[str(short.phone_number)]]
    assert CampaignSend.objects.get(contact=long).skip_reason == ExclusionReason.MESSAGE_TOO_LONG


def test_a_test_send_refuses_a_text_too_long_and_sends_nothing(staff_user, sms_outbox):
    campaign, (contact,) = _campaign("x" * 5000)
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=campaign, numbers=[str(contact.phone_number)], actor=staff_user)
    assert refused.value.code == "message_too_long"
    assert f"the message for {contact.phone_number} (rendered for its own contact) is too long" in (
        refused.value.message
    )
    assert "Plivo refuses a text longer than 1,600" in refused.value.message
    assert sms_outbox == []


def test_the_api_test_send_answers_400_for_a_text_too_long(api_client, sms_outbox):
    campaign, _ = _campaign("x" * 5000)  # the sample recipient's text is the one rendered
    response = api_client("campaigns.view_campaign", "campaigns.send_campaign").post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": ["+14155550199"]}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert "rendered for a sample recipient) is too long" in response.json()["errors"]["body"][0]
    assert sms_outbox == []


@pytest.mark.usefixtures("staff_roles")
def test_send_test_to_my_phone_in_the_admin_says_the_text_is_too_long(client, manager, sms_outbox):
    from django.urls import reverse

    campaign, _ = _campaign("x" * 5000)
    client.force_login(manager)
    response = client.post(
        reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
        {"phone_number": "+14155550199"},
        follow=True,
    )
    assert "No test: the message for +14155550199" in response.content.decode()
    assert sms_outbox == []


def test_send_test_sms_refuses_a_ucs2_text_longer_than_plivo_takes(sms_outbox):
    with pytest.raises(CommandError, match="738 characters in UCS-2, and Plivo refuses a text longer than 737"):
        call_command("send_test_sms", "+14155550123", "ж" * 738)
    with pytest.raises(CommandError, match="more than the 10 a message may cost"):
        call_command("send_test_sms", "+14155550123", "a" * 1540)  # 11 segments, within Plivo's 1,600
    assert sms_outbox == []


def test_the_simulator_refuses_a_text_longer_than_plivo_documents(plivo_simulator):
    url = f"{plivo_simulator.url}/v1/Account/{DEMO_AUTH_ID}/Message/"
    auth = (DEMO_AUTH_ID, plivo_simulator.auth_token)
    for text, accepted in [("a" * 1600, True), ("a" * 1601, False), ("ж" * 737, True), ("ж" * 738, False)]:
        response = requests.post(url, json={"src": "+14155550100", "dst": "14155550123", "text": text}, auth=auth)
        assert (response.status_code == 202) is accepted, (len(text), response.json())
