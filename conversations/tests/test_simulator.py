"""The inbox against the Plivo simulator over HTTP: texts arrive by its signed inbound webhook, replies leave
through the real plivo SDK, and its delivery reports reach the live server's status webhook."""

import time
from decimal import Decimal

import pytest

from contacts.tests.factories import ContactFactory
from conversations.models import Conversation, Reply
from conversations.services import conversation_reply_send
from conversations.tests.conftest import OUR_NUMBER
from sends.services.delivery_reports import delivery_reports_drain
from smscampaigns.roles import EDITOR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_roles")]


def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} still false after {timeout}s")
        time.sleep(0.05)
    return value


def test_a_text_a_help_answer_and_a_staff_reply_end_delivered_with_their_cost(plivo_simulator_live, staff_member):
    contact = ContactFactory(phone_number="+14155550161")
    number = str(contact.phone_number)
    plivo_simulator_live.inbound(from_=number, to=OUR_NUMBER, text="HELP")
    plivo_simulator_live.inbound(from_=number, to=OUR_NUMBER, text="Do you ship to Canada?")

    def texts_recorded():
        conversation = Conversation.objects.filter(contact=contact).first()
        return conversation is not None and conversation.unread_count == 2

    eventually(texts_recorded)

    def auto_reply_delivered():
        delivery_reports_drain()  # the webhook stores each report; the worker's drain applies it, here as it would
        return Reply.objects.filter(contact=contact, kind=Reply.Kind.AUTO, status="delivered").first()

    auto = eventually(auto_reply_delivered)
    assert auto.sender == OUR_NUMBER and "HELP" in auto.in_reply_to.text

    reply = conversation_reply_send(
        contact=contact, body="Yes, in 3 days.", actor=staff_member(EDITOR), client_token="x"
    ).reply
    sent = [m for m in plivo_simulator_live.messages() if m["text"] == "Yes, in 3 days."]
    # From the number the person texted, to them, once.
    assert [(m["src"].lstrip("+"), m["dst"]) for m in sent] == [(OUR_NUMBER.lstrip("+"), number)]
    plivo_simulator_live.wait_for_status(reply.provider_message_uuid, "delivered")

    def reply_delivered():
        delivery_reports_drain()
        reply.refresh_from_db()
        return reply.status == "delivered"

    eventually(reply_delivered)
    assert reply.cost is not None and reply.cost > Decimal("0")
