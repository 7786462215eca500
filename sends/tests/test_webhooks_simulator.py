"""End to end: the Plivo simulator's signed callbacks reach a live server of the app and are accepted.

The app talks to the simulator through the production plivo backend (the real SDK over HTTP); the simulator
signs its status callbacks and inbound texts as Plivo does and posts them to the live server.
"""

import time

import pytest
import requests
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.models import CampaignSend, DeliveryReport, InboundMessage
from sends.services.counters import campaign_counters_rebuild
from sends.services.delivery_reports import delivery_reports_attach, delivery_reports_drain
from sends.tests.factories import CampaignSendFactory
from sends.tests.plivo_callbacks import INBOUND_PATH, inbound_payload, signed_headers

OUR_NUMBER = "+14155550100"


def eventually(check, timeout: float = 10.0):
    """Wait for the app's side of a callback that the simulator has already had answered."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} still false after {timeout}s")
        time.sleep(0.05)


def send_through_plivo(send: CampaignSend) -> str:
    """What dispatch does: send with the real backend, store the uuid, then attach reports that came first."""
    with get_connection() as connection:
        [result] = connection.send_message(
            OutboundMessage(sender=OUR_NUMBER, destinations=[send.to_number], body=send.body)
        )
    assert result.ok, result.error
    CampaignSend.objects.filter(pk=send.pk).update(
        provider_message_uuid=result.message_uuid, status=CampaignSend.Status.SENT, sent_at=timezone.now(), segments=1
    )
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    delivery_reports_attach(send_id=send.pk)
    return result.message_uuid


@pytest.mark.django_db(transaction=True)
def test_simulator_status_callbacks_are_accepted_and_the_send_ends_delivered(plivo_simulator_live):
    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    send = CampaignSendFactory(
        campaign=campaign, contact=ContactFactory(phone_number="+14155550183"), status=CampaignSend.Status.SENDING
    )
    message_uuid = send_through_plivo(send)
    plivo_simulator_live.wait_for_status(message_uuid, "delivered")
    plivo_simulator_live.wait_for_callbacks()

    def delivered():
        delivery_reports_drain()  # as the worker beat starts does
        return CampaignSend.objects.get(pk=send.pk).status == CampaignSend.Status.DELIVERED

    eventually(delivered)
    reports = DeliveryReport.objects.filter(message_uuid=message_uuid)
    assert set(reports.values_list("status", flat=True)) == {"queued", "sent", "delivered"}
    assert set(reports.values_list("send_id", flat=True)) == {send.pk}
    send.refresh_from_db()
    assert send.cost is not None and send.cost > 0
    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.delivered_count) == (0, 1)
    assert campaign.cost == send.cost


@pytest.mark.django_db(transaction=True)
def test_simulator_undeliverable_opted_out_number_is_suppressed(plivo_simulator_live):
    send = CampaignSendFactory(
        campaign=CampaignFactory(status=Campaign.Status.SENDING), contact=ContactFactory(phone_number="+14155550184")
    )
    plivo_simulator_live.set_faults(undeliverable_numbers={send.to_number: "200"})
    message_uuid = send_through_plivo(send)
    plivo_simulator_live.wait_for_status(message_uuid, "undelivered")
    plivo_simulator_live.wait_for_callbacks()

    def suppressed():
        return Suppression.objects.filter(phone_number=send.to_number, reason=Suppression.Reason.OPT_OUT).exists()

    eventually(suppressed)  # by the webhook itself, before any drain
    delivery_reports_drain()
    send.refresh_from_db()
    assert (send.status, send.error_code) == (CampaignSend.Status.UNDELIVERED, "200")


@pytest.mark.django_db(transaction=True)
def test_simulator_inbound_stop_unsubscribes_and_the_confirmation_goes_out_through_plivo(plivo_simulator_live):
    contact = ContactFactory(phone_number="+14155550185")
    number = str(contact.phone_number)
    plivo_simulator_live.inbound(from_=number, to=OUR_NUMBER, text="Stop")
    plivo_simulator_live.wait_for_callbacks()

    def unsubscribed():
        return Contact.objects.get(pk=contact.pk).status == Contact.Status.UNSUBSCRIBED

    eventually(unsubscribed)
    message = InboundMessage.objects.get(from_number=number)
    assert message.action == InboundMessage.Action.OPT_OUT

    def confirmed():
        return any(m["dst"] == number for m in plivo_simulator_live.messages())

    eventually(confirmed)
    [reply] = [m for m in plivo_simulator_live.messages() if m["dst"] == number]
    assert reply["src"] == OUR_NUMBER
    assert reply["text"].startswith("You are unsubscribed")


@pytest.mark.django_db(transaction=True)
def test_simulator_inbound_help_gets_the_help_text(plivo_simulator_live, settings):
    settings.SMS_HELP_TEXT = "{brand}: help is here. Reply STOP to opt out."
    number = "+14155550181"
    plivo_simulator_live.inbound(from_=number, to=OUR_NUMBER, text="HELP")
    plivo_simulator_live.wait_for_callbacks()

    def replied():
        return any(m["dst"] == number for m in plivo_simulator_live.messages())

    eventually(replied)
    [reply] = [m for m in plivo_simulator_live.messages() if m["dst"] == number]
    assert reply["text"] == "smscampaigns: help is here. Reply STOP to opt out."


@pytest.mark.django_db(transaction=True)
def test_a_slow_provider_does_not_hold_the_inbound_answer_past_the_reply_timeout(plivo_simulator_live, settings):
    # Plivo gives up on a webhook after 8 s: the reply may be lost, the opt-out and the answer may not.
    settings.SMS_REPLY_TIMEOUT_SECONDS = 0.5
    plivo_simulator_live.set_faults(latency_ms=6000)
    contact = ContactFactory(phone_number="+14155550186")
    url = plivo_simulator_live.app_url + INBOUND_PATH
    params = inbound_payload(sender=str(contact.phone_number), to=OUR_NUMBER, text="STOP")
    headers = signed_headers(url=url, params=params, auth_token=plivo_simulator_live.auth_token)
    response = requests.post(url, data=params, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() < 5  # the provider would have taken 6 s
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
