"""The launch preview (`campaign_preview`) of a campaign over 1,000,000 contacts, on PostgreSQL.

The audience mixes six countries and their zones; 5% of contacts have no timezone of their own (their number
decides it), about 2% opted out, 1% are on the do-not-call list and 1% never consented; some first names force
UCS-2. Figures, each beside the audience breakdown (`campaign_audience_breakdown`: one COUNT ... GROUP BY
exclusion_reason and the count of list entries) measured in the same run, since that is the floor the database
gives for the counts every preview shows:
- the preview of a plain body (the same text for everyone: the common case);
- the preview of a personalised body (`{{ first_name }}`: 1,000 distinct names);
- "unique": the preview of a body with a value of its own for every contact (`{{ member }}`): the worst case,
  where every recipient's text is rendered.

Sizes: BENCH_PREVIEW_CONTACTS (default 1,000,000; e.g. 50000 for a quick run), BENCH_PREVIEW_REPEAT (runs
per figure, median taken; default 3).
"""

import os
import statistics
import time
from datetime import UTC, datetime

from django.db import connection, transaction

CONTACTS = int(os.environ.get("BENCH_PREVIEW_CONTACTS", "1000000"))
REPEAT = int(os.environ.get("BENCH_PREVIEW_REPEAT", "3"))
LIST_NAME = f"bench-preview-v2-{CONTACTS}"
# 19:00 UTC on a June day: daytime in the Americas and Europe, night in India and Australia.
NOW = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)

# Per g % 10: the number's prefix (followed by g on `width` digits), its country and its zone. Valid numbers
# (phonenumbers agrees), distinct from the other benchmarks' ranges.
_COUNTRIES = [
    ("+1415", 7, "US", "America/Los_Angeles"),
    ("+1312", 7, "US", "America/Chicago"),
    ("+1617", 7, "US", "America/New_York"),
    ("+1617", 7, "US", "America/New_York"),
    ("+1808", 7, "US", "Pacific/Honolulu"),
    ("+447911", 6, "GB", "Europe/London"),
    ("+336", 8, "FR", "Europe/Paris"),
    ("+49151", 8, "DE", "Europe/Berlin"),
    ("+61412", 6, "AU", "Australia/Sydney"),
    ("+9198", 8, "IN", "Asia/Kolkata"),
]
FIRST_NAMES = ["Ann", "Bob", "Chloé", "Dieter", "Priya", "João", "Zoë", "Wei", "Łukasz", "Liam"]


def _number_sql() -> tuple[str, str, str]:
    """SQL CASE expressions on g for the number, country and zone of contact g."""

    def case(pick) -> str:
        whens = " ".join(f"WHEN {k} THEN {pick(k, row)}" for k, row in enumerate(_COUNTRIES))
        return f"CASE g %% 10 {whens} END"

    # US numbers need a first exchange digit of 2-9: 2,000,000 + g keeps it so below 8,000,000 contacts.
    number = case(
        lambda k, row: (
            f"'{row[0]}' || (2000000 + g)::text" if row[2] == "US" else f"'{row[0]}' || lpad(g::text, {row[1]}, '0')"
        )
    )
    return number, case(lambda k, row: f"'{row[2]}'"), case(lambda k, row: f"'{row[3]}'")


