from django.db import migrations, models
from django.db.models import Count


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

    dependencies = [
        ('campaigns', '0002_campaign_failed_by_error_code'),
        ('sends', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='campaignsend',
            index=models.Index(condition=models.Q(('error_code', ''), _negated=True), fields=['campaign', 'error_code', 'id'], name='send_campaign_error_idx'),
        ),
        migrations.RunPython(failed_by_error_code_fill, migrations.RunPython.noop),
    ]
