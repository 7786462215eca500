"""The campaign form's audience in the admin: lists and segments, minus excluded lists and segments."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.tests.admin_pages import preview_url
from contacts.services.lists import contact_list_add_contacts
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, rules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def test_a_draft_saved_with_segments_and_exclusions_previews_that_audience(client, editor):
    client.force_login(editor)
    members, blocked = ContactListFactory(), ContactListFactory()
    on_list, blocked_one = ContactFactory(country="US"), ContactFactory(country="CA")
    ContactFactory(country="CA")  # in the segment only
    contact_list_add_contacts(contact_list=members, contact_ids=[on_list.pk])
    contact_list_add_contacts(contact_list=blocked, contact_ids=[blocked_one.pk])
    canadians = SegmentFactory(rules=rules([("country", "in", ["CA"])]))
    form = {"name": "Mixed", "sender": "+14155550100", "body": "Sale today! STOP to opt out"}
    audience = {"lists": [members.pk], "segments": [canadians.pk], "excluded_lists": [blocked.pk]}
    client.post(reverse("admin:campaigns_campaign_add"), {**form, **audience})

    campaign = Campaign.objects.get(name="Mixed")
    assert (list(campaign.segments.all()), list(campaign.excluded_lists.all())) == ([canadians], [blocked])
    page = client.get(preview_url(campaign)).content.decode()
    assert 'data-count="audience">2<' in page


def test_the_same_segment_included_and_excluded_is_refused_on_the_field(client, editor):
    client.force_login(editor)
    segment = SegmentFactory(name="Everyone in the US")
    response = client.post(
        reverse("admin:campaigns_campaign_add"),
        {"name": "Odd", "body": "Hi. STOP to opt out", "segments": [segment.pk], "excluded_segments": [segment.pk]},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["excluded_segments"] == ["the segments 'Everyone in the US' are both included and excluded"]
    assert not Campaign.objects.filter(name="Odd").exists()
