from django.db import migrations

# What Django makes beside a text primary key on PostgreSQL, for LIKE 'prefix%' (varchar_pattern_ops); a
# short link is only ever looked up by its whole code, which the primary key serves.
LIKE_INDEX = "links_shortlink_code_83aa5716_like"


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE_INDEX}"')


def restore_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{LIKE_INDEX}" ON "links_shortlink" ("code" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("links", "0002_staff_test_links"),
    ]

    operations = [migrations.RunPython(drop_like_index, restore_like_index)]
