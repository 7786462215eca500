"""Plivo's webhook signatures, computed the way Plivo computes them.

Written from Plivo's algorithm rather than borrowed from the SDK, so that the tests which check these
signatures with the SDK's own `plivo.utils.validate_signature` / `validate_v3_signature` prove something.

- V2: base64(HMAC-SHA256(auth token, URL without query + nonce)).
- V3: base64(HMAC-SHA256(auth token, "<signed URL>.<nonce>")). The signed URL of a POST is the URL without
  query, "?", the URL's own query sorted (then "." if it had one), then every form field sorted by name as
  name+value; a GET signs the URL with the fields merged into its query, sorted.
"""

import hmac
from base64 import b64encode
from hashlib import sha256
from urllib.parse import parse_qs, urlparse, urlunparse


def _hmac_b64(auth_token: str, payload: str) -> str:
    return b64encode(hmac.new(auth_token.encode(), payload.encode(), sha256).digest()).decode()


def _base_url(parsed) -> str:
    return urlunparse((parsed.scheme, parsed.netloc, parsed.path, "", "", ""))


def _as_lists(params: dict) -> dict[str, list[str]]:
    return {str(k): [str(x) for x in v] if isinstance(v, list | tuple) else [str(v)] for k, v in params.items()}


def _sorted_query(params: dict[str, list[str]]) -> str:
    return "&".join("&".join(f"{key}={value}" for value in sorted(params[key])) for key in sorted(params))


def _sorted_fields(params: dict[str, list[str]]) -> str:
    return "".join("".join(f"{key}{value}" for value in sorted(params[key])) for key in sorted(params))


def signature_v2(*, auth_token: str, url: str, nonce: str) -> str:
    return _hmac_b64(auth_token, _base_url(urlparse(url)) + nonce)


def signature_v3(*, auth_token: str, method: str, url: str, params: dict, nonce: str) -> str:
    parsed = urlparse(url)
    query = _as_lists(parse_qs(parsed.query, keep_blank_values=True))
    fields = _as_lists(params)
    signed = _base_url(parsed)
    if method.upper() == "GET":
        merged = {**fields, **query}
        if merged:
            signed += "?" + _sorted_query(merged)
    elif fields:
        own_query = _sorted_query(query)
        signed += "?" + own_query + ("." if own_query else "") + _sorted_fields(fields)
    elif query:
        signed += "?" + _sorted_query(query)
    return _hmac_b64(auth_token, f"{signed}.{nonce}")
