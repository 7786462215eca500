"""The webhooks over real HTTP: a live server of the app, callbacks signed as Plivo signs them."""

import uuid

import pytest
import requests
from django.utils import timezone

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend, DeliveryReport
from sends.services.counters import campaign_counters_rebuild
from sends.services.delivery_reports import ReportOutcome, delivery_reports_drain
from sends.tests.factories import CampaignSendFactory
from sends.tests.plivo_callbacks import (
    AUTH_TOKEN,
    INBOUND_PATH,
    STATUS_PATH,
    inbound_payload,
    signed_headers,
    status_payload,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def public_url(live_server, settings):
    settings.PLIVO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def post(url: str, params: dict, **sign) -> requests.Response:
    return requests.post(url, data=params, headers=signed_headers(url=url, params=params, **sign), timeout=10)


def test_signed_status_callback_over_http_moves_the_send_forward(public_url):
    send = CampaignSendFactory(status=CampaignSend.Status.SENT, provider_message_uuid=str(uuid.uuid4()))
    send.sent_at = timezone.now()
    send.save()
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    params = status_payload(message_uuid=send.provider_message_uuid, status="delivered", to=send.to_number)
    response = post(public_url + STATUS_PATH, params)
    assert response.status_code == 200, response.text
    assert delivery_reports_drain() == {DeliveryReport.objects.get().pk: ReportOutcome.APPLIED}
    send.refresh_from_db()
    assert send.status == CampaignSend.Status.DELIVERED
    assert DeliveryReport.objects.filter(send=send).count() == 1


def test_stop_over_http_unsubscribes_at_once_and_replies_after_commit(public_url, sms_outbox):
    contact = ContactFactory()
    response = post(public_url + INBOUND_PATH, inbound_payload(sender=str(contact.phone_number), text="STOP"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert [list(message.destinations) for message in sms_outbox] == [[str(contact.phone_number)]]


def test_unsigned_request_over_http_is_refused(public_url):
    response = requests.post(public_url + STATUS_PATH, data={"MessageUUID": "x", "Status": "delivered"}, timeout=10)
    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()
