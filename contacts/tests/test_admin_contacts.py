"""The contacts pages of the admin: search by number in any format, bulk actions, the contact's history."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from contacts.models import Contact, ContactListMembership, Suppression
from contacts.services.consent import contact_opt_out
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
CHANGELIST = "/admin/contacts/contact/"


@pytest.mark.parametrize("typed", ["(415) 555-0199", "415.555.0199", "+1 415 555 0199", "4155550199"])
def test_search_finds_a_contact_by_its_number_in_any_format(admin_client, typed):
    wanted = ContactFactory(phone_number="+14155550199", first_name="Ann")
    ContactFactory(phone_number="+14155550198", first_name="Bob")
    page = admin_client.get(CHANGELIST, {"q": typed})
    assert list(page.context["cl"].result_list) == [wanted]


def test_search_falls_back_to_names_when_it_is_not_a_number(admin_client):
    ann = ContactFactory(first_name="Annabel", last_name="Lee")
    ContactFactory(first_name="Bob")
    assert list(admin_client.get(CHANGELIST, {"q": "annab"}).context["cl"].result_list) == [ann]
    assert list(admin_client.get(CHANGELIST, {"q": "Lee 2"}).context["cl"].result_list) == []


def test_list_filters_by_list_status_consent_source_and_country(admin_client):
    vip = ContactListFactory(name="VIP")
    on_list = ContactFactory(country="US", consent_source="shop till")
    on_list.lists.add(vip)
    ContactFactory(country="FR", phone_number="+33612345678", consent_source="web form")
    page = admin_client.get(
        CHANGELIST, {"lists__id__exact": vip.pk, "status": "subscribed", "consent_source": "shop till", "country": "US"}
    )
    assert list(page.context["cl"].result_list) == [on_list]
    assert page.context["cl"].show_full_result_count is False


def test_bulk_add_to_and_remove_from_a_list_asks_which_list_then_audits(admin_client, admin_user):
    contacts = ContactFactory.create_batch(3)
    the_list = ContactListFactory()
    selected = [c.pk for c in contacts]
    ask = admin_client.post(CHANGELIST, {"action": "add_to_list", "_selected_action": selected})
    assert ask.status_code == 200 and b"Add contacts to a list" in ask.content
    admin_client.post(
        CHANGELIST, {"action": "add_to_list", "_selected_action": selected, "apply": "yes", "contact_list": the_list.pk}
    )
    assert ContactListMembership.objects.filter(contact_list=the_list).count() == 3
    admin_client.post(
        CHANGELIST,
        {"action": "remove_from_list", "_selected_action": selected[:2], "apply": "yes", "contact_list": the_list.pk},
    )
    assert list(the_list.contacts.all()) == [contacts[2]]
    events = AuditEvent.objects.filter(target_type="contacts.contactlist").order_by("id")
    assert [(e.action, e.data["count"], e.actor) for e in events] == [
        ("contact_list.contacts_added", 3, admin_user),
        ("contact_list.contacts_removed", 2, admin_user),
    ]


def test_bulk_opt_out_requires_a_reason_and_suppresses_each_number(admin_client, admin_user):
    contacts = ContactFactory.create_batch(2)
    selected = [c.pk for c in contacts]
    refused = admin_client.post(
        CHANGELIST, {"action": "opt_out", "_selected_action": selected, "apply": "yes", "reason": ""}
    )
    assert refused.status_code == 200 and b"This field is required" in refused.content
    assert not Contact.objects.filter(status="unsubscribed").exists()
    admin_client.post(
        CHANGELIST, {"action": "opt_out", "_selected_action": selected, "apply": "yes", "reason": "asked by phone"}
    )
    for contact in contacts:
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED and contact.opt_out_source == "staff: asked by phone"
        assert Suppression.objects.filter(phone_number=contact.phone_number, reason="opt-out").exists()
    assert AuditEvent.objects.filter(action="contact.opted_out", actor=admin_user).count() == 2


@pytest.mark.parametrize(("group", "allowed"), [("Viewer", False), ("Marketing editor", True)])
def test_bulk_opt_out_is_for_editors_not_viewers(client, django_user_model, group, allowed):
    user = django_user_model.objects.create_user("u", password="pw-123-abc!", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    contact = ContactFactory()
    page = client.get(CHANGELIST).content.decode()
    assert ("opt_out" in page and "add_to_list" in page) is allowed
    client.post(CHANGELIST, {"action": "opt_out", "_selected_action": [contact.pk], "apply": "yes", "reason": "x"})
    contact.refresh_from_db()
    assert (contact.status == Contact.Status.UNSUBSCRIBED) is allowed


def test_contact_list_page_runs_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    vip = ContactListFactory()
    for contact in ContactFactory.create_batch(30):
        contact.lists.add(vip)
    with django_assert_max_num_queries(12):
        assert admin_client.get(CHANGELIST).status_code == 200


def test_contact_page_shows_consent_opt_out_history_inbound_texts_and_sends(admin_client, admin_user):
    from campaigns.tests.factories import CampaignFactory
    from sends.models import InboundMessage
    from sends.tests.factories import CampaignSendFactory

    contact = ContactFactory(consent_source="shop till", consent_text="Yes, text me offers")
    for n in range(5):
        CampaignSendFactory(contact=contact, campaign=CampaignFactory(name=f"Promo {n}"), body=f"Offer {n}")
    InboundMessage.objects.create(
        from_number=str(contact.phone_number),
        to_number="+14155550100",
        text="STOP",
        action=InboundMessage.Action.OPT_OUT,
        contact=contact,
    )
    contact_opt_out(contact=contact, source="inbound STOP", actor=admin_user)
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url).content.decode()
    for text in [
        "shop till",
        "Yes, text me offers",
        "contact.opted_out",
        "inbound STOP",
        "“STOP”",
        "Opt-out",
        "Promo 0",
        "Promo 4",
        "“Offer 3”",
    ]:
        assert text in page, text
    sends_queries = [q for q in queries.captured_queries if "sends_campaignsend" in q["sql"]]
    assert len(sends_queries) == 1  # campaigns joined, not fetched one by one
