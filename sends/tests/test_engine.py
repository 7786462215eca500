"""The send engine driven in this process (Celery eager), against locmem or the scripted provider.

The same behaviours through a real Celery worker are in test_worker.py."""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from django.db import connection, connections
from django.test import TestCase
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_cancel, campaign_pause, campaign_resume, campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.services.consent import contact_opt_out
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory
from sends.backends import locmem as locmem_backend
from sends.models import CampaignSend, DeliveryReport
from sends.services import dispatch, fanout
from sends.services.counters import campaign_counters_rebuild
from sends.services.dispatch import chunks, recording
from sends.services.dispatch.recipients import Recipient, Request
from sends.tests.engine import eager_celery, run_in_process
from sends.tests.scripted_backend import CREDIT, PERMANENT, TRANSIENT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
# Noon in Los Angeles (the factories' timezone): inside quiet hours' allowed window.


def make_campaign(n: int, *, body: str = "Hi {{ first_name }}, sale today. STOP to opt out", **contact_kwargs):
    audience = ContactListFactory()
    contacts = [ContactFactory(**contact_kwargs) for _ in range(n)]
    for contact in contacts:
        contact.lists.add(audience)
    campaign = CampaignFactory(body=body)
    campaign.lists.add(audience)
    return campaign, contacts


def sent_numbers(outbox) -> Counter:
    return Counter(d for message in outbox for d in message.destinations)


def assert_counters_match_rows(campaign: Campaign) -> None:
    campaign.refresh_from_db()
    kept = {f: getattr(campaign, f) for f in ("queued_count", "sent_count", "failed_count", "skipped_count")}
    kept |= {"unknown_count": campaign.unknown_count, "skipped_by_reason": campaign.skipped_by_reason}
    campaign_counters_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    rebuilt = {f: getattr(campaign, f) for f in ("queued_count", "sent_count", "failed_count", "skipped_count")}
    rebuilt |= {"unknown_count": campaign.unknown_count, "skipped_by_reason": campaign.skipped_by_reason}
    assert kept == rebuilt


def test_send_now_reaches_every_eligible_recipient_exactly_once(staff_user, run_engine, sms_outbox, settings):
    settings.DISPATCH_CHUNK_SIZE = 7
    campaign, contacts = make_campaign(30)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert sent_numbers(sms_outbox) == Counter(str(c.phone_number) for c in contacts)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert (campaign.sent_count, campaign.queued_count, campaign.recipients_count) == (30, 0, 30)
    assert all(m.status_callback_url == "http://testserver/webhooks/plivo/status/" for m in sms_outbox)
    sends = CampaignSend.objects.filter(campaign=campaign)
    assert all(s.status == S.SENT and s.provider_message_uuid and s.attempts == 1 for s in sends)
    assert_counters_match_rows(campaign)


def test_recipients_sharing_one_text_go_in_one_bulk_request(staff_user, run_engine, sms_outbox):
    campaign, contacts = make_campaign(5, body="Flash sale at noon. STOP to opt out")
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert len(sms_outbox) == 1
    assert sorted(sms_outbox[0].destinations) == sorted(str(c.phone_number) for c in contacts)


def test_one_text_for_more_recipients_than_a_wave_goes_in_one_bulk_request(
    staff_user, run_engine, sms_outbox, settings
):
    # Waves used to cap every request at DISPATCH_WAVE_SIZE recipients: a campaign with one text for all went
    # out in requests of 100 instead of Plivo's 1,000, and at a tenth of the speed.
    settings.SEND_RATE_PER_SECOND = 0
    settings.DISPATCH_WAVE_SIZE = 3
    campaign, contacts = make_campaign(8, body="Flash sale at noon. STOP to opt out")
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert [sorted(m.destinations) for m in sms_outbox] == [sorted(str(c.phone_number) for c in contacts)]
    sends = CampaignSend.objects.filter(campaign=campaign)
    assert {s.status for s in sends} == {S.SENT}
    assert len({s.provider_message_uuid for s in sends}) == 8  # each recorded with its own message
    assert {(s.body, s.segments, s.attempts) for s in sends} == {("Flash sale at noon. STOP to opt out", 1, 1)}
    assert_counters_match_rows(campaign)


