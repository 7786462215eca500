"""Quick send: POST /api/v1/campaigns/ with recipients, body, consent_source and send: true creates the campaign
and launches it in one call, answering what became of each number. The engine's side is in
sends/tests/test_quick_send.py."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.services.drafts import OPT_OUT_FOOTER
from campaigns.services.quick_send import MAX_QUICK_SEND_RECIPIENTS
from contacts.models import Contact, ContactList, Suppression
from contacts.services.consent import contact_opt_out
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory, fictional_number
from smscampaigns.tests.helpers import run_concurrently

pytestmark = pytest.mark.django_db
CAMPAIGNS = "/api/v1/campaigns/"
QUICK_SENDER = (
    "campaigns.view_campaign",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.send_campaign",
    "contacts.add_contact",
    "contacts.change_contact",
    "contacts.add_contactlist",
)
CONSENTED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def quick_sender(api_client):
    return api_client(*QUICK_SENDER)


def quick_send(recipients, **extra):
    return {"recipients": recipients, "body": "Flash sale today", "consent_source": "checkout form", "send": True} | (
        extra
    )


def nothing_created():
    return not (Campaign.objects.exists() or ContactList.objects.exists() or Contact.objects.exists())


def test_quick_send_makes_the_numbers_contacts_with_consent_and_launches_the_campaign(quick_sender):
    response = quick_sender.post(
        CAMPAIGNS, quick_send(["(415) 555-0101", "+1 415 555 0102"], name="Flash"), format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    campaign = Campaign.objects.get(pk=body["campaign"]["id"])
    assert (body["campaign"]["status"], campaign.status) == ("scheduled", Campaign.Status.SCHEDULED)
    assert campaign.scheduled_at is not None and campaign.name == "Flash"
    assert campaign.body == f"Flash sale today\n{OPT_OUT_FOOTER}"  # saved as the admin saves a draft
    assert body["summary"] == {"accepted": 2, "invalid": 0, "excluded": 0, "duplicates": 0}
    contacts = {str(c.phone_number): c for c in Contact.objects.all()}
    assert set(contacts) == {fictional_number(101), fictional_number(102)}
    assert body["recipients"] == [
        {
            "index": index,
            "number": given,
            "result": "accepted",
            "phone_number": e164,
            "reason": "",
            "detail": "",
            "contact": contacts[e164].pk,
            "contact_created": True,
            "consent_recorded": True,
            "duplicates": [],
        }
        for index, (given, e164) in enumerate(
            [("(415) 555-0101", fictional_number(101)), ("+1 415 555 0102", fictional_number(102))]
        )
    ]
    for contact in contacts.values():
        assert contact.status == Contact.Status.SUBSCRIBED
        assert contact.consent_source == "checkout form" and contact.consented_at is not None
    [audience] = campaign.lists.all()
    assert set(audience.contacts.all()) == set(contacts.values())
    assert body["campaign"]["lists"] == [audience.pk]
    actions = set(AuditEvent.objects.filter(actor=quick_sender.user).values_list("action", flat=True))
    assert {"contact.created", "contact_list.created", "campaign.send_now", "campaign.quick_sent"} <= actions
    quick_sent = AuditEvent.objects.get(action="campaign.quick_sent")
    assert quick_sent.target_id == str(campaign.pk)
    assert quick_sent.data == {
        "consent_source": "checkout form",
        "accepted": 2,
        "invalid": 0,
        "excluded": 0,
        "duplicates": 0,
    }


def test_without_a_name_the_campaign_is_named_after_the_time(quick_sender):
    response = quick_sender.post(CAMPAIGNS, quick_send([fictional_number(103)]), format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["campaign"]["name"].startswith("Quick send ")


def opted_out_contact(n: int) -> Contact:
    """A contact who consented, then texted STOP: opted out as the inbound webhook does it."""
    return contact_opt_out(contact=ContactFactory(phone_number=fictional_number(n)), source="inbound STOP")


def test_report_says_what_became_of_each_number(quick_sender):
    opted_out = opted_out_contact(111)
    SuppressionFactory(phone_number=fictional_number(112), reason=Suppression.Reason.DO_NOT_CALL)  # no contact
    SuppressionFactory(phone_number=fictional_number(113), reason=Suppression.Reason.OPT_OUT)  # no contact
    recipients = [
        "415-555-0110",
        "12",
        fictional_number(111),
        "(415) 555-0112",
        "+1 (415) 555 0110",  # the first number again, in another format
        fictional_number(113),
        fictional_number(110),
    ]
    response = quick_sender.post(CAMPAIGNS, quick_send(recipients), format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["summary"] == {"accepted": 1, "invalid": 1, "excluded": 3, "duplicates": 2}
    report = {r["index"]: r for r in body["recipients"]}
    assert sorted(report) == [0, 1, 2, 3, 5]  # a duplicate is reported once, at its first position
    assert (report[0]["result"], report[0]["phone_number"], report[0]["duplicates"]) == (
        "accepted",
        fictional_number(110),
        [4, 6],
    )
    assert (report[1]["result"], report[1]["reason"], report[1]["phone_number"]) == ("invalid", "invalid_number", None)
    assert "'12' is not a valid phone number" in report[1]["detail"]
    assert (report[2]["result"], report[2]["reason"], report[2]["contact"]) == ("excluded", "opted_out", opted_out.pk)
    assert "opted out" in report[2]["detail"]
    assert (report[3]["result"], report[3]["reason"], report[3]["contact"]) == ("excluded", "suppressed", None)
    assert "do-not-call" in report[3]["detail"]
    assert (report[5]["result"], report[5]["reason"], report[5]["contact"]) == ("excluded", "opted_out", None)
    for excluded in (report[2], report[3], report[5]):
        assert not excluded["contact_created"] and not excluded["consent_recorded"]
    # Only the accepted number is in the audience; the excluded ones are not made contacts.
    campaign = Campaign.objects.get(pk=body["campaign"]["id"])
    assert [str(c.phone_number) for c in campaign.lists.get().contacts.all()] == [fictional_number(110)]
    assert set(Contact.objects.values_list("phone_number", flat=True)) == {
        fictional_number(110),
        opted_out.phone_number,
    }


def test_consent_source_never_overrides_an_opt_out(quick_sender):
    opted_out = opted_out_contact(121)
    before = Contact.objects.filter(pk=opted_out.pk).values().get()
    response = quick_sender.post(CAMPAIGNS, quick_send([fictional_number(120), fictional_number(121)]), format="json")
    assert response.status_code == 202, response.json()
    assert Contact.objects.filter(pk=opted_out.pk).values().get() == before
    assert before["status"] == Contact.Status.UNSUBSCRIBED and before["consent_source"] == "web form"
    assert Suppression.objects.filter(phone_number=fictional_number(121), reason=Suppression.Reason.OPT_OUT).exists()
    touched = AuditEvent.objects.filter(
        target_type="contacts.contact", target_id=str(opted_out.pk), actor=quick_sender.user
    )
    assert not touched.exists()


def test_existing_consent_is_kept_and_a_contact_without_any_gets_the_evidence(quick_sender):
    consented = ContactFactory(phone_number=fictional_number(130), consent_source="web form", consented_at=CONSENTED_AT)
    unconsented = ContactFactory(
        phone_number=fictional_number(131), status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source=""
    )
    response = quick_sender.post(
        CAMPAIGNS,
        quick_send([fictional_number(130), fictional_number(131)], consent_text="Yes, text me offers"),
        format="json",
    )
    assert response.status_code == 202, response.json()
    kept, recorded = response.json()["recipients"]
    assert (kept["result"], kept["contact"], kept["contact_created"], kept["consent_recorded"]) == (
        "accepted",
        consented.pk,
        False,
        False,
    )
    assert (recorded["result"], recorded["contact"], recorded["contact_created"], recorded["consent_recorded"]) == (
        "accepted",
        unconsented.pk,
        False,
        True,
    )
    consented.refresh_from_db()
    assert (consented.consent_source, consented.consented_at) == ("web form", CONSENTED_AT)
    unconsented.refresh_from_db()
    assert (unconsented.status, unconsented.consent_source, unconsented.consent_text) == (
        Contact.Status.SUBSCRIBED,
        "checkout form",
        "Yes, text me offers",
    )
    assert AuditEvent.objects.filter(action="contact.opted_in", target_id=str(unconsented.pk)).exists()


@pytest.mark.parametrize(
    "recipients",
    [
        ["12", "not a number", "+44 20"],
        ["12", fictional_number(141), fictional_number(142)],  # invalid, opted out, suppressed: nobody to text
    ],
)
def test_nobody_to_text_is_400_with_the_reason_per_index_and_nothing_created(quick_sender, recipients):
    SuppressionFactory(phone_number=fictional_number(141), reason=Suppression.Reason.OPT_OUT)
    SuppressionFactory(phone_number=fictional_number(142), reason=Suppression.Reason.MANUAL)
    response = quick_sender.post(CAMPAIGNS, quick_send(recipients), format="json")
    assert response.status_code == 400
    body = response.json()
    assert "none of the recipients may be texted" in body["detail"]
    assert sorted(body["errors"]) == ["recipients.0", "recipients.1", "recipients.2"]
    assert "'12' is not a valid phone number" in body["errors"]["recipients.0"][0]
    assert nothing_created()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        (quick_send([fictional_number(150)], lists=[]), "lists", "either lists or recipients"),
        (quick_send([fictional_number(150)], send=False), "send", "must be true with recipients"),
        ({k: v for k, v in quick_send([fictional_number(150)]).items() if k != "send"}, "send", "must be true"),
        (quick_send([fictional_number(150)], send="true"), "send", "valid boolean"),
        ({k: v for k, v in quick_send([]).items() if k != "recipients"}, "recipients", "required with send"),
        ({k: v for k, v in quick_send([fictional_number(150)]).items() if k != "consent_source"}, "consent_source", ""),
        (quick_send([fictional_number(150)], consent_source="  "), "consent_source", "blank"),
        (quick_send([]), "recipients", "at least 1"),
        (quick_send(fictional_number(150)), "recipients", "list"),
        (quick_send([fictional_number(150), 4155550151]), "recipients.1", "valid string"),
        (quick_send([fictional_number(n) for n in range(MAX_QUICK_SEND_RECIPIENTS + 1)]), "recipients", "1000"),
        (quick_send([fictional_number(150)], body="Hi {{ first_name|nosuchfilter }}"), "body", "not a valid template"),
        (quick_send([fictional_number(150)], sender="not a sender!"), "sender", ""),
        ({"name": "Draft", "body": "Hi", "consent_source": "checkout form"}, "consent_source", "only with recipients"),
    ],
)
def test_bad_quick_sends_are_refused_with_the_field_at_fault_and_nothing_created(quick_sender, payload, field, says):
    response = quick_sender.post(CAMPAIGNS, payload, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors and says in errors[field][0], errors
    assert nothing_created()


def test_without_a_sender_to_send_from_nothing_is_created(quick_sender, settings):
    settings.PLIVO_SENDER = ""
    response = quick_sender.post(CAMPAIGNS, quick_send([fictional_number(160)]), format="json")
    assert response.status_code == 400
    assert "sender" in response.json()["errors"]
    assert nothing_created()


@pytest.mark.parametrize("missing", ["campaigns.send_campaign", "contacts.add_contact", "contacts.add_contactlist"])
def test_quick_send_without_every_permission_it_needs_is_403_and_creates_nothing(api_client, missing):
    client = api_client(*[p for p in QUICK_SENDER if p != missing])
    response = client.post(CAMPAIGNS, quick_send([fictional_number(170)]), format="json")
    assert response.status_code == 403
    assert missing in response.json()["detail"]
    assert nothing_created()


def test_quick_send_needs_authentication(db):
    assert APIClient().post(CAMPAIGNS, quick_send([fictional_number(171)]), format="json").status_code == 401
    assert nothing_created()


def test_a_draft_for_lists_is_still_created_without_the_send_permission(api_client):
    audience = ContactListFactory()
    client = api_client("campaigns.view_campaign", "campaigns.add_campaign")
    response = client.post(
        CAMPAIGNS, {"name": "Draft", "body": "Hi", "lists": [audience.pk], "send": False}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "draft" and response.json()["lists"] == [audience.pk]


def test_the_schema_documents_the_quick_send_request_and_its_202(api_client):
    schema = api_client().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/campaigns/"]["post"]
    components = schema["components"]["schemas"]

    def component(reference):
        return components[reference["$ref"].rsplit("/", 1)[1]]

    # One of two shapes: a draft for lists, or a quick send for recipients.
    request = component(operation["requestBody"]["content"]["application/json"]["schema"])
    draft, quick = (component(shape) for shape in request["oneOf"])
    assert {"name", "body", "lists", "send"} <= set(draft["properties"])
    assert {"recipients", "consent_source", "consent_text"}.isdisjoint(draft["properties"])
    assert {"recipients", "consent_source", "consent_text", "send"} <= set(quick["properties"])
    assert {"recipients", "body", "consent_source", "send"} <= set(quick["required"])
    assert quick["properties"]["recipients"]["maxItems"] == MAX_QUICK_SEND_RECIPIENTS
    accepted = operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][accepted]["properties"]) == {"campaign", "summary", "recipients"}
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Campaign")


def test_the_202_answer_over_http_is_what_the_schema_says(live_server, api_client):
    from smscampaigns.tests.test_api_schemathesis import CHECKS, schema

    client = api_client(*QUICK_SENDER)
    SuppressionFactory(phone_number=fictional_number(181), reason=Suppression.Reason.OPT_OUT)
    payload = quick_send(["(415) 555-0180", fictional_number(181), "12", "+14155550180"])
    case = schema["/api/v1/campaigns/"]["POST"].Case(body=payload, media_type="application/json")
    response = case.call_and_validate(
        base_url=live_server.url, headers={"Authorization": client._credentials["HTTP_AUTHORIZATION"]}, checks=CHECKS
    )
    assert response.status_code == 202
    assert response.json()["summary"] == {"accepted": 1, "invalid": 1, "excluded": 1, "duplicates": 1}


def test_a_quick_send_retried_with_its_idempotency_key_is_answered_again_and_texts_nobody_twice(quick_sender):
    request = quick_send(["(415) 555-0101", "+1 415 555 0102", "12"])
    first = quick_sender.post(CAMPAIGNS, request, format="json", HTTP_IDEMPOTENCY_KEY="order-4711")
    again = quick_sender.post(CAMPAIGNS, request, format="json", HTTP_IDEMPOTENCY_KEY="order-4711")
    assert (first.status_code, again.status_code) == (202, 202), again.json()
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert again.json()["campaign"]["id"] == first.json()["campaign"]["id"]
    assert again.json()["recipients"] == first.json()["recipients"]
    assert (
        again.json()["summary"]
        == first.json()["summary"]
        == {
            "accepted": 2,
            "invalid": 1,
            "excluded": 0,
            "duplicates": 0,
        }
    )
    assert (Campaign.objects.count(), ContactList.objects.count(), Contact.objects.count()) == (1, 1, 2)


def test_an_idempotency_key_used_for_another_quick_send_is_refused_and_nothing_is_created(quick_sender):
    first = quick_sender.post(CAMPAIGNS, quick_send(["(415) 555-0101"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = quick_sender.post(CAMPAIGNS, quick_send(["(415) 555-0102"]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, other.status_code) == (202, 409)
    assert "Idempotency-Key 'k-1' was already used" in other.json()["detail"]
    assert (Campaign.objects.count(), Contact.objects.count()) == (1, 1)


def test_idempotency_keys_belong_to_each_user_and_a_request_without_one_is_new(quick_sender, api_client):
    other_integration = api_client(*QUICK_SENDER)
    request = quick_send(["(415) 555-0101"])
    for client in (quick_sender, other_integration):
        assert client.post(CAMPAIGNS, request, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code == 202
    assert quick_sender.post(CAMPAIGNS, request, format="json").status_code == 202
    assert Campaign.objects.count() == 3


@pytest.mark.parametrize("key", ["x" * 256, "tab\tinside"])
def test_an_unusable_idempotency_key_is_a_400_naming_the_header(quick_sender, key):
    response = quick_sender.post(CAMPAIGNS, quick_send(["(415) 555-0101"]), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert nothing_created()


@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_with_one_idempotency_key_launch_one_campaign(quick_sender):
    request = quick_send(["(415) 555-0101", "(415) 555-0102"])

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=quick_sender._credentials["HTTP_AUTHORIZATION"])
        return client.post(CAMPAIGNS, request, format="json", HTTP_IDEMPOTENCY_KEY="race")

    answers = run_concurrently(post, post, together=True)
    assert sorted(answer.status_code for answer in answers) == [202, 202]
    assert len({answer.json()["campaign"]["id"] for answer in answers}) == 1
    assert (Campaign.objects.count(), Contact.objects.count()) == (1, 2)
