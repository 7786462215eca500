from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.services.outbox import WEBHOOK_OUTBOX
        from smscampaigns.domain_events import event_sink_register

        event_sink_register(WEBHOOK_OUTBOX)
