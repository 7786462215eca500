"""hot_query prepares its statement on PostgreSQL: parsed and planned once per connection, not per request."""

import pytest
from django.db import connection

from contacts.models import Contact
from smscampaigns.hot_queries import hot_query

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements of a PostgreSQL session"),
]

HOT = "SELECT %s::int + 1"


def _prepared(text: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"])
        return [row[0] for row in cursor.fetchall()]


def test_a_hot_query_is_prepared_once_and_used_again():
    assert hot_query(HOT, [1]) == [(2,)]
    assert hot_query(HOT, [41]) == [(42,)]
    assert _prepared("$1::int + 1") == ["SELECT $1::int + 1"]


def test_the_orm_s_own_statements_stay_unprepared():
    hot_query(HOT, [1])
    for _ in range(10):
        list(Contact.objects.filter(phone_number="+14155550123"))
    assert _prepared("contacts_contact") == []
