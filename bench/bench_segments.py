"""Counting a segment over 1,000,000 contacts on PostgreSQL, beside the same count written by hand.

The contacts are those of bench_preview (six countries, half of them in the US); on top of them a tag on
one contact in five and a number custom field ("bench_score", 0 to 999) on every contact. The segment has
three conditions, all in one group: the tag, the score between 100 and 300, the country US (about 2% of the
contacts match). Figures, each the median of BENCH_SEGMENTS_REPEAT runs:
- `segment_contacts(...).count()`: the segment's own query (contacts.segment_rules), beside one hand-made SQL
  query counting the same people (EXISTS on the tag and value tables, the country on the contact) in the
  same run;
- `segment_count(...)`, what the admin's live count and /api/v1/segments/{id}/count/ answer: the matching
  count and, of them, those who may be texted (the suppression probe of each matching contact), beside the
  same hand-made query.

Sizes: BENCH_PREVIEW_CONTACTS (default 1,000,000, shared with bench_preview), BENCH_SEGMENTS_REPEAT
(default 5).
"""

import os
import statistics
import time

from django.db import connection, transaction

from bench.bench_preview import CONTACTS, _prepare_audience

REPEAT = int(os.environ.get("BENCH_SEGMENTS_REPEAT", "5"))
FIELD_KEY = "bench_score"
TAG_NAME = "bench-vip"

HAND_MADE = """
SELECT count(*) FROM contacts_contact c
WHERE c.country = 'US'
  AND EXISTS (SELECT 1 FROM contacts_contacttag t WHERE t.contact_id = c.id AND t.tag_id = %(tag)s)
  AND EXISTS (SELECT 1 FROM contacts_contactfieldvalue v
              WHERE v.contact_id = c.id AND v.field_id = %(field)s AND v.value_number BETWEEN 100 AND 300)
"""


def _prepare_tags_and_scores(list_id: int) -> tuple[int, int]:
    """The tag and the score field on the benchmark's contacts, made once and reused."""
    from contacts.models import ContactFieldValue, ContactTag, CustomField, Tag

    field, _ = CustomField.objects.get_or_create(
        key=FIELD_KEY, defaults={"label": "Bench score", "type": CustomField.Type.NUMBER}
    )
    tag, _ = Tag.objects.get_or_create(name=TAG_NAME)
    members = "SELECT contact_id FROM contacts_contactlistmembership WHERE contact_list_id = %(list)s"
    if ContactFieldValue.objects.filter(field=field).count() == CONTACTS:
        return tag.pk, field.pk
    print(f"  preparing scores and tags of {CONTACTS:,} contacts (once)", flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contactfieldvalue WHERE field_id = %s", [field.pk])
        cursor.execute("DELETE FROM contacts_contacttag WHERE tag_id = %s", [tag.pk])
        cursor.execute(
            f"""INSERT INTO contacts_contactfieldvalue (contact_id, field_id, value_number)
                SELECT contact_id, %(field)s, (contact_id * 37) %% 1000 FROM ({members}) AS m""",
            {"field": field.pk, "list": list_id},
        )
        cursor.execute(
            f"""INSERT INTO contacts_contacttag (contact_id, tag_id, added_at)
                SELECT contact_id, %(tag)s, now() FROM ({members}) AS m WHERE contact_id %% 5 = 0""",
            {"tag": tag.pk, "list": list_id},
        )
    assert ContactTag.objects.filter(tag=tag).exists()
    return tag.pk, field.pk


def _vacuum() -> None:
    """The tables as autovacuum keeps them in production: statistics current and the visibility map set, so
    that the (field, value, contact) and (tag, contact) indexes answer by index-only scans. Both sides of the
    comparison run on the same tables."""
    with connection.cursor() as cursor:
        for table in ("contacts_contactfieldvalue", "contacts_contacttag", "contacts_contact"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _median_seconds(work) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(REPEAT):
        started = time.perf_counter()
        answer = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def run(ctx) -> dict[str, dict]:
    from contacts.selectors import segment_contacts, segment_count

    tag_id, field_id = _prepare_tags_and_scores(_prepare_audience())
    _vacuum()
    rules = {
        "match": "all",
        "groups": [
            {
                "match": "all",
                "conditions": [
                    {"field": "tags", "operator": "has_any", "value": [tag_id]},
                    {
                        "field": "custom_field",
                        "key": FIELD_KEY,
                        "operator": "between",
                        "value": {"min": 100, "max": 300},
                    },
                    {"field": "country", "operator": "in", "value": ["US"]},
                ],
            }
        ],
    }

    def by_hand() -> int:
        with connection.cursor() as cursor:
            cursor.execute(HAND_MADE, {"tag": tag_id, "field": field_id})
            return cursor.fetchone()[0]

    by_hand()  # warms the caches both sides use
    baseline, expected = _median_seconds(by_hand)
    counted_s, counted = _median_seconds(lambda: segment_contacts(rules=rules).count())
    assert counted == expected, (counted, expected)
    with_textable_s, both = _median_seconds(lambda: segment_count(rules=rules))
    assert both.matching == expected, (both, expected)
    print(f"  {expected:,} of {CONTACTS:,} contacts match; {both.textable:,} may be texted", flush=True)
    size = "1m" if CONTACTS == 1_000_000 else f"{CONTACTS}"
    hand = f"the same count as one hand-made SQL query, {CONTACTS:,} contacts (s)"
    return {
        f"segment_count_3_conditions_{size}_seconds": {
            "value": counted_s,
            "unit": "s",
            "baseline": hand,
            "baseline_value": baseline,
        },
        f"segment_count_and_textable_3_conditions_{size}_seconds": {
            "value": with_textable_s,
            "unit": "s",
            "baseline": hand,
            "baseline_value": baseline,
        },
    }
