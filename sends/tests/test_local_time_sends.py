"""Sending at each recipient's local time: each zone's share goes when its clock reaches the campaign's time,
within quiet hours; those whose time had passed at the launch go the next day or right away, as staff chose;
the preview shows the waves."""

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_preview
from campaigns.services.drafts import campaign_update
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import campaign_to
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend
from sends.tests.engine import run_in_process
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db
S = CampaignSend.Status
LOCAL = Campaign.ScheduleMode.LOCAL_TIME

# 06:00 UTC on 2 June 2026: 08:00 in Paris, 02:00 in New York, 16:00 in Sydney, 23:00 (1 June) in Los Angeles.
LAUNCH = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)


def sent_to(outbox) -> set[str]:
    return {d for message in outbox for d in message.destinations}


def people():
    return {
        "paris": ContactFactory(phone_number="+33612345678", country="FR", timezone="Europe/Paris"),
        "new_york": ContactFactory(phone_number="+12125550101", timezone="America/New_York"),
        "sydney": ContactFactory(phone_number="+61412345670", country="AU", timezone="Australia/Sydney"),
    }


def number(contact) -> str:
    return str(contact.phone_number)


def test_each_zone_goes_when_its_clock_reaches_the_time_and_passed_ones_the_next_day(staff_user, sms_outbox):
    with time_machine.travel(LAUNCH, tick=True) as clock:
        who = people()
        campaign = campaign_to(who.values(), schedule_mode=LOCAL, local_send_time=time(10, 0))
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        assert sent_to(sms_outbox) == set()
        due = dict(CampaignSend.objects.filter(campaign=campaign).values_list("to_number", "next_attempt_at"))
        assert due == {
            number(who["paris"]): datetime(2026, 6, 2, 8, 0, tzinfo=UTC),  # 10:00 CEST
            number(who["new_york"]): datetime(2026, 6, 2, 14, 0, tzinfo=UTC),  # 10:00 EDT
            number(who["sydney"]): datetime(2026, 6, 3, 0, 0, tzinfo=UTC),  # 16:00 passed: 10:00 AEST tomorrow
        }
        clock.move_to(datetime(2026, 6, 2, 8, 0, 1, tzinfo=UTC))
        run_in_process()
        assert sent_to(sms_outbox) == {number(who["paris"])}
        clock.move_to(datetime(2026, 6, 2, 14, 0, 1, tzinfo=UTC))
        run_in_process()
        assert sent_to(sms_outbox) == {number(who["paris"]), number(who["new_york"])}
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SENDING  # Sydney's share is still to go
        clock.move_to(datetime(2026, 6, 3, 0, 0, 1, tzinfo=UTC))
        run_in_process()
        assert len(sms_outbox) == 3  # each once
        campaign.refresh_from_db()
        assert (campaign.status, campaign.sent_count) == (Campaign.Status.COMPLETED, 3)


def test_passed_times_go_right_away_when_staff_choose_so(staff_user, sms_outbox):
    with time_machine.travel(LAUNCH, tick=True):
        who = people()
        campaign = campaign_to(
            who.values(),
            schedule_mode=LOCAL,
            local_send_time=time(10, 0),
            local_time_passed=Campaign.LocalTimePassed.IMMEDIATELY,
        )
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        assert sent_to(sms_outbox) == {number(who["sydney"])}


def test_a_local_time_outside_quiet_hours_waits_for_the_window(staff_user, sms_outbox):
    with time_machine.travel(LAUNCH, tick=True) as clock:
        paris = ContactFactory(phone_number="+33612345678", country="FR", timezone="Europe/Paris")
        campaign = campaign_to([paris], schedule_mode=LOCAL, local_send_time=time(22, 30))
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        clock.move_to(datetime(2026, 6, 2, 20, 30, 1, tzinfo=UTC))  # 22:30 in Paris: after quiet hours' 21:00
        run_in_process()
        assert sent_to(sms_outbox) == set()
        send = CampaignSend.objects.get(campaign=campaign)
        assert send.status == S.QUEUED
        assert send.next_attempt_at == datetime(2026, 6, 3, 6, 0, tzinfo=UTC)  # 08:00 the next morning
        clock.move_to(datetime(2026, 6, 3, 6, 0, 1, tzinfo=UTC))
        run_in_process()
        assert sent_to(sms_outbox) == {number(paris)}


def test_the_preview_shows_the_waves_by_time(staff_user):
    with time_machine.travel(LAUNCH, tick=False):
        who = people()
        extra = ContactFactory(phone_number="+33612345679", country="FR", timezone="Europe/Paris")
        campaign = campaign_to([*who.values(), extra], schedule_mode=LOCAL, local_send_time=time(10, 0))
        waves = campaign_preview(campaign=campaign, now=timezone.now()).waves
        assert [(w.zones, w.local_time, w.send_at, w.count) for w in waves] == [
            (("Europe/Paris",), "10:00", datetime(2026, 6, 2, 8, 0, tzinfo=UTC), 2),
            (("America/New_York",), "10:00", datetime(2026, 6, 2, 14, 0, tzinfo=UTC), 1),
            (("Australia/Sydney",), "10:00 next day", datetime(2026, 6, 3, 0, 0, tzinfo=UTC), 1),
        ]
        campaign_update(campaign=campaign, local_time_passed=Campaign.LocalTimePassed.IMMEDIATELY, actor=staff_user)
        first = campaign_preview(campaign=campaign, now=timezone.now()).waves[0]
        assert (first.zones, first.local_time, first.send_at) == (
            ("Australia/Sydney",),
            "right away (time passed)",
            LAUNCH,
        )
        assert campaign_preview(campaign=campaign_to(who.values()), now=timezone.now()).waves == ()


def test_local_time_mode_needs_its_time(staff_user):
    campaign = campaign_to([])
    with pytest.raises(ApplicationError) as error:
        campaign_update(campaign=campaign, schedule_mode=LOCAL, actor=staff_user)
    assert error.value.field == "local_send_time"
    campaign.refresh_from_db()
    assert campaign.schedule_mode == Campaign.ScheduleMode.INSTANT
    with pytest.raises(ApplicationError) as error:
        campaign_update(campaign=campaign, skip_recent_hours=0, actor=staff_user)
    assert error.value.field == "skip_recent_hours"
