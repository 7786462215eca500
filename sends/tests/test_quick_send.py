"""A quick send (POST /api/v1/campaigns/ with recipients and send: true) launched by the engine like any
campaign: the accepted numbers are texted once, the excluded never, and the sends show on campaigns/{id}/sends/.
The request and its report are in campaigns/tests/test_apis_quick_send.py."""

from collections import Counter

import pytest

from campaigns.models import Campaign
from campaigns.tests.test_apis_quick_send import QUICK_SENDER, opted_out_contact, quick_send
from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory, SuppressionFactory, fictional_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]


@pytest.fixture
def integration(api_client):
    return api_client(*QUICK_SENDER, "sends.view_campaignsend")


def _excluded_numbers() -> list[str]:
    opted_out_contact(211)
    SuppressionFactory(phone_number=fictional_number(212), reason=Suppression.Reason.DO_NOT_CALL)
    return [fictional_number(211), "(415) 555-0212"]


def test_quick_send_texts_each_accepted_number_once_and_its_sends_follow(integration, run_engine, sms_outbox):
    existing = ContactFactory(phone_number=fictional_number(202), first_name="Dana")
    recipients = ["(415) 555-0201", fictional_number(202), *_excluded_numbers(), "+1 415-555-0201", "nope"]
    response = integration.post("/api/v1/campaigns/", quick_send(recipients), format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["summary"] == {"accepted": 2, "invalid": 1, "excluded": 2, "duplicates": 1}
    campaign_id = response.json()["campaign"]["id"]

    run_engine(ticks=2)

    destinations = Counter(number for message in sms_outbox for number in message.destinations)
    assert destinations == Counter([fictional_number(201), fictional_number(202)])
    sends = integration.get(f"/api/v1/campaigns/{campaign_id}/sends/").json()["results"]
    assert sorted((s["to_number"], s["status"], s["contact"]) for s in sends) == sorted(
        [
            (fictional_number(201), "sent", Contact.objects.get(phone_number=fictional_number(201)).pk),
            (fictional_number(202), "sent", existing.pk),
        ]
    )
    assert all(s["provider_message_uuid"] for s in sends)
    campaign = integration.get(f"/api/v1/campaigns/{campaign_id}/").json()
    assert campaign["status"] in ("sending", "completed") and campaign["stats"]["recipients"] == 2


def test_quick_send_through_plivo_reaches_the_simulator(integration, run_engine, plivo_simulator):
    response = integration.post(
        "/api/v1/campaigns/", quick_send([fictional_number(221), "415 555 0222", *_excluded_numbers()]), format="json"
    )
    assert response.status_code == 202, response.json()

    run_engine(ticks=2)

    sent = plivo_simulator.messages()
    assert sorted(m["dst"] for m in sent) == [fictional_number(221), fictional_number(222)]
    assert {m["text"] for m in sent} == {Campaign.objects.get().body}
    uuids = {m["uuid"] for m in sent}
    sends = integration.get(f"/api/v1/campaigns/{response.json()['campaign']['id']}/sends/").json()["results"]
    assert {s["provider_message_uuid"] for s in sends} == uuids
