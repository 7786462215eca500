"""Frequency caps decided when each send is claimed: the global cap over a rolling window, a campaign's
"skip anyone texted in the last H hours", transactional campaigns that bypass both, and the reasons counted
on the campaign and in its preview."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.caps import frequency_cap_in_force
from campaigns.models import Campaign, ExclusionReason
from campaigns.progress_selectors import campaign_progress
from campaigns.selectors import campaign_preview
from campaigns.services.caps import frequency_cap_update
from campaigns.services.lifecycle import campaign_send_now
from campaigns.services.quick_send import campaign_quick_send
from campaigns.tests.factories import campaign_to
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend
from sends.services.staff_test_sends import campaign_test_send
from sends.tests.engine import run_in_process
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db
S = CampaignSend.Status
R = ExclusionReason


def send_and_run(campaign: Campaign, actor) -> Campaign:
    campaign_send_now(campaign=campaign, actor=actor)
    run_in_process()
    campaign.refresh_from_db()
    return campaign


def reached(outbox) -> list[str]:
    return sorted(d for message in outbox for d in message.destinations)


def statuses(campaign: Campaign) -> dict[str, tuple[str, str]]:
    return {
        str(phone): (status, reason)
        for phone, status, reason in CampaignSend.objects.filter(campaign=campaign).values_list(
            "to_number", "status", "skip_reason"
        )
    }


def test_the_global_cap_skips_contacts_who_had_enough_marketing_messages(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=2, window_days=7, actor=staff_user)
    people = [ContactFactory() for _ in range(3)]
    send_and_run(campaign_to(people[:2]), staff_user)
    send_and_run(campaign_to(people[:1]), staff_user)
    # people[0] had two, people[1] one, people[2] none.
    third = send_and_run(campaign_to(people), staff_user)
    got = statuses(third)
    assert got[str(people[0].phone_number)] == (S.SKIPPED, R.FREQUENCY_CAP)
    assert got[str(people[1].phone_number)][0] == S.SENT
    assert got[str(people[2].phone_number)][0] == S.SENT
    assert third.skipped_by_reason == {R.FREQUENCY_CAP: 1}
    progress = campaign_progress(campaign=third, now=timezone.now())
    assert [(skip.reason, skip.count) for skip in progress.skips] == [(R.FREQUENCY_CAP, 1)]


def test_the_window_rolls_older_messages_out_of_the_count(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=1, window_days=2, actor=staff_user)
    person = ContactFactory()
    send_and_run(campaign_to([person]), staff_user)
    assert statuses(send_and_run(campaign_to([person]), staff_user))[str(person.phone_number)][1] == R.FREQUENCY_CAP
    daytime.shift(timedelta(days=2, minutes=1))
    assert statuses(send_and_run(campaign_to([person]), staff_user))[str(person.phone_number)][0] == S.SENT


def test_the_environment_gives_the_default_and_the_admin_value_wins(staff_user, sms_outbox, daytime, settings):
    settings.FREQUENCY_CAP_MAX_MESSAGES = 1
    person = ContactFactory()
    send_and_run(campaign_to([person]), staff_user)
    assert statuses(send_and_run(campaign_to([person]), staff_user))[str(person.phone_number)][1] == R.FREQUENCY_CAP
    frequency_cap_update(max_messages=0, window_days=None, actor=staff_user)  # managers lift it
    assert statuses(send_and_run(campaign_to([person]), staff_user))[str(person.phone_number)][0] == S.SENT
    event = AuditEvent.objects.filter(action="frequency_cap.changed").get()
    assert event.data == {
        "before": {"max_messages": None, "window_days": None},
        "after": {"max_messages": 0, "window_days": None},
    }


def test_skip_anyone_texted_in_the_last_hours_counts_every_campaign(staff_user, sms_outbox, daytime):
    earlier, later, fresh = ContactFactory(), ContactFactory(), ContactFactory()
    send_and_run(campaign_to([earlier]), staff_user)
    daytime.shift(timedelta(hours=3))
    send_and_run(campaign_to([later], transactional=True), staff_user)
    daytime.shift(timedelta(hours=1))
    campaign = send_and_run(campaign_to([earlier, later, fresh], skip_recent_hours=2), staff_user)
    got = statuses(campaign)
    assert got[str(earlier.phone_number)][0] == S.SENT  # texted 4 hours ago
    assert got[str(later.phone_number)] == (S.SKIPPED, R.RECENTLY_TEXTED)  # an hour ago, even transactional
    assert got[str(fresh.phone_number)][0] == S.SENT
    assert campaign.skipped_by_reason == {R.RECENTLY_TEXTED: 1}


def test_a_transactional_campaign_bypasses_the_cap_and_does_not_count_towards_it(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=1, window_days=7, actor=staff_user)
    person = ContactFactory()
    send_and_run(campaign_to([person]), staff_user)
    code = send_and_run(campaign_to([person], transactional=True, skip_recent_hours=5), staff_user)
    assert statuses(code)[str(person.phone_number)][0] == S.SENT
    assert reached(sms_outbox) == [str(person.phone_number)] * 2
    other = ContactFactory()
    send_and_run(campaign_to([other], transactional=True), staff_user)
    # The transactional message is not marketing: the cap still lets one marketing message through.
    assert statuses(send_and_run(campaign_to([other]), staff_user))[str(other.phone_number)][0] == S.SENT


def test_a_quick_send_marked_transactional_bypasses_the_cap_audited(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=1, window_days=7, actor=staff_user)
    person = ContactFactory()
    send_and_run(campaign_to([person]), staff_user)
    result = campaign_quick_send(
        recipients=[str(person.phone_number)],
        body="Your code is 1234. STOP to opt out",
        consent_source="checkout",
        transactional=True,
        actor=staff_user,
    )
    run_in_process()
    assert statuses(result.campaign)[str(person.phone_number)][0] == S.SENT
    assert AuditEvent.objects.get(action="campaign.quick_sent").data["transactional"] is True
    created = AuditEvent.objects.filter(action="campaign.created", target_id=str(result.campaign.pk)).get()
    assert created.data["transactional"] is True


def test_the_preview_counts_who_the_caps_would_skip(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=1, window_days=7, actor=staff_user)
    capped, recent, fresh = ContactFactory(), ContactFactory(), ContactFactory()
    send_and_run(campaign_to([capped]), staff_user)
    send_and_run(campaign_to([recent], transactional=True), staff_user)
    campaign = campaign_to([capped, recent, fresh], skip_recent_hours=24)
    preview = campaign_preview(campaign=campaign, now=timezone.now())
    assert preview.capped == {R.FREQUENCY_CAP: 1, R.RECENTLY_TEXTED: 1}
    assert preview.will_be_texted == 1
    assert campaign_preview(campaign=campaign_to([capped], transactional=True), now=timezone.now()).capped == {}


def test_bad_cap_values_are_refused_and_keep_the_cap(staff_user):
    frequency_cap_update(max_messages=3, window_days=7, actor=staff_user)
    with pytest.raises(ApplicationError) as error:
        frequency_cap_update(max_messages=3, window_days=0, actor=staff_user)
    assert error.value.field == "window_days"
    assert frequency_cap_in_force() == (3, 7)


def test_a_staff_test_send_is_transactional_never_capped_nor_counted(staff_user, sms_outbox, daytime):
    frequency_cap_update(max_messages=1, window_days=7, actor=staff_user)
    person = ContactFactory()
    campaign = campaign_to([person])
    campaign_test_send(campaign=campaign, numbers=[str(person.phone_number)], actor=staff_user)
    campaign_test_send(campaign=campaign, numbers=[str(person.phone_number)], actor=staff_user)
    assert reached(sms_outbox) == [str(person.phone_number)] * 2
    assert all(e.data["transactional"] for e in AuditEvent.objects.filter(action="campaign.test_sent"))
    # The tests counted towards nothing: the campaign's one marketing message still goes.
    assert statuses(send_and_run(campaign, staff_user))[str(person.phone_number)][0] == S.SENT
