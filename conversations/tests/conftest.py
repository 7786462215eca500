"""Fixtures of the inbox tests: the clock at noon where the factories' numbers ring, a text received."""

from datetime import UTC, datetime

import pytest

from sends.services.inbound import inbound_message_receive
from sends.tests.conftest import daytime  # noqa: F401  the clock at noon in Los Angeles, as the sends tests use it
from sends.tests.plivo_callbacks import inbound_payload

# 03:00 in Los Angeles (the factories' +1 415 numbers): inside nobody's quiet-hours window.
LA_NIGHT = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
OUR_NUMBER = "+14155550100"


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    """A text from `number` arrives by webhook (its automatic reply, if any, sent as on commit)."""

    def text(number: str, body: str, to: str = OUR_NUMBER):
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_message_receive(payload=inbound_payload(sender=str(number), to=to, text=body)).message

    return text