def _prepare_audience() -> int:
    """A list of CONTACTS contacts as described above, created once and reused."""
    from contacts.models import ContactList

    audience, created = ContactList.objects.get_or_create(name=LIST_NAME)
    if not created and audience.memberships.count() == CONTACTS:
        return audience.pk
    print(f"  preparing {CONTACTS:,} contacts (once)", flush=True)
    number, country, zone = _number_sql()
    names = "ARRAY[" + ", ".join(f"'{name}'" for name in FIRST_NAMES) + "]"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contactlistmembership WHERE contact_list_id = %s", [audience.pk])
        cursor.execute(
            f"""
            WITH people AS (
                SELECT g, {number} AS phone_number, {country} AS country, {zone} AS zone
                FROM generate_series(1, %(n)s) AS g
            ), created AS (
                INSERT INTO contacts_contact (phone_number, country, first_name, last_name, timezone, status,
                    consented_at, consent_source, consent_text, opted_out_at, opt_out_source, attributes,
                    created_at, updated_at)
                SELECT phone_number, country, ({names})[1 + g %% 10] || (g / 10 %% 100)::text, 'Preview',
                       CASE WHEN g %% 20 = 1 THEN '' ELSE zone END,
                       CASE WHEN g %% 50 = 0 OR g %% 97 = 0 THEN 'unsubscribed' ELSE 'subscribed' END,
                       CASE WHEN g %% 50 = 0 OR g %% 97 = 0 THEN NULL ELSE now() END,
                       'bench', '',
                       CASE WHEN g %% 50 = 0 THEN now() END, '',
                       jsonb_build_object('code', 'C' || (g %% 7)::text, 'member', 'M' || g::text), now(), now()
                FROM people
                -- The smaller sizes share their numbers with the larger ones: the same people, made the same.
                ON CONFLICT (phone_number) DO UPDATE SET (country, first_name, last_name, timezone, status,
                    consented_at, consent_source, opted_out_at, attributes) = (EXCLUDED.country, EXCLUDED.first_name,
                    EXCLUDED.last_name, EXCLUDED.timezone, EXCLUDED.status, EXCLUDED.consented_at,
                    EXCLUDED.consent_source, EXCLUDED.opted_out_at, EXCLUDED.attributes)
                RETURNING id
            )
            INSERT INTO contacts_contactlistmembership (contact_id, contact_list_id, added_at)
            SELECT id, %(list)s, now() FROM created
            """,
            {"n": CONTACTS, "list": audience.pk},
        )
        assert cursor.rowcount == CONTACTS, cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO contacts_suppression (phone_number, reason, origin, source, note, created_at)
            SELECT {number}, 'do-not-call', 'staff', 'bench', '', now() FROM generate_series(7, %s, 100) AS g
            ON CONFLICT DO NOTHING
            """,
            [CONTACTS],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact; ANALYZE contacts_contactlistmembership; ANALYZE contacts_suppression")
    return audience.pk


def _median_seconds(work) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(ctx) -> dict[str, dict]:
    from campaigns.models import Campaign
    from campaigns.selectors import campaign_audience_breakdown, campaign_preview

    list_id = _prepare_audience()
    figures = {}
    for label, body in [
        ("plain", "Summer sale: 20% off everything until Sunday. Reply STOP to opt out."),
        ("personalised", "Hi {{ first_name }}, summer sale: 20% off everything until Sunday. Reply STOP to opt out."),
        ("unique", "Hi {{ first_name }}, your member code {{ member }} takes 20% off until Sunday."),
    ]:
        campaign = Campaign.objects.create(name=f"bench preview {label}", body=body, sender="+14155550100")
        campaign.lists.add(list_id)
        preview = campaign_preview(campaign=campaign, now=NOW)  # warms the caches both sides use
        print(
            f"  {label}: {preview.audience.eligible:,} of {preview.audience.total:,} eligible, "
            f"{preview.segments_total:,} segments, ${preview.estimated_cost:,.2f}, "
            f"{preview.deferred_by_quiet_hours:,} deferred",
            flush=True,
        )
        baseline = _median_seconds(lambda c=campaign: campaign_audience_breakdown(campaign=c))
        preview_s = _median_seconds(lambda c=campaign: campaign_preview(campaign=c, now=NOW))
        size = "1m" if CONTACTS == 1_000_000 else f"{CONTACTS}"
        figures[f"campaign_preview_{label}_{size}_seconds"] = {
            "value": preview_s,
            "unit": "s",
            "baseline": f"audience breakdown alone, {CONTACTS:,} contacts (s)",
            "baseline_value": baseline,
        }
        campaign.delete()
    # The worst case against the common one, both measured above in this run: the goal is a unique value per
    # contact costing no more than a few breakdowns, at most 5 s at a million on a quiet machine.
    unique, plain = (
        figures[f"campaign_preview_unique_{size}_seconds"],
        figures[f"campaign_preview_plain_{size}_seconds"],
    )
    figures[f"campaign_preview_unique_{size}_vs_plain_seconds"] = {
        "value": unique["value"],
        "unit": "s",
        "baseline": "plain-body preview, same run (s)",
        "baseline_value": plain["value"],
    }
    print(
        f"  unique values: {unique['value']:.2f} s (goal <= 5 s), x{unique['value'] / unique['baseline_value']:.2f} "
        f"the audience breakdown, x{unique['value'] / plain['value']:.2f} the plain-body preview",
        flush=True,
    )
    return figures
