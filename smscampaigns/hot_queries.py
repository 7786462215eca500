"""One statement on a hot path (a redirect, a webhook), run as cheaply as the database allows.

- Prepared on PostgreSQL: the server parses and plans it once per connection instead of on every request
  (Django's cursors bind parameters on the client, which has the server parse and plan each query anew).
- Without CONN_HEALTH_CHECKS' probe, which costs one more round trip on every request: a persistent
  connection found dead is replaced and the statement run again. Only for statements that are safe to repeat
  (a read, or an INSERT ... ON CONFLICT DO NOTHING whose first run may have committed unseen).
"""

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

# Django opens psycopg connections with prepare_threshold=None, which makes psycopg ignore `prepare=True` too.
# A threshold no other statement reaches lets the hot statements be prepared, and only them: Django's own
# cursors bind on the client and never prepare, whatever the threshold.
ONLY_WHEN_ASKED = 2**31


def hot_query(sql: str, params: list) -> list[tuple]:
    """The rows `sql` returns (placeholders %s); see the module docstring for when it may be used."""
    # The connection itself, not django.db.connection: each attribute read through that proxy looks the
    # connection up again.
    database = connections[DEFAULT_DB_ALIAS]
    database.health_check_done = True
    try:
        return _rows(database, sql, params)
    except (InterfaceError, OperationalError):
        if database.in_atomic_block:
            raise
        database.close()
        return _rows(database, sql, params)


def _rows(database, sql: str, params: list) -> list[tuple]:
    if database.vendor == "postgresql":
        database.ensure_connection()
        raw = database.connection
        if raw.prepare_threshold is None:
            raw.prepare_threshold = ONLY_WHEN_ASKED
        with database.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            return cursor.execute(sql, params, prepare=True).fetchall()
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
