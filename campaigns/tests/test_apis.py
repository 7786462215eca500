from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.quiet_hours import DEFAULT_QUIET_HOURS_RULES
from campaigns.tests.factories import CampaignFactory
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
Status = Campaign.Status
CAMPAIGNS = "/api/v1/campaigns/"
CRUD = ("campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.delete_campaign")


@pytest.fixture
def editor(api_client):
    """May edit campaigns, but not send them."""
    return api_client(*CRUD)


@pytest.fixture
def sender(api_client):
    return api_client(*CRUD, "campaigns.send_campaign")


def test_create_a_draft_for_lists(editor):
    audience = ContactListFactory()
    response = editor.post(
        CAMPAIGNS,
        {"name": "Spring sale", "body": "Hi {{ first_name }}!", "sender": "(415) 555-0100", "lists": [audience.pk]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["sender"] == "+14155550100"
    assert body["lists"] == [audience.pk]
    assert body["stats"]["recipients"] == 0 and body["stats"]["cost"] == "0.00000"
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.created_by == editor.user
    assert AuditEvent.objects.filter(action="campaign.created", target_id=str(campaign.pk)).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "hi"}, "name"),
        ({"name": "x"}, "body"),
        ({"name": "   ", "body": "hi"}, "name"),
        ({"name": "x", "body": "hi", "sender": "not a sender!"}, "sender"),
        ({"name": "x", "body": "hi", "lists": [424242]}, "lists.0"),
        ({"name": "x", "body": "hi", "max_per_second": 0}, "max_per_second"),
    ],
)
def test_create_refuses_bad_input_with_a_field_error(editor, payload, field):
    response = editor.post(CAMPAIGNS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Campaign.objects.exists()


def test_list_filters_by_status_and_name(editor):
    CampaignFactory(name="Spring sale")
    CampaignFactory(name="Autumn sale", status=Status.SENDING)
    CampaignFactory(name="Welcome")

    def names(**params):
        return sorted(c["name"] for c in editor.get(CAMPAIGNS, params).json()["results"])

    assert names() == ["Autumn sale", "Spring sale", "Welcome"]
    assert names(status="sending") == ["Autumn sale"]
    assert names(search="SALE") == ["Autumn sale", "Spring sale"]


def test_retrieve_shows_the_counters(editor):
    campaign = CampaignFactory(
        recipients_count=5,
        delivered_count=2,
        skipped_count=3,
        skipped_by_reason={"opted_out": 2, "suppressed": 1},
        segments_count=4,
        cost=Decimal("0.022"),
    )
    body = editor.get(f"{CAMPAIGNS}{campaign.pk}/").json()
    assert body["stats"]["delivered"] == 2
    stats = editor.get(f"{CAMPAIGNS}{campaign.pk}/stats/").json()
    assert stats == {
        "recipients": 5,
        "queued": 0,
        "sent": 0,
        "delivered": 2,
        "undelivered": 0,
        "failed": 0,
        "skipped": 3,
        "unknown": 0,
        "skipped_by_reason": {"opted_out": 2, "suppressed": 1},
        "opt_outs": 0,
        "segments": 4,
        "cost": "0.02200",
    }
    assert editor.get(f"{CAMPAIGNS}{campaign.pk + 100}/stats/").status_code == 404


def test_a_draft_can_be_edited_and_deleted(editor):
    campaign = CampaignFactory()
    new_list = ContactListFactory()
    response = editor.patch(f"{CAMPAIGNS}{campaign.pk}/", {"body": "New text", "lists": [new_list.pk]}, format="json")
    assert response.status_code == 200
    # Saved as the admin saves a draft: the opt-out line the law wants is added when the text lacks one.
    assert (response.json()["body"], response.json()["lists"]) == ("New text\nReply STOP to opt out", [new_list.pk])
    assert editor.delete(f"{CAMPAIGNS}{campaign.pk}/").status_code == 204
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


@pytest.mark.parametrize("state", [Status.SCHEDULED, Status.SENDING, Status.COMPLETED])
def test_editing_or_deleting_a_campaign_past_draft_is_409(editor, state):
    campaign = CampaignFactory(status=state, body="Approved text")
    response = editor.patch(f"{CAMPAIGNS}{campaign.pk}/", {"body": "Sneaky edit"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"campaign {campaign.name!r} is {state}; only a draft can be edited",
        "errors": {},
    }
    assert editor.delete(f"{CAMPAIGNS}{campaign.pk}/").status_code == 409
    campaign.refresh_from_db()
    assert campaign.body == "Approved text"


def test_send_now_makes_the_draft_due_and_answers_202(sender):
    campaign = CampaignFactory()
    response = sender.post(f"{CAMPAIGNS}{campaign.pk}/send/")
    assert response.status_code == 202
    assert response.json()["status"] == "scheduled"
    campaign.refresh_from_db()
    assert campaign.scheduled_at <= timezone.now()
    again = sender.post(f"{CAMPAIGNS}{campaign.pk}/send/")
    assert again.status_code == 409
    assert "cannot become scheduled" in again.json()["detail"]


def test_send_without_a_sender_anywhere_is_400(sender, settings):
    settings.PLIVO_SENDER = ""
    campaign = CampaignFactory(sender="")
    response = sender.post(f"{CAMPAIGNS}{campaign.pk}/send/")
    assert response.status_code == 400
    assert "sender" in response.json()["errors"]


@pytest.mark.parametrize(
    ("action", "state", "payload"),
    [
        ("send", Status.DRAFT, None),
        ("schedule", Status.DRAFT, {"scheduled_at": "2099-01-01T09:00:00Z"}),
        ("resume", Status.PAUSED, None),
    ],
)
def test_sending_actions_need_the_send_campaign_permission(editor, action, state, payload):
    campaign = CampaignFactory(status=state)
    response = editor.post(f"{CAMPAIGNS}{campaign.pk}/{action}/", payload, format="json")
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == state


def test_schedule_in_the_future(sender):
    campaign = CampaignFactory()
    when = timezone.now() + timedelta(days=1)
    response = sender.post(f"{CAMPAIGNS}{campaign.pk}/schedule/", {"scheduled_at": when.isoformat()}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "scheduled"
    campaign.refresh_from_db()
    assert campaign.scheduled_at == when


@pytest.mark.parametrize(
    ("scheduled_at", "says"),
    [("2001-01-01T09:00:00Z", "must be in the future"), ("tomorrow", "wrong format"), (None, "may not be null")],
)
def test_schedule_refuses_a_past_or_malformed_time(sender, scheduled_at, says):
    campaign = CampaignFactory()
    response = sender.post(f"{CAMPAIGNS}{campaign.pk}/schedule/", {"scheduled_at": scheduled_at}, format="json")
    assert response.status_code == 400
    assert says in response.json()["errors"]["scheduled_at"][0]
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_pause_resume_cancel(sender):
    campaign = CampaignFactory(status=Status.SENDING)
    url = f"{CAMPAIGNS}{campaign.pk}"
    paused = sender.post(f"{url}/pause/", {"reason": "typo in the link"}, format="json")
    assert (paused.json()["status"], paused.json()["status_reason"]) == ("paused", "typo in the link")
    assert sender.post(f"{url}/resume/").json()["status"] == "sending"
    assert sender.post(f"{url}/cancel/", {}, format="json").json()["status"] == "cancelled"
    assert sender.post(f"{url}/resume/").status_code == 409
    actions = list(
        AuditEvent.objects.filter(target_id=str(campaign.pk)).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["campaign.paused", "campaign.resumed", "campaign.cancelled"]


def test_pausing_a_draft_is_409(editor):
    campaign = CampaignFactory()
    response = editor.post(f"{CAMPAIGNS}{campaign.pk}/pause/", {}, format="json")
    assert response.status_code == 409
    assert "cannot become paused" in response.json()["detail"]


def test_reading_needs_the_view_permission(api_client):
    campaign = CampaignFactory()
    client = api_client("campaigns.add_campaign")
    assert client.get(CAMPAIGNS).status_code == 403
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/stats/").status_code == 403


def _preview_campaign():
    audience = ContactListFactory()
    campaign = CampaignFactory(body="Your order ships today – thanks!")
    campaign.lists.set([audience])
    opted_out = ContactFactory(status="unsubscribed", opted_out_at=timezone.now())
    for contact in (ContactFactory(), ContactFactory(), opted_out):
        contact_lists_add(contact=contact, contact_lists=[audience])
    SuppressionFactory(phone_number=ContactFactory().phone_number)  # suppressed, but not in the audience
    return campaign


def test_preview_gives_audience_exclusions_segments_cost_and_quiet_hours(editor, settings):
    campaign = _preview_campaign()
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(0, 0), time.max  # the whole day is allowed
    settings.QUIET_HOURS_RULES = dict.fromkeys(DEFAULT_QUIET_HOURS_RULES)  # and no federal or state rule narrows it
    response = editor.get(f"{CAMPAIGNS}{campaign.pk}/preview/")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "audience": {"total": 3, "eligible": 2, "excluded": {"opted_out": 1}, "duplicates": 0},
        "encoding": "UCS-2",
        "ucs2_characters": ["–"],
        "segments_per_message": 1,
        "segments_total": 2,
        "estimated_cost": "0.01100",
        "deferred_by_quiet_hours": 0,
        "uncertain_zone": 0,
        "waiting_for_common_window": 0,
        "no_common_quiet_window": 0,
        "message_too_long": 0,
        "capped": {},
        "waves": [],
    }


def test_preview_counts_recipients_quiet_hours_would_defer_now(editor, settings):
    campaign = _preview_campaign()
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(0, 0), time(0, 0)  # no moment is allowed
    assert editor.get(f"{CAMPAIGNS}{campaign.pk}/preview/").json()["deferred_by_quiet_hours"] == 2


def test_preview_refuses_the_anonymous_the_unpermitted_and_unknown_ids(api_client):
    campaign = _preview_campaign()
    assert APIClient().get(f"{CAMPAIGNS}{campaign.pk}/preview/").status_code == 401
    assert api_client("contacts.view_contact").get(f"{CAMPAIGNS}{campaign.pk}/preview/").status_code == 403
    assert api_client(*CRUD).get(f"{CAMPAIGNS}424242/preview/").status_code == 404


def test_preview_of_a_body_that_is_no_template_is_a_400_on_body(editor):
    campaign = CampaignFactory(body="Hi {{ first_name|nosuchfilter }}")  # written around the services
    campaign.lists.set([ContactListFactory()])
    response = editor.get(f"{CAMPAIGNS}{campaign.pk}/preview/")
    assert response.status_code == 400
    assert "body" in response.json()["errors"]