def test_a_bulk_request_stays_within_a_fifth_of_a_second_of_the_rate(staff_user, run_engine, sms_outbox, settings):
    settings.SEND_RATE_PER_SECOND = 20
    settings.DISPATCH_WAVE_SIZE = 100
    campaign, contacts = make_campaign(9, body="Flash sale at noon. STOP to opt out")
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert sorted(len(m.destinations) for m in sms_outbox) == [1, 4, 4]
    assert sent_numbers(sms_outbox) == Counter(str(c.phone_number) for c in contacts)


def test_each_recipient_gets_their_own_personalised_text(staff_user, run_engine, sms_outbox):
    campaign, contacts = make_campaign(2, body='Hi {{ first_name|default:"there" }}, use {{ code }}')
    contacts[0].first_name, contacts[0].attributes = "Ada", {"code": "A1"}
    contacts[1].first_name, contacts[1].attributes = "", {"code": "B2"}
    for contact in contacts:
        contact.save()
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    texts = {m.destinations[0]: m.body for m in sms_outbox}
    assert texts == {str(contacts[0].phone_number): "Hi Ada, use A1", str(contacts[1].phone_number): "Hi there, use B2"}
    assert CampaignSend.objects.get(contact=contacts[0]).body == "Hi Ada, use A1"


