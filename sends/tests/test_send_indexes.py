"""A send is written once at fan-out and again at each status change, each time with an entry in every index of
the sends table: lookups by campaign or by contact go through the composite indexes that start with them, and
neither key has an index of its own besides."""

import pytest
from django.db import connection

from sends.models import CampaignSend

pytestmark = pytest.mark.django_db


def _indexes_starting_with(column: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, CampaignSend._meta.db_table)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"] and info["columns"][:1] == [column]
    }


def test_sends_by_campaign_use_the_composite_indexes_only():
    assert _indexes_starting_with("campaign_id") == {
        "send_campaign_status_idx": ["campaign_id", "status", "id"],
        "send_campaign_error_idx": ["campaign_id", "error_code", "id"],
        "unique_send_per_contact": ["campaign_id", "contact_id"],
    }


def test_sends_by_contact_use_the_composite_index_only():
    assert _indexes_starting_with("contact_id") == {"send_contact_idx": ["contact_id", "queued_at"]}
