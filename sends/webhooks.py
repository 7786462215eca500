"""Plivo's webhooks: delivery reports and inbound texts. Thin: verify the signature, call one service.

Plivo retries anything not answered 2xx within 8 s, so the answer is 200 for every request we understood,
including ones we had already seen (a duplicate) and reports for messages we do not know; 400 only when a
signed callback lacks a field we need (it would fail the same way on every retry); 403 when the signature is
missing or wrong, before anything is read or written.
"""

from collections.abc import Callable
from functools import wraps

import structlog
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sends.services.delivery_reports import delivery_report_record
from sends.services.inbound import inbound_message_receive
from sends.signatures import SignatureCheck, plivo_request_verify
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)

# An empty Message XML document: "received, no reply in this response" (replies go through the backend).
EMPTY_PLIVO_XML = '<?xml version="1.0" encoding="utf-8"?><Response></Response>'


def _callback_fields(request: HttpRequest) -> dict[str, str]:
    # Plivo sends form fields on POST and query parameters on GET; each field once. NUL characters are
    # dropped (after the signature check, which covers them): PostgreSQL stores none, and one can arrive in a
    # text (GSM-7 writes "@" as 0x00, and a gateway may pass that on), where it would fail every retry.
    fields = (request.POST if request.method == "POST" else request.GET).dict()
    return {name.replace("\x00", ""): value.replace("\x00", "") for name, value in fields.items()}


def plivo_webhook(handler: Callable[[dict[str, str]], HttpResponse]):
    """A Plivo callback view: signature first (403), then `handler(fields)`; a missing field is a 400."""

    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    @wraps(handler)
    def view(request: HttpRequest) -> HttpResponse:
        if plivo_request_verify(request) is not SignatureCheck.VALID:
            return HttpResponseForbidden("invalid or missing Plivo signature")
        try:
            return handler(_callback_fields(request))
        except ApplicationError as exc:
            log.warning("plivo_webhook_malformed", path=request.path_info, field=exc.field, error=exc.message)
            return JsonResponse({"error": exc.message, "field": exc.field}, status=400)

    return view


@plivo_webhook
def plivo_status(fields: dict[str, str]) -> HttpResponse:
    return JsonResponse({"result": delivery_report_record(payload=fields).value})


@plivo_webhook
def plivo_inbound(fields: dict[str, str]) -> HttpResponse:
    inbound_message_receive(payload=fields)
    return HttpResponse(EMPTY_PLIVO_XML, content_type="application/xml")
