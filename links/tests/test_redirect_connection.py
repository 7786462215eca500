"""The redirect skips CONN_HEALTH_CHECKS' probe (a round trip per request) and replaces a dead connection when
its own read fails instead: a connection the database dropped must not answer a 500."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from links.models import ShortLink, TrackedLink
from sends.tests.factories import CampaignSendFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend")
def test_a_connection_the_database_dropped_is_replaced(settings):
    settings.REDIS_URL = ""  # the click is written inline: the connection is used again after the read
    campaign = CampaignFactory()
    link = TrackedLink.objects.create(
        campaign=campaign,
        position=0,
        url="https://shop.example.com/",
        destination="https://shop.example.com/",
        expires_at=timezone.now() + timedelta(days=1),
    )
    short = ShortLink.objects.create(code="AbCdEfGh", link=link, send=CampaignSendFactory(campaign=campaign))
    client = Client()
    assert client.get(f"/l/{short.code}").status_code == 302
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    response = client.get(f"/l/{short.code}")
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/")
