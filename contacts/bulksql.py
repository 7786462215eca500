"""Set-based SQL shared by imports, exports and dispatch, written once for PostgreSQL and once for SQLite.

On PostgreSQL a list travels as one parameter: an array for `= ANY(%s)`, and rows as one JSON document
read by `json_to_recordset`. The statement stays small whatever the batch size: thousands of
placeholders, or arrays adapted value by value, cost more to build in Python than the server takes to
run them. SQLite gets one placeholder per value, in statements small enough for its parameter limit.
"""

import json
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models.expressions import RawSQL

SQLITE_ROWS_PER_STATEMENT = 500  # 13 columns x 500 rows stays under SQLite's limit of 32,766 parameters


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def sql_in(values: list) -> tuple[str, list]:
    """`column <sql_in>` matching any of `values`, and its parameters."""
    if is_postgresql():
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def values_in(values: list, *, db_type: str = "bigint") -> RawSQL | list:
    """The right side of an ORM `__in` filter on many values (ids by default; `db_type` is their PostgreSQL
    type): one array parameter on PostgreSQL, the list itself elsewhere."""
    if is_postgresql():
        return RawSQL(f"SELECT unnest(%s::{db_type}[])", [list(values)])
    return list(values)


def sql_row_sources(columns: dict[str, str], rows: list[tuple]) -> list[tuple[str, list]]:
    """Row sources for `INSERT INTO t (columns) <source>` or `UPDATE t ... FROM (<source>) AS v`: (sql, params)
    pairs covering every row.

    `columns` maps each column, in the order of the row tuples, to its PostgreSQL type ("text", "jsonb",
    "timestamptz", ...); a jsonb value is given as JSON text, a datetime or a Decimal as itself.
    """
    if not rows:
        return []
    if is_postgresql():
        names = list(columns)
        record = ", ".join(f"{name} {'text' if kind == 'jsonb' else kind}" for name, kind in columns.items())
        select = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in columns.items())
        document = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_iso)
        return [(f"SELECT {select} FROM json_to_recordset(%s::json) AS r({record})", [document])]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sources = []
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
        sources.append((f"VALUES {', '.join([row_sql] * len(chunk))}", [value for row in chunk for value in row]))
    return sources


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # a JSON string: the numeric column reads it exactly, as a float would not be
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
