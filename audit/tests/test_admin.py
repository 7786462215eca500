import pytest

from audit.services import audit_record
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_nobody_can_edit_or_delete_the_audit_trail_in_the_admin(admin_client, admin_user):
    event = audit_record(actor=admin_user, action="contact.opted_out", target=ContactFactory())
    page = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403


def test_the_audit_trail_list_offers_no_action_not_even_to_a_superuser(admin_client, admin_user):
    event = audit_record(actor=admin_user, action="contact.opted_out", target=ContactFactory())
    page = admin_client.get("/admin/audit/auditevent/")
    assert page.status_code == 200
    assert b'name="action"' not in page.content
    refused = admin_client.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert refused.status_code in (200, 302)
    assert type(event).objects.filter(pk=event.pk).exists()
    edited = admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "contact.opted_in"})
    assert edited.status_code == 403
    event.refresh_from_db()
    assert event.action == "contact.opted_out"
