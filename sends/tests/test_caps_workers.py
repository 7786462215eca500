"""Frequency caps hold across campaigns sending at the same time on several real Celery workers: the cap is
decided when each send is claimed, under a lock per contact, not at fan-out."""

from collections import Counter

import psycopg
import pytest
from django.core.cache import cache
from django.test import TestCase

from campaigns.services.caps import frequency_cap_update
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from sends.models import CampaignSend
from sends.services.fanout import campaigns_launch_due
from sends.tests.conftest import _database_url_of_test_db, wait_for
from sends.tests.test_worker import sim_destinations, wait_until_completed

pytestmark = pytest.mark.django_db(transaction=True)
S = CampaignSend.Status

_WAITING_ON_SENDS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE %s
"""


def test_the_cap_holds_for_two_campaigns_claiming_the_same_people_at_once_on_two_workers(
    workers, plivo_simulator, staff_user, settings
):
    """Both campaigns' first chunks hold the same people. Both workers are stopped right at their claim (a
    table lock taken here) and let go together, so that both decide about the same people at the same moment:
    with the cap at one message, each person is texted once, by whichever campaign claimed them first."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the claim's per-contact lock is PostgreSQL's; SQLite has one writer at a time")
    frequency_cap_update(max_messages=1, window_days=7, actor=staff_user)
    people = [ContactFactory(phone_number=fictional_number(4000 + i)) for i in range(30)]
    overlap = people[:15]
    first, second = ContactListFactory(), ContactListFactory()
    for contact in people[:25]:
        contact.lists.add(first)
    for contact in overlap + people[25:]:
        contact.lists.add(second)
    campaigns = []
    for audience in (first, second):
        campaign = CampaignFactory(body="Sale today. STOP to opt out")
        campaign.lists.add(audience)
        campaign_send_now(campaign=campaign, actor=staff_user)
        campaigns.append(campaign)
    # One chunk message of each campaign in the broker, each chunk one wave of the same fifteen people.
    settings.DISPATCH_CHUNK_SIZE = 15
    settings.DISPATCH_WINDOW_CHUNKS = 1
    cache.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert len(campaigns_launch_due()) == 2
    engine = {"DISPATCH_CHUNK_SIZE": "15", "DISPATCH_WAVE_SIZE": "15", "DISPATCH_WINDOW_CHUNKS": "1"}
    with psycopg.connect(_database_url_of_test_db()) as blocker:
        blocker.execute(f"LOCK TABLE {CampaignSend._meta.db_table} IN EXCLUSIVE MODE")
        workers.start("w1", **engine, **plivo_simulator.env())
        workers.start("w2", **engine, **plivo_simulator.env())
        with psycopg.connect(_database_url_of_test_db(), autocommit=True) as watcher:

            def both_waiting() -> bool:
                return watcher.execute(_WAITING_ON_SENDS, ["%campaignsend%"]).fetchone()[0] >= 2

            wait_for(both_waiting, timeout=60, message="both workers at their claim", workers=workers)
        blocker.commit()  # both claims go on at once
    for campaign in campaigns:
        wait_until_completed(campaign, workers)
    # The simulator's record is the witness: each person once.
    assert sim_destinations(plivo_simulator) == Counter(str(c.phone_number) for c in people)
    capped = CampaignSend.objects.filter(campaign__in=campaigns, status=S.SKIPPED, skip_reason="frequency_cap")
    assert sorted(capped.values_list("contact_id", flat=True)) == sorted(c.pk for c in overlap)
    for campaign in campaigns:
        campaign.refresh_from_db()
    assert sum(c.skipped_by_reason.get("frequency_cap", 0) for c in campaigns) == 15