def test_fan_out_records_everyone_left_out_with_the_reason(staff_user, run_engine, sms_outbox):
    campaign, contacts = make_campaign(3)
    contact_opt_out(contact=contacts[1], source="STOP")
    SuppressionFactory(phone_number=contacts[2].phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    assert sent_numbers(sms_outbox) == Counter([str(contacts[0].phone_number)])
    skipped = dict(CampaignSend.objects.filter(status=S.SKIPPED).values_list("contact_id", "skip_reason"))
    assert skipped == {contacts[1].pk: "opted_out", contacts[2].pk: "suppressed"}
    campaign.refresh_from_db()
    assert campaign.skipped_by_reason == {"opted_out": 1, "suppressed": 1}
    assert (campaign.recipients_count, campaign.skipped_count, campaign.sent_count) == (3, 2, 1)


def test_fanning_out_twice_adds_nothing():
    campaign, _ = make_campaign(4)
    first = fanout.campaign_fan_out(campaign=campaign)
    second = fanout.campaign_fan_out(campaign=campaign)
    assert (first.queued, second.queued) == (4, 4)
    assert CampaignSend.objects.filter(campaign=campaign).count() == 4


def test_a_large_first_fan_out_has_the_sends_analysed_once_it_commits(monkeypatch, django_capture_on_commit_callbacks):
    """Dispatch looks up each chunk's sends by id right after the fan-out: with statistics from before it, the
    planner walked every send of the campaign for each chunk (4 s a chunk at 1,000,000 recipients)."""
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    monkeypatch.setattr(fanout, "FAN_OUT_ANALYZE_MIN_SENDS", 3)
    small, _ = make_campaign(2)
    with django_capture_on_commit_callbacks(execute=True) as below_the_threshold:
        fanout.campaign_fan_out(campaign=small)
    large, _ = make_campaign(3)
    with django_capture_on_commit_callbacks(execute=True) as at_the_threshold:
        fanout.campaign_fan_out(campaign=large)
    assert (len(below_the_threshold), len(at_the_threshold)) == (0, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [CampaignSend._meta.db_table])
        assert cursor.fetchone()[0] == 5  # counted by ANALYZE: both campaigns' sends


def test_a_first_fan_out_sets_the_counters_a_recount_gives(staff_user):
    campaign, contacts = make_campaign(5)
    contact_opt_out(contact=contacts[1], source="STOP")
    SuppressionFactory(phone_number=contacts[2].phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    SuppressionFactory(phone_number=contacts[3].phone_number, reason=Suppression.Reason.MANUAL)
    # Counters left over from before (a staff fix, a previous draft) must not leak into the counts.
    Campaign.objects.filter(pk=campaign.pk).update(queued_count=7, skipped_by_reason={"stale": 3})

    result = fanout.campaign_fan_out(campaign=campaign)

    counters = ("queued_count", "skipped_count", "recipients_count", "skipped_by_reason", "failed_by_error_code")
    counted = Campaign.objects.values(*counters, "segments_count", "cost").get(pk=campaign.pk)
    campaign_counters_rebuild(campaign_id=campaign.pk)
    assert Campaign.objects.values(*counters, "segments_count", "cost").get(pk=campaign.pk) == counted
    assert counted["skipped_by_reason"] == {"opted_out": 1, "suppressed": 2}
    assert (result.queued, result.skipped, counted["recipients_count"]) == (2, 3, 5)


def test_a_campaign_not_yet_due_is_left_alone(staff_user):
    campaign, _ = make_campaign(1)
    campaign.status, campaign.scheduled_at = Campaign.Status.SCHEDULED, timezone.now() + timedelta(minutes=5)
    campaign.save()
    assert fanout.campaigns_launch_due() == []
    assert not CampaignSend.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks are a PostgreSQL feature")
@pytest.mark.django_db(transaction=True)
def test_a_campaign_claimed_by_another_scheduler_is_skipped_not_launched_twice(staff_user):
    campaign, _ = make_campaign(2)
    campaign_send_now(campaign=campaign, actor=staff_user)
    locked, release = threading.Event(), threading.Event()

    def other_scheduler():
        with connections["default"].cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM campaigns_campaign WHERE id = %s FOR UPDATE", [campaign.pk])
            locked.set()
            release.wait(10)
            cursor.execute("ROLLBACK")
        connections["default"].close()

    thread = threading.Thread(target=other_scheduler)
    thread.start()
    assert locked.wait(10)
    try:
        assert fanout.campaigns_launch_due() == []  # does not wait for the lock either
    finally:
        release.set()
        thread.join()
    assert fanout.campaigns_launch_due() == [campaign.pk]
    assert fanout.campaigns_launch_due() == []
    assert CampaignSend.objects.filter(campaign=campaign).count() == 2
    assert AuditEvent.objects.filter(action="campaign.launched", target_id=str(campaign.pk)).count() == 1


def test_stop_received_mid_campaign_blocks_remaining_sends(staff_user, settings, sms_outbox, run_engine):
    settings.DISPATCH_CHUNK_SIZE = 2
    campaign, _contacts = make_campaign(6)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()  # fan-out only: the chunk messages are not run here
    ids = list(CampaignSend.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True))
    with TestCase.captureOnCommitCallbacks() as queued_chunks:
        dispatch.sends_dispatch_chunk(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[1])
    assert sum(sent_numbers(sms_outbox).values()) == 2
    late = CampaignSend.objects.get(id=ids[4]).contact
    contact_opt_out(contact=late, source="inbound STOP")
    with eager_celery(), TestCase.captureOnCommitCallbacks(execute=True):
        for enqueue in queued_chunks:  # the chunk messages the first one queued reach the worker now
            enqueue()
    run_engine()
    assert str(late.phone_number) not in sent_numbers(sms_outbox)
    assert sum(sent_numbers(sms_outbox).values()) == 5
    assert CampaignSend.objects.get(id=ids[4]).skip_reason == "opted_out"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.skipped_by_reason == {"opted_out": 1}


def test_recipient_in_quiet_hours_is_deferred_to_their_next_window_then_sent(staff_user, sms_outbox, daytime):
    # 03:00 in Los Angeles (PDT, UTC-7); 18:00 in Paris: one must wait until 08:00 local, the other not.
    daytime.move_to(datetime(2026, 6, 2, 10, 0, tzinfo=UTC))
    campaign, (sleeper,) = make_campaign(1)
    awake = ContactFactory(timezone="Europe/Paris")
    awake.lists.add(campaign.lists.first())
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    assert sent_numbers(sms_outbox) == Counter([str(awake.phone_number)])
    deferred = CampaignSend.objects.get(contact=sleeper)
    assert (deferred.status, deferred.attempts) == (S.QUEUED, 0)
    assert deferred.next_attempt_at == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)
    daytime.move_to(datetime(2026, 6, 2, 14, 59, tzinfo=UTC))
    run_in_process()
    assert str(sleeper.phone_number) not in sent_numbers(sms_outbox)
    daytime.move_to(datetime(2026, 6, 2, 15, 0, 1, tzinfo=UTC))
    run_in_process()
    assert sent_numbers(sms_outbox) == Counter([str(awake.phone_number), str(sleeper.phone_number)])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_number_without_a_contact_timezone_uses_the_numbers_zone(staff_user, sms_outbox, daytime):
    daytime.move_to(datetime(2026, 6, 2, 10, 0, tzinfo=UTC))  # 03:00 in California, where 415 numbers ring
    campaign, (contact,) = make_campaign(1, timezone="")
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    assert not sms_outbox
    assert CampaignSend.objects.get(contact=contact).next_attempt_at == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)


