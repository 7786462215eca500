"""Plivo's webhooks: delivery reports and inbound texts. Thin: verify the signature, call one service.

Plivo retries anything not answered 2xx within 8 s, so the answer is 200 for every request we understood,
including ones we had already seen (a duplicate) and reports for messages we do not know; 400 when a signed
callback has a field missing, malformed or out of range (it would fail the same way on every retry); 403
when the signature is missing, wrong or replayed, before anything is read or written; 503 when the database
cannot be reached (the nonce store included), so that Plivo tries again later.
"""

from collections.abc import Callable
from functools import wraps

import structlog
from django.db import InterfaceError, OperationalError
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


# Plivo posts form fields; multipart is the other body Django reads as fields.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
RETRY_AFTER_SECONDS = "30"


def _callback_fields(request: HttpRequest) -> dict[str, str]:
    # Plivo sends form fields on POST and query parameters on GET, each field once: a field given twice is
    # refused rather than one of its values picked. NUL characters are dropped (after the signature check,
    # which covers them): PostgreSQL stores none, and one can arrive in a text (GSM-7 writes "@" as 0x00,
    # and a gateway may pass that on), where it would fail every retry.
    if request.method == "POST" and request.content_type not in FORM_CONTENT_TYPES and request.body:
        raise ApplicationError(
            f"a Plivo callback is form-encoded, got a {request.content_type or 'untyped'} body", field="Content-Type"
        )
    fields = {}
    for raw_name, values in (request.POST if request.method == "POST" else request.GET).lists():
        name = raw_name.replace("\x00", "")
        if len(values) > 1 or name in fields:
            raise ApplicationError(f"{name} is given more than once; Plivo sends each field once", field=name)
        fields[name] = values[0].replace("\x00", "")
    return fields


def plivo_webhook(handler: Callable[[dict[str, str]], HttpResponse]):
    """A Plivo callback view: signature first (403, or 503 without the nonce store), then `handler(fields)`;
    a missing or malformed field is a 400 naming it."""

    @csrf_exempt
    @require_http_methods(["GET", "POST"])
    @wraps(handler)
    def view(request: HttpRequest) -> HttpResponse:
        verdict = plivo_request_verify(request)
        if verdict is SignatureCheck.STORE_UNAVAILABLE:
            return _unavailable()
        if verdict is not SignatureCheck.VALID:
            return HttpResponseForbidden("invalid or missing Plivo signature")
        try:
            return handler(_callback_fields(request))
        except ApplicationError as exc:
            log.warning("plivo_webhook_malformed", path=request.path_info, field=exc.field, error=exc.message)
            return JsonResponse({"error": exc.message, "field": exc.field}, status=400)
        except (OperationalError, InterfaceError) as exc:  # the database is down or out of reach
            log.error("plivo_webhook_database_unavailable", path=request.path_info, error=exc.__class__.__name__)
            return _unavailable()

    return view


def _unavailable() -> HttpResponse:
    response = HttpResponse("temporarily unavailable, try again", status=503, content_type="text/plain")
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


@plivo_webhook
def plivo_status(fields: dict[str, str]) -> HttpResponse:
    return JsonResponse({"result": delivery_report_record(payload=fields).value})


@plivo_webhook
def plivo_inbound(fields: dict[str, str]) -> HttpResponse:
    inbound_message_receive(payload=fields)
    return HttpResponse(EMPTY_PLIVO_XML, content_type="application/xml")
