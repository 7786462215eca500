from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights"

    def ready(self) -> None:
        from insights.services import DAILY_ROLLUPS, daily_campaign_stats_add
        from sends.services.counters import counters_listener_register
        from smscampaigns.domain_events import event_sink_register

        counters_listener_register(daily_campaign_stats_add)
        event_sink_register(DAILY_ROLLUPS)
