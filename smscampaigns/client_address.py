"""The address of the client behind the trusted proxies: what login lockouts, API throttles and logs key on.

Behind a proxy every request arrives from the proxy's address (REMOTE_ADDR), so keying on it puts every
client in one bucket: one person's wrong passwords lock everyone out. Each proxy appends the address it
received the request from to TRUSTED_PROXY_HEADER (X-Forwarded-For: "client, proxy1"), so with
TRUSTED_PROXY_COUNT proxies the client is the entry that many places from the right. Entries further left
were written by the client itself and are never believed: a spoofed hop cannot move the key.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _as_address(text: str) -> str | None:
    """An IP address as written in a forwarding header ("1.2.3.4", "1.2.3.4:5678", "[::1]:80"), or None."""
    text = text.strip()
    candidates = [text]
    if text.startswith("[") and "]" in text:
        candidates.append(text[1 : text.index("]")])
    elif text.count(":") == 1:
        candidates.append(text.split(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_address(request: HttpRequest) -> str:
    """The client's IP address: from the trusted proxies' header when configured, else REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    header = settings.TRUSTED_PROXY_HEADER
    if not header or count < 1:
        return remote
    hops = [hop for hop in request.META.get(header, "").split(",") if hop.strip()]
    if not hops:
        # Not through the proxy (a health probe on the server's own address): the peer is the client.
        return remote
    # Fewer entries than proxies: the furthest one a trusted proxy wrote is the best that is known.
    address = _as_address(hops[-min(count, len(hops))])
    # A malformed entry can only come from a proxy misconfigured; the peer keeps the request accountable.
    return address or remote
