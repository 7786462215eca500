import pytest

from integrations.models import WebhookEndpoint
from integrations.tests.receiver import SignedReceiver
from smscampaigns import domain_events


@pytest.fixture
def receiver():
    receiver = SignedReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def endpoint(receiver, db):
    """An endpoint at the receiver for every event type; the receiver checks signatures with its secret."""
    endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=list(domain_events.EVENT_TYPES))
    receiver.secret = endpoint.secret
    return endpoint


# Real Celery workers (and their beat) for the tests that show delivery happens without anyone calling it.
from sends.tests.conftest import clean_engine_state, daytime, run_engine, scripted, workers  # noqa: E402, F401
