"""Is this webhook request really from Plivo? Checks Plivo's V3 / Ma-V3 and V2 / Ma-V2 signatures.

V3 (`X-Plivo-Signature-V3`, `-Ma-V3`, `-V3-Nonce`) signs the URL, the nonce and every parameter; V2
(`X-Plivo-Signature-V2`, `-Ma-V2`, `-V2-Nonce`) signs only the URL and the nonce. The "Ma" variants are made
with the main account's token, the others with the token of the (sub)account; either may match ours.

When a request carries V3, its V3 signature decides: a correct V2 beside a wrong V3 is a body changed on
the way. A request with V2 alone is accepted while PLIVO_WEBHOOK_ACCEPT_V2_ONLY is on, as it must be for an
account whose message callbacks Plivo signs with V2 only (what Plivo documents for messaging). Because V2
leaves the body unsigned, every nonce of an accepted request is stored with a fingerprint of the request
(sends.services.webhook_nonces) and refused on any other request; without that store nothing is accepted.

The URL is the one Plivo called, rebuilt from PUBLIC_BASE_URL because behind a proxy the request's own host
and scheme are not what Plivo signed. The base strings come from the SDK's helpers (plivo.utils); the
comparison is ours, in constant time, since the SDK compares with `==`/`in`.
"""

import base64
import functools
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

import structlog
from django.conf import settings
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.db import Error as DatabaseError
from django.http import HttpRequest
from plivo.utils.signature_v3 import construct_get_url, get_signature_v3, get_sorted_params_string

from sends.models import WebhookNonce
from sends.services.webhook_nonces import webhook_nonces_record, webhook_request_fingerprint
from smscampaigns.client_address import client_address

log = structlog.get_logger(__name__)

V2_HEADERS = ("X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2")
V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"
V3_HEADERS = ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3")
V3_NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


class SignatureCheck(StrEnum):
    VALID = "valid"
    MISSING = "missing"  # no signature header at all
    INVALID = "invalid"  # a signature that does not match, or no auth token to check it with
    REPLAYED = "replayed"  # a valid signature seen before on a different request
    V2_ONLY_REFUSED = "v2-only-refused"  # V2 alone, and PLIVO_WEBHOOK_ACCEPT_V2_ONLY is off
    STORE_UNAVAILABLE = "store-unavailable"  # valid, but its nonce could not be checked against those seen


def plivo_callback_url(request: HttpRequest) -> str:
    """The URL Plivo called: PUBLIC_BASE_URL, then the path inside this app, then the raw query string."""
    query = request.META.get("QUERY_STRING", "")
    return settings.PUBLIC_BASE_URL + request.path_info + (f"?{query}" if query else "")


