"""The API of number lookups and of a campaign's sender pool."""

import pytest

from campaigns.models import Campaign, PoolNumber, SenderPool
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from sends.models import LookupRun
from sends.services.lookups import lookup_run_execute

pytestmark = [pytest.mark.django_db]
LOOKUP = ("contacts.view_contact", "contacts.view_contactlist", "sends.add_lookuprun", "sends.view_lookuprun")


def test_contact_lookup_then_cached_and_fields_on_the_contact(api_client, plivo_simulator):
    client = api_client(*LOOKUP)
    contact = ContactFactory(phone_number=fictional_number(2307))
    first = client.post(f"/api/v1/contacts/{contact.pk}/lookup/").json()
    assert (first["looked_up"], first["line_type"], first["lookup_country"]) == (True, "fixed", "US")
    again = client.post(f"/api/v1/contacts/{contact.pk}/lookup/").json()
    assert again["looked_up"] is False and again["looked_up_at"] == first["looked_up_at"]
    assert plivo_simulator.stats()["lookups"] == 1
    shown = client.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert shown["line_type"] == "fixed" and shown["carrier"] and shown["number_ported"] in (True, False)


def test_contact_lookup_failure_is_a_clear_error_not_a_500(api_client, plivo_simulator):
    plivo_simulator.set_faults(account_error=402)
    contact = ContactFactory(phone_number=fictional_number(2301))
    response = api_client(*LOOKUP).post(f"/api/v1/contacts/{contact.pk}/lookup/")
    assert response.status_code == 400
    assert "lookup of +14155552301 failed" in response.json()["detail"]


def test_list_lookup_runs_in_the_background_with_its_progress(
    api_client, plivo_simulator, django_capture_on_commit_callbacks
):
    client = api_client(*LOOKUP)
    contact_list = ContactListFactory()
    for i in range(3):
        ContactFactory(phone_number=fictional_number(2310 + i)).lists.add(contact_list)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/lists/{contact_list.pk}/lookup/")
    assert response.status_code == 202
    run = response.json()
    assert (run["status"], run["total"], run["estimated_cost"]) == ("pending", 3, "0.01200")
    lookup_run_execute(run_id=run["id"])  # what the Celery task does
    done = client.get(f"/api/v1/lookups/{run['id']}/").json()
    assert (done["status"], done["looked_up"], done["percent_done"]) == ("done", 3, 100)
    assert LookupRun.objects.get().created_by is not None
    assert client.post("/api/v1/lists/987654/lookup/").status_code == 404


def test_lookups_need_the_lookup_permission(api_client):
    contact = ContactFactory()
    assert api_client("contacts.view_contact").post(f"/api/v1/contacts/{contact.pk}/lookup/").status_code == 403


def test_a_campaign_takes_a_sender_pool_and_refuses_both(api_client):
    client = api_client("campaigns.add_campaign", "campaigns.change_campaign", "campaigns.view_campaign")
    pool = SenderPool.objects.create(name="pool")
    PoolNumber.objects.create(pool=pool, number="+14155550190")
    created = client.post("/api/v1/campaigns/", {"name": "Pooled", "body": "Hi", "sender_pool": pool.pk}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["sender_pool"] == pool.pk
    campaign = Campaign.objects.get()
    both = client.patch(f"/api/v1/campaigns/{campaign.pk}/", {"sender": "+14155550100"}, format="json")
    assert both.status_code == 400
    assert "sender_pool" in both.json()["errors"]
    cleared = client.patch(f"/api/v1/campaigns/{campaign.pk}/", {"sender_pool": None, "sender": "+14155550100"},
                           format="json")  # fmt: skip
    assert cleared.status_code == 200 and cleared.json()["sender_pool"] is None
    unknown = client.patch(f"/api/v1/campaigns/{campaign.pk}/", {"sender_pool": 98765}, format="json")
    assert unknown.status_code == 400
