from django.apps import AppConfig


class SmscampaignsConfig(AppConfig):
    """The project package as an app, for project-wide commands (demo set-up) and templates."""

    name = "smscampaigns"
    verbose_name = "SMS campaigns"
