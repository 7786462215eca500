"""Campaign engine on PostgreSQL: fan-out of 1,000,000 recipients, dispatch throughput and memory of one
worker process.

- Fan-out: `campaign_fan_out` (audience rules, skipped rows with reasons, counters) for 1,000,000 contacts,
  beside a plain `INSERT ... SELECT` of the same rows (no rules, no counters) measured in the same run.
- Dispatch: one worker process (a fresh interpreter running the engine's chunks one after another, as a
  solo Celery worker would) sends a campaign with the rate limit off; messages/s and CPU seconds per
  1,000 messages, beside the ceiling of the backend alone (the same backend called in a bare loop with
  the same request sizes). With the Plivo simulator available the backend is the real Plivo one over HTTP
  and the ceiling is the simulator's; otherwise the console backend writing to /dev/null.
- Peak memory (max RSS) of that worker process while it works through the 1,000,000-recipient campaign,
  beside the same interpreter with Django loaded and idle.

Sizes: BENCH_ENGINE_RECIPIENTS (default 1,000,000), BENCH_ENGINE_DISPATCH (messages dispatched for the
throughput figure, default all of them), BENCH_ENGINE_REPEAT (fan-out repetitions, default 3).
"""

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

from django.db import connection, transaction
from django.utils import timezone

RECIPIENTS = int(os.environ.get("BENCH_ENGINE_RECIPIENTS", "1000000"))
REPEAT = int(os.environ.get("BENCH_ENGINE_REPEAT", "3"))
LIST_NAME = f"bench-engine-{RECIPIENTS}"


def _prepare_audience() -> int:
    """A list of RECIPIENTS contacts (2% without consent, 1% suppressed), created once and reused."""
    from contacts.models import ContactList

    audience, created = ContactList.objects.get_or_create(name=LIST_NAME)
    if not created and audience.memberships.count() == RECIPIENTS:
        return audience.pk
    print(f"  preparing {RECIPIENTS:,} contacts (once)", flush=True)
    base = 2_000_000_000 + RECIPIENTS * 10  # a number range of its own per size
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contactlistmembership WHERE contact_list_id = %s", [audience.pk])
        cursor.execute(
            """
            INSERT INTO contacts_contact (phone_number, country, first_name, last_name, timezone, status,
                consented_at, consent_source, consent_text, opted_out_at, opt_out_source, attributes,
                created_at, updated_at)
            SELECT '+1' || (%s + g)::text, 'US', 'Name' || (g %% 1000)::text, 'Family', 'America/New_York',
                   CASE WHEN g %% 50 = 0 THEN 'unsubscribed' ELSE 'subscribed' END,
                   CASE WHEN g %% 50 = 0 THEN NULL ELSE now() END, 'bench', '', NULL, '',
                   jsonb_build_object('code', 'C' || (g %% 7)::text), now(), now()
            FROM generate_series(1, %s) AS g
            ON CONFLICT (phone_number) DO NOTHING
            """,
            [base, RECIPIENTS],
        )
        cursor.execute(
            """
            INSERT INTO contacts_contactlistmembership (contact_id, contact_list_id, added_at)
            SELECT id, %s, now() FROM contacts_contact
            WHERE phone_number BETWEEN %s AND %s
            """,
            [audience.pk, f"+1{base + 1}", f"+1{base + RECIPIENTS}"],
        )
        cursor.execute(
            """
            INSERT INTO contacts_suppression (phone_number, reason, source, note, created_at)
            SELECT '+1' || (%s + g)::text, 'do-not-call', 'bench', '', now()
            FROM generate_series(7, %s, 100) AS g
            ON CONFLICT DO NOTHING
            """,
            [base, RECIPIENTS],
        )
    cursor = connection.cursor()
    cursor.execute("ANALYZE contacts_contact; ANALYZE contacts_contactlistmembership; ANALYZE contacts_suppression")
    return audience.pk


def _campaign(list_id: int, name: str, body: str):
    from campaigns.models import Campaign

    campaign = Campaign.objects.create(
        name=name, body=body, sender="+14155550100", status=Campaign.Status.SENDING, started_at=timezone.now()
    )
    campaign.lists.add(list_id)
    return campaign


def _truncate_sends() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sends_deliveryreport, sends_campaignsend")


def _fan_out_once(list_id: int) -> float:
    from sends.services.fanout import campaign_fan_out

    _truncate_sends()
    campaign = _campaign(list_id, "bench fan-out", "Hi {{ first_name }}")
    started = time.perf_counter()
    result = campaign_fan_out(campaign=campaign)
    elapsed = time.perf_counter() - started
    assert result.queued + result.skipped == RECIPIENTS, result
    return elapsed


