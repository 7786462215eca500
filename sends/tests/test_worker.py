"""The send engine through real Celery workers (separate processes, each with its beat) on the real
database and broker of this run. The witness of what was sent is the Plivo simulator's record (the real
Plivo backend and SDK over HTTP) or, where the test needs to know which worker sent what, the file-based
backend's record."""

import time
from collections import Counter

import pytest

from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_cancel, campaign_resume, campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact
from contacts.services.consent import contact_opt_out
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from sends.models import CampaignSend
from sends.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
S = CampaignSend.Status


def make_campaign(
    n: int, *, max_per_second: int | None = None, ineligible: int = 0, body: str = "Hi {{ first_name }}, sale today"
):
    audience = ContactListFactory()
    # Numbers of their own: the factory's sequence would, in some orders of tests, hit the sender's number.
    contacts = [ContactFactory(phone_number=fictional_number(2000 + i)) for i in range(n)]
    left_out = [
        ContactFactory(phone_number=fictional_number(3000 + i), status=Contact.Status.UNSUBSCRIBED, consented_at=None)
        for i in range(ineligible)
    ]
    for contact in contacts + left_out:
        contact.lists.add(audience)
    campaign = CampaignFactory(body=body, max_per_second=max_per_second)
    campaign.lists.add(audience)
    return campaign, contacts


def status_of(campaign: Campaign) -> str:
    campaign.refresh_from_db()
    return campaign.status


def wait_until_completed(campaign: Campaign, workers, timeout: float = 90) -> None:
    wait_for(
        lambda: status_of(campaign) == Campaign.Status.COMPLETED,
        timeout=timeout,
        message=lambda: f"completion; sends by status: {_statuses(campaign)}",
        workers=workers,
    )


def _statuses(campaign: Campaign) -> dict:
    rows = CampaignSend.objects.filter(campaign=campaign).values_list("status", "next_attempt_at", "attempts")
    return dict(Counter((status, bool(due), attempts) for status, due, attempts in rows))


def sim_destinations(simulator) -> Counter:
    return Counter(message["dst"] for message in simulator.messages())


def test_every_eligible_recipient_gets_exactly_one_message_across_two_workers(workers, plivo_simulator, staff_user):
    campaign, contacts = make_campaign(60, ineligible=5)
    workers.start("w1", DISPATCH_CHUNK_SIZE="7", **plivo_simulator.env())
    workers.start("w2", DISPATCH_CHUNK_SIZE="7", **plivo_simulator.env())
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_until_completed(campaign, workers)
    # The simulator's record is the witness: every eligible recipient once, nobody else.
    assert sim_destinations(plivo_simulator) == Counter(str(c.phone_number) for c in contacts)
    assert (campaign.sent_count, campaign.skipped_count, campaign.queued_count) == (60, 5, 0)
    recorded = set(
        CampaignSend.objects.filter(campaign=campaign, status=S.SENT).values_list("provider_message_uuid", flat=True)
    )
    assert recorded == {message["uuid"] for message in plivo_simulator.messages()}


def test_transient_error_storm_still_reaches_everyone_once(workers, plivo_simulator, staff_user):
    campaign, contacts = make_campaign(40)
    plivo_simulator.set_faults(share_429=0.3, share_5xx=0.3, status_5xx=503, seed=4)
    storm = {"DISPATCH_CHUNK_SIZE": "5", "SEND_MAX_ATTEMPTS": "25", "SEND_RETRY_BASE_SECONDS": "0.2",
             "SEND_RETRY_MAX_SECONDS": "1"}  # fmt: skip
    workers.start("w1", **storm, **plivo_simulator.env())
    workers.start("w2", **storm, **plivo_simulator.env())
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_until_completed(campaign, workers, timeout=120)
    assert sim_destinations(plivo_simulator) == Counter(str(c.phone_number) for c in contacts)
    attempts = list(CampaignSend.objects.filter(campaign=campaign).values_list("attempts", flat=True))
    assert max(attempts) > 1, "the storm should have forced retries"
    assert campaign.sent_count == 40


def test_credit_error_pauses_with_the_reason_and_resume_completes(workers, plivo_simulator, staff_user):
    campaign, contacts = make_campaign(40, max_per_second=10)
    workers.start("w1", DISPATCH_CHUNK_SIZE="5", **plivo_simulator.env())
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_for(lambda: len(plivo_simulator.messages()) >= 5, timeout=60, message="the first sends", workers=workers)
    plivo_simulator.set_faults(account_error=402)
    wait_for(lambda: status_of(campaign) == Campaign.Status.PAUSED, timeout=30, message="the pause", workers=workers)
    assert "credit" in campaign.status_reason
    sent_before_resume = len(plivo_simulator.messages())
    assert sent_before_resume < 40
    time.sleep(1.5)
    assert len(plivo_simulator.messages()) == sent_before_resume, "a paused campaign sends nothing"
    plivo_simulator.set_faults()  # credit topped up
    campaign_resume(campaign=campaign, actor=staff_user)
    wait_until_completed(campaign, workers)
    assert sim_destinations(plivo_simulator) == Counter(str(c.phone_number) for c in contacts)