def test_transient_errors_are_retried_with_bounded_backoff_then_sent(staff_user, scripted, sms_outbox, daytime):
    campaign, (flaky, steady) = make_campaign(2, body="Sale today")
    scripted[str(flaky.phone_number)].extend([TRANSIENT, TRANSIENT])
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    send = CampaignSend.objects.get(contact=flaky)
    assert (send.status, send.attempts, send.error_code) == (S.QUEUED, 1, "http_503")
    delay = (send.next_attempt_at - timezone.now()).total_seconds()
    assert 4 <= delay <= 10  # SEND_RETRY_BASE_SECONDS=10, jittered in its upper half
    daytime.shift(timedelta(seconds=11))
    run_in_process()
    send.refresh_from_db()
    assert (send.status, send.attempts) == (S.QUEUED, 2)
    assert 9 <= (send.next_attempt_at - timezone.now()).total_seconds() <= 20  # doubled
    daytime.shift(timedelta(seconds=21))
    run_in_process()
    send.refresh_from_db()
    assert (send.status, send.attempts) == (S.SENT, 3)
    assert sent_numbers(sms_outbox) == Counter([str(flaky.phone_number), str(steady.phone_number)])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_transient_errors_past_the_attempt_limit_fail_the_send(staff_user, scripted, settings, daytime):
    settings.SEND_MAX_ATTEMPTS = 2
    campaign, (contact,) = make_campaign(1)
    scripted[str(contact.phone_number)].extend([TRANSIENT] * 5)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    daytime.shift(timedelta(seconds=30))
    run_in_process()
    send = CampaignSend.objects.get(contact=contact)
    assert (send.status, send.attempts, send.error_code) == (S.FAILED, 2, "http_503")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count) == (Campaign.Status.COMPLETED, 1)


def test_permanent_error_fails_that_recipient_only(staff_user, scripted, sms_outbox):
    campaign, (bad, good) = make_campaign(2, body="Sale today")
    scripted[str(bad.phone_number)].append(PERMANENT)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    assert CampaignSend.objects.get(contact=bad).status == S.FAILED
    assert CampaignSend.objects.get(contact=bad).error_message == "the number cannot receive SMS"
    assert sent_numbers(sms_outbox) == Counter([str(good.phone_number)])
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count, campaign.sent_count) == (Campaign.Status.COMPLETED, 1, 1)


