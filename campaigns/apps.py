from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        from campaigns.selectors import campaigns_going_with_segment
        from contacts.services.segments import segment_delete_guard_register

        # A segment decides who a campaign reaches until the campaign has finished: not deleted before.
        segment_delete_guard_register(campaigns_going_with_segment)
