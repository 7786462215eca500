import pytest
from django.db import IntegrityError

from sends.models import DeliveryReport
from sends.tests.factories import CampaignSendFactory

pytestmark = pytest.mark.django_db


def test_one_send_per_contact_per_campaign():
    send = CampaignSendFactory()
    with pytest.raises(IntegrityError):
        CampaignSendFactory(campaign=send.campaign, contact=send.contact)


def test_the_same_contact_may_be_in_two_campaigns():
    send = CampaignSendFactory()
    assert CampaignSendFactory(contact=send.contact).pk


def test_delivery_report_is_unique_per_message_and_status():
    DeliveryReport.objects.create(message_uuid="abc", status="delivered")
    DeliveryReport.objects.create(message_uuid="abc", status="sent")
    with pytest.raises(IntegrityError):
        DeliveryReport.objects.create(message_uuid="abc", status="delivered")
