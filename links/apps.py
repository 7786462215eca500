from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "links"
    verbose_name = "Short links and clicks"

    def ready(self) -> None:
        from django.db.models import Exists, OuterRef

        from campaigns.models import ABTest
        from links import segment_conditions
        from links.models import Click
        from sends.services.ab_tests import ab_metric_register

        # Clicks live in links' tables: offered to segments through contacts' registry.
        segment_conditions.register()

        def clicked(sends):
            """An A/B test's click rate: the recipients whose first human click is recorded."""
            return sends.filter(Exists(Click.objects.filter(send_id=OuterRef("pk"), kind=Click.Kind.CLICK)))

        ab_metric_register(ABTest.Metric.CLICK_RATE, clicked)
