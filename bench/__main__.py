"""Run every benchmark, print each figure beside its baseline measured in the same run, write results.json.

Each module `bench/bench_<topic>.py` defines `run(ctx) -> dict[str, dict]` returning
`{name: {"value": float, "unit": str, "baseline": str, "baseline_value": float}}`. Machines here are
shared and noisy, so modules report medians of repeated runs and the table shows value / baseline ratios.

Benchmarks run on PostgreSQL: BENCH_DATABASE_URL (default: the local server, database smscampaigns_bench,
created and migrated on first use). `python -m bench import` runs only modules whose name contains "import".
"""

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/smscampaigns_bench"


def _prepare_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[-1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(argv: list[str]) -> int:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
    # A developer's .env (DEBUG on, which records every query) must not change what is measured.
    os.environ["ENV_FILE"] = ""
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-for-anything-real-0123456789")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Benchmarks text the simulator and locmem, over plain http: nobody may be texted.
    os.environ.setdefault("SMS_DELIVERY_REQUIRED", "false")
    # Pages are rendered without collectstatic (the dashboard benchmark renders the admin).
    os.environ.setdefault("STATIC_MANIFEST", "false")
    _prepare_database(url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    wanted = argv[0] if argv else ""
    modules = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_"))
    results: dict[str, dict] = {}
    for name in modules:
        if wanted and wanted not in name:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        figures = module.run({"database_url": url})
        results.update(figures)
        for figure, row in figures.items():
            ratio = row["value"] / row["baseline_value"] if row.get("baseline_value") else float("nan")
            print(
                f"  {figure:<44} {row['value']:>14,.2f} {row['unit']:<14} "
                f"baseline {row['baseline']}: {row['baseline_value']:,.2f}  (x{ratio:.2f})",
                flush=True,
            )
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    out = BENCH_DIR / "results.json"
    previous = json.loads(out.read_text()) if out.is_file() and wanted else {}
    out.write_text(json.dumps({**previous, **results}, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
