"""Reliability drills (issue #9): `python -m drills [names...] [--scale 1.0]`, or `make drills`.

Starts a private stack (PostgreSQL cluster, Redis, the Plivo simulator, gunicorn, Celery workers and beat,
all on ports from --base-port), runs the drills, prints the table and writes drills/results.json. Every
process started is stopped at the end, also on Ctrl-C or failure. Exit status 1 when any drill fails.
"""

import argparse
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drills.campaign import Result
from drills.stack import Stack, missing_tools

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run(names: list[str], *, scale: float, base_port: int, keep: bool, console: Console) -> list[Result]:
    from drills.scenarios import DRILLS

    results: list[Result] = []
    with Stack(base_port=base_port, keep_dir=keep) as stack:
        console.print(f"stack up in {stack.dir} (PostgreSQL :{stack.ports.postgres}, Redis :{stack.ports.redis}, "
                      f"simulator :{stack.ports.simulator}, web :{stack.ports.web})")  # fmt: skip
        os.environ.update(stack.django_env(CONN_MAX_AGE="0"))
        import django
        from django.db import connections

        django.setup()
        for name in names:
            console.print(f"[bold]== {name}[/bold]")
            connections.close_all()  # a drill before may have restarted the database under this connection
            started = time.monotonic()
            try:
                result = DRILLS[name](stack, scale)
            except Exception as exc:
                result = Result(f"{name} (did not finish)", error=f"{exc.__class__.__name__}: {exc}")
                result.notes.append(traceback.format_exc()[-3000:])
            finally:
                stack.engine_stop()
            result.seconds = result.seconds or time.monotonic() - started
            results.append(result)
            colour = "green" if result.outcome == "PASS" else "red"
            console.print(f"   [{colour}]{result.outcome}[/{colour}] in {result.seconds:.0f} s")
        if keep:
            console.print(f"logs kept in {stack.log_dir}")
    return results


def table(results: list[Result]) -> Table:
    grid = Table(title="Reliability drills")
    for column in ("scenario", "expected", "sent", "duplicates", "lost", "unknown", "seconds", "outcome"):
        grid.add_column(column, justify="left" if column == "scenario" else "right")
    for r in results:
        colour = "green" if r.outcome == "PASS" else "red"
        grid.add_row(
            r.scenario, f"{r.expected:,}", f"{r.sent:,}", f"{r.duplicates:,}", f"{r.lost:,}",
            f"{r.unknown:,}" + (f" ({r.unknown_unsent:,} unsent)" if r.unknown_unsent else ""),
            f"{r.seconds:.0f}", f"[{colour}]{r.outcome}[/{colour}]",
        )  # fmt: skip
    return grid


def main(argv: list[str]) -> int:
    from drills.scenarios import DRILLS

    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", choices=[[], *DRILLS], metavar="name",
                        help=f"drills to run, in the order given (default all: {', '.join(DRILLS)})")  # fmt: skip
    parser.add_argument("--scale", type=float, default=1.0, help="sizes relative to the issue's (default 1.0)")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("DRILLS_BASE_PORT", "8450")),
                        help="the stack listens on base+1 .. base+9 (default 8450, or DRILLS_BASE_PORT)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, cluster) afterwards")
    parser.add_argument(
        "--json", type=Path, default=RESULTS_PATH, help=f"where to write results (default {RESULTS_PATH})"
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error(f"--scale must be above 0, got {args.scale}")
    console = Console(width=None if sys.stdout.isatty() else 160)
    if missing := missing_tools():
        console.print(f"[red]cannot run the drills, missing: {'; '.join(missing)}[/red]")
        return 2
    # SIGINT too: a shell starting us in the background leaves it ignored, and Ctrl-C must still tear down.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    names = args.names or list(DRILLS)
    started = time.monotonic()
    try:
        results = run(names, scale=args.scale, base_port=args.base_port, keep=args.keep, console=console)
    except KeyboardInterrupt as exc:
        console.print(f"[red]interrupted ({exc}); the stack was stopped[/red]")
        return 130
    console.print(table(results))
    for r in results:
        for line in [*(f"{'ok  ' if ok else 'FAIL'} {check}" for check, ok in r.checks.items()), *r.notes]:
            console.print(f"  {r.scenario.split(' ', 1)[0]} {line}", markup=False, highlight=False)
        if r.error:
            console.print(f"  {r.scenario} error: {r.error}", markup=False)
    args.json.write_text(
        json.dumps(
            {
                "scale": args.scale,
                "seconds": round(time.monotonic() - started),
                "drills": [r.as_dict() for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {args.json}")
    return 0 if all(r.outcome == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
