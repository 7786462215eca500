"""python manage.py export_audit [--since 2026-01-01] [--until 2026-03-31] > audit.csv"""

import json
import os
import sys
from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.selectors import AUDIT_EXPORT_COLUMNS, audit_events_for_export
from smscampaigns.spreadsheets import spreadsheet_safe_writer


def _day_start(value: str, option: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date such as 2026-01-31, got {value!r}") from None
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = (
        "Write the audit trail as CSV to standard output, oldest first, streaming. --since and --until are "
        "days in TIME_ZONE, both included."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", default="", help="first day to include, e.g. 2026-01-01")
        parser.add_argument("--until", default="", help="last day to include, e.g. 2026-03-31")

    def handle(self, *args, **options):
        since = _day_start(options["since"], "--since") if options["since"] else None
        until = _day_start(options["until"], "--until") + timedelta(days=1) if options["until"] else None
        if since and until and since >= until:
            raise CommandError(f"--since {options['since']} is after --until {options['until']}")
        # Actor labels and target names (a contact's name) are typed by people: a spreadsheet must not run them.
        writer = spreadsheet_safe_writer(self.stdout, lineterminator="\n")
        try:
            writer.writerow(AUDIT_EXPORT_COLUMNS)
            for event_id, created_at, *middle, data in audit_events_for_export(since=since, until=until):
                writer.writerow(
                    [event_id, created_at.isoformat(), *middle, json.dumps(data, ensure_ascii=False, sort_keys=True)]
                )
        except BrokenPipeError:
            # The reader stopped early (`| head`): not an error. Point stdout at devnull so that Python's
            # final flush does not raise again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
