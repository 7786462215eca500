"""Sentry: with SENTRY_DSN set, errors of Django views and Celery tasks are reported, with phone numbers and
secrets scrubbed before they leave (checked on what a test transport receives: no network); unset, nothing."""

import json
import os
import subprocess
import sys

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from smscampaigns.sentry import sentry_init

CAPTURED: list = []
# Built, not written out: Sentry sends the source lines around each frame, these tests' own included.
DIGITS = "".join(["1", "415", "555", "0123"])
NUMBER = f"+{DIGITS}"
WEBHOOK_SECRET = "_".join(["whsec", "abcdefghijklmnopqrstuvwxyz"])
TOKEN = "".join(["abcdef", "0123456789", "abcdef"])


class CapturingTransport(Transport):
    def capture_envelope(self, envelope):
        CAPTURED.append(envelope)


@pytest.fixture
def sentry(settings):
    settings.PLIVO_AUTH_TOKEN = "-".join(["plivo", "auth", "token", "x9y8z7"])
    CAPTURED.clear()
    sentry_init(
        dsn="https://public@sentry.example.invalid/1", environment="test", traces_sample_rate=0.0,
        transport=CapturingTransport,
    )  # fmt: skip
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # back to no client, as without SENTRY_DSN
    CAPTURED.clear()


def sent_events() -> str:
    sentry_sdk.flush()
    events = [item.payload.json for envelope in CAPTURED for item in envelope.items if item.type == "event"]
    assert events, "nothing was captured"
    return json.dumps(events)


def test_an_error_is_sent_without_numbers_or_secrets_in_its_message_frames_or_extra(sentry, settings):
    def text(phone_number, auth_token, webhook_secret):
        sentry_sdk.add_breadcrumb(message=f"texting {phone_number}")
        raise ValueError(f"could not text {phone_number} with {auth_token} ({webhook_secret})")

    with sentry_sdk.new_scope() as scope:
        scope.set_extra("payload", {"To": NUMBER.lstrip("+"), "Text": f"call {NUMBER}", "secret": WEBHOOK_SECRET})
        try:
            text(NUMBER, settings.PLIVO_AUTH_TOKEN, WEBHOOK_SECRET)
        except ValueError:
            sentry_sdk.capture_exception()
    sent = sent_events()
    assert "could not text" in sent  # the event itself did go
    for secret in (DIGITS[1:], settings.PLIVO_AUTH_TOKEN, WEBHOOK_SECRET):
        assert secret not in sent
    assert "*******0123" in sent  # masked as in the logs: the last digits tell two numbers apart


@pytest.mark.urls("smscampaigns.tests.sentry_urls")
@pytest.mark.django_db
def test_a_failing_request_is_sent_without_the_number_in_its_url_or_the_token_in_its_headers(sentry, client):
    with pytest.raises(RuntimeError):
        client.get(f"/sentry-test-failure/?to={NUMBER}", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    sent = sent_events()
    assert "sentry-test-failure" in sent
    assert DIGITS[1:] not in sent
    assert TOKEN not in sent


def test_nothing_is_initialised_without_a_dsn():
    assert not sentry_sdk.get_client().is_active()


def test_the_settings_initialise_sentry_with_the_scrubber_when_the_dsn_is_set():
    code = (
        "import django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['before_send'].__name__, "
        "sorted(i for i in c.integrations if i in ('django', 'celery')))"
    )
    env = {
        **os.environ,
        "SENTRY_DSN": "https://public@127.0.0.1:9/1",
        "DJANGO_SETTINGS_MODULE": "smscampaigns.settings",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True sentry_scrub ['celery', 'django']", out.stderr[-2000:]
