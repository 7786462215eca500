"""Delivering the texts of a request to join a list (contacts.services.subscriptions decides them): the
confirmation ("reply Y") and the list's welcome message. OPT_IN_TEXT_SENDER names opt_in_text_send.

Each text goes out at most once: the send is claimed on the request (one conditional UPDATE) before the
provider is called, so a retried webhook or a second process finds it taken. It takes its turn in the
sender's rate limit like any other message, and is recorded (uuid, time, segments, or the error) on the
request, which is the consent evidence.

Quiet hours are not applied. Both texts answer the person's own request made a moment earlier (a keyword,
the sign-up page, a checkout form passing it on): the CTIA handbook treats the opt-in confirmation as the
expected reply to that request, and the state quiet-hours laws (Florida, Oklahoma, ...) govern telephone
solicitations, which a one-time confirmation of a request is not. Holding it for the morning would make the
person's "Y" arrive hours after they asked, or never. Campaigns, which are solicitations, keep the window.
"""

import structlog
from django.conf import settings

from campaigns.segments import segment_info
from contacts.services.subscriptions import CONFIRMATION, subscription_text_claim, subscription_text_record
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.services.rate_limit import rate_limit_wait

log = structlog.get_logger(__name__)


def opt_in_text_send(*, request_id: int, kind: str) -> bool:
    """Send one text of a subscription request (kind: "confirmation" or "welcome") through the SMS backend,
    once; True when the provider accepted it."""
    request = subscription_text_claim(request_id=request_id, kind=kind)
    if request is None:
        log.info("opt_in_text_already_claimed", request_id=request_id, kind=kind)
        return False
    body = request.confirmation_text if kind == CONFIRMATION else request.welcome_text
    sender = request.our_number or settings.PLIVO_SENDER
    segments = segment_info(body).segments
    try:
        rate_limit_wait(sender=sender, segments=segments, per_second=settings.SEND_RATE_PER_SECOND)
        timeout = settings.SMS_REPLY_TIMEOUT_SECONDS
        with get_connection(connect_timeout=min(2.0, timeout), read_timeout=timeout) as connection:
            [result] = connection.send_message(
                OutboundMessage(sender=sender, destinations=[request.phone_number], body=body)
            )
    except Exception as exc:  # the request stands; its evidence says the text was not sent and why
        log.error("opt_in_text_failed", request_id=request_id, kind=kind, error=exc.__class__.__name__)
        subscription_text_record(request_id=request_id, kind=kind, error=exc.__class__.__name__, sender=sender)
        return False
    if not result.ok:
        code = result.error.code if result.error else "unknown"
        log.error("opt_in_text_failed", request_id=request_id, kind=kind, error=code)
        subscription_text_record(request_id=request_id, kind=kind, error=code, sender=sender)
        return False
    subscription_text_record(
        request_id=request_id, kind=kind, message_uuid=result.message_uuid, segments=segments, sender=sender
    )
    log.info("opt_in_text_sent", request_id=request_id, kind=kind, message_uuid=result.message_uuid)
    return True
