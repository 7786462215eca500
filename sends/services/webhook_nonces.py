"""The nonces of accepted Plivo webhooks, kept in the database: a captured signature cannot be replayed on
another body for as long as it would be accepted.

A V2 signature covers only the URL and the nonce, so whoever holds one header pair could attach any body
to it; remembering each nonce with a fingerprint of the request it came on, and refusing it on any other
request, closes that. The same nonce on the same request is Plivo retrying and is let through (the
handlers are idempotent). A V2 signature never expires, so V2 nonces stay while V2-only requests are
accepted; a V3 signature covers the body, so once its nonce is pruned a replay can only repeat the very
callback it signed, which the handlers already treat as a duplicate.
"""

import hashlib
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
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


def webhook_nonces_record(*, nonces: Mapping[str, str], fingerprint: uuid.UUID, now: datetime | None = None) -> bool:
    """Remember the request's nonces ({version: nonce}) with its fingerprint, in one statement and at once
    (not with the handler's transaction: a callback that then fails must not free its nonce for another
    body). False when a nonce was already used on a request with other content: a replayed signature.

    A database error propagates: the caller cannot tell a fresh signature from a replayed one without the
    store, so it must refuse the request for now (Plivo retries it).
    """
    field = WebhookNonce._meta.get_field("nonce_digest")
    rows = sorted((field.get_db_prep_save(_digest(f"{v}:{n}"), connection), v) for v, n in nonces.items() if n)
    if not rows:
        return True
    seen_at = now or timezone.now()
    columns = [WebhookNonce._meta.get_field(name) for name in ("nonce_digest", "version", "fingerprint", "seen_at")]
    prepped_fingerprint = columns[2].get_db_prep_save(fingerprint, connection)
    prepped_seen_at = columns[3].get_db_prep_save(seen_at, connection)
    quote = connection.ops.quote_name
    # INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite >= 3.35): the common case, a nonce never
    # seen, costs one round trip; a conflicting twin still being inserted is waited for, then compared.
    sql = (
        f"INSERT INTO {quote(WebhookNonce._meta.db_table)} ({', '.join(quote(c.column) for c in columns)}) "
        f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(rows))} "
        f"ON CONFLICT ({quote(columns[0].column)}) DO NOTHING RETURNING {quote(columns[0].column)}"
    )
    params = [value for digest, version in rows for value in (digest, version, prepped_fingerprint, prepped_seen_at)]
    # In autocommit, as the webhooks call it, the one statement commits by itself: one round trip, where
    # BEGIN and COMMIT around it took three. Inside a caller's transaction, a savepoint keeps a failure here
    # from aborting it.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        inserted = {row[0] for row in hot_query(sql, params)}
    known = [digest for digest, _ in rows if digest not in inserted]
    if not known:
        return True
    earlier = WebhookNonce.objects.filter(nonce_digest__in=known).values_list("fingerprint", flat=True)
    return all(previous == fingerprint for previous in earlier)


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
