"""A wave's requests over several connections at once (DISPATCH_CONNECTIONS): every recipient still texted
exactly once, an account error still stops the rest, pause still reaches a wave in flight, and a failure
in one thread still records what went out and gives back the rest."""

import threading
import time
from collections import Counter

import pytest
import redis
from django.db import connections

from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_pause, campaign_resume, campaign_send_now
from contacts.models import Contact
from sends.backends import locmem as locmem_backend
from sends.models import CampaignSend
from sends.services import fanout
from sends.services.dispatch import chunks
from sends.tests import scripted_backend
from sends.tests.scripted_backend import CREDIT
from sends.tests.test_engine import assert_counters_match_rows, make_campaign, sent_numbers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status


class _InFlight:
    """How many requests a backend has in flight, and the most it ever had at once."""

    lock = threading.Lock()
    now = 0
    most = 0

    @classmethod
    def reset(cls) -> None:
        cls.now = cls.most = 0

    @classmethod
    def request(cls, seconds: float, send):
        with cls.lock:
            cls.now += 1
            cls.most = max(cls.most, cls.now)
        try:
            time.sleep(seconds)  # a provider's round trip, long enough for the threads to overlap
            return send()
        finally:
            with cls.lock:
                cls.now -= 1


class SlowBackend(locmem_backend.SmsBackend):
    """The locmem backend, each request taking a provider's round trip."""

    def send_message(self, message):
        return _InFlight.request(0.03, lambda: super(SlowBackend, self).send_message(message))


class SlowScriptedBackend(scripted_backend.SmsBackend):
    """The scripted provider (errors on cue), each request taking a provider's round trip."""

    def send_message(self, message):
        return _InFlight.request(0.03, lambda: super(SlowScriptedBackend, self).send_message(message))


class SlowerBackend(locmem_backend.SmsBackend):
    """The locmem backend, each request taking longer than claiming a wave does even on a busy machine."""

    def send_message(self, message):
        return _InFlight.request(0.3, lambda: super(SlowerBackend, self).send_message(message))


class RedisGoesAwayBackend(SlowBackend):
    """Its first request is also the last moment Redis answers: the next rate reservation fails."""

    def send_message(self, message):
        results = super().send_message(message)
        from django.conf import settings

        settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
        return results


@pytest.fixture
def connections_4(settings):
    settings.DISPATCH_CONNECTIONS = 4
    _InFlight.reset()
    yield
    _InFlight.reset()


def personalised_campaign(n: int):
    """A campaign whose recipients each get their own text: one request per recipient."""
    campaign, contacts = make_campaign(n)
    for index, contact in enumerate(contacts):  # the factory's random names can repeat: one text would go to two
        Contact.objects.filter(pk=contact.pk).update(first_name=f"Person {index}")
    return campaign, [str(c.phone_number) for c in contacts]


def launched_ids(campaign: Campaign, staff_user) -> list[int]:
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()  # fan-out only: the chunk is run by the test
    return list(CampaignSend.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True))


def launched_chunk_run(campaign: Campaign, staff_user) -> None:
    """Launch the campaign and run its one chunk."""
    ids = launched_ids(campaign, staff_user)
    chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])


def assert_each_sent_once_rest_given_back(campaign: Campaign, outbox) -> Counter:
    """Every send is `sent` (and in the outbox once) or back in the queue with its attempt given back;
    none is left `sending`. The numbers texted."""
    texted = sent_numbers(outbox)
    assert set(texted.values()) <= {1}
    rows = CampaignSend.objects.filter(campaign=campaign).values_list("to_number", "status", "attempts")
    for number, status, attempts in rows:
        if number in texted:
            assert (status, attempts) == (S.SENT, 1), number
        else:
            assert (status, attempts) == (S.QUEUED, 0), number
    return texted


def test_personalised_texts_go_out_over_several_connections_each_exactly_once(
    staff_user, settings, sms_outbox, connections_4
):
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.SlowBackend"
    campaign, numbers = personalised_campaign(40)
    launched_chunk_run(campaign, staff_user)
    assert sent_numbers(sms_outbox) == Counter(numbers)
    assert len(sms_outbox) == 40  # one request per recipient
    assert _InFlight.most == 4
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", "attempts")) == {(S.SENT, 1)}
    assert_counters_match_rows(campaign)


