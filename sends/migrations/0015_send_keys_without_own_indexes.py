import django.db.models.deletion
from django.db import migrations, models

# The indexes Django made for the two foreign keys; send_campaign_status_idx, unique_send_per_contact and
# send_contact_idx start with the same columns.
CAMPAIGN_INDEX = "sends_campaignsend_campaign_id_8a23545f"
CONTACT_INDEX = "sends_campaignsend_contact_id_45d903ef"


class Migration(migrations.Migration):
    dependencies = [
        ("sends", "0014_delivery_report_no_uuid_index"),
    ]

    operations = [
        # Only the indexes go: AlterField would also drop and re-add each foreign key, which re-checks every
        # send while the tables are locked.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="campaignsend",
                    name="campaign",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sends",
                        to="campaigns.campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="campaignsend",
                    name="contact",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="sends",
                        to="contacts.contact",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{CAMPAIGN_INDEX}"',
                    f'CREATE INDEX IF NOT EXISTS "{CAMPAIGN_INDEX}" ON "sends_campaignsend" ("campaign_id")',
                ),
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{CONTACT_INDEX}"',
                    f'CREATE INDEX IF NOT EXISTS "{CONTACT_INDEX}" ON "sends_campaignsend" ("contact_id")',
                ),
            ],
        ),
    ]
