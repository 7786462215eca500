from django.apps import AppConfig


class SendsConfig(AppConfig):
    name = "sends"
    verbose_name = "Sends and delivery"

    def ready(self):
        # Engagement lives in sends' tables: offered to segments through contacts' registry.
        from sends import segment_conditions

        segment_conditions.register()
