from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.services.drafts import campaign_create, campaign_delete, campaign_update
from campaigns.services.lifecycle import (
    campaign_cancel,
    campaign_complete,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
)
from campaigns.tests.factories import CampaignFactory
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db
Status = Campaign.Status


def test_full_lifecycle_is_audited_with_the_actor(staff_user):
    campaign = CampaignFactory()
    campaign_schedule(campaign=campaign, scheduled_at=timezone.now() + timedelta(hours=1), actor=staff_user)
    campaign_launch(campaign=campaign)
    campaign_pause(campaign=campaign, actor=staff_user, reason="checking the copy")
    campaign_resume(campaign=campaign, actor=staff_user)
    campaign_complete(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.COMPLETED
    assert campaign.started_at and campaign.completed_at
    events = AuditEvent.objects.filter(target_id=str(campaign.pk)).order_by("id")
    assert [e.action for e in events] == [
        "campaign.scheduled",
        "campaign.launched",
        "campaign.paused",
        "campaign.resumed",
        "campaign.completed",
    ]
    assert events[0].actor_label == "staff"
    assert events[1].actor_label == "system"


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (Status.DRAFT, lambda c, u: campaign_pause(campaign=c, actor=u)),
        (Status.DRAFT, lambda c, u: campaign_resume(campaign=c, actor=u)),
        (Status.SENDING, lambda c, u: campaign_send_now(campaign=c, actor=u)),
        (Status.COMPLETED, lambda c, u: campaign_cancel(campaign=c, actor=u)),
        (Status.CANCELLED, lambda c, u: campaign_resume(campaign=c, actor=u)),
        (Status.PAUSED, lambda c, u: campaign_launch(campaign=c)),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(staff_user, start, action):
    campaign = CampaignFactory(status=start)
    with pytest.raises(ApplicationError) as excinfo:
        action(campaign, staff_user)
    assert excinfo.value.code == "illegal_transition"
    campaign.refresh_from_db()
    assert campaign.status == start
    assert not AuditEvent.objects.exists()


def test_a_stale_copy_cannot_move_a_campaign_another_process_already_moved(staff_user):
    campaign = CampaignFactory(status=Status.SENDING)
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_cancel(campaign=campaign, actor=staff_user)
    with pytest.raises(ApplicationError):
        campaign_pause(campaign=stale, actor=staff_user)
    assert Campaign.objects.get(pk=campaign.pk).status == Status.CANCELLED


def test_schedule_in_the_past_is_refused(staff_user):
    campaign = CampaignFactory()
    with pytest.raises(ApplicationError, match="future") as excinfo:
        campaign_schedule(campaign=campaign, scheduled_at=timezone.now() - timedelta(hours=1), actor=staff_user)
    assert excinfo.value.field == "scheduled_at"


def test_send_now_makes_the_campaign_due(staff_user):
    campaign = campaign_send_now(campaign=CampaignFactory(), actor=staff_user)
    assert campaign.status == Status.SCHEDULED
    assert campaign.scheduled_at <= timezone.now()


def test_empty_body_cannot_be_scheduled(staff_user):
    with pytest.raises(ApplicationError, match="no message body"):
        campaign_send_now(campaign=CampaignFactory(body="  "), actor=staff_user)


def test_campaign_create_stores_a_number_sender_as_e164_and_refuses_a_bad_one(staff_user):
    campaign = campaign_create(name="Sale", body="Hi", sender="(415) 555-0100", actor=staff_user)
    assert (campaign.sender, campaign.status, campaign.created_by) == ("+14155550100", Status.DRAFT, staff_user)
    assert campaign_create(name="Brand", body="Hi", sender="Acme").sender == "Acme"
    with pytest.raises(ApplicationError) as excinfo:
        campaign_create(name="Bad", body="Hi", sender="Acme Corporation Ltd")
    assert excinfo.value.field == "sender"


@pytest.mark.parametrize("state", [Status.SCHEDULED, Status.SENDING, Status.CANCELLED])
def test_only_a_draft_can_be_updated_or_deleted(state):
    campaign = CampaignFactory(status=state)
    with pytest.raises(ApplicationError) as excinfo:
        campaign_update(campaign=campaign, body="changed")
    assert excinfo.value.code == "illegal_transition"
    with pytest.raises(ApplicationError):
        campaign_delete(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).body != "changed"


def test_the_moves_allow_exactly_these_transitions_and_every_admin_button_is_one_of_them():
    from campaigns.admin import CAMPAIGN_ACTIONS

    S = Campaign.Status
    expected = {
        S.DRAFT: {S.SCHEDULED, S.CANCELLED},
        S.SCHEDULED: {S.DRAFT, S.SENDING, S.CANCELLED},
        S.SENDING: {S.PAUSED, S.COMPLETED, S.CANCELLED},
        S.PAUSED: {S.SENDING, S.CANCELLED},
        S.COMPLETED: set(),
        S.CANCELLED: set(),
    }
    allowed = {status: {to for froms, to in Campaign.MOVES.values() if status in froms} for status in S}
    assert allowed == expected
    assert set(CAMPAIGN_ACTIONS) <= set(Campaign.MOVES)
    # Resume starts from paused only, though a scheduled campaign also becomes sending (when it launches).
    assert Campaign.MOVES["resume"].from_statuses == {S.PAUSED}