def test_credit_error_pauses_the_campaign_with_the_reason_and_resume_completes(
    staff_user, scripted, sms_outbox, settings
):
    settings.DISPATCH_CHUNK_SIZE = 2
    campaign, contacts = make_campaign(6, body="Sale today")
    ids_in_order = [str(c.phone_number) for c in contacts]
    scripted[ids_in_order[2]].append(CREDIT)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == "the account is out of credit (insufficient_credit)"
    assert sent_numbers(sms_outbox) == Counter(ids_in_order[:2])
    requeued = CampaignSend.objects.get(to_number=ids_in_order[2])
    assert (requeued.status, requeued.attempts) == (S.QUEUED, 0)
    campaign_resume(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    assert sent_numbers(sms_outbox) == Counter(ids_in_order)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert_counters_match_rows(campaign)


def test_pause_holds_every_send_and_resume_continues(staff_user, sms_outbox):
    campaign, _contacts = make_campaign(3)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    campaign_pause(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    assert not sms_outbox
    campaign_resume(campaign=campaign, actor=staff_user)
    run_in_process()
    assert sum(sent_numbers(sms_outbox).values()) == 3


def test_cancel_stops_everything_not_yet_sent(staff_user, sms_outbox, settings):
    settings.DISPATCH_CHUNK_SIZE = 2
    campaign, _ = make_campaign(6)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    first = CampaignSend.objects.filter(campaign=campaign).order_by("id").first()
    dispatch.sends_dispatch_chunk(campaign_id=campaign.pk, first_id=first.id, last_id=first.id)
    campaign_cancel(campaign=campaign, actor=staff_user, reason="wrong price")
    run_in_process(ticks=2)
    assert sum(sent_numbers(sms_outbox).values()) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert (campaign.queued_count, campaign.sent_count, campaign.skipped_by_reason) == (0, 1, {"cancelled": 5})


def test_a_chunk_delivered_twice_sends_nothing_twice(staff_user, sms_outbox):
    campaign, _ = make_campaign(4)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    ids = list(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))
    for _ in range(2):
        dispatch.sends_dispatch_chunk(campaign_id=campaign.pk, first_id=min(ids), last_id=max(ids))
    assert sum(sent_numbers(sms_outbox).values()) == 4
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count) == (Campaign.Status.COMPLETED, 4)
    assert AuditEvent.objects.filter(action="campaign.completed", target_id=str(campaign.pk)).count() == 1


def _claimed_by_a_worker_that_died(contact, **fields) -> CampaignSend:
    CampaignSend.objects.filter(contact=contact).update(
        status=S.SENDING, attempts=1, status_updated_at=timezone.now(), **fields
    )
    return CampaignSend.objects.get(contact=contact)


def test_stuck_sends_are_settled_from_the_provider_never_blindly_resent(staff_user, sms_outbox, daytime):
    from sends.backends import locmem
    from sends.backends.base import OutboundMessage

    campaign, (answered, reached, never) = make_campaign(3)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    # Three sends a killed worker left behind: one whose message id was recorded, one that reached the
    # provider before the worker died (no id recorded), one whose request never left.
    locmem._statuses["uuid-known"] = "delivered"
    _claimed_by_a_worker_that_died(answered, provider_message_uuid="uuid-known")
    _claimed_by_a_worker_that_died(reached)
    _claimed_by_a_worker_that_died(never)
    [handed_over] = locmem.SmsBackend().send_message(
        OutboundMessage(sender="+14155550100", destinations=[str(reached.phone_number)], body="Hi")
    )
    sms_outbox.clear()
    assert dispatch.sends_reconcile_stuck() == 0  # not stuck yet: they may still be mid-call
    daytime.shift(timedelta(minutes=6))
    assert dispatch.sends_reconcile_stuck() == 3
    assert CampaignSend.objects.get(contact=answered).status == S.DELIVERED
    found = CampaignSend.objects.get(contact=reached)
    assert (found.status, found.provider_message_uuid) == (S.SENT, handed_over.message_uuid)
    assert CampaignSend.objects.get(contact=never).status == S.QUEUED
    run_in_process()
    assert sent_numbers(sms_outbox) == Counter({str(never.phone_number): 1})  # only the one the provider never had
    campaign.refresh_from_db()
    assert (campaign.status, campaign.unknown_count) == (Campaign.Status.COMPLETED, 0)
    assert (campaign.delivered_count, campaign.sent_count) == (1, 2)
    assert_counters_match_rows(campaign)


