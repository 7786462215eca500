from django.apps import AppConfig


class SendsConfig(AppConfig):
    name = "sends"
    verbose_name = "Sends and delivery"

    def ready(self) -> None:
        from campaigns.caps import cap_counter_register
        from sends.services.dispatch.caps import audience_capped_counts

        # The campaign preview counts who the frequency caps would skip; the sends are this app's to count.
        cap_counter_register(audience_capped_counts)
