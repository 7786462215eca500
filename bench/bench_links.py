"""Short links: what tracking links costs the fan-out, and how fast the redirect answers.

- Fan-out of BENCH_ENGINE_RECIPIENTS (default 1,000,000) recipients with one tracked link (a code per
  recipient, made in the fan-out's transaction), beside the same fan-out of a text without a link, measured
  alternately in the same run (medians of BENCH_ENGINE_REPEAT). The target is at most x1.5.
- GET /l/<code> through gunicorn (the production config), Django and PostgreSQL, each request a different
  recipient's code with a phone browser's User-Agent, clicks queued in Redis (REDIS_URL; without it each
  redirect writes its click itself), beside a trivial Django view on the same server. The target is at least
  half the trivial view's requests/s. The clicks queued are then written (link_clicks_flush) and counted.
"""

import os
import statistics
import time
from datetime import timedelta

from django.db import connection

from bench.bench_engine import RECIPIENTS, REPEAT, _campaign, _prepare_audience, _truncate_sends
from bench.bench_webhooks import NOOP_PATH, REPORTS_PER_ROUND, ROUNDS, _drive, _p99, _start_gunicorn

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def _fan_out_once(list_id: int, body: str) -> float:
    from sends.services.fanout import campaign_fan_out

    _truncate_sends()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE links_click, links_shortlink, links_trackedlink")
    campaign = _campaign(list_id, "bench links fan-out", body)
    started = time.perf_counter()
    result = campaign_fan_out(campaign=campaign)
    elapsed = time.perf_counter() - started
    assert result.queued + result.skipped == RECIPIENTS, result
    return elapsed


def _fan_out_figures() -> dict:
    from links.models import ShortLink

    list_id = _prepare_audience()
    plain, linked = [], []
    for _ in range(REPEAT):  # alternated, so that both see the same machine weather
        plain.append(_fan_out_once(list_id, "Hi {{ first_name }}, our sale starts today. STOP to opt out"))
        linked.append(
            _fan_out_once(list_id, "Hi {{ first_name }}, sale: https://shop.example.com/sale STOP to opt out")
        )
        codes = ShortLink.objects.count()
    queued = int(RECIPIENTS * 0.98)  # the audience's 2% without consent are skipped and get no code
    if codes < queued * 0.98:
        raise RuntimeError(f"{codes:,} codes made for about {queued:,} queued sends")
    _truncate_sends()
    return {
        "links_fan_out_1m_with_link_seconds": {
            "value": statistics.median(linked),
            "unit": "s",
            "baseline": "same fan-out, no link (s)",
            "baseline_value": statistics.median(plain),
        }
    }


def _redirect_figures(database_url: str) -> dict:
    from django.utils import timezone

    from campaigns.models import Campaign
    from links.models import Click, ShortLink, TrackedLink
    from links.services.clicks import link_clicks_flush
    from links.services.codes import new_code
    from sends.models import CampaignSend

    requests = ROUNDS * REPORTS_PER_ROUND
    campaign = Campaign.objects.create(name="bench redirect", body="https://shop.example.com/", status="sending")
    link = TrackedLink.objects.create(
        campaign=campaign,
        position=0,
        url="https://shop.example.com/",
        destination="https://shop.example.com/?utm_source=sms",
        expires_at=timezone.now() + timedelta(days=90),
    )
    sends = CampaignSend.objects.bulk_create(
        CampaignSend(campaign=campaign, to_number="+14155550123", status=CampaignSend.Status.DELIVERED)
        for _ in range(requests)
    )
    codes = [
        s.code for s in ShortLink.objects.bulk_create(ShortLink(code=new_code(), link=link, send=s) for s in sends)
    ]
    link_clicks_flush()  # whatever an earlier run left queued
    process, port, listener = _start_gunicorn(database_url)
    redirect_rates, noop_rates, redirect_latencies, noop_latencies = [], [], [], []
    try:
        for round_ in range(ROUNDS):
            mine = codes[round_ * REPORTS_PER_ROUND : (round_ + 1) * REPORTS_PER_ROUND]
            clicks = [(b"", {"User-Agent": PHONE, "X-Bench-Path": code}) for code in mine]
            rate, latencies = _drive(port, "GET", "/l/{}", clicks, expected=302)
            redirect_rates.append(rate)
            redirect_latencies += latencies
            rate, latencies = _drive(port, "GET", NOOP_PATH, [(b"", {"User-Agent": PHONE})] * REPORTS_PER_ROUND)
            noop_rates.append(rate)
            noop_latencies += latencies
    finally:
        process.terminate()
        process.wait(timeout=30)
        listener.close()
    link_clicks_flush()
    counted = Click.objects.filter(campaign=campaign, kind=Click.Kind.CLICK).count()
    campaign.delete()
    if counted != requests:
        raise RuntimeError(f"counted {counted} clicks of {requests} redirects")
    return {
        "links_redirects_per_s": {
            "value": statistics.median(redirect_rates),
            "unit": "requests/s",
            "baseline": "trivial Django view, same gunicorn",
            "baseline_value": statistics.median(noop_rates),
        },
        "links_redirect_p99_ms": {
            "value": _p99(redirect_latencies),
            "unit": "ms",
            "baseline": "trivial view p99",
            "baseline_value": _p99(noop_latencies),
        },
    }


def run(ctx) -> dict:
    figures = _redirect_figures(ctx["database_url"])
    if os.environ.get("BENCH_LINKS_FAN_OUT", "1") != "0":
        figures.update(_fan_out_figures())
    return figures