def test_the_connections_stay_busy_from_one_wave_to_the_next(staff_user, settings, sms_outbox, connections_4):
    # Waves of 2 requests over 4 connections: the next wave is claimed and queued while one is in flight,
    # so more requests than a wave has go out at once. Before, each wave was sent, then recorded, then the
    # next claimed: never more than 2 in flight, and the threads idle while the database worked.
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.SlowerBackend"
    settings.DISPATCH_WAVE_SIZE = 2
    campaign, numbers = personalised_campaign(12)
    launched_chunk_run(campaign, staff_user)
    assert sent_numbers(sms_outbox) == Counter(numbers)
    assert _InFlight.most > 2
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", "attempts")) == {(S.SENT, 1)}
    assert_counters_match_rows(campaign)


def test_one_connection_sends_one_request_at_a_time(staff_user, settings, sms_outbox, connections_4):
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.SlowBackend"
    settings.DISPATCH_CONNECTIONS = 1
    campaign, numbers = personalised_campaign(6)
    launched_chunk_run(campaign, staff_user)
    assert sent_numbers(sms_outbox) == Counter(numbers)
    assert _InFlight.most == 1


def test_an_account_error_on_one_connection_stops_the_others(staff_user, settings, sms_outbox, scripted, connections_4):
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.SlowScriptedBackend"
    campaign, numbers = personalised_campaign(40)
    scripted[numbers[10]].append(CREDIT)
    ids = launched_ids(campaign, staff_user)
    chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason == "the account is out of credit (insufficient_credit)"
    texted = assert_each_sent_once_rest_given_back(campaign, sms_outbox)
    # The ten before it were taken first; at most the three other connections' requests were in flight.
    assert set(numbers[:10]) <= set(texted) and 10 <= len(texted) <= 13
    assert numbers[10] not in texted
    assert_counters_match_rows(campaign)
    campaign_resume(campaign=campaign, actor=staff_user)
    chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])
    assert sent_numbers(sms_outbox) == Counter(numbers)


@pytest.mark.django_db(transaction=True)
def test_pause_reaches_a_wave_in_flight_over_several_connections(staff_user, settings, sms_outbox, connections_4):
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.SlowBackend"
    settings.DISPATCH_CONNECTIONS = 2
    campaign, numbers = personalised_campaign(80)  # 80 requests of 0.03 s over 2 connections: 1.2 s
    ids = launched_ids(campaign, staff_user)

    def chunk():
        try:
            chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])
        finally:
            connections.close_all()

    worker = threading.Thread(target=chunk)
    worker.start()
    while len(sms_outbox) < 4 and worker.is_alive():
        time.sleep(0.01)
    campaign_pause(campaign=campaign, actor=staff_user)
    worker.join(30)
    texted = assert_each_sent_once_rest_given_back(campaign, sms_outbox)
    assert len(texted) < 80
    campaign_resume(campaign=campaign, actor=staff_user)
    chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])
    assert sent_numbers(sms_outbox) == Counter(numbers)
    assert_counters_match_rows(campaign)


def test_a_failure_in_one_thread_records_what_went_out_and_gives_back_the_rest(
    staff_user, settings, sms_outbox, connections_4
):
    if not settings.REDIS_URL:
        pytest.skip("the rate is reserved in Redis only when REDIS_URL is set")
    settings.SMS_BACKEND = "sends.tests.test_dispatch_connections.RedisGoesAwayBackend"
    campaign, _numbers = personalised_campaign(10)
    Campaign.objects.filter(pk=campaign.pk).update(max_per_second=50)  # paced: every request asks Redis
    ids = launched_ids(campaign, staff_user)
    with pytest.raises(redis.exceptions.ConnectionError):
        chunks.chunk_dispatch(campaign_id=campaign.pk, first_id=ids[0], last_id=ids[-1])
    texted = assert_each_sent_once_rest_given_back(campaign, sms_outbox)
    assert 1 <= len(texted) < 10
    assert_counters_match_rows(campaign)
