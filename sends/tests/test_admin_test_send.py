""" "Send test to my phone" on the campaign page of the admin."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.tests.admin_pages import change_url
from campaigns.tests.factories import CampaignFactory
from contacts.models import Suppression
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory
from sends.models import StaffPhone

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
MY_PHONE = "+14155550142"


def url_of_test_send(campaign):
    return reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])


@pytest.fixture
def campaign():
    audience = ContactListFactory()
    contact_lists_add(contact=ContactFactory(first_name="Ann"), contact_lists=[audience])
    campaign = CampaignFactory(body="Hi {{ first_name }}, doors open at 9. Reply STOP to opt out")
    campaign.lists.set([audience])
    return campaign


def test_a_manager_sends_the_rendered_message_to_their_phone_which_is_remembered_and_audited(
    client, manager, campaign, sms_outbox
):
    client.force_login(manager)
    response = client.post(url_of_test_send(campaign), {"phone_number": "(415) 555-0142"}, follow=True)

    [message] = sms_outbox
    assert (message.destinations, message.body) == ([MY_PHONE], "Hi Ann, doors open at 9. Reply STOP to opt out")
    assert message.sender == campaign.sender
    assert f"Test sent to {MY_PHONE} (1 segment): “Hi Ann, doors open at 9." in response.content.decode()
    event = AuditEvent.objects.get(action="campaign.test_sent")
    assert event.actor == manager and event.data["results"][0]["to"] == MY_PHONE
    assert StaffPhone.objects.get(user=manager).phone_number == MY_PHONE
    # Next time the form offers the same number.
    assert f'value="{MY_PHONE}"' in client.get(change_url(campaign)).content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.sent_count == 0  # a test is not a send


def test_a_test_to_a_suppressed_number_is_refused_with_the_reason_and_nothing_is_kept(
    client, manager, campaign, sms_outbox
):
    SuppressionFactory(phone_number=MY_PHONE, reason=Suppression.Reason.OPT_OUT)
    client.force_login(manager)
    page = client.post(url_of_test_send(campaign), {"phone_number": MY_PHONE}, follow=True).content.decode()
    assert f"No test: {MY_PHONE} may not be texted (opt-out)" in page
    assert sms_outbox == [] and not StaffPhone.objects.exists()


def test_a_number_that_is_no_phone_number_is_refused_saying_so(client, manager, campaign, sms_outbox):
    client.force_login(manager)
    page = client.post(url_of_test_send(campaign), {"phone_number": "not a number"}, follow=True).content.decode()
    assert "No test: &#x27;not a number&#x27;:" in page
    assert sms_outbox == []


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_staff_who_may_send_see_and_use_the_test_button(client, request, role, campaign, sms_outbox):
    client.force_login(request.getfixturevalue(role))
    assert 'id="campaign-test-send"' not in client.get(change_url(campaign)).content.decode()
    assert client.post(url_of_test_send(campaign), {"phone_number": MY_PHONE}).status_code == 403
    assert sms_outbox == [] and not AuditEvent.objects.filter(action="campaign.test_sent").exists()


def test_the_test_button_is_there_before_launch_only(client, manager, campaign, sms_outbox):
    client.force_login(manager)
    assert 'id="campaign-test-send"' in client.get(change_url(campaign)).content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    assert 'id="campaign-test-send"' not in client.get(change_url(campaign)).content.decode()
    page = client.post(url_of_test_send(campaign), {"phone_number": MY_PHONE}, follow=True).content.decode()
    assert "No test: the campaign is sending." in page
    assert sms_outbox == []
