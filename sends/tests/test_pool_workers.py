"""A sender pool's per-number rates, held across two real Celery workers by the shared Redis rate limiter.
The file-based backend's record tells which number sent each message and when."""

import pytest

from campaigns.models import Campaign, PoolNumber, SenderPool
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from sends.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
NUMBERS = ["+14155550191", "+14155550192"]


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_two_workers_hold_each_numbers_rate_and_the_pool_sends_at_their_sum(workers, staff_user):
    rate = 3
    pool = SenderPool.objects.create(name="pool", rate_per_number=rate, local_match=False)
    for number in NUMBERS:
        PoolNumber.objects.create(pool=pool, number=number)
    audience = ContactListFactory()
    for i in range(30):
        ContactFactory(phone_number=fictional_number(2200 + i)).lists.add(audience)
    campaign = CampaignFactory(body="Sale today", sender="", sender_pool=pool)
    campaign.lists.add(audience)
    workers.start("w1", DISPATCH_CHUNK_SIZE="3")
    workers.start("w2", DISPATCH_CHUNK_SIZE="3")
    campaign_send_now(campaign=campaign, actor=staff_user)

    def completed():
        campaign.refresh_from_db()
        return campaign.status == Campaign.Status.COMPLETED

    wait_for(completed, timeout=120, message="the pool campaign to complete", workers=workers)
    requests = workers.requests()
    assert len({r["pid"] for r in requests}) == 2, "both workers should have sent part of the campaign"
    by_number: dict[str, list[float]] = {}
    for request in requests:
        by_number.setdefault(request["sender"], []).extend(request["at"] for _ in request["messages"])
    assert set(by_number) == set(NUMBERS)
    assert sum(len(times) for times in by_number.values()) == 30
    for number, times in by_number.items():
        # Each number within its own rate in any one-second window (one message of slack for timer granularity).
        assert busiest_second(sorted(times)) <= rate + 1, number
    # Together the numbers went faster than any one of them may: the pool's rate is their sum.
    everything = sorted(t for times in by_number.values() for t in times)
    assert busiest_second(everything) > rate + 1
