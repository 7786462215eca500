from django.db import migrations, models
from django.db.models import Count

INDEX = models.Index(
    condition=models.Q(("error_code", ""), _negated=True),
    fields=["campaign", "error_code", "id"],
    name="send_campaign_error_idx",
)


def index_create(apps, schema_editor):
    """On PostgreSQL, built CONCURRENTLY: a plain CREATE INDEX would block every write to the sends (dispatch,
    delivery reports) for as long as the build takes on a live table."""
    model = apps.get_model("sends", "CampaignSend")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def index_drop(apps, schema_editor):
    model = apps.get_model("sends", "CampaignSend")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


def failed_by_error_code_fill(apps, schema_editor):
    """Campaigns that failed sends before the counter existed get it from their sends, once."""
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignSend = apps.get_model("sends", "CampaignSend")
    counts: dict[int, dict[str, int]] = {}
    rows = (
        CampaignSend.objects.filter(status__in=["failed", "undelivered"])
        .values("campaign_id", "error_code")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["campaign_id"], {})[row["error_code"]] = row["n"]
    for campaign_id, by_code in counts.items():
        Campaign.objects.filter(pk=campaign_id).update(failed_by_error_code=by_code)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction; the backfill below has one of its own.
    atomic = False

    dependencies = [
        ('campaigns', '0002_campaign_failed_by_error_code'),
        ('sends', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="campaignsend", index=INDEX)],
            database_operations=[migrations.RunPython(index_create, index_drop, atomic=False)],
        ),
        migrations.RunPython(failed_by_error_code_fill, migrations.RunPython.noop, atomic=True),
    ]
