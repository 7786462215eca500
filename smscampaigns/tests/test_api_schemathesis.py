"""Property-based run of the whole API against its own OpenAPI schema, over HTTP to a live server.

Schemathesis generates requests from the schema that /api/schema/ serves (valid and invalid ones), sends
them with a superuser's token to a live server, and checks every answer: never a 5xx, and status codes,
headers and bodies as the schema documents them.
"""

import json

import pytest
import requests
import schemathesis
from django.core.management.color import no_style
from django.db import connection
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import checks

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, ContactList, Suppression
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory
from sends.models import CampaignSend
from sends.tests.factories import CampaignSendFactory


def _served_schema() -> dict:
    """The document GET /api/schema/?format=json answers, built at collection time (parametrize needs it)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


SCHEMA = _served_schema()
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
schema = schemathesis.openapi.from_dict(SCHEMA)


@pytest.fixture
def token_headers(django_user_model):
    user = django_user_model.objects.create_user("schemathesis", is_superuser=True)  # no password: hashing is slow
    # A few objects with id 1 so that some generated paths exist; 404s must conform to the schema too.
    campaign = CampaignFactory(pk=1)
    CampaignSendFactory(campaign=campaign, contact=ContactFactory(pk=1))
    ContactListFactory(pk=1)
    SuppressionFactory(pk=1)
    # Explicit ids leave PostgreSQL's sequences behind: move them past, so that creating over HTTP works.
    models = [Campaign, CampaignSend, Contact, ContactList, Suppression]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def test_the_live_server_serves_the_schema_under_test(live_server):
    response = requests.get(f"{live_server.url}/api/schema/", params={"format": "json"}, timeout=30)
    assert response.status_code == 200
    assert response.json() == SCHEMA


@schema.parametrize()
# derandomize: the same cases every run, so that CI fails on a regression, not on a lucky draw.
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, live_server, token_headers):
    # Not "schema-valid data must be accepted": a string the schema allows may still be no phone number.
    case.call_and_validate(base_url=live_server.url, headers=token_headers, checks=CHECKS)
