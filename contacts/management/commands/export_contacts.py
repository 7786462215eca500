"""python manage.py export_contacts [--list NAME] [--status subscribed] > out.csv"""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from contacts.csvfiles import spreadsheet_safe_writer
from contacts.models import Contact, ContactList
from contacts.selectors import EXPORT_COLUMNS, contacts_for_export


class Command(BaseCommand):
    help = "Write contacts with their consent and opt-out evidence as CSV to standard output, streaming."

    def add_arguments(self, parser):
        parser.add_argument("--list", dest="list_name", default="", help="only contacts on this list")
        parser.add_argument("--status", default="", choices=["", *Contact.Status.values])

    def handle(self, *args, **options):
        if options["list_name"] and not ContactList.objects.filter(name=options["list_name"]).exists():
            raise CommandError(f"no list named {options['list_name']!r}")
        # Names, consent wording and list names are typed by people: a spreadsheet must not run them.
        writer = spreadsheet_safe_writer(self.stdout, lineterminator="\n")
        try:
            writer.writerow(EXPORT_COLUMNS)
            for row in contacts_for_export(list_name=options["list_name"], status=options["status"]):
                writer.writerow(row)
        except BrokenPipeError:
            # The reader stopped early (`| head`): not an error. Point stdout at devnull so that Python's
            # final flush does not raise again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
