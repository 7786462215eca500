"""The admin's front page, the marketing dashboard, with 10,000,000 sends in the database, on PostgreSQL.

The dashboard reads the daily rollups (insights.models), never the sends, so its time must not grow with
them: the figure is the server time of GET /admin/?days=90 (the widest period) beside a trivial admin page
(the password change form) measured in the same run, both through Django's test client (no network), as a
superuser. Goal: under 300 ms.

The sends are written once (INSERT ... SELECT generate_series; reused by later runs) spread over 90 days and
1,000 campaigns, with the rollups the engine would have kept for them built by one GROUP BY.

Sizes: BENCH_DASHBOARD_SENDS (default 10,000,000), BENCH_DASHBOARD_REPEAT (runs per figure, median; default 15).
"""

import os
import statistics
import time
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

SENDS = int(os.environ.get("BENCH_DASHBOARD_SENDS", "10000000"))
REPEAT = int(os.environ.get("BENCH_DASHBOARD_REPEAT", "15"))
CAMPAIGNS = 1000
DAYS = 90
PREFIX = f"bench-dashboard-{SENDS}-"


def _prepare() -> None:
    from campaigns.models import Campaign

    if Campaign.objects.filter(name=f"{PREFIX}{CAMPAIGNS - 1}").exists():
        return
    started = time.perf_counter()
    print(f"  writing {SENDS:,} sends over {CAMPAIGNS:,} campaigns and {DAYS} days (once)", flush=True)
    now = timezone.now()
    with transaction.atomic():
        Campaign.objects.filter(name__startswith=PREFIX).delete()
        # Campaign c started c * 88 / 1000 days ago (one every ~2 hours) and sent for 2 days.
        Campaign.objects.bulk_create(
            Campaign(
                name=f"{PREFIX}{c}",
                body="Sale today. STOP to opt out",
                sender="+14155550100",
                status=Campaign.Status.COMPLETED,
                started_at=now - timedelta(days=c * (DAYS - 2) / CAMPAIGNS) - timedelta(days=2),
                completed_at=now - timedelta(days=c * (DAYS - 2) / CAMPAIGNS),
            )
            for c in range(CAMPAIGNS)
        )
        with connection.cursor() as cursor:
            # g % 100: 90 delivered, 5 undelivered (error 30), 3 failed (error 20), 2 sent awaiting a report.
            cursor.execute(
                """
                INSERT INTO sends_campaignsend (campaign_id, contact_id, to_number, body, status, skip_reason,
                    provider_message_uuid, error_code, error_message, attempts, next_attempt_at, segments, cost,
                    queued_at, sent_at, status_updated_at)
                SELECT camp.id, NULL, '+1415' || (2000000 + g %% 7000000)::text, '',
                    CASE WHEN g %% 100 < 90 THEN 'delivered' WHEN g %% 100 < 95 THEN 'undelivered'
                         WHEN g %% 100 < 98 THEN 'failed' ELSE 'sent' END,
                    '', NULL,
                    CASE WHEN g %% 100 BETWEEN 90 AND 94 THEN '30'
                         WHEN g %% 100 BETWEEN 95 AND 97 THEN '20' ELSE '' END,
                    '', 1, NULL, 1, 0.00550,
                    camp.started_at + make_interval(secs => (g %% 172800)),
                    camp.started_at + make_interval(secs => (g %% 172800)),
                    camp.started_at + make_interval(secs => (g %% 172800) + 5)
                FROM generate_series(0, %s - 1) AS g
                JOIN campaigns_campaign camp ON camp.name = %s || (g %% %s)
                """,
                [SENDS, PREFIX, CAMPAIGNS],
            )
    _rollups_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)


def _rollups_rebuild() -> None:
    """The rollups the engine would have kept while sending these (one GROUP BY per table)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM insights_dailycampaignstats")
        cursor.execute("DELETE FROM insights_dailyfailures")
        cursor.execute("DELETE FROM insights_dailyaudience")
        cursor.execute(
            """
            INSERT INTO insights_dailycampaignstats (day, campaign_id, sent, delivered, failed, opt_outs, clicks,
                segments, cost)
            SELECT (status_updated_at AT TIME ZONE 'UTC')::date, campaign_id,
                count(*) FILTER (WHERE sent_at IS NOT NULL), count(*) FILTER (WHERE status = 'delivered'),
                count(*) FILTER (WHERE status IN ('failed', 'undelivered')), 0, 0, sum(segments), sum(cost)
            FROM sends_campaignsend GROUP BY 1, 2
            """
        )
        cursor.execute(
            """
            INSERT INTO insights_dailyfailures (day, error_code, count)
            SELECT (status_updated_at AT TIME ZONE 'UTC')::date, error_code, count(*)
            FROM sends_campaignsend WHERE status IN ('failed', 'undelivered') GROUP BY 1, 2
            """
        )
        cursor.execute(
            """
            INSERT INTO insights_dailyaudience (day, gained, lost)
            SELECT d::date, 500 + (extract(doy FROM d)::int % 50), 20 + (extract(doy FROM d)::int % 7)
            FROM generate_series(now() - interval '120 days', now(), interval '1 day') AS d
            """
        )


def _median_ms(client, url: str) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def run(ctx) -> dict[str, dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from campaigns.models import Campaign

    _prepare()
    setup_test_environment()  # the test client's templates signal; DEBUG stays as configured (off)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-dashboard", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'sends_campaignsend'")
        print(f"  sends in the table: ~{cursor.fetchone()[0]:,}; campaigns: {Campaign.objects.count():,}", flush=True)
    # Warm both (templates, connections), then measure.
    client.get("/admin/?days=90")
    client.get("/admin/password_change/")
    baseline = _median_ms(client, "/admin/password_change/")
    figures = {}
    size = "10m" if SENDS == 10_000_000 else f"{SENDS}"
    for days in (7, 90):
        value = _median_ms(client, f"/admin/?days={days}")
        print(f"  dashboard, {days} days: {value:.1f} ms (goal < 300 ms)", flush=True)
        figures[f"admin_dashboard_{days}_days_{size}_sends_ms"] = {
            "value": value,
            "unit": "ms",
            "baseline": "the admin's password change page (ms)",
            "baseline_value": baseline,
        }
    return figures