def signature_v2(*, auth_token: str, url: str, nonce: str) -> str:
    """Plivo's V2 signature: base64 HMAC-SHA256 of the URL without its query string, then the nonce."""
    parts = urlsplit(url)
    base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    digest = hmac.new(auth_token.encode(), (base_url + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_v3(*, auth_token: str, method: str, url: str, params: Mapping[str, list[str]], nonce: str) -> str:
    """Plivo's V3 signature, on the base string plivo.utils.validate_v3_signature builds.

    The URL's own query is parsed here and handed to the SDK's helpers as parameters: they would parse it
    from bytes as ASCII and raise on any percent-encoded non-ASCII character, which anyone can put in a
    URL. For every query they can read, the string is the same.
    """
    parts = urlsplit(url)
    if method.upper() != "GET" and params and not parts.query:
        # A form posted to a URL without a query, as every Plivo callback is: the SDK's base string, the URL
        # part built once and the fields and the HMAC computed here, at a fifth of the SDK's cost (its
        # string_format recurses into every value). test_signatures checks both against each other.
        fields = "".join(key + value for key in sorted(params) for value in sorted(params[key]))
        signed = _v3_post_url_prefix(url) + f"{fields}.{nonce}".encode()
        mac = _hmac_sha256(auth_token.encode()).copy()
        mac.update(signed)
        return base64.b64encode(mac.digest()).decode()
    bare_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        base_url = construct_get_url(bare_url, query)
    else:
        fields = get_sorted_params_string({key: list(values) for key, values in params.items()})
        base_url = construct_get_url(bare_url, query, not params) + fields.encode()
    return get_signature_v3(auth_token.encode(), base_url.decode(), nonce.encode()).decode()


@functools.lru_cache(maxsize=16)
def _v3_post_url_prefix(url: str) -> bytes:
    """What the SDK's V3 base string of a form posted to `url` (without a query) puts before the fields."""
    return bytes(construct_get_url(url, {}, False))


@functools.lru_cache(maxsize=4)
def _hmac_sha256(key: bytes) -> "hmac.HMAC":
    """An HMAC-SHA256 keyed with `key`, to copy: the key's padding is hashed once, not on every request."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _matches(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.strip().encode())


def plivo_signature_check(
    *,
    method: str,
    url: str,
    params: Mapping[str, list[str]],
    headers: Mapping[str, str],
    auth_token: str,
    accept_v2_only: bool = True,
) -> SignatureCheck:
    """Check the signature headers of one request: V3 when present (it covers the body), else V2."""
    v3_signatures = [headers.get(name, "") for name in V3_HEADERS]
    v3_nonce = headers.get(V3_NONCE_HEADER, "")
    v2_signatures = [headers.get(name, "") for name in V2_HEADERS]
    v2_nonce = headers.get(V2_NONCE_HEADER, "")
    signed_v3 = any(v3_signatures) or bool(v3_nonce)
    if not signed_v3 and not (any(v2_signatures) or v2_nonce):
        return SignatureCheck.MISSING
    if not auth_token:
        return SignatureCheck.INVALID
    if signed_v3:
        if not v3_nonce:
            return SignatureCheck.INVALID
        expected = signature_v3(auth_token=auth_token, method=method, url=url, params=params, nonce=v3_nonce)
        # A V3 header may carry several comma-separated signatures (one per valid token, during a rotation).
        candidates = [candidate for header in v3_signatures if header for candidate in header.split(",")]
        return SignatureCheck.VALID if any(_matches(expected, c) for c in candidates) else SignatureCheck.INVALID
    if not accept_v2_only:
        return SignatureCheck.V2_ONLY_REFUSED
    if v2_nonce:
        expected = signature_v2(auth_token=auth_token, url=url, nonce=v2_nonce)
        if any(_matches(expected, candidate) for candidate in v2_signatures if candidate):
            return SignatureCheck.VALID
    return SignatureCheck.INVALID


class SignatureReplayed(Exception):
    """A handler found the request's nonce already used on other content (it stores the nonces itself)."""


@dataclass(frozen=True)
class SignedRequest:
    """A webhook request whose signature was checked: the verdict, and what its nonces are remembered with."""

    verdict: SignatureCheck
    nonces: dict[str, str]  # {WebhookNonce.Version: nonce}, "" for a version the request does not carry
    fingerprint: uuid.UUID | None  # of the request, when the signature is valid


def plivo_request_fields(request: HttpRequest) -> dict[str, list[str]]:
    """The fields a callback's signature covers: a POST's form fields, a GET's query parameters.

    A form-encoded body is read as Django 5.2's HttpRequest.POST reads it (UTF-8 or a 400; bytes that are not
    UTF-8 as Latin-1; the same size and field-count limits), without building a QueryDict: on this path that
    cost as much CPU as the signature check.
    """
    if request.method != "POST":
        return dict(request.GET.lists())
    if request.content_type != "application/x-www-form-urlencoded":
        return dict(request.POST.lists())
    if request.encoding is not None and request.encoding.lower() != "utf-8":
        raise BadRequest(
            "HTTP requests with the 'application/x-www-form-urlencoded' content type must be UTF-8 encoded."
        )
    body = request.body  # RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = body.decode("iso-8859-1")
    fields: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
    except ValueError as exc:
        raise TooManyFieldsSent(
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
        ) from exc
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def plivo_request_signature(request: HttpRequest, fields: Mapping[str, list[str]]) -> SignedRequest:
    """Check a webhook request's signature over `fields` (plivo_request_fields); logs a refusal."""
    url = plivo_callback_url(request)
    verdict = plivo_signature_check(
        method=request.method,
        url=url,
        params=fields,
        headers=request.headers,
        auth_token=settings.PLIVO_AUTH_TOKEN,
        accept_v2_only=settings.PLIVO_WEBHOOK_ACCEPT_V2_ONLY,
    )
    # Every nonce of the request is remembered, whichever signature was checked: the V2 headers of a request
    # accepted on its V3 signature must not authorise another body later.
    nonces = {
        WebhookNonce.Version.V2: request.headers.get(V2_NONCE_HEADER, ""),
        WebhookNonce.Version.V3: request.headers.get(V3_NONCE_HEADER, ""),
    }
    if verdict is not SignatureCheck.VALID:
        plivo_request_refused(request, verdict)
        return SignedRequest(verdict=verdict, nonces=nonces, fingerprint=None)
    fingerprint = webhook_request_fingerprint(method=request.method, url=url, fields=fields)
    return SignedRequest(verdict=verdict, nonces=nonces, fingerprint=fingerprint)


def plivo_request_nonces_record(request: HttpRequest, signed: SignedRequest) -> SignatureCheck:
    """Remember the nonces of a request with a valid signature: VALID, REPLAYED (a nonce seen on other
    content) or STORE_UNAVAILABLE; logs a refusal."""
    try:
        verdict = (
            SignatureCheck.VALID
            if webhook_nonces_record(nonces=signed.nonces, fingerprint=signed.fingerprint)
            else SignatureCheck.REPLAYED
        )
    except DatabaseError as exc:
        verdict = plivo_nonce_store_unavailable(request, exc)
    if verdict is not SignatureCheck.VALID:
        plivo_request_refused(request, verdict)
    return verdict


def plivo_nonce_store_unavailable(request: HttpRequest, exc: DatabaseError) -> SignatureCheck:
    """Log that the nonces could not be checked; STORE_UNAVAILABLE, for the caller to refuse the request."""
    log.error("plivo_webhook_nonce_store_unavailable", path=request.path_info, error=exc.__class__.__name__)
    return SignatureCheck.STORE_UNAVAILABLE


def plivo_request_refused(request: HttpRequest, verdict: SignatureCheck) -> None:
    """The warning for a request refused on its signature or its nonces; never a secret."""
    log.warning(
        "plivo_webhook_rejected",
        reason=verdict.value,
        path=request.path_info,
        remote_addr=client_address(request),
        signing_configured=bool(settings.PLIVO_AUTH_TOKEN),
    )
