"""The nonce store behind the webhook signatures: one use per nonce under races, pruned by beat."""

import uuid
from datetime import timedelta
from functools import partial

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from sends import tasks
from sends.models import WebhookNonce
from sends.services.webhook_nonces import webhook_nonces_record
from smscampaigns.tests.helpers import run_concurrently


@pytest.mark.django_db(transaction=True)
def test_one_nonce_raced_on_two_bodies_is_accepted_for_one_of_them_only():
    # Two requests with the same V2 nonce at the same moment (a replay racing the genuine callback): the
    # unique key lets exactly one of them through, whichever commits first.
    outcomes = run_concurrently(
        *(
            partial(webhook_nonces_record, nonces={"v2": "12345678901234567890"}, fingerprint=uuid.uuid4())
            for _ in "ab"
        ),
        together=True,
    )
    assert sorted(outcomes) == [False, True]
    assert WebhookNonce.objects.count() == 1


@pytest.mark.django_db
def test_the_same_nonce_and_request_again_is_accepted_and_stored_once():
    fingerprint = uuid.uuid4()
    nonces = {"v2": "11111111111111111111", "v3": "22222222222222222222"}
    assert webhook_nonces_record(nonces=nonces, fingerprint=fingerprint)
    assert webhook_nonces_record(nonces=nonces, fingerprint=fingerprint)
    assert not webhook_nonces_record(nonces={"v3": "22222222222222222222"}, fingerprint=uuid.uuid4())
    # The same digits as a nonce of the other version are another nonce.
    assert webhook_nonces_record(nonces={"v3": "11111111111111111111"}, fingerprint=uuid.uuid4())
    assert WebhookNonce.objects.count() == 3


@pytest.mark.django_db
def test_beat_prunes_the_nonces_past_the_window():
    entry = next(e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("nonces_prune"))
    assert entry["task"] == "sends.tasks.webhook_nonces_prune"
    old = timezone.now() - timedelta(seconds=django_settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS + 60)
    webhook_nonces_record(nonces={"v3": "33333333333333333333"}, fingerprint=uuid.uuid4(), now=old)
    webhook_nonces_record(nonces={"v3": "44444444444444444444"}, fingerprint=uuid.uuid4())
    assert tasks.webhook_nonces_prune() == 1
    assert WebhookNonce.objects.count() == 1
