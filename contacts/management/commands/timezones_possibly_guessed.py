"""python manage.py timezones_possibly_guessed [--clear]: contacts whose stored timezone may be a guess."""

from django.core.management.base import BaseCommand

from contacts.selectors import contacts_with_a_possibly_guessed_timezone
from contacts.services.contacts import contact_timezones_clear


class Command(BaseCommand):
    help = (
        "Count contacts whose stored timezone may have been derived from their number by an earlier version "
        "(the first of the several zones it may be in) rather than given; with --clear, clear them so that "
        "quiet hours hold in every zone their number may be in. A zone a person really gave may be among them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clear", action="store_true", help="clear their stored timezone (audited)")

    def handle(self, *args, **options):
        ids = list(contacts_with_a_possibly_guessed_timezone())
        self.stdout.write(f"{len(ids):,} contacts hold the first zone of a number that may be in several")
        if options["clear"] and ids:
            cleared = contact_timezones_clear(
                contact_ids=ids, reason="possibly derived from the number, not given (timezones_possibly_guessed)"
            )
            self.stdout.write(f"cleared {cleared:,}")
