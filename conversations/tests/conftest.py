"""Fixtures of the inbox tests: the clock at noon where the factories' numbers ring, a text received."""

from datetime import UTC, datetime

import pytest
import time_machine

from sends.services.inbound import inbound_message_receive
from sends.tests.plivo_callbacks import inbound_payload

# Noon in Los Angeles (the factories' +1 415 numbers): inside every quiet-hours window.
LA_NOON = datetime(2026, 6, 2, 19, 0, tzinfo=UTC)
# 03:00 in Los Angeles: inside nobody's window.
LA_NIGHT = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
OUR_NUMBER = "+14155550100"


@pytest.fixture
def daytime():
    with time_machine.travel(LA_NOON, tick=True) as traveller:
        yield traveller


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    """A text from `number` arrives by webhook (its automatic reply, if any, sent as on commit)."""

    def text(number: str, body: str, to: str = OUR_NUMBER):
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_message_receive(payload=inbound_payload(sender=str(number), to=to, text=body)).message

    return text
