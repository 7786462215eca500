"""The inbox on PostgreSQL: the unread count every admin page shows, and the first page of the inbox list.

BENCH_INBOX_CONVERSATIONS conversations (default 200,000), 1% with unread texts, each contact with one inbound
text. Figures, each beside a baseline measured in the same run:
- the navigation's unread count (`inbox_unread_count`) beside one primary-key lookup of a conversation (a
  round trip to the database: the least any query on a page costs);
- the inbox list's first 100 rows (`conversations_inbox`, unread first, with each last text) beside the 100
  latest conversations read plainly (`ORDER BY last_message_at DESC LIMIT 100`).
BENCH_INBOX_REPEAT runs per figure (median; default 21).
"""

import os
import statistics
import time

from django.db import connection, transaction

CONVERSATIONS = int(os.environ.get("BENCH_INBOX_CONVERSATIONS", "200000"))
REPEAT = int(os.environ.get("BENCH_INBOX_REPEAT", "21"))
MARK = f"bench-inbox-{CONVERSATIONS}"


def _prepare() -> None:
    """Contacts (+1212 numbers, a range of their own), an inbound text each, their conversations; once."""
    from conversations.models import Conversation

    if Conversation.objects.filter(contact__consent_source=MARK).count() == CONVERSATIONS:
        return
    print(f"  preparing {CONVERSATIONS:,} conversations (once)", flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_contact (phone_number, country, first_name, last_name, timezone, status,
                consented_at, consent_source, consent_text, opt_out_source, attributes, created_at, updated_at)
            SELECT '+1212' || (2000000 + g)::text, 'US', 'Inbox', g::text, '', 'subscribed', now(), %(mark)s, '',
                '', '{}'::jsonb, now(), now()
            FROM generate_series(1, %(n)s) AS g
            ON CONFLICT (phone_number) DO NOTHING
            """,
            {"n": CONVERSATIONS, "mark": MARK},
        )
        cursor.execute(
            """
            INSERT INTO sends_inboundmessage (message_uuid, from_number, to_number, text, intent, action,
                contact_id, payload, received_at)
            SELECT 'bench-inbox-' || c.id, c.phone_number, '+14155550100', 'Do you have it in blue?', '', 'none',
                c.id, '{}'::jsonb, now() - (c.id %% 1000) * interval '1 minute'
            FROM contacts_contact c WHERE c.consent_source = %(mark)s
            ON CONFLICT (message_uuid) DO NOTHING
            """,
            {"mark": MARK},
        )
        cursor.execute(
            """
            INSERT INTO conversations_conversation (contact_id, status, unread_count, last_inbound_at,
                last_message_at, last_text)
            SELECT c.id, 'open', CASE WHEN c.id %% 100 = 0 THEN 2 ELSE 0 END, now(),
                now() - (c.id %% 1000) * interval '1 minute', 'Do you have it in blue?'
            FROM contacts_contact c WHERE c.consent_source = %(mark)s
            ON CONFLICT (contact_id) DO NOTHING
            """,
            {"mark": MARK},
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation; ANALYZE sends_inboundmessage")


def _median_seconds(call) -> float:
    call()
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(ctx) -> dict[str, dict]:
    from conversations.models import Conversation
    from conversations.selectors import conversations_inbox, inbox_unread_count

    _prepare()
    some = Conversation.objects.values_list("pk", flat=True).first()
    size = f"{CONVERSATIONS // 1000}k"
    lookup = _median_seconds(lambda: Conversation.objects.filter(pk=some).first())
    unread = _median_seconds(inbox_unread_count)
    plain = _median_seconds(lambda: list(Conversation.objects.order_by("-last_message_at")[:100]))
    inbox = _median_seconds(lambda: list(conversations_inbox()[:100]))
    return {
        f"inbox_unread_count_{size}_seconds": {
            "value": unread,
            "unit": "s",
            "baseline": "one conversation by primary key (s)",
            "baseline_value": lookup,
        },
        f"inbox_list_first_page_{size}_seconds": {
            "value": inbox,
            "unit": "s",
            "baseline": "the 100 latest conversations, plain (s)",
            "baseline_value": plain,
        },
    }
