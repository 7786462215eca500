"""The nonces of accepted Plivo webhooks, kept in the database: a captured signature cannot be replayed on
another body for as long as it would be accepted.

A V2 signature covers only the URL and the nonce, so whoever holds one header pair could attach any body
to it; remembering each nonce with a fingerprint of the request it came on, and refusing it on any other
request, closes that. The same nonce on the same request is Plivo retrying and is let through (the
handlers are idempotent). A V2 signature never expires, so V2 nonces stay while V2-only requests are
accepted; a V3 signature covers the body, so once its nonce is pruned a replay can only repeat the very
callback it signed, which the handlers already treat as a duplicate.
"""

import functools
import hashlib
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model
from django.utils import timezone

from sends.models import WebhookNonce
from smscampaigns.hot_queries import hot_query

PRUNE_BATCH = 5_000


def _digest(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16])


def webhook_request_fingerprint(*, method: str, url: str, fields: Mapping[str, list[str]]) -> uuid.UUID:
    """What a signature was used on: the method, the URL (its query included) and every field, unambiguously
    (each value escaped, so no value can pass for a field boundary)."""
    parts = [method.upper(), url, *(f"{key!r}={value!r}" for key in sorted(fields) for value in fields[key])]
    return _digest("\n".join(parts))


class NonceClaim(StrEnum):
    """What became of a row written together with a request's nonces (webhook_nonces_record_with_row)."""

    WRITTEN = "written"  # the nonces were new, and so was the row
    CONFLICT = "conflict"  # the nonces were new; the row's own ON CONFLICT left it out
    # The nonces came on this same request before (Plivo retrying), or the database cannot write both at once:
    # the row was not tried, the caller writes it alone.
    RETRIED = "retried"
    REPLAYED = "replayed"  # a nonce came on a request with other content: nothing written


_NONCE_COLUMNS = ("nonce_digest", "version", "fingerprint", "seen_at")


@functools.cache
def _nonce_insert_sql(vendor: str, count: int) -> str:
    """The INSERT of `count` nonces; the same text for every request with as many, so that it is prepared once
    per connection (hot_query)."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = [WebhookNonce._meta.get_field(name).column for name in _NONCE_COLUMNS]
    # ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite >= 3.35): the common case, a nonce never seen, costs
    # one round trip; a conflicting twin still being inserted is waited for, then compared.
    return (
        f"INSERT INTO {quote(WebhookNonce._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join(['(%s, %s, %s, %s)'] * count)} "
        f"ON CONFLICT ({quote(columns[0])}) DO NOTHING RETURNING {quote(columns[0])}"
    )


def _nonce_insert(
    nonces: Mapping[str, str], fingerprint: uuid.UUID, now: datetime | None
) -> tuple[str, list, list] | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the digests of the nonces it stored: (sql, params, digests),
    the digests in a fixed order; None when the request carried no nonce."""
    database = connections[DEFAULT_DB_ALIAS]
    field = WebhookNonce._meta.get_field("nonce_digest")
    rows = sorted((field.get_db_prep_save(_digest(f"{v}:{n}"), database), v) for v, n in nonces.items() if n)
    if not rows:
        return None
    columns = [WebhookNonce._meta.get_field(name) for name in _NONCE_COLUMNS]
    prepped_fingerprint = columns[2].get_db_prep_save(fingerprint, database)
    prepped_seen_at = columns[3].get_db_prep_save(now or timezone.now(), database)
    params = [value for digest, version in rows for value in (digest, version, prepped_fingerprint, prepped_seen_at)]
    return _nonce_insert_sql(database.vendor, len(rows)), params, [digest for digest, _ in rows]


def _known_nonces_match(known: list, fingerprint: uuid.UUID) -> bool:
    earlier = WebhookNonce.objects.filter(nonce_digest__in=known).values_list("fingerprint", flat=True)
    return all(previous == fingerprint for previous in earlier)


