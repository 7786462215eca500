"""python manage.py import_contacts FILE [--list NAME] [--consent-source TEXT] [--map COLUMN=TARGET]... [--dry-run]
[--lookup]"""

import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.module_loading import import_string

from contacts.csvfiles import IMPORT_TARGETS, import_mapping_parse
from contacts.importer import ImportSummary, import_workers_default
from contacts.models import Contact
from contacts.services.imports import contact_import_run
from smscampaigns.errors import ApplicationError

ERRORS_ON_SCREEN = 5
PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when the output is not a terminal


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file (UTF-8, UTF-16 or Windows-1252, detected; comma, semicolon or tab "
        "separated; a phone column)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a phone, phone_number or mobile column")
        parser.add_argument("--list", dest="list_name", default="", help="add the contacts to this list (created)")
        parser.add_argument(
            "--default-region",
            default=settings.DEFAULT_PHONE_REGION,
            help="region of numbers written without a country code (default: %(default)s)",
        )
        parser.add_argument(
            "--consent-source",
            default="",
            help="where these people consented (e.g. 'spring fair sign-up sheet'); without it contacts "
            "arrive unsubscribed",
        )
        parser.add_argument("--dry-run", action="store_true", help="read and check everything, write nothing")
        parser.add_argument("--errors", metavar="FILE.csv", help="write every rejected row here")
        parser.add_argument("--update", action="store_true", help="overwrite names and attributes of existing contacts")
        parser.add_argument("--batch-size", type=int, default=2000, help="rows per transaction")
        parser.add_argument(
            "--workers",
            type=int,
            default=import_workers_default(),
            help="processes that parse and check rows while this one writes them, on PostgreSQL "
            "(default: one per CPU, %(default)s here); 1 checks them in this process",
        )
        parser.add_argument(
            "--map",
            dest="mapping",
            action="append",
            default=[],
            metavar="COLUMN=TARGET",
            help="what a column is, by its header: TARGET is one of "
            f"{', '.join(IMPORT_TARGETS)}, or field:KEY for a custom field (e.g. --map 'Mobile=phone' "
            "--map 'Score=field:score' --map 'Labels=tags' --map 'Notes=ignore'); repeat for each column. "
            "A column not mapped is understood by its header; any other becomes an attribute",
        )
        parser.add_argument(
            "--lookup",
            action="store_true",
            help="then look up the carrier and line type of the imported contacts (of the whole --list when "
            "given) whose lookup is older than NUMBER_LOOKUP_MAX_AGE_DAYS; each lookup costs NUMBER_LOOKUP_PRICE",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            mapping = import_mapping_parse(options["mapping"])
        except ApplicationError as exc:
            raise CommandError(f"--map: {exc.message}") from None
        errors_file = open(options["errors"], "w", newline="", encoding="utf-8") if options["errors"] else None  # noqa: SIM115
        display = _Display(self.stdout, interactive=self.stdout.isatty())
        started = timezone.now()
        try:
            with path.open("rb") as file, display:
                summary = contact_import_run(
                    file=file,
                    source_name=path.name,
                    contact_list_name=options["list_name"],
                    default_region=options["default_region"],
                    consent_source=options["consent_source"],
                    update=options["update"],
                    dry_run=options["dry_run"],
                    errors_to=errors_file,
                    progress=display.update,
                    batch_size=options["batch_size"],
                    mapping=mapping,
                    workers=options["workers"],
                )
        except ApplicationError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        except KeyboardInterrupt:
            done = display.last.lines_done if display.last else 0
            raise CommandError(
                f"Interrupted: rows up to line {done} are imported. Run the same command again to finish; "
                "nothing will be duplicated.",
                returncode=130,
            ) from None
        finally:
            if errors_file is not None:
                errors_file.close()
        self._report(summary, options)
        if options["lookup"] and not summary.dry_run:
            self._lookup(options, started)

    def _lookup(self, options, started) -> None:
        # Lookups are a delivery concern (the SMS backend answers them): the contacts app names the service
        # by a setting instead of importing it.
        lookup = import_string(settings.NUMBER_LOOKUP_SERVICE)
        if options["list_name"]:
            contacts = Contact.objects.filter(lists__name=options["list_name"])
        else:
            contacts = Contact.objects.filter(updated_at__gte=started)
        try:
            totals = lookup(contacts=contacts)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Looked up {totals.looked_up:,} numbers ({totals.failed:,} failed), cost {totals.cost} USD; "
            "recent lookups were reused"
        )

    def _report(self, summary: ImportSummary, options) -> None:
        write = self.stdout.write
        if summary.errors:
            write(f"First rejected rows (of {summary.rejected + summary.suppressed}):")
            for error in summary.errors[:ERRORS_ON_SCREEN]:
                column = f", column {error.column!r}" if error.column else ""
                value = "" if repr(error.value) in error.reason else f"{error.value!r}: "
                write(f"  line {error.line}{column}: {value}{error.reason}")
            if options["errors"]:
                write(f"  every one is in {options['errors']}")
            else:
                write("  use --errors FILE.csv to get every one")
        write(f"Encoding: {summary.encoding}")
        prefix = "Dry run, nothing written: " if summary.dry_run else ""
        write(
            f"{prefix}read {summary.read:,}, created {summary.created:,}, updated {summary.updated:,}, "
            f"unchanged {summary.unchanged:,}, duplicates {summary.duplicates:,}, rejected {summary.rejected:,}, "
            f"suppressed {summary.suppressed:,} in {summary.elapsed:.1f} s ({summary.rows_per_second:,.0f} rows/s)"
        )
        if not summary.subscribed:
            write(
                self.style.WARNING(
                    "No --consent-source given: new contacts are unsubscribed and cannot be texted until "
                    "their consent is recorded."
                )
            )
        if options["list_name"]:
            write(f"List: {options['list_name']}")


class _Display:
    """A rich progress bar on a terminal; elsewhere (logs, cron) a plain line every few seconds."""

    def __init__(self, stdout, *, interactive: bool):
        self.stdout = stdout
        self.interactive = interactive
        self.last: ImportSummary | None = None
        self._progress = None
        self._task = None
        self._printed_at = time.monotonic()

    def __enter__(self):
        if self.interactive:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeRemainingColumn(),
                console=_console(self.stdout),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("import", total=None, rows=0)
        return self

    def __exit__(self, *exc_info):
        if self._progress is not None:
            self._progress.__exit__(*exc_info)

    def update(self, summary: ImportSummary) -> None:
        self.last = summary
        if self._progress is not None:
            self._progress.update(
                self._task, completed=summary.bytes_done, total=summary.bytes_total or None, rows=summary.read
            )
            return
        now = time.monotonic()
        if now - self._printed_at >= PLAIN_PROGRESS_EVERY:
            self._printed_at = now
            percent = f" ({100 * summary.bytes_done / summary.bytes_total:.0f}%)" if summary.bytes_total else ""
            self.stdout.write(f"{summary.read:,} rows read{percent}, {summary.rows_per_second:,.0f} rows/s")


def _console(stdout):
    from rich.console import Console

    return Console(file=getattr(stdout, "_out", sys.stdout))
