import django.db.models.deletion
from django.db import migrations, models

# The index Django made for the foreign key; consent_event_contact_idx (contact, -created_at) covers it.
INDEX = "contacts_consentevent_contact_id_3cb04190"


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0009_suppression_contact_by_number"),
    ]

    operations = [
        # Only the index goes: AlterField would also drop and re-add the foreign key, which re-checks every
        # consent event while both tables are locked.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="consentevent",
                    name="contact",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="consent_events",
                        to="contacts.contact",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "contacts_consentevent" ("contact_id")',
                ),
            ],
        ),
    ]
