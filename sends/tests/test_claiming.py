"""Claiming a wave right before sending: only sends still queued, of contacts who may still be texted, in a
campaign still sending, are taken; each claim counts an attempt."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_send_now
from contacts.models import Contact, Suppression
from contacts.tests.factories import SuppressionFactory
from sends.models import CampaignSend
from sends.services import fanout
from sends.services.dispatch.claiming import sends_claim
from sends.services.dispatch.recipients import due_recipients
from sends.tests.test_engine import make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status


def launched(n: int, staff_user) -> tuple[Campaign, list[Contact]]:
    campaign, contacts = make_campaign(n, body="Sale today. STOP to opt out")
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    return campaign, contacts


def chunk_recipients(campaign: Campaign):
    ids = list(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))
    return due_recipients(campaign_id=campaign.pk, first_id=min(ids), last_id=max(ids), now=timezone.now())


def send_of(contact: Contact) -> CampaignSend:
    return CampaignSend.objects.get(contact=contact)


def test_a_claim_takes_only_queued_sends_of_contacts_who_may_still_be_texted(staff_user):
    campaign, contacts = launched(6, staff_user)
    recipients = chunk_recipients(campaign)  # screened: all six may be texted
    fine, opted_out, suppressed, unsubscribed, taken, erased = contacts
    # Between screening and the claim:
    Contact.objects.filter(pk=opted_out.pk).update(status=Contact.Status.UNSUBSCRIBED, opted_out_at=timezone.now())
    SuppressionFactory(phone_number=suppressed.phone_number, reason=Suppression.Reason.OPT_OUT)
    Contact.objects.filter(pk=unsubscribed.pk).update(status=Contact.Status.UNSUBSCRIBED, consented_at=None)
    CampaignSend.objects.filter(contact=taken).update(status=S.SENDING, attempts=1)  # another worker's claim
    CampaignSend.objects.filter(contact=erased).update(contact=None)

    claimed = sends_claim(campaign_id=campaign.pk, recipients=recipients)

    assert claimed == {send_of(fine).pk}
    assert (send_of(fine).status, send_of(fine).attempts) == (S.SENDING, 1)
    for contact in (opted_out, suppressed, unsubscribed):
        assert (send_of(contact).status, send_of(contact).attempts) == (S.QUEUED, 0)
    assert send_of(taken).attempts == 1  # not counted twice
    assert CampaignSend.objects.get(campaign=campaign, contact=None).status == S.QUEUED


def test_a_chunk_claimed_twice_takes_nothing_the_second_time(staff_user):
    campaign, _ = launched(3, staff_user)
    recipients = chunk_recipients(campaign)
    first = sends_claim(campaign_id=campaign.pk, recipients=recipients)
    again = sends_claim(campaign_id=campaign.pk, recipients=recipients)
    assert len(first) == 3
    assert again == set()
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("attempts", flat=True)) == {1}


def test_a_claim_in_a_campaign_no_longer_sending_takes_nothing(staff_user):
    campaign, _ = launched(3, staff_user)
    recipients = chunk_recipients(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    assert sends_claim(campaign_id=campaign.pk, recipients=recipients) == set()
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.QUEUED}
