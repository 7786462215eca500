from django.urls import path

from sends import webhooks

urlpatterns = [
    path("webhooks/plivo/status/", webhooks.plivo_status, name="plivo-status-webhook"),
    path("webhooks/plivo/inbound/", webhooks.plivo_inbound, name="plivo-inbound-webhook"),
]