def test_a_message_another_send_accounts_for_is_not_taken_for_a_stuck_one(staff_user, sms_outbox, daytime):
    from sends.backends import locmem

    first, (contact,) = make_campaign(1)
    campaign_send_now(campaign=first, actor=staff_user)
    run_in_process()
    earlier = CampaignSend.objects.get(campaign=first)
    assert earlier.status == S.SENT
    second = CampaignFactory(body="Second offer. STOP to opt out")
    second.lists.add(*contact.lists.all())
    campaign_send_now(campaign=second, actor=staff_user)
    fanout.campaigns_launch_due()
    stuck = CampaignSend.objects.get(campaign=second)
    CampaignSend.objects.filter(pk=stuck.pk).update(status=S.SENDING, status_updated_at=timezone.now())
    assert len(locmem.accepted) == 1  # the first campaign's message, recorded on its own send
    sms_outbox.clear()
    daytime.shift(timedelta(minutes=6))
    assert dispatch.sends_reconcile_stuck() == 1
    assert CampaignSend.objects.get(pk=stuck.pk).status == S.QUEUED
    run_in_process()
    assert sent_numbers(sms_outbox) == Counter({str(contact.phone_number): 1})


def test_a_provider_that_cannot_be_searched_leaves_the_send_unknown(staff_user, sms_outbox, daytime, settings):
    campaign, (contact,) = make_campaign(1)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    settings.SMS_BACKEND = "sends.backends.console.SmsBackend"
    _claimed_by_a_worker_that_died(contact)
    daytime.shift(timedelta(minutes=6))
    assert dispatch.sends_reconcile_stuck() == 1
    assert CampaignSend.objects.get(contact=contact).status == S.UNKNOWN


def test_a_stuck_send_the_provider_says_undelivered_counts_among_failures_by_its_code(staff_user, daytime):
    from sends.backends import locmem

    campaign, (contact,) = make_campaign(1)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    locmem._statuses["uuid-lost"] = "undelivered"
    # Claimed again after a transient error on an earlier attempt, whose code it still carries.
    CampaignSend.objects.filter(contact=contact).update(
        status=S.SENDING, provider_message_uuid="uuid-lost", error_code="http_503"
    )
    daytime.shift(timedelta(minutes=6))
    assert dispatch.sends_reconcile_stuck() == 1
    campaign.refresh_from_db()
    assert (campaign.undelivered_count, campaign.failed_by_error_code) == (1, {"http_503": 1})
    campaign_counters_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.failed_by_error_code == {"http_503": 1}


def test_a_campaign_with_nobody_eligible_completes(staff_user):
    campaign, contacts = make_campaign(1)
    contact_opt_out(contact=contacts[0], source="STOP")
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


assert connection  # imported for the skipif expression


def test_a_timed_out_request_the_provider_never_had_is_looked_up_and_sent_once(
    staff_user, scripted, sms_outbox, daytime
):
    from sends.tests.scripted_backend import TIMEOUT

    campaign, (contact,) = make_campaign(1)
    scripted[str(contact.phone_number)].append(TIMEOUT)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    # Not `unknown` at once (before the fix it stayed so, and the person got nothing): left for the lookup.
    send = CampaignSend.objects.get(contact=contact)
    assert (send.status, send.error_code) == (S.SENDING, "timeout")
    assert "looked up" in send.error_message
    assert not sms_outbox
    daytime.shift(timedelta(minutes=6))
    run_in_process()
    send.refresh_from_db()
    assert (send.status, send.attempts) == (S.SENT, 2)  # the timed-out attempt counts
    assert sent_numbers(sms_outbox) == Counter({str(contact.phone_number): 1})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.unknown_count, campaign.sent_count) == (Campaign.Status.COMPLETED, 0, 1)
    assert_counters_match_rows(campaign)