def _plain_insert_once(list_id: int) -> float:
    _truncate_sends()
    campaign = _campaign(list_id, "bench plain insert", "Hi")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sends_campaignsend (campaign_id, contact_id, to_number, body, status, skip_reason,
                error_code, error_message, attempts, segments, queued_at, status_updated_at)
            SELECT %s, c.id, c.phone_number, '', 'queued', '', '', '', 0, 0, now(), now()
            FROM contacts_contact c JOIN contacts_contactlistmembership m ON m.contact_id = c.id
            WHERE m.contact_list_id = %s
            """,
            [campaign.pk, list_id],
        )
        assert cursor.rowcount == RECIPIENTS
    return time.perf_counter() - started


_WORKER = textwrap.dedent(
    """
    import json, os, resource, sys, time
    import django
    django.setup()
    from django.conf import settings
    from django.db import connection
    from sends.selectors import send_ranges_due
    from sends.services.dispatch import _dispatch_chunk
    from django.utils import timezone

    campaign_id, limit, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    idle_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "idle":
        print(json.dumps({"max_rss_kb": idle_rss}))
        sys.exit(0)
    done, after, started, cpu0 = 0, 0, time.perf_counter(), time.process_time()
    while done < limit:
        ranges = send_ranges_due(campaign_id=campaign_id, after_id=after, now=timezone.now(),
                                 chunk_size=settings.DISPATCH_CHUNK_SIZE, limit=8)
        if not ranges:
            break
        for first, last in ranges:
            _dispatch_chunk(campaign_id=campaign_id, first_id=first, last_id=last)
        after = ranges[-1][1]
        with connection.cursor() as cursor:
            cursor.execute("SELECT sent_count FROM campaigns_campaign WHERE id = %s", [campaign_id])
            done = cursor.fetchone()[0]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    print(json.dumps({"sent": done, "seconds": elapsed, "cpu": cpu,
                      "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def _worker_env(backend: str) -> dict[str, str]:
    return {
        **os.environ,
        "SMS_BACKEND": backend,
        "QUIET_HOURS_START": "00:00",
        "QUIET_HOURS_END": "23:59:59.999999",
        "LOG_LEVEL": "WARNING",
        "SEND_RATE_PER_SECOND": "0",
    }


def _run_worker(campaign_id: int, limit: int, mode: str, backend: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(campaign_id), str(limit), mode],
        env=_worker_env(backend),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _backend_ceiling(backend: str, messages: int) -> float:
    """Messages/s of the backend alone, in bulk requests of the size dispatch uses."""
    from sends.backends import get_connection
    from sends.backends.base import OutboundMessage

    with open(os.devnull, "w") as devnull:
        kwargs = {"stream": devnull} if backend.endswith("console.SmsBackend") else {}
        with get_connection(backend, **kwargs) as sms:
            size = min(sms.max_destinations_per_request, 500)
            numbers = [f"+1200{n:07d}" for n in range(size)]
            started = time.perf_counter()
            sent = 0
            while sent < messages:
                sms.send_message(OutboundMessage(sender="+14155550100", destinations=numbers, body="Hi Name1"))
                sent += size
            return sent / (time.perf_counter() - started)


def run(ctx) -> dict[str, dict]:
    from campaigns.models import Campaign

    list_id = _prepare_audience()
    figures: dict[str, dict] = {}

    fan_out, plain = [], []
    for _ in range(REPEAT):  # alternated, so that both see the same machine weather
        fan_out.append(_fan_out_once(list_id))
        plain.append(_plain_insert_once(list_id))
    fan_out_s, plain_s = statistics.median(fan_out), statistics.median(plain)
    figures["engine_fan_out_1m_seconds"] = {
        "value": fan_out_s,
        "unit": "s",
        "baseline": "plain INSERT ... SELECT (s)",
        "baseline_value": plain_s,
    }
    figures["engine_fan_out_rows_per_second"] = {
        "value": RECIPIENTS / fan_out_s,
        "unit": "rows/s",
        "baseline": "plain INSERT ... SELECT (rows/s)",
        "baseline_value": RECIPIENTS / plain_s,
    }

    # Dispatch: the whole 1,000,000-recipient campaign unless BENCH_ENGINE_DISPATCH says fewer.
    backend = "sends.backends.console.SmsBackend"
    limit = int(os.environ.get("BENCH_ENGINE_DISPATCH", str(RECIPIENTS)))
    _truncate_sends()
    campaign = _campaign(list_id, "bench dispatch", 'Hi {{ first_name }}, your code is {{ code|default:"none" }}')
    from sends.services.fanout import campaign_fan_out

    campaign_fan_out(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(max_per_second=None)
    worker = _run_worker(campaign.pk, limit, "dispatch", backend)
    idle = _run_worker(campaign.pk, 0, "idle", backend)
    ceiling = _backend_ceiling(backend, 100_000)
    figures["engine_dispatch_messages_per_second"] = {
        "value": worker["sent"] / worker["seconds"],
        "unit": "msg/s",
        "baseline": "backend alone, bulk (msg/s)",
        "baseline_value": ceiling,
    }
    figures["engine_dispatch_cpu_seconds_per_1000"] = {
        "value": worker["cpu"] / worker["sent"] * 1000,
        "unit": "CPU s/1000",
        "baseline": "backend alone (CPU s/1000)",
        "baseline_value": 1000 / ceiling,
    }
    figures["engine_worker_peak_memory_mb"] = {
        "value": worker["max_rss_kb"] / 1024,
        "unit": "MB",
        "baseline": "same process idle (MB)",
        "baseline_value": idle["max_rss_kb"] / 1024,
    }
    print(f"  dispatched {worker['sent']:,} messages in {worker['seconds']:.0f} s", flush=True)
    _truncate_sends()
    return figures
