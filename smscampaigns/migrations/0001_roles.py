"""The staff roles of the back office, as auth groups: Marketing manager, Marketing editor, Viewer.

Permissions are created by a post_migrate handler, i.e. only after every migration has run; on a fresh
database they do not exist yet here, so create_permissions is called for the apps first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The apps whose models staff work with in the admin.
APPS = ("contacts", "campaigns", "sends", "audit")
SEND = ("campaigns", "send_campaign")


def role_permissions(Permission):
    """{group name: permission queryset}, from the rules of issue 8."""
    in_apps = Permission.objects.filter(content_type__app_label__in=APPS)
    view_only = in_apps.filter(codename__startswith="view_")
    return {
        # Everything, including sending, scheduling and resuming campaigns.
        "Marketing manager": in_apps,
        # Contacts in full, campaign drafts (add/change, not delete: a campaign is history once sent),
        # everything else read-only; never send, schedule or resume.
        "Marketing editor": in_apps.filter(content_type__app_label="contacts")
        | in_apps.filter(content_type__app_label="campaigns", codename__in=["add_campaign", "change_campaign"])
        | view_only,
        "Viewer": view_only,
    }


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips app configs without models
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in role_permissions(Permission).items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions.distinct())


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Marketing manager", "Marketing editor", "Viewer"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0002_contact_import"),
        ("campaigns", "0001_initial"),
        ("sends", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
