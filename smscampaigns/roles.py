"""The staff roles of the back office, as auth groups: Marketing manager, Marketing editor, Viewer.

Created by the smscampaigns.0001_roles migration. Idempotent: a later migration that adds models calls
roles_create() again so that the roles cover them, and tests call it where a flushed database lost them.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

MANAGER = "Marketing manager"
EDITOR = "Marketing editor"
VIEWER = "Viewer"
ROLES = (MANAGER, EDITOR, VIEWER)

# The apps whose models staff work with in the admin.
APPS = ("contacts", "campaigns", "sends", "audit", "conversations")


def role_permissions(Permission) -> dict:
    """{group name: permission queryset}, by role: managers send, editors draft and edit, viewers read."""
    in_apps = Permission.objects.filter(content_type__app_label__in=APPS)
    view_only = in_apps.filter(codename__startswith="view_")
    return {
        # Everything, including campaigns.send_campaign (send, schedule, resume).
        MANAGER: in_apps,
        # Contacts in full, campaign drafts (add and change, not delete: a campaign is history once sent),
        # everything else read-only; never send, schedule or resume.
        EDITOR: in_apps.filter(content_type__app_label="contacts")
        | in_apps.filter(content_type__app_label="campaigns", codename__in=["add_campaign", "change_campaign"])
        # The inbox: reply, assign, mark done, leave notes.
        | in_apps.filter(content_type__app_label="conversations").exclude(codename__startswith="delete_")
        | view_only,
        VIEWER: view_only,
    }


def roles_create(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create or refresh the three groups with their permissions (`apps`: a migration's historical apps)."""
    # Permissions are normally created after the last migration (post_migrate); make sure they exist now.
    for app_config in apps.get_app_configs():
        had_models = getattr(app_config, "models_module", None)
        app_config.models_module = had_models or True  # create_permissions skips configs without one
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = had_models
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in role_permissions(Permission).items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions.using(using).distinct())
