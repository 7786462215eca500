"""Plivo's message_expiry: every campaign message carries the end of its recipients' quiet-hours window, the
plivo backend passes it through the SDK, and the simulator fails a message that outlives it as Plivo does
(failed, error 420, not charged)."""

import time
from datetime import UTC, datetime

import pytest
import requests
import time_machine

from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.backends.plivo import PlivoClient
from sends.models import CampaignSend
from sends.services.delivery_reports import delivery_reports_drain
from sends.simulator import DEMO_AUTH_ID
from sends.tests.engine import run_in_process
from sends.tests.test_simulator import SENDER, wait_until


def send(destinations, *, expiry_seconds=None, url=None):
    with get_connection() as backend:
        return backend.send_message(
            OutboundMessage(
                sender=SENDER, destinations=destinations, body="Sale today", status_callback_url=url,
                expiry_seconds=expiry_seconds,
            )
        )  # fmt: skip


def test_the_plivo_backend_passes_message_expiry_through_the_sdk(plivo_simulator):
    [with_expiry] = send(["+14155550123"], expiry_seconds=300)
    [without] = send(["+14155550124"])
    assert with_expiry.ok and without.ok
    expiries = {m["uuid"]: m["message_expiry"] for m in plivo_simulator.messages()}
    assert expiries == {with_expiry.message_uuid: 300, without.message_uuid: None}


def test_a_message_that_outlives_its_expiry_in_the_queue_fails_expired_and_uncharged(plivo_simulator, webhook_receiver):
    # A backlog of ten minutes ahead of it in Plivo's queue: a five-minute expiry passes before it leaves.
    plivo_simulator.set_faults(queue_backlog_ms=600_000)
    [expired] = send(["+14155550123"], expiry_seconds=300, url=f"{webhook_receiver.url}/s/")
    [patient] = send(["+14155550124"], expiry_seconds=3600, url=f"{webhook_receiver.url}/s/")
    plivo_simulator.wait_for_status(expired.message_uuid, "failed")
    plivo_simulator.wait_for_status(patient.message_uuid, "delivered")
    wait_until(lambda: len(webhook_receiver.requests) == 5)
    reports = [r["form"] for r in webhook_receiver.requests if r["form"]["MessageUUID"] == expired.message_uuid]
    # Never handed to a carrier: no "sent" between queued and failed.
    assert [form["Status"] for form in reports] == ["queued", "failed"]
    assert (reports[-1]["ErrorCode"], reports[-1]["TotalAmount"], reports[-1]["TotalRate"]) == ("420", "0", "0")
    client = PlivoClient(
        api_url=plivo_simulator.url, auth_id=plivo_simulator.auth_id, auth_token=plivo_simulator.auth_token, timeout=5
    )
    record = client.messages.get(expired.message_uuid)
    assert (record.message_state, record.error_code, record.total_amount) == ("failed", "420", "0")


def test_a_delivery_slower_than_the_expiry_expires_the_message(plivo_simulator):
    plivo_simulator.set_faults(delivery_delay_ms=1200, queue_backlog_ms=4000)
    started = time.monotonic()
    [result] = send(["+14155550123"], expiry_seconds=5)
    plivo_simulator.wait_for_status(result.message_uuid, "failed")
    assert time.monotonic() - started >= 1.1  # expired when it left the queue, after the real delay


@pytest.mark.parametrize("expiry", [4, 10_800, "soon", True])
def test_the_simulator_refuses_a_message_expiry_plivo_would_refuse(plivo_simulator, expiry):
    response = requests.post(
        f"{plivo_simulator.url}/v1/Account/{DEMO_AUTH_ID}/Message/",
        json={"src": SENDER, "dst": "14155550123", "text": "hi", "message_expiry": expiry},
        auth=(DEMO_AUTH_ID, plivo_simulator.auth_token),
        timeout=5,
    )
    assert response.status_code == 400
    assert "message_expiry" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_a_campaign_message_held_past_its_window_ends_failed_420_and_costs_nothing(plivo_simulator_live, staff_user):
    """20:50 in New York: the message may wait ten minutes; Plivo's queue is twenty minutes behind."""
    plivo_simulator_live.set_faults(queue_backlog_ms=20 * 60 * 1000)
    with time_machine.travel(datetime(2026, 6, 2, 0, 50, tzinfo=UTC), tick=True):
        contact = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
        audience = ContactListFactory()
        contact.lists.add(audience)
        campaign = CampaignFactory(body="Sale today. STOP to opt out")
        campaign.lists.add(audience)
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        [record] = plivo_simulator_live.messages()
        assert 590 <= record["message_expiry"] <= 600
        plivo_simulator_live.wait_for_status(record["uuid"], "failed")
        plivo_simulator_live.wait_for_callbacks()
        send = CampaignSend.objects.get(contact=contact)
        deadline = time.monotonic() + 10
        while send.status != CampaignSend.Status.FAILED and time.monotonic() < deadline:
            time.sleep(0.05)
            delivery_reports_drain()  # the webhook stored the report; the worker's drain applies it
            send.refresh_from_db()
    assert (send.status, send.error_code) == (CampaignSend.Status.FAILED, "420")
    assert not send.cost
    campaign.refresh_from_db()
    assert campaign.failed_by_error_code == {"420": 1}
    assert not campaign.cost
