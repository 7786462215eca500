"""Fixtures of the links tests: a clean click queue, the engine's daytime clock, a sent campaign with links."""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory
from links.services.clicks import STREAM
from sends.tests.conftest import daytime  # noqa: F401  (the engine texts only inside quiet hours' window)
from sends.tests.engine import run_in_process


@pytest.fixture(autouse=True)
def clean_click_queue():
    cache.clear()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(STREAM)
    yield
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(STREAM)


LINK_BODY = (
    "Hi {{ first_name }}, our sale: https://shop.example.com/sale?ref=sms and https://shop.example.com/faq. "
    "STOP to opt out"
)


@pytest.fixture
def sent_campaign(daytime):  # noqa: F811
    """Send a campaign with two links to `n` contacts through the engine (locmem backend)."""

    def send(n: int = 3, *, body: str = LINK_BODY, opted_out: int = 0, **fields):
        audience = ContactListFactory()
        contacts = [ContactFactory() for _ in range(n)]
        contacts += [
            ContactFactory(status=Contact.Status.UNSUBSCRIBED, opted_out_at="2026-01-01T00:00Z")
            for _ in range(opted_out)
        ]
        for contact in contacts:
            contact.lists.add(audience)
        campaign = CampaignFactory(body=body, **fields)
        campaign.lists.add(audience)
        campaign_send_now(campaign=campaign, actor=None)
        run_in_process()
        campaign.refresh_from_db()
        return campaign, contacts

    return send
