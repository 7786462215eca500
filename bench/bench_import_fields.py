"""A contact import whose columns are two custom fields (a number, a date) and tags, on PostgreSQL.

Figure, beside a baseline measured in the same run on the same file: rows/s of the import with the columns
mapped to the fields and to tags (values checked and canonicalised, typed rows and tag rows written with
each batch) beside rows/s of the same file with those columns left as plain attributes. Medians of three
runs each, the tables emptied before every run.
"""

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_import import truncate_contacts

ROWS = int(os.environ.get("BENCH_IMPORT_FIELDS_ROWS", 100_000))
RUNS = 3
MAPPED = {"Score": "field:score", "Joined": "field:joined", "Labels": "tags"}
TAGS = ["vip", "walk-in", "2026-fair", "newsletter", "staff"]


def generate(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Phone", "First Name", "Score", "Joined", "Labels"])
        for i in range(rows):
            number = f"+1415{200 + i // 10000 % 700:03d}{i % 10000:04d}"
            day = f"20{10 + i % 16}-{1 + i % 12:02d}-{1 + i % 28:02d}"
            labels = ", ".join(TAGS[(i + k) % len(TAGS)] for k in range(i % 3))
            writer.writerow([number, f"Name{i % 997}", f"{i % 1000}.{i % 7}", day, labels])


def _rows_per_second(path: Path, mapping: dict | None) -> float:
    from contacts.services.imports import contact_import_run

    truncate_contacts()
    _empty_fields_and_tags()
    started = time.perf_counter()
    with path.open("rb") as file:
        summary = contact_import_run(file=file, source_name=path.name, consent_source="bench", mapping=mapping)
    elapsed = time.perf_counter() - started
    if summary.rejected:
        raise RuntimeError(f"{summary.rejected} rows rejected: {summary.errors[:3]}")
    return summary.read / elapsed


def _empty_fields_and_tags() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE contacts_contactfieldvalue, contacts_contacttag, contacts_tag RESTART IDENTITY")


def _define_fields() -> None:
    from contacts.models import CustomField
    from contacts.services.custom_fields import custom_field_create

    CustomField.objects.all().delete()
    custom_field_create(key="score", label="Score", type=CustomField.Type.NUMBER)
    custom_field_create(key="joined", label="Joined", type=CustomField.Type.DATE)


def run(ctx) -> dict:
    from contacts.models import CustomField

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fields.csv"
        generate(path, ROWS)
        CustomField.objects.all().delete()
        plain = statistics.median(_rows_per_second(path, None) for _ in range(RUNS))
        _define_fields()
        typed = statistics.median(_rows_per_second(path, MAPPED) for _ in range(RUNS))
    truncate_contacts()
    _empty_fields_and_tags()
    CustomField.objects.all().delete()
    return {
        "import_with_fields_and_tags_rows_per_s": {
            "value": typed,
            "unit": "rows/s",
            "baseline": "same file, columns as plain attributes",
            "baseline_value": plain,
        }
    }
