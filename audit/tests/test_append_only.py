import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import audit_record
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger is installed on PostgreSQL only"
)


@pytest.fixture
def event(admin_user):
    return audit_record(actor=admin_user, action="contact.opted_out", target=ContactFactory())


def _refused(statement) -> str:
    with pytest.raises(DatabaseError) as refused, transaction.atomic():
        statement()
    return str(refused.value)


@postgresql_only
def test_the_database_refuses_to_change_an_audit_entry(event):
    message = _refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(action="contact.opted_in"))
    assert "the audit trail is append-only: UPDATE" in message
    assert AuditEvent.objects.get(pk=event.pk).action == "contact.opted_out"


@postgresql_only
def test_the_database_refuses_to_delete_an_audit_entry(event):
    assert "the audit trail is append-only: DELETE" in _refused(lambda: AuditEvent.objects.filter(pk=event.pk).delete())
    assert "append-only: DELETE" in _refused(lambda: event.delete())
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@postgresql_only
def test_raw_sql_is_refused_too(event):
    def raw_update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s", [event.pk])

    assert "append-only: UPDATE" in _refused(raw_update)


@postgresql_only
def test_clearing_the_actor_together_with_anything_else_is_refused(event):
    update = AuditEvent.objects.filter(pk=event.pk).update
    assert "append-only: UPDATE" in _refused(lambda: update(actor=None, actor_label="nobody"))


def test_deleting_a_staff_user_keeps_their_entries_and_who_they_were(event, admin_user):
    admin_user.delete()
    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_label == "admin"
    assert event.action == "contact.opted_out"


def test_no_permission_to_write_the_audit_trail_exists_to_be_granted(django_user_model):
    from django.contrib.auth.models import Permission

    codenames = set(Permission.objects.filter(content_type__app_label="audit").values_list("codename", flat=True))
    assert codenames == {"view_auditevent"}
