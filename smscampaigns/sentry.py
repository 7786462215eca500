"""Error tracking with Sentry, when SENTRY_DSN is set (smscampaigns/settings.py calls `sentry_init`); nothing
is initialised, and so nothing sent, when it is not.

Every event and breadcrumb passes through `sentry_scrub` before it leaves: the same redaction as the logs
(smscampaigns.logging.scrub: secret-looking keys dropped, configured secrets and webhook secrets cut out of
text, phone numbers masked to their last digits), over the whole event: request, stack frames' local
variables, extra data, breadcrumbs. Django's request bodies and cookies are not sent at all.
"""

import re
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from smscampaigns.logging import mask_phone, scrub

# Beyond the logs' E.164 rule: a number also travels without its "+" (Plivo's fields, or a "+" that a query
# string decoded into a space), so in what goes to Sentry any run of 8 to 15 digits is masked as a number.
_DIGIT_RUN = re.compile(r"(?<!\d)\d{8,15}(?!\d)")
# Sentry's own identifiers and times, which must reach it as they are.
_SENTRY_KEYS = frozenset({"event_id", "trace_id", "span_id", "parent_span_id", "timestamp", "start_timestamp"})


def _mask_digit_runs(value: Any) -> Any:
    if isinstance(value, str):
        return _DIGIT_RUN.sub(lambda match: mask_phone(match.group(0)), value)
    if isinstance(value, dict):
        return {k: v if k in _SENTRY_KEYS else _mask_digit_runs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_digit_runs(v) for v in value)
    return value


def sentry_scrub(event: dict[str, Any], hint: dict | None = None) -> dict[str, Any]:
    """before_send / before_send_transaction / before_breadcrumb: the event with nothing personal or secret."""
    return _mask_digit_runs(scrub(event))


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float, transport=None) -> None:
    """`transport` is for the tests, which capture events without any network."""
    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=sentry_scrub,
        before_send_transaction=sentry_scrub,
        before_breadcrumb=sentry_scrub,
        transport=transport,
    )
