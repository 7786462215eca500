"""POST /api/v1/subscriptions/: starts a double opt-in, answers 202 with the pending contact, idempotent on
(number, list) while pending. The confirmation goes out through the real plivo SDK to the simulator."""

import pytest

from contacts.models import Contact, SubscriptionRequest
from contacts.services.subscriptions import subscription_confirm
from contacts.tests.factories import ContactListFactory, SuppressionFactory

URL = "/api/v1/subscriptions/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(api_client):
    return api_client("contacts.add_contact")


@pytest.fixture
def deals(db):
    return ContactListFactory(name="Deals", program_name="Acme Deals")


def test_start_answers_202_with_the_pending_contact_and_texts_the_confirmation(
    integration, deals, plivo_simulator, django_capture_on_commit_callbacks
):
    body = {
        "phone_number": "415 555 0160",
        "region": "us",
        "list": deals.pk,
        "source": "checkout",
        "consent_text": "Text me deals",
        "page_url": "https://shop.example/checkout",
        "ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0 shopper",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = integration.post(URL, body, format="json", REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 202, response.json()
    data = response.json()
    assert data["status"] == "pending" and data["list"] == deals.pk
    assert data["contact"]["phone_number"] == "+14155550160" and data["contact"]["status"] == "pending"
    [message] = plivo_simulator.messages()
    assert message["dst"] == "+14155550160" and "Acme Deals" in message["text"]
    request = SubscriptionRequest.objects.get()
    assert request.source == SubscriptionRequest.Source.API
    assert request.confirmation_message_uuid == message["uuid"]
    assert (request.ip, request.user_agent, request.page_url) == (
        "198.51.100.7",
        "Mozilla/5.0 shopper",
        "https://shop.example/checkout",
    )
    assert request.source_detail.startswith("checkout (via API user integration")
    assert request.requested_by == integration.user

    # Idempotent while pending: the same request again, and no second text.
    with django_capture_on_commit_callbacks(execute=True):
        again = integration.post(URL, {**body, "phone_number": "+1 (415) 555-0160"}, format="json")
    assert again.status_code == 202 and again.json()["id"] == data["id"]
    assert len(plivo_simulator.messages()) == 1

    # Confirmed, a new request is a new one (it texts again).
    subscription_confirm(e164="+14155550160", reply_text="Y")
    assert Contact.objects.get().status == Contact.Status.SUBSCRIBED
    with django_capture_on_commit_callbacks(execute=True):
        later = integration.post(URL, body, format="json")
    assert later.status_code == 202 and later.json()["id"] != data["id"]
    assert later.json()["contact"]["status"] == "subscribed"


def test_bad_input_says_what_and_where(integration, deals):
    response = integration.post(URL, {"phone_number": "12", "list": deals.pk}, format="json")
    assert response.status_code == 400
    assert "phone_number" in response.json()["errors"]
    response = integration.post(URL, {"phone_number": "+14155550160", "list": 999999}, format="json")
    assert response.status_code == 400 and "list" in response.json()["errors"]
    response = integration.post(URL, {"list": deals.pk}, format="json")
    assert response.status_code == 400 and "phone_number" in response.json()["errors"]
    assert not SubscriptionRequest.objects.exists()


def test_a_persons_own_opt_out_is_a_conflict(integration, deals):
    SuppressionFactory(phone_number="+14155550160", reason="opt-out")
    response = integration.post(URL, {"phone_number": "+14155550160", "list": deals.pk}, format="json")
    assert response.status_code == 409
    assert "only the person can opt back in" in response.json()["detail"]


def test_starting_needs_the_add_contact_permission(api_client, deals):
    response = api_client("contacts.view_contact").post(
        URL, {"phone_number": "+14155550160", "list": deals.pk}, format="json"
    )
    assert response.status_code == 403
