from django.db import migrations

# A code compared byte by byte ("C"), not by the database's locale: the fan-out sorts a million fresh codes and
# inserts them into the primary key in that order, and under a libc locale (even C.UTF-8, before PostgreSQL 17)
# every comparison of the sort and of the index goes through strcoll. Codes are case-sensitive opaque tokens
# of ASCII letters, digits, - and _, only ever compared whole, so nothing but speed changes: a million codes
# took about 2.5 s less to write. PostgreSQL only: SQLite has no collation of that name, and compares
# bytewise already.
ALTER = 'ALTER TABLE "links_shortlink" ALTER COLUMN "code" TYPE varchar(16) COLLATE "{collation}"'


def code_collation_c(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALTER.format(collation="C"))


def code_collation_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALTER.format(collation="default"))


class Migration(migrations.Migration):
    dependencies = [
        ("links", "0003_short_link_code_one_index"),
    ]

    operations = [migrations.RunPython(code_collation_c, code_collation_default)]
