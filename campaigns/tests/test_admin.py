"""The campaign pages of the admin: the draft form, the status buttons and who may press them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.services.drafts import OPT_OUT_FOOTER, campaign_draft_save
from campaigns.tests.admin_pages import action_url, change_url, confirm_through_preview
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
Status = Campaign.Status


def test_saving_a_draft_without_opt_out_wording_adds_the_footer_and_says_so(client, editor):
    client.force_login(editor)
    the_list = ContactListFactory()
    response = client.post(
        reverse("admin:campaigns_campaign_add"),
        {"name": "Autumn sale", "sender": "+14155550100", "lists": [the_list.pk], "body": "Sale today!"},
        follow=True,
    )
    campaign = Campaign.objects.get(name="Autumn sale")
    assert campaign.body == f"Sale today!\n{OPT_OUT_FOOTER}"
    assert campaign.created_by == editor and campaign.status == Status.DRAFT
    assert list(campaign.lists.all()) == [the_list]
    assert f"“{OPT_OUT_FOOTER}” was added" in response.content.decode()
    event = AuditEvent.objects.get(action="campaign.created")
    assert event.actor == editor and event.data["footer_added"] is True


def test_a_body_that_already_says_how_to_opt_out_is_left_alone(admin_user):
    campaign = CampaignFactory.build(body="Sale! Text STOP to unsubscribe")
    saved = campaign_draft_save(campaign=campaign, actor=admin_user, created=True)
    assert not saved.footer_added and saved.campaign.body == "Sale! Text STOP to unsubscribe"


def test_editing_a_campaign_the_engine_just_claimed_is_refused_and_changes_nothing(admin_user):
    campaign = CampaignFactory(status=Status.SENDING, sent_count=5)
    stale = Campaign.objects.get(pk=campaign.pk)
    stale.status = Status.DRAFT  # what the page showed when it was loaded
    stale.body = "Changed. Reply STOP to opt out"
    with pytest.raises(ApplicationError, match="no longer a draft"):
        campaign_draft_save(campaign=stale, actor=admin_user)
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING and campaign.sent_count == 5 and "Changed" not in campaign.body


def test_draft_form_has_the_live_counter_placeholders_and_no_cdn(admin_client):
    ContactFactory(attributes={"store": "Soho", "points": 12})
    page = admin_client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert "data-segment-counter" in page
    assert "campaigns/segment-counter.js" in page
    for placeholder in ["{{ first_name }}", "{{ last_name }}", "{{ points }}", "{{ store }}"]:
        assert placeholder in page
    assert OPT_OUT_FOOTER in page  # the note under the body says the footer will be added
    assert "//cdn" not in page and "https://" not in page.replace("https://www.djangoproject.com", "")


def test_a_sending_campaign_is_read_only_and_shows_its_segments(admin_client):
    campaign = CampaignFactory(status=Status.SENDING, body="We’re open " + "x" * 70)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'name="_save"' not in page and 'name="body"' not in page
    assert "’ forces UCS-2: 2 segments instead of 1" in page
    response = admin_client.post(change_url(campaign), {"name": "Renamed", "body": "x"})
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.name != "Renamed"


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        (Status.DRAFT, {"schedule", "send_now", "cancel"}),
        (Status.SCHEDULED, {"unschedule", "cancel"}),
        (Status.SENDING, {"pause", "cancel"}),
        (Status.PAUSED, {"resume", "cancel"}),
        (Status.COMPLETED, set()),
        (Status.CANCELLED, set()),
    ],
)
def test_a_manager_sees_only_the_buttons_the_status_allows(client, manager, status, buttons):
    client.force_login(manager)
    campaign = CampaignFactory(status=status)
    page = client.get(change_url(campaign)).content.decode()
    shown = {
        name
        for name in ["schedule", "send_now", "unschedule", "pause", "resume", "cancel"]
        if f'data-action="{name}"' in page
    }
    assert shown == buttons


def test_an_editor_sees_no_send_or_schedule_button_and_cannot_post_one(client, editor):
    client.force_login(editor)
    campaign = CampaignFactory()
    page = client.get(change_url(campaign)).content.decode()
    assert 'data-action="send_now"' not in page and 'data-action="schedule"' not in page
    assert client.post(action_url(campaign, "send_now")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_an_editor_may_pause_a_sending_campaign_but_not_resume_it(client, editor):
    client.force_login(editor)
    campaign = CampaignFactory(status=Status.SENDING)
    client.post(action_url(campaign, "pause"))
    campaign.refresh_from_db()
    assert campaign.status == Status.PAUSED
    assert client.post(action_url(campaign, "resume")).status_code == 403


def test_a_viewer_sees_no_button_and_every_action_is_refused(client, viewer):
    client.force_login(viewer)
    campaign = CampaignFactory(body="Party tonight ’ Reply STOP to opt out")
    page = client.get(change_url(campaign))
    assert "’ forces UCS-2 (1 segment either way)" in page.content.decode()  # the server-side count
    assert (
        page.status_code == 200 and b'id="campaign-actions"' not in page.content and b'name="_save"' not in page.content
    )
    for name in ["schedule", "send_now", "pause", "resume", "cancel", "unschedule"]:
        assert client.post(action_url(campaign, name)).status_code == 403
    assert client.post(change_url(campaign), {"name": "x", "body": "y"}).status_code == 403
    assert not AuditEvent.objects.exists()


def test_schedule_is_read_in_the_staff_members_timezone_and_audited(client, manager):
    client.force_login(manager)
    client.cookies["staff_tz"] = "Europe/Paris"
    campaign = CampaignFactory()
    when = timezone.now() + timedelta(days=2)
    paris = when.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    response = confirm_through_preview(client, campaign, "schedule", scheduled_at=paris.strftime("%Y-%m-%dT%H:%M"))
    assert response.redirect_chain[-1][0] == change_url(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    assert abs((campaign.scheduled_at - when).total_seconds()) < 60
    page = client.get(change_url(campaign)).content.decode()
    assert f"{paris:%Y-%m-%d %H:%M} (Europe/Paris)" in page
    event = AuditEvent.objects.get(action="campaign.scheduled")
    assert event.actor == manager and event.target_id == str(campaign.pk)


def test_a_schedule_in_the_past_is_refused_with_the_reason(client, manager):
    client.force_login(manager)
    campaign = CampaignFactory()
    past = timezone.localtime(timezone.now() - timedelta(days=1))
    response = confirm_through_preview(client, campaign, "schedule", scheduled_at=past.strftime("%Y-%m-%dT%H:%M"))
    assert "the schedule time must be in the future" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


@pytest.mark.parametrize(
    ("name", "from_status", "to_status", "audit_action"),
    [
        ("send_now", Status.DRAFT, Status.SCHEDULED, "campaign.send_now"),
        ("unschedule", Status.SCHEDULED, Status.DRAFT, "campaign.unscheduled"),
        ("pause", Status.SENDING, Status.PAUSED, "campaign.paused"),
        ("resume", Status.PAUSED, Status.SENDING, "campaign.resumed"),
        ("cancel", Status.SENDING, Status.CANCELLED, "campaign.cancelled"),
    ],
)
def test_each_button_moves_the_status_through_the_service_with_the_user_in_the_audit(
    client, manager, name, from_status, to_status, audit_action
):
    client.force_login(manager)
    campaign = CampaignFactory(status=from_status, scheduled_at=timezone.now())
    if name == "send_now":
        confirm_through_preview(client, campaign)
    else:
        client.post(action_url(campaign, name))
    campaign.refresh_from_db()
    assert campaign.status == to_status
    assert AuditEvent.objects.get(action=audit_action).actor == manager


def test_a_button_for_a_status_that_has_moved_on_says_why_and_changes_nothing(client, manager):
    client.force_login(manager)
    campaign = CampaignFactory(status=Status.COMPLETED)
    response = client.post(action_url(campaign, "pause"), follow=True)
    assert "completed; pause is not possible now" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.COMPLETED


def test_list_actions_follow_the_same_rules_campaign_by_campaign(client, manager, editor):
    sending, done = CampaignFactory(status=Status.SENDING), CampaignFactory(status=Status.COMPLETED)
    client.force_login(manager)
    response = client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "pause_selected", "_selected_action": [sending.pk, done.pk]},
        follow=True,
    )
    sending.refresh_from_db()
    done.refresh_from_db()
    assert (sending.status, done.status) == (Status.PAUSED, Status.COMPLETED)
    assert "pause is not possible now" in response.content.decode()
    client.force_login(editor)
    page = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert "pause_selected" in page and "resume_selected" not in page and "send_now_selected" not in page


def test_campaign_list_runs_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries, manager):
    CampaignFactory.create_batch(30, created_by=manager)
    with django_assert_max_num_queries(10):
        assert admin_client.get(reverse("admin:campaigns_campaign_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("typed", "stored"), [("(415) 555-0100", "+14155550100"), ("ACME Shop", "ACME Shop"), ("", "")]
)
def test_the_sender_is_cleaned_by_the_service_rule(client, editor, typed, stored):
    client.force_login(editor)
    data = {"name": "Sale", "sender": typed, "body": "Sale today. Reply STOP to opt out"}
    assert client.post(reverse("admin:campaigns_campaign_add"), data).status_code == 302
    assert Campaign.objects.get().sender == stored


def test_a_sender_that_is_neither_a_number_nor_an_id_is_a_form_error(client, editor):
    client.force_login(editor)
    data = {"name": "Sale", "sender": "+1 not-a-sender!", "body": "Sale today. Reply STOP to opt out"}
    response = client.post(reverse("admin:campaigns_campaign_add"), data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["sender"]
    assert error.startswith("the sender must be a phone number or an alphanumeric id of up to 11 characters")
    assert not Campaign.objects.exists()


def test_deleting_a_draft_goes_through_the_service_and_is_audited(client, manager):
    campaign = CampaignFactory()
    client.force_login(manager)
    assert (
        client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"}).status_code == 302
    )
    assert not Campaign.objects.exists()
    assert AuditEvent.objects.get(action="campaign.deleted").actor == manager


def test_the_lists_of_a_draft_the_engine_just_claimed_are_not_changed_either(admin_user):
    old, new = ContactListFactory(), ContactListFactory()
    campaign = CampaignFactory(status=Status.SENDING)
    campaign.lists.set([old])
    stale = Campaign.objects.get(pk=campaign.pk)
    stale.status = Status.DRAFT  # what the page showed when it was loaded
    with pytest.raises(ApplicationError, match="no longer a draft"):
        campaign_draft_save(campaign=stale, actor=admin_user, changed_fields=["lists"], lists=[new])
    assert list(campaign.lists.all()) == [old]


def test_changing_a_drafts_lists_in_the_admin_is_audited_with_the_draft(client, editor):
    old, new = ContactListFactory(), ContactListFactory()
    campaign = CampaignFactory()
    campaign.lists.set([old])
    client.force_login(editor)
    data = {"name": campaign.name, "sender": campaign.sender, "body": campaign.body, "lists": [new.pk]}
    assert client.post(change_url(campaign), data).status_code == 302
    assert list(campaign.lists.all()) == [new]
    event = AuditEvent.objects.get(action="campaign.edited")
    assert event.actor == editor and "lists" in event.data["fields"]
