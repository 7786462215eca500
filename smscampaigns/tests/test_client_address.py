import pytest
from django.test import RequestFactory

from smscampaigns.client_address import client_address


def _request(forwarded_for=None, remote="10.0.0.2"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("count", "forwarded_for", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "192.0.2.1, 203.0.113.7", "203.0.113.7"),  # the client's own entry is not believed
        (2, "192.0.2.1, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),  # fewer hops than proxies: the furthest a proxy wrote
        (1, "203.0.113.7:51234", "203.0.113.7"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "not-an-address", "10.0.0.2"),  # garbage: the peer stays accountable
        (1, "", "10.0.0.2"),  # not through the proxy (a probe)
        (1, None, "10.0.0.2"),
    ],
)
def test_the_client_is_found_that_many_trusted_hops_from_the_right(settings, count, forwarded_for, expected):
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = count
    assert client_address(_request(forwarded_for)) == expected


def test_without_trusted_proxies_the_peer_is_the_client(settings):
    settings.TRUSTED_PROXY_HEADER = ""
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(_request("203.0.113.7")) == "10.0.0.2"
