"""POST /api/v1/campaigns/{id}/test/: the rendered message to a few numbers through the configured backend."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory, fictional_number
from sends.models import CampaignSend
from sends.tests import scripted_backend

pytestmark = pytest.mark.django_db
TESTER = ("campaigns.view_campaign", "campaigns.send_campaign")


def _campaign():
    audience = ContactListFactory()
    campaign = CampaignFactory(body="Hi {{ first_name }}, sale today", sender="+14155550100")
    campaign.lists.set([audience])
    contact_lists_add(contact=ContactFactory(first_name="Sam"), contact_lists=[audience])
    return campaign


def test_sends_the_message_rendered_for_the_numbers_contact_or_a_sample(api_client, sms_outbox):
    campaign = _campaign()
    ContactFactory(phone_number=fictional_number(42), first_name="Dana")
    response = api_client(*TESTER).post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": ["(415) 555-0042", "+1 415 555 0043"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    first, second = response.json()
    assert (first["to_number"], first["rendered_for"], first["body"]) == (
        fictional_number(42),
        "contact",
        "Hi Dana, sale today",
    )
    assert (second["to_number"], second["rendered_for"], second["body"]) == (
        fictional_number(43),
        "sample",
        "Hi Sam, sale today",
    )
    assert first["ok"] and first["message_uuid"] and first["error_code"] == "" and first["segments"] == 1
    assert [(m.sender, list(m.destinations), m.body) for m in sms_outbox] == [
        ("+14155550100", [fictional_number(42)], "Hi Dana, sale today"),
        ("+14155550100", [fictional_number(43)], "Hi Sam, sale today"),
    ]
    assert not CampaignSend.objects.exists()  # a test is not part of the campaign
    assert AuditEvent.objects.filter(action="campaign.test_sent", target_id=str(campaign.pk)).exists()


def test_without_anyone_eligible_renders_blank_fields(api_client, sms_outbox):
    campaign = CampaignFactory(body="Hi {{ first_name|default:'there' }}")
    response = api_client(*TESTER).post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": [fictional_number(44)]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()[0]["rendered_for"] == "blank" and sms_outbox[0].body == "Hi there"


@pytest.mark.parametrize(
    ("numbers", "field", "says"),
    [
        ([fictional_number(45), "12"], "numbers.1", "'12'"),
        ([], "numbers", "at least 1"),
        ([fictional_number(n) for n in range(11)], "numbers", "10"),
    ],
)
def test_refuses_bad_numbers_and_sends_nothing(api_client, sms_outbox, numbers, field, says):
    campaign = _campaign()
    response = api_client(*TESTER).post(f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": numbers}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors and says in errors[field][0], errors
    assert sms_outbox == []


@pytest.mark.parametrize("how", ["suppression", "opted_out_contact"])
def test_refuses_a_suppressed_or_opted_out_number_and_sends_nothing(api_client, sms_outbox, how):
    campaign = _campaign()
    number = fictional_number(46)
    if how == "suppression":
        SuppressionFactory(phone_number=number, reason=Suppression.Reason.DO_NOT_CALL)
    else:
        ContactFactory(phone_number=number, status=Contact.Status.UNSUBSCRIBED, opted_out_at="2026-01-01T00:00Z")
    response = api_client(*TESTER).post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": [fictional_number(47), number]}, format="json"
    )
    assert response.status_code == 400
    assert "may not be texted" in response.json()["errors"]["numbers.1"][0]
    assert sms_outbox == []


def test_refuses_a_contact_without_recorded_consent_and_sends_nothing(api_client, sms_outbox):
    campaign = _campaign()
    ContactFactory(
        phone_number=fictional_number(51), status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source=""
    )
    response = api_client(*TESTER).post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": [fictional_number(47), "(415) 555-0051"]}, format="json"
    )
    assert response.status_code == 400
    assert "may not be texted (no_consent)" in response.json()["errors"]["numbers.1"][0]
    assert sms_outbox == []


@pytest.mark.parametrize("status", ["sending", "paused", "completed", "cancelled"])
def test_a_campaign_past_launch_takes_no_test_send_on_the_api_as_in_the_admin(api_client, sms_outbox, status):
    campaign = _campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    response = api_client(*TESTER).post(
        f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": [fictional_number(49)]}, format="json"
    )
    assert response.status_code == 409
    assert f"is {status}; a test send is for a draft or a scheduled campaign" in response.json()["detail"]
    assert sms_outbox == []
    assert not AuditEvent.objects.filter(action="campaign.test_sent").exists()


def test_refuses_the_anonymous_those_without_send_permission_and_unknown_ids(api_client, sms_outbox):
    campaign = _campaign()
    url, payload = f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": [fictional_number(48)]}
    assert APIClient().post(url, payload, format="json").status_code == 401
    assert api_client("campaigns.view_campaign").post(url, payload, format="json").status_code == 403
    assert api_client(*TESTER).post("/api/v1/campaigns/424242/test/", payload, format="json").status_code == 404
    assert sms_outbox == []


def test_answers_the_backends_refusal_per_number(api_client, settings):
    settings.SMS_BACKEND = "sends.tests.scripted_backend.SmsBackend"
    scripted_backend.reset()
    scripted_backend.script[fictional_number(49)].append(scripted_backend.PERMANENT)
    campaign = _campaign()
    numbers = [fictional_number(49), fictional_number(50)]
    response = api_client(*TESTER).post(f"/api/v1/campaigns/{campaign.pk}/test/", {"numbers": numbers}, format="json")
    assert response.status_code == 200, response.json()
    refused, accepted = response.json()
    assert (refused["ok"], refused["message_uuid"], refused["error_code"]) == (False, None, "invalid_number")
    assert accepted["ok"] and accepted["error_code"] == ""
