"""Is this webhook request really from Plivo? Checks Plivo's V3 and V2 / Ma-V2 signatures.

V3 (`X-Plivo-Signature-V3`, `-V3-Nonce`) signs the URL, the nonce and every parameter; V2
(`X-Plivo-Signature-V2`, `X-Plivo-Signature-Ma-V2`, `-V2-Nonce`) signs only the URL and the nonce. One valid
signature is enough. The URL is the one Plivo called, rebuilt from PUBLIC_BASE_URL because behind a proxy
the request's own host and scheme are not what Plivo signed. The base strings come from the SDK's helpers
(plivo.utils); the comparison is ours, in constant time, since the SDK compares with `==`/`in`.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import structlog
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from smscampaigns.client_address import client_address

log = structlog.get_logger(__name__)

V2_HEADERS = ("X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2")
V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"
V3_HEADER = "X-Plivo-Signature-V3"
V3_NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


class SignatureCheck(StrEnum):
    VALID = "valid"
    MISSING = "missing"  # no signature header at all
    INVALID = "invalid"  # a signature that does not match, or no auth token to check it with
    REPLAYED = "replayed"  # a valid signature seen before on a different request


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
    """Plivo's V3 signature, built exactly as plivo.utils.validate_v3_signature builds it."""
    if method.upper() == "GET":
        # For GET the parameters are in the URL's query string, which the SDK reads itself.
        base_url = construct_get_url(url, {}).decode("utf-8")
    else:
        base_url = construct_post_url(url, {key: list(values) for key, values in params.items()}).decode("utf-8")
    return get_signature_v3(auth_token.encode(), base_url, nonce.encode()).decode()


def _matches(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.strip().encode())


def plivo_signature_check(
    *, method: str, url: str, params: Mapping[str, list[str]], headers: Mapping[str, str], auth_token: str
) -> SignatureCheck:
    """Check the signature headers of one request: valid when any one signature matches."""
    v3, v3_nonce = headers.get(V3_HEADER, ""), headers.get(V3_NONCE_HEADER, "")
    v2_signatures = [headers.get(name, "") for name in V2_HEADERS]
    v2_nonce = headers.get(V2_NONCE_HEADER, "")
    if not (v3 and v3_nonce) and not (any(v2_signatures) and v2_nonce):
        return SignatureCheck.MISSING
    if not auth_token:
        return SignatureCheck.INVALID
    if v3 and v3_nonce:
        expected = signature_v3(auth_token=auth_token, method=method, url=url, params=params, nonce=v3_nonce)
        # V3 may carry several comma-separated signatures (one per valid token, during a rotation).
        if any(_matches(expected, candidate) for candidate in v3.split(",")):
            return SignatureCheck.VALID
    if v2_nonce:
        expected = signature_v2(auth_token=auth_token, url=url, nonce=v2_nonce)
        if any(_matches(expected, candidate) for candidate in v2_signatures if candidate):
            return SignatureCheck.VALID
    return SignatureCheck.INVALID


def _request_fingerprint(*, method: str, url: str, params: Mapping[str, list[str]]) -> str:
    text = "\n".join([method.upper(), url, *(f"{key}={value}" for key in sorted(params) for value in params[key])])
    return hashlib.sha256(text.encode()).hexdigest()


def nonce_first_use(*, nonce: str, fingerprint: str) -> bool:
    """False when this nonce was already used on a request with different content (a replayed signature).

    The same request sent again (Plivo retrying) keeps its answer: handlers are idempotent. If the cache is
    down the check is skipped, so a Redis outage never stops opt-outs from being recorded.
    """
    key = "plivo-webhook-nonce:" + hashlib.sha256(nonce.encode()).hexdigest()
    try:
        if cache.add(key, fingerprint, timeout=settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS):
            return True
        return cache.get(key) in (fingerprint, None)
    except Exception as exc:  # any cache backend error: the signature itself was valid
        log.warning("plivo_webhook_nonce_cache_unavailable", error=exc.__class__.__name__)
        return True


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
    )
    if verdict is SignatureCheck.VALID:
        fingerprint = _request_fingerprint(method=request.method, url=url, params=params)
        # Every nonce of the request is remembered, whichever signature was checked: the V2 headers of a
        # request accepted on its V3 signature must not authorise another body later.
        nonces = [request.headers.get(name, "") for name in (V2_NONCE_HEADER, V3_NONCE_HEADER)]
        if not all(nonce_first_use(nonce=nonce, fingerprint=fingerprint) for nonce in nonces if nonce):
            verdict = SignatureCheck.REPLAYED
    if verdict is not SignatureCheck.VALID:
        log.warning(
            "plivo_webhook_rejected",
            reason=verdict.value,
            path=request.path_info,
            remote_addr=client_address(request),
            signing_configured=bool(settings.PLIVO_AUTH_TOKEN),
        )
    return verdict
