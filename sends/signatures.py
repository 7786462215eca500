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
import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit, urlunsplit

import structlog
from django.conf import settings
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
    bare_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        base_url = construct_get_url(bare_url, query)
    else:
        fields = get_sorted_params_string({key: list(values) for key, values in params.items()})
        base_url = construct_get_url(bare_url, query, not params) + fields.encode()
    return get_signature_v3(auth_token.encode(), base_url.decode(), nonce.encode()).decode()


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


def plivo_request_verify(request: HttpRequest) -> SignatureCheck:
    """Verify a webhook request end to end (signature, then replay); logs a warning, never a secret."""
    url = plivo_callback_url(request)
    params = dict(request.POST.lists()) if request.method == "POST" else dict(request.GET.lists())
    verdict = plivo_signature_check(
        method=request.method,
        url=url,
        params=params,
        headers=request.headers,
        auth_token=settings.PLIVO_AUTH_TOKEN,
        accept_v2_only=settings.PLIVO_WEBHOOK_ACCEPT_V2_ONLY,
    )
    if verdict is SignatureCheck.VALID:
        # Every nonce of the request is remembered, whichever signature was checked: the V2 headers of a
        # request accepted on its V3 signature must not authorise another body later.
        nonces = {
            WebhookNonce.Version.V2: request.headers.get(V2_NONCE_HEADER, ""),
            WebhookNonce.Version.V3: request.headers.get(V3_NONCE_HEADER, ""),
        }
        fingerprint = webhook_request_fingerprint(method=request.method, url=url, fields=params)
        try:
            if not webhook_nonces_record(nonces=nonces, fingerprint=fingerprint):
                verdict = SignatureCheck.REPLAYED
        except DatabaseError as exc:
            log.error("plivo_webhook_nonce_store_unavailable", path=request.path_info, error=exc.__class__.__name__)
            verdict = SignatureCheck.STORE_UNAVAILABLE
    if verdict is not SignatureCheck.VALID:
        log.warning(
            "plivo_webhook_rejected",
            reason=verdict.value,
            path=request.path_info,
            remote_addr=client_address(request),
            signing_configured=bool(settings.PLIVO_AUTH_TOKEN),
        )
    return verdict