def test_a_timed_out_request_the_provider_took_is_recorded_sent_not_sent_again(
    staff_user, scripted, sms_outbox, daytime
):
    from sends.backends import locmem
    from sends.tests.scripted_backend import ANSWER_LOST

    campaign, (contact,) = make_campaign(1)
    scripted[str(contact.phone_number)].append(ANSWER_LOST)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    assert CampaignSend.objects.get(contact=contact).status == S.SENDING
    daytime.shift(timedelta(minutes=6))
    run_in_process()
    send = CampaignSend.objects.get(contact=contact)
    [taken] = locmem.accepted
    assert (send.status, send.provider_message_uuid, send.error_code) == (S.SENT, taken.message_uuid, "")
    assert sent_numbers(sms_outbox) == Counter({str(contact.phone_number): 1})  # the one the provider took
    campaign.refresh_from_db()
    assert (campaign.status, campaign.unknown_count, campaign.sent_count) == (Campaign.Status.COMPLETED, 0, 1)
    assert_counters_match_rows(campaign)


def test_a_provider_that_always_times_out_fails_the_send_after_the_last_attempt(
    staff_user, scripted, sms_outbox, daytime, settings
):
    from sends.tests.scripted_backend import TIMEOUT

    settings.SEND_MAX_ATTEMPTS = 3
    campaign, (contact,) = make_campaign(1)
    scripted[str(contact.phone_number)].extend([TIMEOUT] * 5)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    for _ in range(4):
        daytime.shift(timedelta(minutes=6))
        run_in_process()
    send = CampaignSend.objects.get(contact=contact)
    assert (send.status, send.attempts, send.error_code) == (S.FAILED, 3, "timeout")
    assert len(scripted[str(contact.phone_number)]) == 2  # three requests, not one more
    assert not sms_outbox
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_by_error_code) == (Campaign.Status.COMPLETED, {"timeout": 1})
    assert_counters_match_rows(campaign)


def test_a_delivery_report_that_arrives_before_dispatch_commits_the_uuid_is_still_applied(
    staff_user, run_engine, settings
):
    settings.SMS_BACKEND = "sends.tests.scripted_backend.EarlyCallbackSmsBackend"
    campaign, _ = make_campaign(3)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()
    statuses = set(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {S.DELIVERED}
    assert not DeliveryReport.objects.filter(send__isnull=True).exists()
    campaign.refresh_from_db()
    assert (campaign.delivered_count, campaign.sent_count, campaign.queued_count) == (3, 0, 0)
    assert campaign.cost == Decimal("0.0165")


@pytest.mark.django_db(transaction=True)
def test_a_worker_waiting_for_the_senders_rate_holds_no_send_claimed(staff_user, sms_outbox):
    # A worker killed while it waits for its turn at the sender's rate must leave nothing `sending`: such
    # sends would end `unknown`, never sent. So the wait comes first.
    from sends.services.rate_limit import rate_limit_reserve

    campaign, contacts = make_campaign(10, body="Sale today. STOP to opt out")
    Campaign.objects.filter(pk=campaign.pk).update(max_per_second=50)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    ids = list(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))
    rate_limit_reserve(sender=campaign.sender, segments=50, per_second=50)  # the sender is busy for 1 s

    def chunk():
        try:
            chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=min(ids), last_id=max(ids))
        finally:
            connections.close_all()

    worker = threading.Thread(target=chunk)
    worker.start()
    seen_sending = 0
    for _ in range(8):  # 0.8 s, within the wait
        seen_sending = max(seen_sending, CampaignSend.objects.filter(campaign=campaign, status=S.SENDING).count())
        threading.Event().wait(0.1)
    worker.join(10)
    assert seen_sending == 0
    assert sent_numbers(sms_outbox) == Counter(str(c.phone_number) for c in contacts)


