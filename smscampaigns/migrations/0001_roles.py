from django.db import migrations

from smscampaigns.roles import ROLES, roles_create


def create_roles(apps, schema_editor):
    roles_create(apps=apps, using=schema_editor.connection.alias)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


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
