"""A fan-out writes a short link per recipient and link: each index on the table is an entry per code, so the
code has the one index its lookups use (the primary key), not also Django's LIKE-prefix index beside it."""

import pytest
from django.db import connection

from links.models import ShortLink

pytestmark = pytest.mark.django_db


def test_a_short_link_s_code_is_indexed_once():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ShortLink._meta.db_table)
    by_code = {
        name: info["primary_key"]
        for name, info in constraints.items()
        if (info["index"] or info["primary_key"]) and info["columns"] == ["code"]
    }
    assert list(by_code.values()) == [True]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a collation of PostgreSQL's")
def test_a_short_link_s_code_compares_bytewise_as_the_fan_out_sorts_new_codes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns WHERE table_name = %s AND column_name = 'code'",
            [ShortLink._meta.db_table],
        )
        assert cursor.fetchone() == ("C",)
