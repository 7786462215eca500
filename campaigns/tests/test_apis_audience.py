"""/api/v1/campaigns/ with segments and exclusions: a draft's audience given, changed, refused, previewed."""

import pytest

from campaigns.models import Campaign
from contacts.services.lists import contact_list_add_contacts
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, rules

pytestmark = pytest.mark.django_db
CAMPAIGNS = "/api/v1/campaigns/"
CRUD = ("campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign")


@pytest.fixture
def editor(api_client):
    return api_client(*CRUD)


def test_a_draft_takes_segments_and_exclusions_and_previews_its_audience(editor):
    members, blocked = ContactListFactory(), ContactListFactory()
    ann, bob = ContactFactory(country="US"), ContactFactory(country="US")
    ContactFactory(country="CA")  # Cy
    contact_list_add_contacts(contact_list=members, contact_ids=[ann.pk])
    contact_list_add_contacts(contact_list=blocked, contact_ids=[bob.pk])
    canadians = SegmentFactory(rules=rules([("country", "in", ["CA"])]))
    americans = SegmentFactory(rules=rules([("country", "in", ["US"])]))
    created = editor.post(
        CAMPAIGNS,
        {
            "name": "Mixed",
            "body": "Sale today",
            "lists": [members.pk],
            "segments": [canadians.pk, americans.pk],
            "excluded_lists": [blocked.pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["lists"], sorted(body["segments"]), body["excluded_lists"], body["excluded_segments"]) == (
        [members.pk],
        sorted([canadians.pk, americans.pk]),
        [blocked.pk],
        [],
    )
    preview = editor.get(f"{CAMPAIGNS}{body['id']}/preview/").json()["audience"]
    assert (preview["total"], preview["eligible"], preview["duplicates"]) == (2, 2, 0)  # Ann and Cy, once each

    changed = editor.patch(f"{CAMPAIGNS}{body['id']}/", {"excluded_segments": [canadians.pk]}, format="json")
    assert changed.status_code == 400  # Canadians both included and excluded
    assert changed.json()["errors"] == {
        "excluded_segments": [f"the segments {canadians.name!r} are both included and excluded"]
    }
    assert editor.patch(f"{CAMPAIGNS}{body['id']}/", {"segments": [americans.pk]}, format="json").status_code == 200
    excluded = editor.patch(f"{CAMPAIGNS}{body['id']}/", {"excluded_segments": [canadians.pk]}, format="json")
    assert excluded.status_code == 200
    campaign = Campaign.objects.get(pk=body["id"])
    assert list(campaign.excluded_segments.all()) == [canadians]
    assert editor.get(f"{CAMPAIGNS}{body['id']}/preview/").json()["audience"]["total"] == 1  # Ann; Bob is blocked


@pytest.mark.parametrize("field", ["segments", "excluded_segments"])
def test_an_unknown_segment_is_refused_where_it_is(editor, field):
    answer = editor.post(CAMPAIGNS, {"name": "x", "body": "hi", field: [424242]}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == [f"{field}.0"]


def test_a_quick_send_takes_no_segments(api_client):
    client = api_client(
        *CRUD,
        "campaigns.send_campaign",
        "contacts.add_contact",
        "contacts.change_contact",
        "contacts.add_contactlist",
    )
    answer = client.post(
        CAMPAIGNS,
        {
            "recipients": ["+14155550123"],
            "body": "hi",
            "consent_source": "form",
            "send": True,
            "segments": [SegmentFactory().pk],
        },
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"segments": ["give either segments or recipients, not both"]}
