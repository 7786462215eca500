"""python manage.py import_suppressions FILE --reason do-not-call: numbers that must never be texted."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contacts.models import Suppression
from contacts.services.imports import suppression_import
from smscampaigns.errors import ApplicationError


class Command(BaseCommand):
    help = "Suppress every number in a file: a CSV with a phone column, or a bare list of numbers one a line."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--reason", required=True, choices=Suppression.Reason.values)
        parser.add_argument("--source", default="", help="where the list comes from (default: the file name)")
        parser.add_argument("--default-region", default=settings.DEFAULT_PHONE_REGION)
        parser.add_argument("--errors", metavar="FILE.csv", help="write every rejected line here")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        errors_file = open(options["errors"], "w", newline="", encoding="utf-8") if options["errors"] else None  # noqa: SIM115
        try:
            with path.open("rb") as file:
                summary = suppression_import(
                    file=file,
                    reason=options["reason"],
                    source=options["source"] or path.name,
                    default_region=options["default_region"],
                    errors_to=errors_file,
                )
        except ApplicationError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        finally:
            if errors_file is not None:
                errors_file.close()
        for error in summary.errors[:5]:
            self.stdout.write(f"  line {error.line}: {error.reason}")
        self.stdout.write(
            f"read {summary.read:,}, suppressed {summary.added:,} new, {summary.already:,} already suppressed "
            f"or repeated, rejected {summary.rejected:,} ({options['reason']})"
        )
        if summary.subscribed_contacts:
            self.stdout.write(
                self.style.WARNING(
                    f"{summary.subscribed_contacts:,} subscribed contacts have a number now suppressed: "
                    "they will not be texted."
                )
            )
