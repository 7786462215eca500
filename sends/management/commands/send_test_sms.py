"""`python manage.py send_test_sms +14155550123 "Hello"`: one message through the configured SMS backend."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.segments import message_length_problem, segment_info
from contacts.phones import normalize_phone
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from smscampaigns.errors import ApplicationError


class Command(BaseCommand):
    help = "Send one SMS through SMS_BACKEND and print the provider's answer."

    def add_arguments(self, parser):
        parser.add_argument("to", help="destination phone number, e.g. +14155550123")
        parser.add_argument("text", help="message body")
        parser.add_argument("--from", dest="sender", default=None, help="sender number (default: PLIVO_SENDER)")

    def handle(self, *args, to, text, sender, **options):
        try:
            destination = normalize_phone(to).e164
        except ApplicationError as exc:
            raise CommandError(f"Argument `to`: {exc.message}") from None
        sender = sender or settings.PLIVO_SENDER
        if not sender:
            raise CommandError("No sender: set PLIVO_SENDER or pass --from")
        if not text.strip():
            raise CommandError("Argument `text`: the message is empty")
        info = segment_info(text)
        if problem := message_length_problem(info):
            raise CommandError(f"Argument `text`: too long to send: {problem}")
        plural = "s" if info.segments != 1 else ""
        self.stdout.write(
            f"{settings.SMS_BACKEND}: {sender} -> {destination}, {info.segments} segment{plural} ({info.encoding})"
        )
        with get_connection() as backend:
            [result] = backend.send_message(OutboundMessage(sender=sender, destinations=[destination], body=text))
        if not result.ok:
            error = result.error
            raise CommandError(f"Not sent ({error.error_class}, {error.code}): {error.message}")
        self.stdout.write(self.style.SUCCESS(f"Sent: message uuid {result.message_uuid}"))
