"""Frequency caps at claim time, on PostgreSQL: what the caps add to claiming a wave of sends.

A campaign held to the global cap and to "skip anyone texted in the last 48 hours" claims its sends wave by
wave (DISPATCH_WAVE_SIZE recipients, as dispatch does: per-contact advisory locks, then two grouped counts
over the contacts' sends), beside a transactional campaign to the same people, whose claim skips all of
that, in the same run, alternated wave by wave. Every contact already has two sent messages (3 and 4 days
old) from earlier campaigns, and nobody is over the caps, so both claim every send and only the caps' work
differs.

Sizes: BENCH_CAPS_CONTACTS (default 20,000), BENCH_CAPS_WAVES (waves timed per side, default 60).
"""

import os
import statistics
import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench.bench_engine import CONTACT_REMADE, _truncate_sends

CONTACTS = int(os.environ.get("BENCH_CAPS_CONTACTS", "20000"))
WAVES = int(os.environ.get("BENCH_CAPS_WAVES", "60"))
LIST_NAME = f"bench-caps-v2-{CONTACTS}"  # v2: contacts other benchmarks left are remade
BASE = 2_133_000_000  # +1 213 3xx xxxx: numbers of their own, apart from the engine benchmark's


def _prepare_audience() -> int:
    from contacts.models import ContactList

    audience, created = ContactList.objects.get_or_create(name=LIST_NAME)
    if not created and audience.memberships.count() == CONTACTS:
        return audience.pk
    with transaction.atomic(), connection.cursor() as cursor:
        # Numbers another benchmark left behind are made these contacts too (bench_engine says why).
        cursor.execute(
            f"""
            WITH created AS (
                INSERT INTO contacts_contact (phone_number, country, first_name, last_name, timezone, status,
                    consented_at, consent_source, consent_text, opted_out_at, opt_out_source, attributes,
                    created_at, updated_at)
                SELECT '+1' || (%s + g)::text, 'US', 'Name', 'Family', 'America/Los_Angeles', 'subscribed', now(),
                       'bench', '', NULL, '', '{{}}'::jsonb, now(), now()
                FROM generate_series(1, %s) AS g
                {CONTACT_REMADE}
                RETURNING id
            )
            INSERT INTO contacts_contactlistmembership (contact_id, contact_list_id, added_at)
            SELECT id, %s, now() FROM created
            ON CONFLICT DO NOTHING
            """,
            [BASE, CONTACTS, audience.pk],
        )
    return audience.pk


def _campaign(list_id: int, name: str, **fields):
    from campaigns.models import Campaign

    campaign = Campaign.objects.create(
        name=name,
        body="Sale today. STOP to opt out",
        sender="+14155550100",
        status=Campaign.Status.SENDING,
        started_at=timezone.now(),
        **fields,
    )
    campaign.lists.add(list_id)
    return campaign


def _history(list_id: int) -> None:
    """Two sent marketing messages a contact, three and four days ago: inside the cap's week, before the 48 hours."""
    from sends.services.fanout import campaign_fan_out

    for days in (3, 4):
        earlier = _campaign(list_id, f"bench caps history {days}")
        campaign_fan_out(campaign=earlier)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sends_campaignsend SET status = 'sent', sent_at = now() - make_interval(days => %s) "
                "WHERE campaign_id = %s",
                [days, earlier.pk],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sends_campaignsend")


def _claim_wave(campaign_id: int, ids: list[int]) -> float:
    from sends.services.dispatch.claiming import sends_claim
    from sends.services.dispatch.recipients import due_recipients

    recipients = due_recipients(campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], now=timezone.now())
    started = time.perf_counter()
    claimed = sends_claim(campaign_id=campaign_id, recipients=recipients)
    elapsed = time.perf_counter() - started
    assert len(claimed) == len(recipients), (len(claimed), len(recipients))
    return elapsed


def run(ctx) -> dict[str, dict]:
    from campaigns.models import FrequencyCap
    from campaigns.services.caps import frequency_cap_update
    from sends.models import CampaignSend
    from sends.services.fanout import campaign_fan_out

    _truncate_sends()
    list_id = _prepare_audience()
    _history(list_id)
    frequency_cap_update(max_messages=5, window_days=7, actor=None)  # two each so far: nobody over it
    capped = _campaign(list_id, "bench caps: marketing", skip_recent_hours=48)
    plain = _campaign(list_id, "bench caps: transactional", transactional=True)
    wave = settings.DISPATCH_WAVE_SIZE
    waves: dict[int, list[list[int]]] = {}
    for campaign in (capped, plain):
        campaign_fan_out(campaign=campaign)
        ids = list(CampaignSend.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True))
        waves[campaign.pk] = [ids[i : i + wave] for i in range(0, len(ids), wave)][:WAVES]
    with_caps, without = [], []
    try:
        for capped_wave, plain_wave in zip(waves[capped.pk], waves[plain.pk], strict=False):
            with_caps.append(_claim_wave(capped.pk, capped_wave))
            without.append(_claim_wave(plain.pk, plain_wave))
    finally:
        FrequencyCap.objects.all().delete()
        _truncate_sends()
    return {
        "caps_claim_wave_ms": {
            "value": statistics.median(with_caps) * 1000,
            "unit": f"ms/{wave} sends",
            "baseline": "same claim, transactional: no caps (ms)",
            "baseline_value": statistics.median(without) * 1000,
        }
    }
