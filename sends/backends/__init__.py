"""SMS backends, chosen by the SMS_BACKEND setting the way Django chooses EMAIL_BACKEND."""

from django.conf import settings
from django.utils.module_loading import import_string

from sends.backends.base import BaseSmsBackend


def get_connection(backend: str | None = None, **kwargs) -> BaseSmsBackend:
    """An instance of the configured backend (or of `backend`, a dotted path); use it as a context manager."""
    return import_string(backend or settings.SMS_BACKEND)(**kwargs)
