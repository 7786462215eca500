"""Campaigns whose audience has segments and exclusions, through the send engine: a segment is evaluated when
the campaign goes (not when it is scheduled), exclusions leave people out with no send at all, everyone is
texted once, and the preview counts what the fan-out then does."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_audience_breakdown
from campaigns.services.drafts import campaign_create, campaign_update
from campaigns.services.lifecycle import campaign_schedule, campaign_send_now
from contacts.models import Contact, CustomField, Segment
from contacts.services.contacts import contact_update
from contacts.services.custom_fields import custom_field_create, custom_field_delete
from contacts.services.lists import contact_list_add_contacts
from contacts.services.segments import segment_delete
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, rules
from sends.models import CampaignSend
from sends.tests.factories import CampaignSendFactory
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
BODY = "Hi {{ first_name }}, sale today. STOP to opt out"


def sent_to(outbox) -> Counter:
    return Counter(number for message in outbox for number in message.destinations)


def number(contact: Contact) -> str:
    return str(contact.phone_number)


def test_a_segment_is_evaluated_when_the_campaign_goes_not_when_it_is_scheduled(
    staff_user, run_engine, sms_outbox, daytime
):
    early = ContactFactory(first_name="Zoe")
    leaver = ContactFactory(first_name="Zora")
    ContactFactory(first_name="Ann")
    zs = SegmentFactory(rules=rules([("first_name", "starts_with", "zo")]))
    campaign = campaign_create(name="Zs", body=BODY, segments=[zs], actor=staff_user)
    campaign_schedule(campaign=campaign, scheduled_at=timezone.now() + timedelta(hours=1), actor=staff_user)

    late = ContactFactory(first_name="Zoltan")  # matches only after the scheduling
    contact_update(contact=leaver, first_name="Laura")  # matched when scheduled, no longer when it goes
    daytime.shift(timedelta(hours=2))
    run_engine()

    assert sent_to(sms_outbox) == Counter([number(early), number(late)])
    assert not CampaignSend.objects.filter(contact=leaver).exists()


def test_audience_is_lists_and_segments_minus_excluded_lists_and_segments_each_person_once(
    staff_user, run_engine, sms_outbox
):
    members, blocked = ContactListFactory(), ContactListFactory()
    on_list = ContactFactory(country="US")
    on_list_and_in_segment = ContactFactory(country="CA")
    in_segment = ContactFactory(country="CA")
    on_blocked_list = ContactFactory(country="CA")
    texted_lately = ContactFactory(country="CA")
    opted_out = ContactFactory(country="CA", status=Contact.Status.UNSUBSCRIBED, opted_out_at=timezone.now())
    ContactFactory(country="MX")  # in nothing
    contact_list_add_contacts(contact_list=members, contact_ids=[on_list.pk, on_list_and_in_segment.pk])
    contact_list_add_contacts(contact_list=blocked, contact_ids=[on_blocked_list.pk])
    CampaignSendFactory(contact=texted_lately, status=S.SENT, sent_at=timezone.now() - timedelta(days=1))
    canadians = SegmentFactory(rules=rules([("country", "in", ["CA"])]))
    recently_texted = SegmentFactory(rules=rules([("texted", "in_last_days", 7)]))
    campaign = campaign_create(
        name="Mixed",
        body=BODY,
        lists=[members],
        segments=[canadians],
        excluded_lists=[blocked],
        excluded_segments=[recently_texted],
        actor=staff_user,
    )

    breakdown = campaign_audience_breakdown(campaign=campaign)
    assert (breakdown.total, breakdown.eligible, breakdown.excluded, breakdown.duplicates) == (
        4,
        3,
        {"opted_out": 1},
        0,
    )
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine()

    assert sent_to(sms_outbox) == Counter(map(number, [on_list, on_list_and_in_segment, in_segment]))
    sends = dict(CampaignSend.objects.filter(campaign=campaign).values_list("contact_id", "skip_reason"))
    assert sends == {on_list.pk: "", on_list_and_in_segment.pk: "", in_segment.pk: "", opted_out.pk: "opted_out"}
    campaign.refresh_from_db()
    assert (campaign.recipients_count, campaign.skipped_by_reason) == (4, {"opted_out": 1})


def test_duplicates_count_only_people_of_the_audience_on_several_lists(staff_user):
    first, second = ContactListFactory(), ContactListFactory()
    twice, excluded_twice = ContactFactory(), ContactFactory(country="CA")
    contact_list_add_contacts(contact_list=first, contact_ids=[twice.pk, excluded_twice.pk])
    contact_list_add_contacts(contact_list=second, contact_ids=[twice.pk, excluded_twice.pk])
    canadians = SegmentFactory(rules=rules([("country", "in", ["CA"])]))
    campaign = campaign_create(
        name="Twice", body=BODY, lists=[first, second], excluded_segments=[canadians], actor=staff_user
    )
    breakdown = campaign_audience_breakdown(campaign=campaign)
    assert (breakdown.total, breakdown.duplicates) == (1, 1)


def test_a_list_or_segment_both_included_and_excluded_is_refused(staff_user):
    segment, contact_list = SegmentFactory(), ContactListFactory()
    with pytest.raises(ApplicationError, match="both included and excluded") as refused:
        campaign_create(name="X", body=BODY, segments=[segment], excluded_segments=[segment], actor=staff_user)
    assert refused.value.field == "excluded_segments"
    campaign = campaign_create(name="Y", body=BODY, lists=[contact_list], actor=staff_user)
    with pytest.raises(ApplicationError, match="both included and excluded"):
        campaign_update(campaign=campaign, excluded_lists=[contact_list], actor=staff_user)


def test_a_segment_a_campaign_not_yet_finished_uses_cannot_be_deleted(staff_user, api_client):
    shielded = SegmentFactory(name="Recently texted")
    campaign = campaign_create(
        name="Careful", body=BODY, lists=[ContactListFactory()], excluded_segments=[shielded], actor=staff_user
    )
    segment_delete(segment=shielded)  # a draft's audience is not decided yet: it simply loses the segment
    shielded = SegmentFactory(name="Recently texted")
    campaign_update(campaign=campaign, excluded_segments=[shielded], actor=staff_user)
    campaign_schedule(campaign=campaign, scheduled_at=timezone.now() + timedelta(hours=1), actor=staff_user)

    with pytest.raises(ApplicationError, match="campaigns not yet finished uses it \\('Careful'\\)"):
        segment_delete(segment=shielded)
    client = api_client("contacts.delete_segment")
    answer = client.delete(f"/api/v1/segments/{shielded.pk}/")
    assert answer.status_code == 409
    assert "'Careful'" in answer.json()["detail"]
    assert Segment.objects.filter(pk=shielded.pk).exists()


def test_a_campaign_whose_segment_no_longer_holds_goes_back_to_draft_and_others_still_launch(
    staff_user, run_engine, sms_outbox, daytime
):
    score = custom_field_create(key="score", label="Score", type=CustomField.Type.NUMBER)
    high = SegmentFactory(
        rules={
            "groups": [
                {"conditions": [{"field": "custom_field", "key": "score", "operator": "greater_than", "value": 5}]}
            ]
        }
    )
    broken = campaign_create(
        name="Broken", body=BODY, lists=[ContactListFactory()], excluded_segments=[high], actor=staff_user
    )
    campaign_schedule(campaign=broken, scheduled_at=timezone.now() + timedelta(minutes=1), actor=staff_user)
    fine_list = ContactListFactory()
    reached = ContactFactory()
    contact_list_add_contacts(contact_list=fine_list, contact_ids=[reached.pk])
    fine = campaign_create(name="Fine", body=BODY, lists=[fine_list], actor=staff_user)
    campaign_schedule(campaign=fine, scheduled_at=timezone.now() + timedelta(minutes=2), actor=staff_user)

    custom_field_delete(custom_field=score)  # the excluded segment now names a field that is gone
    with pytest.raises(ApplicationError, match="no custom field with key 'score'"):
        campaign_send_now(
            campaign=campaign_create(name="X", body=BODY, segments=[high], actor=staff_user), actor=staff_user
        )
    daytime.shift(timedelta(minutes=5))
    run_engine()

    broken.refresh_from_db()
    assert broken.status == Campaign.Status.DRAFT
    assert "the rules of segment" in broken.status_reason and "no custom field with key 'score'" in broken.status_reason
    assert not CampaignSend.objects.filter(campaign=broken).exists()
    assert sent_to(sms_outbox) == Counter([number(reached)])
