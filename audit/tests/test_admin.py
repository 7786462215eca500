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
