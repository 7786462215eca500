"""The audit trail is append-only: no permission to change it exists, and PostgreSQL refuses to.

The trigger refuses every UPDATE and DELETE on audit_auditevent, with one exception: setting actor_id to
NULL and nothing else, which is what deleting a staff user does to their entries (on_delete=SET_NULL);
actor_label still says who it was. TRUNCATE is left alone: it is what test runs and a full restore use.
"""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of audit_auditevent % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""

APPEND_ONLY_DROP = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""


def append_only_install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def append_only_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_DROP, params=None)


def write_permissions_delete(apps, schema_editor):
    """The add, change and delete permissions made before: granted to no one from now on."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    alias = schema_editor.connection.alias
    content_type = ContentType.objects.using(alias).filter(app_label="audit", model="auditevent").first()
    if content_type is not None:
        Permission.objects.using(alias).filter(
            content_type=content_type,
            codename__in=["add_auditevent", "change_auditevent", "delete_auditevent"],
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={"default_permissions": ("view",), "ordering": ["-created_at", "-id"]},
        ),
        migrations.RunPython(write_permissions_delete, migrations.RunPython.noop),
        migrations.RunPython(append_only_install, append_only_drop),
    ]
