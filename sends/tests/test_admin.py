"""Inbound messages and the audit trail in the admin: listed with what was done, never edited."""

import pytest
from django.contrib.auth.models import Group

from audit.models import AuditEvent
from audit.services import audit_record
from contacts.tests.factories import ContactFactory
from sends.models import InboundMessage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def inbound(text: str, action: str, contact=None) -> InboundMessage:
    return InboundMessage.objects.create(
        from_number=str(contact.phone_number) if contact else "+14155550177",
        to_number="+14155550100",
        text=text,
        action=action,
        contact=contact,
    )


def test_inbound_list_shows_the_action_taken_and_filters_by_it(admin_client):
    contact = ContactFactory(first_name="Ann", last_name="Lee")
    stop = inbound("STOP", InboundMessage.Action.OPT_OUT, contact)
    inbound("hello?", InboundMessage.Action.NONE)
    page = admin_client.get("/admin/sends/inboundmessage/")
    assert "Opt-out" in page.content.decode() and "Ann Lee" in page.content.decode()
    filtered = admin_client.get("/admin/sends/inboundmessage/", {"action__exact": "opt-out"})
    assert list(filtered.context["cl"].result_list) == [stop]


def test_inbound_messages_cannot_be_added_edited_or_deleted(admin_client):
    message = inbound("HELP", InboundMessage.Action.HELP)
    assert admin_client.get("/admin/sends/inboundmessage/add/").status_code == 403
    page = admin_client.get(f"/admin/sends/inboundmessage/{message.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/sends/inboundmessage/{message.pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize("group", ["Marketing manager", "Marketing editor", "Viewer"])
def test_every_role_may_read_the_audit_trail_and_none_may_change_it(client, django_user_model, admin_user, group):
    user = django_user_model.objects.create_user("u", password="pw-123-abc!", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    event = audit_record(actor=admin_user, action="campaign.paused", target=ContactFactory())
    assert client.get("/admin/audit/auditevent/").status_code == 200
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "nothing.happened"})
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "campaign.paused"
