from django.db import migrations

from smscampaigns.roles import roles_create


def roles_refresh(apps, schema_editor):
    # Managers, alone, get the event webhook endpoints and deliveries.
    roles_create(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_webhook_outbox"),
        ("smscampaigns", "0001_roles"),
        ("sends", "0007_campaignsend_skip_reason_no_common_quiet_window"),
    ]

    operations = [migrations.RunPython(roles_refresh, migrations.RunPython.noop)]
