"""The redirect's own path (links.middleware.ShortLinkMiddleware): answered before the staff's middleware, with
the headers and answers the ordinary path gives."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from links.models import Click, ShortLink, StaffTestLink, TrackedLink
from links.services.clicks import link_clicks_flush
from links.tests.test_clicks import IPHONE, codes_of

pytestmark = pytest.mark.django_db

FAST_PATH = "links.middleware.ShortLinkMiddleware"


def fetch(code: str, *, method: str = "get", ua: str = IPHONE, **extra):
    return getattr(Client(HTTP_USER_AGENT=ua), method)(f"/l/{code}", **extra)


def served_by_fast_path(response) -> bool:
    # The middleware it skips set these on every request they see.
    request = response.wsgi_request
    return not hasattr(request, "session") and not hasattr(request, "user")


def ordinary_path(settings) -> None:
    settings.MIDDLEWARE = [name for name in django_settings.MIDDLEWARE if name != FAST_PATH]


def test_the_redirect_skips_the_staff_middleware_and_sends_the_headers_the_ordinary_path_would(sent_campaign, settings):
    campaign, _ = sent_campaign(2, utm_source="sms")
    first, second = codes_of(campaign)
    settings.SECURE_HSTS_SECONDS = 3600  # HSTS is sent over HTTPS only
    fast = fetch(first.code, secure=True)
    assert served_by_fast_path(fast)
    assert (fast.status_code, fast["Location"]) == (302, "https://shop.example.com/sale?ref=sms&utm_source=sms")
    ordinary_path(settings)
    ordinary = fetch(second.code, secure=True)
    assert not served_by_fast_path(ordinary)
    assert dict(fast.headers) == dict(ordinary.headers)
    for header, value in {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Length": "0",
    }.items():
        assert fast[header] == value, header
    assert fast["Strict-Transport-Security"].startswith("max-age=3600")
    assert "Content-Security-Policy" in fast and "Permissions-Policy" in fast
    link_clicks_flush()
    assert Click.objects.filter(kind=Click.Kind.CLICK).count() == 2  # both paths count


def test_the_https_redirect_and_the_host_check_still_apply(sent_campaign, settings):
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    settings.SECURE_SSL_REDIRECT = True
    response = fetch(code)
    assert (response.status_code, response["Location"]) == (301, f"https://testserver/l/{code}")
    settings.SECURE_SSL_REDIRECT = False
    assert fetch(code, HTTP_HOST="evil.example").status_code == 400
    link_clicks_flush()
    assert not Click.objects.exists()


def test_unknown_codes_expired_links_and_other_methods_answer_as_before(sent_campaign, settings):
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    unknown = fetch("AAAAAAAA")
    assert unknown.status_code == 404 and "Link not found" in unknown.content.decode()
    assert fetch(code, method="post").status_code == 405
    TrackedLink.objects.filter(campaign=campaign).update(expires_at=timezone.now() - timedelta(seconds=1))
    settings.SHORT_LINK_EXPIRED_URL = ""
    assert fetch(code).status_code == 404
    settings.SHORT_LINK_EXPIRED_URL = "https://shop.example.com/expired"
    expired = fetch(code)
    assert served_by_fast_path(expired)
    assert (expired.status_code, expired["Location"]) == (302, "https://shop.example.com/expired")
    link_clicks_flush()
    assert not Click.objects.exists()


def test_heads_previews_scanners_and_repeats_are_told_apart_on_the_fast_path(sent_campaign):
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    for response in (
        fetch(code, method="head"),
        fetch(code, ua="WhatsApp/2.24.6.77 A"),
        fetch(code, ua="python-requests/2.31.0"),
        fetch(code),
        fetch(code),
    ):
        assert response.status_code == 302 and served_by_fast_path(response)
    link_clicks_flush()
    assert list(Click.objects.order_by("clicked_at").values_list("kind", flat=True)) == [
        "head",
        "preview",
        "scanner",
        "click",
        "repeat",
    ]
    campaign.refresh_from_db()
    assert campaign.clicked_count == 1


def test_a_test_send_link_redirects_and_counts_nothing(sent_campaign):
    campaign, _ = sent_campaign(1)
    destination = TrackedLink.objects.get(campaign=campaign, position=0).destination
    StaffTestLink.objects.create(
        code="TeStCoDe",
        campaign=campaign,
        url="https://shop.example.com/sale?ref=sms",
        destination=destination,
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = fetch("TeStCoDe")
    assert (response.status_code, response["Location"]) == (302, destination)
    assert served_by_fast_path(response)
    link_clicks_flush()
    assert not Click.objects.exists()
    assert ShortLink.objects.filter(code="TeStCoDe").count() == 0