def webhook_nonces_record(*, nonces: Mapping[str, str], fingerprint: uuid.UUID, now: datetime | None = None) -> bool:
    """Remember the request's nonces ({version: nonce}) with its fingerprint, in one statement and at once
    (not with the handler's transaction: a callback that then fails must not free its nonce for another
    body). False when a nonce was already used on a request with other content: a replayed signature.

    A database error propagates: the caller cannot tell a fresh signature from a replayed one without the
    store, so it must refuse the request for now (Plivo retries it).
    """
    insert = _nonce_insert(nonces, fingerprint, now)
    if insert is None:
        return True
    sql, params, digests = insert
    # In autocommit, as the webhooks call it, the one statement commits by itself: one round trip, where
    # BEGIN and COMMIT around it took three. Inside a caller's transaction, a savepoint keeps a failure here
    # from aborting it.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        inserted = {row[0] for row in hot_query(sql, params)}
    known = [digest for digest in digests if digest not in inserted]
    return not known or _known_nonces_match(known, fingerprint)


def webhook_nonces_record_with_row(
    *,
    nonces: Mapping[str, str],
    fingerprint: uuid.UUID,
    model: type[Model],
    values: Mapping[str, object],
    unique_fields: tuple[str, ...],
    now: datetime | None = None,
) -> NonceClaim:
    """Remember the request's nonces as webhook_nonces_record does and, only if every one is new, write one
    row of `model` ({field name: value}, left out when it conflicts on `unique_fields`) in the same statement.

    For a handler whose whole effect is that one row, so that nothing can fail after it: the nonces and the
    row commit together or not at all, in one round trip and one commit where two statements took two of
    each. A statement that fails frees the nonces with the row; nothing of the request took effect, so they
    authorise nothing that Plivo's retry would not. A database error propagates, as in webhook_nonces_record.
    It is safe to repeat (hot_query): a first run that committed unseen makes the second RETRIED. On
    PostgreSQL only (SQLite has no INSERT inside WITH): elsewhere, the nonces alone, and RETRIED.
    """
    insert = _nonce_insert(nonces, fingerprint, now)
    if connection.vendor != "postgresql" or insert is None:
        recorded = webhook_nonces_record(nonces=nonces, fingerprint=fingerprint, now=now)
        return NonceClaim.RETRIED if recorded else NonceClaim.REPLAYED
    sql, params, digests = insert
    fields = [model._meta.get_field(name) for name in values]
    statement = _with_row_sql(sql, model, tuple(values), unique_fields)
    database = connections[DEFAULT_DB_ALIAS]
    row = [field.get_db_prep_save(values[field.name], database) for field in fields]
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        [(inserted, written)] = hot_query(statement, [*params, *row, len(digests)])
    if len(inserted) == len(digests):
        return NonceClaim.WRITTEN if written else NonceClaim.CONFLICT
    known = [digest for digest in digests if digest not in set(inserted)]
    return NonceClaim.RETRIED if _known_nonces_match(known, fingerprint) else NonceClaim.REPLAYED


@functools.cache
def _with_row_sql(nonce_sql: str, model: type[Model], names: tuple[str, ...], unique_fields: tuple[str, ...]) -> str:
    """webhook_nonces_record_with_row's statement, built once per shape: the same text on every request, so that
    it is prepared once per connection (hot_query), and the fields' column types are not worked out each time."""
    database = connections[DEFAULT_DB_ALIAS]
    fields = [model._meta.get_field(name) for name in names]
    quote = database.ops.quote_name
    return (
        f"WITH claimed AS ({nonce_sql}), written AS ("
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        # Typed: a parameter in a select list is otherwise text, which a NULL number could not be stored from.
        f"SELECT {', '.join(f'%s::{f.db_type(database)}' for f in fields)} "
        "WHERE (SELECT count(*) FROM claimed) = %s "
        f"ON CONFLICT ({', '.join(quote(model._meta.get_field(n).column) for n in unique_fields)}) DO NOTHING "
        "RETURNING 1) "
        "SELECT ARRAY(SELECT * FROM claimed), EXISTS(SELECT FROM written)"
    )


def webhook_nonces_prune(*, now: datetime | None = None) -> int:
    """Forget nonces seen longer ago than PLIVO_WEBHOOK_NONCE_TTL_SECONDS, except the V2 ones while V2-only
    requests are accepted; in batches, so that no delete holds many row locks. Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS)
    versions = [WebhookNonce.Version.V3]
    if not settings.PLIVO_WEBHOOK_ACCEPT_V2_ONLY:
        versions.append(WebhookNonce.Version.V2)
    stale = WebhookNonce.objects.filter(version__in=versions, seen_at__lt=cutoff)
    removed = 0
    while batch := list(stale.values_list("pk", flat=True)[:PRUNE_BATCH]):
        removed += WebhookNonce.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < PRUNE_BATCH:
            break
    return removed
