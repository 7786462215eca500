"""Content-Security-Policy and Permissions-Policy on every page, and the checks the hostile-input tests rely on.

The policy allows scripts and styles from this site only, nothing inline, so that a value printed unescaped by
some future mistake still cannot run. smscampaigns/tests/test_hostile_input.py fetches every admin page and
fails on anything inline the policy would block; the browser tests fail on any violation Chromium reports;
test_production_stack.py reads the headers as gunicorn serves them in production.
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.tests.factories import CampaignFactory
from smscampaigns.tests.test_hostile_input import inline_code, live_markup, markup

pytestmark = pytest.mark.django_db

FEATURES_OFF = ("camera", "microphone", "geolocation", "payment", "usb", "serial", "hid", "midi")


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict_policy(response) -> None:
    """`response` from Django's test client or from requests."""
    headers = getattr(response, "headers", response)
    policy = directives(headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert "unsafe" not in headers["Content-Security-Policy"]  # no 'unsafe-inline', no 'unsafe-eval'
    features = dict(part.strip().split("=") for part in headers["Permissions-Policy"].split(","))
    for feature in FEATURES_OFF:
        assert features[feature] == "()", feature


def test_the_admin_pages_carry_the_policies(client, manager):
    assert_strict_policy(client.get(reverse("admin:login")))
    client.force_login(manager)
    campaign = CampaignFactory()
    for url in (
        reverse("admin:index"),
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        reverse("admin:campaigns_campaign_preview", args=[campaign.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict_policy(response)


def test_the_api_docs_run_under_the_policy_with_nothing_inline():
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    assert_strict_policy(page)
    html = page.content.decode()
    assert inline_code(html) == []
    # Swagger UI's start-up script is a file of its own, from this site, as the policy requires.
    assert '<script src="/api/docs/?script="></script>' in html
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"] == "application/javascript"
    assert "SwaggerUIBundle" in script.content.decode()


def test_json_and_errors_carry_the_policies_too():
    assert_strict_policy(APIClient().get("/api/v1/contacts/"))  # 401
    assert_strict_policy(APIClient().get("/no-such-page/"))  # 404, DEBUG off


def test_the_checks_find_live_markup_and_inline_code_and_pass_escaped_text():
    from django.utils.html import escape

    hostile = markup("xs42")
    assert len(live_markup(f"<p>{hostile}</p>")) >= 3  # the script, the image, the handler
    assert live_markup(f"<p>{escape(hostile)}</p>") == []
    assert live_markup(f'<input value="{escape(hostile)}">') == []
    assert inline_code('<p style="color: red">') and inline_code("<script>go()</script>")
    assert inline_code("<style>p {}</style>") and inline_code('<a href="javascript:go()">')
    assert inline_code('<script src="/static/a.js"></script><script type="application/json">{}</script>') == []


def test_the_csrf_failure_page_has_nothing_inline():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(reverse("admin:login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
    assert inline_code(response.content.decode()) == []
    assert_strict_policy(response)