class RedisGoesAwayBackend(locmem_backend.SmsBackend):
    """The locmem backend, whose first request is also the last moment Redis answers."""

    def send_message(self, message):
        results = super().send_message(message)
        from django.conf import settings

        settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there: the next rate reservation fails
        return results


def test_redis_failing_between_two_requests_gives_the_unsent_back_to_the_queue(staff_user, settings, sms_outbox):
    # Personalised texts: one request per recipient, ten to a wave at 50/s. Before the fix, the nine sends
    # after the failure stayed `sending`, to be flagged `unknown` and never sent.
    settings.SMS_BACKEND = "sends.tests.test_engine.RedisGoesAwayBackend"
    settings.DISPATCH_CONNECTIONS = 1  # one request after another (test_dispatch_connections has the others)
    campaign, contacts = make_campaign(10)
    for index, contact in enumerate(contacts):  # the factory's random names can repeat: one text would go to two
        Contact.objects.filter(pk=contact.pk).update(first_name=f"Person {index}")
    Campaign.objects.filter(pk=campaign.pk).update(max_per_second=50)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    ids = list(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))
    with pytest.raises(redis.exceptions.ConnectionError):
        chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=min(ids), last_id=max(ids))
    rows = list(CampaignSend.objects.filter(campaign=campaign).values_list("status", "attempts"))
    assert sorted(rows) == sorted([(S.SENT, 1)] + [(S.QUEUED, 0)] * 9)
    assert len(sms_outbox) == 1


class DatabaseDropsBackend(locmem_backend.SmsBackend):
    """The locmem backend, during whose request the worker's database connection is cut."""

    def open(self) -> None:
        # Requests may go out on other threads than the worker's: its connection is the one open here.
        self.worker_pid = connection.connection.info.backend_pid

    def send_message(self, message):
        import psycopg
        from django.conf import settings

        pid = self.worker_pid
        db = settings.DATABASES["default"]
        with psycopg.connect(
            dbname=db["NAME"], user=db["USER"] or "postgres", host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
            password=db["PASSWORD"] or None, autocommit=True,
        ) as other:  # fmt: skip
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return super().send_message(message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="cuts a PostgreSQL connection")
def test_sends_handed_over_while_the_database_connection_drops_are_recorded_sent(staff_user, settings, sms_outbox):
    # Before the fix they stayed `sending`, to be flagged `unknown` although the provider had them.
    settings.SMS_BACKEND = "sends.tests.test_engine.DatabaseDropsBackend"
    campaign, contacts = make_campaign(3, body="Sale today. STOP to opt out")
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()
    ids = list(CampaignSend.objects.filter(campaign=campaign).values_list("id", flat=True))
    chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=min(ids), last_id=max(ids))
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.SENT}
    assert sent_numbers(sms_outbox) == Counter(str(c.phone_number) for c in contacts)


@pytest.mark.django_db
def test_recording_a_wave_again_after_a_lost_commit_acknowledgement_counts_its_segments_once():
    # record_results_surely repeats the whole recording when the database drops the connection, including
    # after a commit whose acknowledgement was lost: the sends are sent already, and their segments counted.
    from sends.backends.base import SendResult
    from sends.tests.factories import CampaignSendFactory

    campaign = CampaignFactory(status=Campaign.Status.SENDING, queued_count=2)
    sends = [CampaignSendFactory(campaign=campaign, status=CampaignSend.Status.SENDING) for _ in range(2)]
    recipients = [Recipient(send.pk, send.contact_id, send.to_number, 0, "", "", {}, "") for send in sends]
    request = Request(body="Hi there", segments=2, recipients=recipients)
    outcomes = [
        recording.Outcome(r, SendResult(destination=r.to_number, message_uuid=f"uuid-{r.send_id}"), request)
        for r in recipients
    ]

    for _ in range(2):
        recording.record_results(campaign_id=campaign.pk, outcomes=outcomes, unsent=[])

    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.queued_count, campaign.segments_count) == (2, 0, 4)