def test_stop_mid_campaign_blocks_every_later_message(workers, staff_user):
    # One text for all: one group, sent in id order (personalised texts are grouped by text first).
    campaign, contacts = make_campaign(40, max_per_second=10, body="Sale today. STOP to opt out")
    workers.start("w1")
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_for(lambda: len(workers.destinations()) >= 5, timeout=60, message="the first sends", workers=workers)
    late = contacts[-3:]  # these are seconds away at 10 per second
    for contact in late:
        contact_opt_out(contact=contact, source="inbound STOP")
    wait_until_completed(campaign, workers, timeout=60)
    sent = workers.destinations()
    assert not {str(c.phone_number) for c in late} & set(sent)
    assert sent == Counter(str(c.phone_number) for c in contacts[:-3])
    assert set(CampaignSend.objects.filter(contact__in=late).values_list("skip_reason", flat=True)) == {"opted_out"}


def test_two_workers_together_hold_the_senders_rate(workers, staff_user):
    rate = 5
    campaign, _contacts = make_campaign(25, max_per_second=rate)
    workers.start("w1", DISPATCH_CHUNK_SIZE="3")
    workers.start("w2", DISPATCH_CHUNK_SIZE="3")
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_until_completed(campaign, workers, timeout=90)
    requests = workers.requests()
    assert len({r["pid"] for r in requests}) == 2, "both workers should have sent part of the campaign"
    times = sorted(r["at"] for r in requests for _ in r["messages"])
    assert len(times) == 25
    # Never more than the rate in any one-second window (one message of slack for timer granularity) ...
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= rate + 1
    # ... and the whole campaign took as long as the rate demands.
    assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.9


def test_worker_killed_mid_campaign_then_restarted_completes_with_no_duplicate(workers, plivo_simulator, staff_user):
    campaign, _contacts = make_campaign(60, max_per_second=20)
    quick_recovery = {"DISPATCH_CHUNK_SIZE": "10", "DISPATCH_LEASE_SECONDS": "3", "SEND_STUCK_AFTER_SECONDS": "3"}
    first = workers.start("w1", **quick_recovery, **plivo_simulator.env())
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_for(lambda: len(plivo_simulator.messages()) >= 15, timeout=60, message="the first sends", workers=workers)
    workers.kill(first)
    assert status_of(campaign) == Campaign.Status.SENDING
    workers.start("w2", **quick_recovery, **plivo_simulator.env())
    wait_until_completed(campaign, workers, timeout=90)
    sent = sim_destinations(plivo_simulator)
    assert max(sent.values()) == 1, "nobody may get the message twice"
    statuses = dict(CampaignSend.objects.filter(campaign=campaign).values_list("to_number", "status"))
    # Sends the killed worker had claimed were settled from the simulator's message list: each found one
    # recorded as sent, each it never had sent again; none left unknown, nobody missed.
    assert set(statuses.values()) == {S.SENT}
    assert set(sent) == set(statuses)
    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.unknown_count) == (60, 0)


def test_cancel_stops_all_workers_within_seconds(workers, staff_user):
    campaign, _contacts = make_campaign(50, max_per_second=10)
    workers.start("w1", DISPATCH_CHUNK_SIZE="5")
    workers.start("w2", DISPATCH_CHUNK_SIZE="5")
    campaign_send_now(campaign=campaign, actor=staff_user)
    wait_for(lambda: len(workers.destinations()) >= 5, timeout=60, message="the first sends", workers=workers)
    campaign_cancel(campaign=campaign, actor=staff_user, reason="wrong price")
    cancelled_at = time.time()
    wait_for(
        lambda: CampaignSend.objects.filter(campaign=campaign, status__in=[S.QUEUED, S.SENDING]).count() == 0,
        timeout=30,
        message="the queued sends to be skipped",
        workers=workers,
    )
    time.sleep(2)
    late = [r for r in workers.requests() if r["at"] > cancelled_at + 1.0]
    assert not late, "nothing may leave a second after the cancel"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert sum(workers.destinations().values()) == campaign.sent_count < 50
    assert campaign.skipped_by_reason == {"cancelled": 50 - campaign.sent_count}


def test_delivery_reports_stored_by_the_webhook_reach_the_counters_through_the_worker_and_beat(workers):
    from sends.models import DeliveryReport
    from sends.services.counters import campaign_counters_rebuild
    from sends.services.delivery_reports import delivery_report_record
    from sends.tests.factories import sent_send
    from sends.tests.plivo_callbacks import status_payload

    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    first, *sends = [sent_send(campaign=campaign) for _ in range(21)]
    campaign_counters_rebuild(campaign_id=campaign.pk)
    workers.start("w1")
    # One report through first: the worker and its beat are up (starting them takes seconds on a busy machine).
    delivery_report_record(
        payload=status_payload(message_uuid=first.provider_message_uuid, status="delivered", to=first.to_number)
    )
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).delivered_count == 1, timeout=90, message="worker up")
    stored_at = time.monotonic()
    for send in sends:
        for status in ("delivered", "sent"):  # the late "sent" must not take any back
            delivery_report_record(
                payload=status_payload(message_uuid=send.provider_message_uuid, status=status, to=send.to_number)
            )
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).delivered_count == 21,
        timeout=60,
        message=lambda: f"delivered_count {Campaign.objects.get(pk=campaign.pk).delivered_count} of 21",
        workers=workers,
    )
    lag = time.monotonic() - stored_at
    assert not DeliveryReport.objects.filter(pending=True).exists()
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.DELIVERED}
    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.delivered_count) == (0, 21)
    # Beat starts a drain every DELIVERY_REPORTS_DRAIN_SECONDS (0.5 s); bench_webhooks measures the lag under
    # load (goal: 2 s at p95), this only that it is seconds, not minutes.
    assert lag < 15, f"the last report reached the counter {lag:.1f} s after it was stored"
