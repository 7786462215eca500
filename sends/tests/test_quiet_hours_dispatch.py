"""Dispatch under quiet hours when the recipient's zone is not known: every zone the number may be in must be
inside the window, a number whose zones share none is skipped with its own reason, the state's stricter rule
applies, and each message expires with its recipients' window."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, ExclusionReason
from campaigns.progress_selectors import campaign_progress
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from sends.models import CampaignSend
from sends.tests.engine import run_in_process

pytestmark = pytest.mark.django_db
S = CampaignSend.Status


def campaign_to(*contacts) -> Campaign:
    audience = ContactListFactory()
    for contact in contacts:
        contact.lists.add(audience)
    campaign = CampaignFactory(body="Sale today. STOP to opt out")
    campaign.lists.add(audience)
    return campaign


def sent_to(outbox) -> set[str]:
    return {d for message in outbox for d in message.destinations}


def test_an_australian_mobile_without_a_zone_waits_until_every_zone_it_may_be_in_is_awake(staff_user, sms_outbox):
    """11:15 UTC in June: 20:45 in Adelaide, the first zone of phonenumbers' list (once taken as the person's),
    but 21:15 in Sydney."""
    with time_machine.travel(datetime(2026, 6, 2, 11, 15, tzinfo=UTC), tick=True) as clock:
        unknown = ContactFactory(phone_number="+61412345678", country="AU", timezone="")
        in_perth = ContactFactory(phone_number="+61412345679", country="AU", timezone="Australia/Perth")
        campaign_send_now(campaign=campaign_to(unknown, in_perth), actor=staff_user)
        run_in_process()
        assert sent_to(sms_outbox) == {"+61412345679"}
        waiting = CampaignSend.objects.get(contact=unknown)
        assert (waiting.status, waiting.attempts) == (S.QUEUED, 0)
        # 08:00 in Cocos (UTC+6:30), when Lord Howe Island (UTC+10:30) is at 12:00: every zone is awake.
        assert waiting.next_attempt_at == datetime(2026, 6, 3, 1, 30, tzinfo=UTC)
        clock.move_to(datetime(2026, 6, 3, 1, 30, 1, tzinfo=UTC))
        run_in_process()
        assert sent_to(sms_outbox) == {"+61412345679", "+61412345678"}


def test_a_number_whose_zones_share_no_window_is_skipped_with_its_own_reason(staff_user, sms_outbox, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(9), time(18)
    with time_machine.travel(datetime(2026, 6, 2, 17, 0, tzinfo=UTC), tick=True):
        toll_free = ContactFactory(phone_number="+18005550199", timezone="")
        told_us = ContactFactory(phone_number="+18885550199", timezone="America/Chicago")
        campaign = campaign_to(toll_free, told_us)
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
    assert sent_to(sms_outbox) == {"+18885550199"}
    skipped = CampaignSend.objects.get(contact=toll_free)
    assert (skipped.status, skipped.skip_reason) == (S.SKIPPED, ExclusionReason.NO_COMMON_QUIET_WINDOW)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.skipped_by_reason == {"no_common_quiet_window": 1}
    progress = campaign_progress(campaign=campaign, now=timezone.now())
    assert [(s.reason, s.count) for s in progress.skips] == [("no_common_quiet_window", 1)]
    assert progress.as_json()["skipped_by_reason"] == {"no_common_quiet_window": 1}


def test_a_florida_number_is_not_texted_after_20_00_even_inside_the_federal_window(staff_user, sms_outbox):
    # 00:30 UTC: 20:30 in Miami and New York, inside 08:00-21:00; Florida law ends at 20:00.
    with time_machine.travel(datetime(2026, 6, 2, 0, 30, tzinfo=UTC), tick=True):
        miami = ContactFactory(phone_number="+13055550123", timezone="America/New_York")
        new_york = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
        campaign_send_now(campaign=campaign_to(miami, new_york), actor=staff_user)
        run_in_process()
    assert sent_to(sms_outbox) == {"+12125550142"}
    assert CampaignSend.objects.get(contact=miami).next_attempt_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_each_message_expires_when_its_recipients_window_closes(staff_user, sms_outbox):
    """A message queued at 20:50 must not reach a phone at 23:00 because the provider held it."""
    with time_machine.travel(datetime(2026, 6, 2, 0, 50, tzinfo=UTC), tick=True):
        new_york = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
        campaign_send_now(campaign=campaign_to(new_york), actor=staff_user)
        run_in_process()
    [message] = sms_outbox
    assert 590 <= message.expiry_seconds <= 600  # until 21:00 in New York


def test_a_bulk_request_expires_with_the_earliest_window_of_its_recipients(staff_user, sms_outbox):
    # 00:50 UTC: 20:50 in New York (closes in 10 minutes), 17:50 in Los Angeles (closes in 3 hours 10).
    with time_machine.travel(datetime(2026, 6, 2, 0, 50, tzinfo=UTC), tick=True):
        new_york = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
        los_angeles = ContactFactory(phone_number="+14155550142", timezone="America/Los_Angeles")
        campaign_send_now(campaign=campaign_to(new_york, los_angeles), actor=staff_user)
        run_in_process()
    [message] = sms_outbox
    assert set(message.destinations) == {"+12125550142", "+14155550142"}
    assert message.expiry_seconds <= 600


def test_too_little_window_left_waits_for_the_next_window(staff_user, sms_outbox, settings):
    settings.QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS = 300
    # 20:57 in New York: three minutes left.
    with time_machine.travel(datetime(2026, 6, 2, 0, 57, tzinfo=UTC), tick=True):
        new_york = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
        campaign_send_now(campaign=campaign_to(new_york), actor=staff_user)
        run_in_process()
    assert not sms_outbox
    assert CampaignSend.objects.get(contact=new_york).next_attempt_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_recipients_whose_window_closes_while_waiting_for_the_rate_go_back_to_the_queue(
    staff_user, sms_outbox, settings
):
    """Screening finds the window open for all; at one message a second, the later ones would leave with less
    than Plivo's shortest expiry before 21:00: they are not sent, and wait for the morning."""
    settings.QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS = 5
    closes = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 21:00 in New York
    with time_machine.travel(closes - timedelta(seconds=10), tick=True):
        people = [
            ContactFactory(phone_number=f"+1212555{n:04d}", timezone="America/New_York", first_name=f"P{n}")
            for n in range(12)
        ]
        campaign = campaign_to(*people)
        campaign.body, campaign.max_per_second = "Hi {{ first_name }}", 1  # one request each, one a second
        campaign.save()
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        sent = CampaignSend.objects.filter(status=S.SENT)
        assert 0 < sent.count() < len(people)
        for message in sms_outbox:
            assert message.expiry_seconds >= 5
        assert all(send.sent_at <= closes - timedelta(seconds=4) for send in sent)
        held = CampaignSend.objects.exclude(status=S.SENT)
        assert {(send.status, send.attempts) for send in held} == {(S.QUEUED, 0)}
        run_in_process()  # the next pass finds their window closed: the morning
        assert set(held.values_list("next_attempt_at", flat=True)) == {datetime(2026, 6, 2, 12, 0, tzinfo=UTC)}
