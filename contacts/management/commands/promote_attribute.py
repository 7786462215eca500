"""python manage.py promote_attribute KEY --type TYPE [--label TEXT] [--choice A]... [--dry-run] [--report OUT.csv]"""

from django.core.management.base import BaseCommand, CommandError

from contacts.models import CustomField
from contacts.services.custom_fields import custom_field_promote
from smscampaigns.errors import ApplicationError
from smscampaigns.spreadsheets import spreadsheet_safe_writer

FAILURES_ON_SCREEN = 10


class Command(BaseCommand):
    help = (
        "Turn a free attribute into a typed custom field: check every contact's value of it and, if all are "
        "valid, create the field and store the values typed. Lists the contacts whose value is not valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", help="the attribute name, e.g. score (becomes the field's key)")
        parser.add_argument("--type", required=True, choices=CustomField.Type.values, help="the field's type")
        parser.add_argument("--label", default="", help="what staff see (default: the key)")
        parser.add_argument(
            "--choice", dest="choices", action="append", default=[], help="an allowed value of a choice field; repeat"
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--dry-run", action="store_true", help="check the values, create nothing")
        parser.add_argument("--report", metavar="FILE.csv", help="write every contact whose value fails here")

    def handle(self, *args, **options):
        try:
            report = custom_field_promote(
                key=options["key"],
                label=options["label"] or options["key"],
                type=options["type"],
                choices=options["choices"],
                description=options["description"],
                dry_run=options["dry_run"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if options["report"]:
            with open(options["report"], "w", newline="", encoding="utf-8") as out:
                writer = spreadsheet_safe_writer(out)
                writer.writerow(["contact_id", "phone_number", "value", "reason"])
                writer.writerows([f.contact_id, f.phone_number, f.value, f.reason] for f in report.failures)
        for failure in report.failures[:FAILURES_ON_SCREEN]:
            self.stdout.write(f"  contact #{failure.contact_id} ({failure.phone_number}): {failure.reason}")
        if report.failed > FAILURES_ON_SCREEN and not options["report"]:
            self.stdout.write("  use --report FILE.csv to get every one")
        self.stdout.write(
            f"{report.checked:,} contact(s) hold {report.key!r}; {report.failed:,} value(s) not valid as "
            f"{options['type']}."
        )
        if report.field is not None:
            self.stdout.write(self.style.SUCCESS(f"Field {report.key!r} created; its values are stored typed."))
        elif report.failed:
            raise CommandError("Nothing was changed: fix the values listed (or drop them) and run it again.")
        else:
            self.stdout.write("Dry run: nothing was changed.")
