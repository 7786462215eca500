"""Plivo's webhooks: delivery reports and inbound texts. Thin: verify the signature, call one service.

Plivo retries anything not answered 2xx within 8 s, so the answer is 200 for every request we understood,
including ones we had already seen (a duplicate) and reports for messages we do not know; 400 when a signed
callback has a field missing, malformed or out of range (it would fail the same way on every retry); 403
when the signature is missing, wrong or replayed, before anything is read or written; 503 when the database
cannot be reached (the nonce store included), so that Plivo tries again later.
"""

import json
from collections.abc import Callable
from functools import wraps

import structlog
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sends.services.delivery_reports import ReportOutcome, delivery_report_record
from sends.services.inbound import inbound_message_receive
from sends.signatures import (
    SignatureCheck,
    SignatureReplayed,
    SignedRequest,
    plivo_nonce_store_unavailable,
    plivo_request_fields,
    plivo_request_nonces_record,
    plivo_request_refused,
    plivo_request_signature,
)
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)

# An empty Message XML document: "received, no reply in this response" (replies go through the backend).
EMPTY_PLIVO_XML = '<?xml version="1.0" encoding="utf-8"?><Response></Response>'


# Plivo posts form fields; multipart is the other body Django reads as fields.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
RETRY_AFTER_SECONDS = "30"


def _callback_fields(request: HttpRequest, fields: dict[str, list[str]]) -> dict[str, str]:
    # Plivo sends form fields on POST and query parameters on GET, each field once: a field given twice is
    # refused rather than one of its values picked. NUL characters are dropped (after the signature check,
    # which covers them): PostgreSQL stores none, and one can arrive in a text (GSM-7 writes "@" as 0x00,
    # and a gateway may pass that on), where it would fail every retry.
    if request.method == "POST" and request.content_type not in FORM_CONTENT_TYPES and request.body:
        raise ApplicationError(
            f"a Plivo callback is form-encoded, got a {request.content_type or 'untyped'} body", field="Content-Type"
        )
    callback = {}
    for raw_name, values in fields.items():
        name = raw_name.replace("\x00", "")
        if len(values) > 1 or name in callback:
            raise ApplicationError(f"{name} is given more than once; Plivo sends each field once", field=name)
        callback[name] = values[0].replace("\x00", "")
    return callback


def plivo_webhook(*, stores_nonces: bool = False):
    """A Plivo callback view: signature first (403), the nonces remembered (403 when replayed, 503 without the
    store), then `handler(fields, signed)`; a missing or malformed field is a 400 naming it.

    With `stores_nonces`, the handler remembers the nonces itself, with what it writes (SignedRequest's
    nonces and fingerprint), and raises SignatureReplayed for a replay; its database errors are the nonce
    store's (503). The nonces of a callback refused as malformed are remembered all the same: its V2 headers
    must not carry a body of someone else's choosing.
    """

    def decorate(handler: Callable[[dict[str, str], SignedRequest], HttpResponse]):
        @csrf_exempt
        @require_http_methods(["GET", "POST"])
        @wraps(handler)
        def view(request: HttpRequest) -> HttpResponse:
            fields = plivo_request_fields(request)
            signed = plivo_request_signature(request, fields)
            if signed.verdict is not SignatureCheck.VALID:
                return _forbidden()
            if not stores_nonces and (refused := _nonces_refused(request, signed)):
                return refused
            try:
                return handler(_callback_fields(request, fields), signed)
            except SignatureReplayed:
                plivo_request_refused(request, SignatureCheck.REPLAYED)
                return _forbidden()
            except ApplicationError as exc:
                if stores_nonces and (refused := _nonces_refused(request, signed)):
                    return refused
                log.warning("plivo_webhook_malformed", path=request.path_info, field=exc.field, error=exc.message)
                return JsonResponse({"error": exc.message, "field": exc.field}, status=400)
            except DatabaseError as exc:
                if stores_nonces:
                    plivo_nonce_store_unavailable(request, exc)
                    return _unavailable()
                if not isinstance(exc, OperationalError | InterfaceError):
                    raise
                # The database is down or out of reach.
                log.error("plivo_webhook_database_unavailable", path=request.path_info, error=exc.__class__.__name__)
                return _unavailable()

        return view

    return decorate


def _nonces_refused(request: HttpRequest, signed: SignedRequest) -> HttpResponse | None:
    verdict = plivo_request_nonces_record(request, signed)
    if verdict is SignatureCheck.STORE_UNAVAILABLE:
        return _unavailable()
    return None if verdict is SignatureCheck.VALID else _forbidden()


def _forbidden() -> HttpResponse:
    return HttpResponseForbidden("invalid or missing Plivo signature")


def _unavailable() -> HttpResponse:
    response = HttpResponse("temporarily unavailable, try again", status=503, content_type="text/plain")
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


# The status webhook's answers, encoded once: JsonResponse ran its encoder on every report (about 3% of the
# request's CPU).
STATUS_ANSWERS = {outcome: json.dumps({"result": outcome.value}).encode() for outcome in ReportOutcome}


@plivo_webhook(stores_nonces=True)
def plivo_status(fields: dict[str, str], signed: SignedRequest) -> HttpResponse:
    outcome = delivery_report_record(payload=fields, nonces=signed.nonces, fingerprint=signed.fingerprint)
    if outcome is ReportOutcome.REPLAYED:
        raise SignatureReplayed
    return HttpResponse(STATUS_ANSWERS[outcome], content_type="application/json")


@plivo_webhook()
def plivo_inbound(fields: dict[str, str], signed: SignedRequest) -> HttpResponse:
    inbound_message_receive(payload=fields)
    return HttpResponse(EMPTY_PLIVO_XML, content_type="application/xml")
