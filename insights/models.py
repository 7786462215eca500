from decimal import Decimal

from django.db import models

from campaigns.models import Campaign


class DailyCampaignStats(models.Model):
    """What happened to one campaign's messages on one day (TIME_ZONE), kept current as it happens: the
    dashboard sums these, never the sends. A send counts on the day it reached each status."""

    day = models.DateField()
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="daily_stats")
    sent = models.PositiveIntegerField(default=0, help_text="Handed to the provider")
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Failed or undelivered")
    opt_outs = models.PositiveIntegerField(default=0, help_text="Opt-outs attributed to the campaign")
    clicks = models.PositiveIntegerField(default=0)
    segments = models.IntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=5, default=Decimal("0"))

    class Meta:
        ordering = ["-day", "campaign_id"]
        verbose_name_plural = "daily campaign stats"
        constraints = [models.UniqueConstraint(fields=["day", "campaign"], name="daily_campaign_stats_unique")]

    def __str__(self) -> str:
        return f"{self.day} campaign {self.campaign_id}"


class DailyFailures(models.Model):
    """Failed or undelivered messages of one day by error code."""

    day = models.DateField()
    error_code = models.CharField(max_length=16, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "error_code"]
        verbose_name_plural = "daily failures"
        constraints = [models.UniqueConstraint(fields=["day", "error_code"], name="daily_failures_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.error_code or '-'}: {self.count}"


class DailyAudience(models.Model):
    """Subscribers gained (opted in, consent recorded) and lost (opted out) on one day."""

    day = models.DateField(unique=True)
    gained = models.PositiveIntegerField(default=0)
    lost = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "daily audience"

    def __str__(self) -> str:
        return f"{self.day}: +{self.gained} -{self.lost}"
