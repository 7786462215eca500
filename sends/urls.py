from django.urls import path

from sends import webhooks
from sends.webhook_paths import INBOUND_WEBHOOK_PATH, STATUS_WEBHOOK_PATH

urlpatterns = [
    path(STATUS_WEBHOOK_PATH.lstrip("/"), webhooks.plivo_status, name="plivo-status-webhook"),
    path(INBOUND_WEBHOOK_PATH.lstrip("/"), webhooks.plivo_inbound, name="plivo-inbound-webhook"),
]
