"""The sign-up page /join/<slug>/ without a browser: the form, its errors beside the fields, the honeypot, the
per-address limit, the frame-ancestors it may be embedded under, and the evidence it records."""

import pytest
from django.core.cache import cache

from contacts.models import Contact, SubscriptionRequest
from contacts.tests.factories import ContactListFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
UA = "Mozilla/5.0 (join-page test)"


@pytest.fixture(autouse=True)
def clean_rate_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def deals(db):
    return ContactListFactory(
        name="Deals",
        slug="deals",
        program_name="Acme Deals",
        disclosure_text="I agree to Acme texts.",
        disclosure_version=4,
    )


def post(client, data, **extra):
    body = {"phone": "", "country": "US", "consent": "on", "website": "", "version": "4", **data}
    return client.post("/join/deals/", body, HTTP_USER_AGENT=UA, **extra)


def test_the_page_shows_the_disclosure_an_unticked_box_and_may_be_framed_where_configured(client, deals, settings):
    settings.JOIN_FRAME_ANCESTORS = ["'self'", "https://shop.example"]
    response = client.get("/join/deals/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "I agree to Acme texts." in html
    assert 'type="checkbox" name="consent"' in html and "checked" not in html
    assert '<option value="US" selected>' in html
    assert "<script" not in html and "style=" not in html
    assert "frame-ancestors 'self' https://shop.example" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response
    # Every other page keeps refusing frames.
    assert "frame-ancestors 'none'" in client.get("/admin/login/")["Content-Security-Policy"]


def test_an_unknown_page_is_404(client, deals):
    assert client.get("/join/nope/").status_code == 404


def test_submitting_starts_the_double_opt_in_with_the_evidence(
    client, deals, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, {"phone": "(415) 555-0150"}, REMOTE_ADDR="203.0.113.20")
    assert response.status_code == 302 and response["Location"] == "/join/deals/sent/"
    request = SubscriptionRequest.objects.get()
    assert (request.phone_number, request.source, request.disclosure_version) == ("+14155550150", "form", 4)
    assert request.request_text == "I agree to Acme texts."
    assert request.page_url == "http://testserver/join/deals/"
    assert (request.ip, request.user_agent) == ("203.0.113.20", UA)
    assert Contact.objects.get().status == Contact.Status.PENDING
    assert len(sms_outbox) == 1
    assert "Reply Y" in client.get("/join/deals/sent/").content.decode()


def test_errors_are_shown_beside_their_field_and_nothing_is_done(client, deals):
    response = post(client, {"phone": "12345", "consent": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="phone-error"' in html and 'id="consent-error"' in html
    assert not SubscriptionRequest.objects.exists()


def test_a_number_that_may_not_be_subscribed_is_refused_without_saying_why(client, deals):
    SuppressionFactory(phone_number="+14155550150", reason="do-not-call", origin="staff")
    response = post(client, {"phone": "4155550150"})
    assert response.status_code == 400
    assert "This number cannot be signed up here." in response.content.decode()
    assert "do-not-call" not in response.content.decode()


def test_a_changed_disclosure_asks_to_tick_again(client, deals):
    response = post(client, {"phone": "4155550150", "version": "3"})
    assert response.status_code == 400 and "changed since the page was loaded" in response.content.decode()
    assert not SubscriptionRequest.objects.exists()


def test_the_honeypot_answers_like_success_and_does_nothing(client, deals, sms_outbox):
    response = post(client, {"phone": "4155550150", "website": "http://spam.example"})
    assert response.status_code == 302
    assert not SubscriptionRequest.objects.exists() and sms_outbox == []


def test_submissions_are_limited_per_client_address(client, deals, settings):
    settings.JOIN_RATE_LIMIT_PER_HOUR = 2
    for n in range(2):
        assert post(client, {"phone": f"41555501{60 + n}"}, REMOTE_ADDR="203.0.113.30").status_code == 302
    limited = post(client, {"phone": "4155550170"}, REMOTE_ADDR="203.0.113.30")
    assert limited.status_code == 429 and "Too many sign-ups" in limited.content.decode()
    assert post(client, {"phone": "4155550171"}, REMOTE_ADDR="203.0.113.31").status_code == 302
    assert SubscriptionRequest.objects.count() == 3


def test_the_limit_keys_on_the_client_behind_the_trusted_proxy(client, deals, settings):
    settings.JOIN_RATE_LIMIT_PER_HOUR = 1
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    assert post(client, {"phone": "4155550160"}, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy).status_code == 302
    assert post(client, {"phone": "4155550161"}, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy).status_code == 302
    assert post(client, {"phone": "4155550162"}, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy).status_code == 429
    assert SubscriptionRequest.objects.get(phone_number="+14155550160").ip == "198.51.100.1"


def test_a_hostile_value_is_escaped_and_never_a_500(client, deals):
    response = post(client, {"phone": "<script>alert(1)</script>" * 3, "country": "<b>"})
    assert response.status_code == 400
    assert "<script>alert" not in response.content.decode()
