import logging
import socket
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from plivo.utils import validate_signature, validate_v3_signature
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from contacts.models import Suppression
from sends.models import DeliveryReport, InboundMessage, WebhookNonce
from sends.services.webhook_nonces import webhook_nonces_prune, webhook_nonces_record, webhook_request_fingerprint
from sends.signatures import SignatureCheck, plivo_signature_check, signature_v2, signature_v3
from sends.tests.plivo_callbacks import (
    AUTH_TOKEN,
    INBOUND_PATH,
    STATUS_PATH,
    get_callback,
    inbound_payload,
    nonce,
    plivo_signing,  # noqa: F401 (fixture)
    post_callback,
    signed_headers,
    status_payload,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plivo_signing")]

URL = "https://sms.example.com/webhooks/plivo/status/"


def report(**overrides):
    fields = {"message_uuid": str(uuid.uuid4()), "status": "delivered", "to": "+14155550123"}
    return status_payload(**{**fields, **overrides})


# --- The algorithms agree with the SDK's own validators -------------------------------------------


def test_v2_signature_is_accepted_by_the_sdk_validator_and_a_wrong_one_is_not():
    n = nonce()
    signature = signature_v2(auth_token=AUTH_TOKEN, url=URL + "?x=1", nonce=n)
    assert validate_signature(URL + "?x=1", n, signature, AUTH_TOKEN)
    assert not validate_signature(URL, n, signature_v2(auth_token="other-token", url=URL, nonce=n), AUTH_TOKEN)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_v3_signature_is_accepted_by_the_sdk_validator(method):
    params = report(status="sent")
    n = nonce()
    url = URL if method == "POST" else URL + "?MessageUUID=abc&Status=sent"
    signature = signature_v3(
        auth_token=AUTH_TOKEN, method=method, url=url, params={k: [v] for k, v in params.items()}, nonce=n
    )
    assert validate_v3_signature(method, url, n, AUTH_TOKEN, signature, params if method == "POST" else None)


def test_v3_signature_of_non_ascii_text_matches_the_sdk():
    params = inbound_payload(sender="+14155550123", text="STOP 👋 ça suffit")
    n = nonce()
    signature = signature_v3(
        auth_token=AUTH_TOKEN, method="POST", url=URL, params={k: [v] for k, v in params.items()}, nonce=n
    )
    assert validate_v3_signature("POST", URL, n, AUTH_TOKEN, signature, params)


@hypothesis_settings(max_examples=200, deadline=None, derandomize=True)
@given(
    params=st.dictionaries(
        st.text(min_size=1, max_size=12), st.lists(st.text(max_size=20), min_size=1, max_size=3), min_size=1
    ),
    url=st.sampled_from([URL, "http://127.0.0.1:8000/webhooks/plivo/status/", "https://x.example/a%20b/"]),
)
def test_v3_signature_of_a_posted_form_is_the_sdks_whatever_the_fields(params, url):
    # Forms posted to a URL without a query take a path of their own (the base string built here, not by the
    # SDK's helpers): it must sign exactly what the SDK signs.
    n = nonce()
    expected = get_signature_v3(AUTH_TOKEN.encode(), construct_post_url(url, dict(params)).decode(), n.encode())
    assert signature_v3(auth_token=AUTH_TOKEN, method="POST", url=url, params=params, nonce=n) == expected.decode()


def test_check_reports_missing_when_no_signature_header_is_present():
    verdict = plivo_signature_check(method="POST", url=URL, params={}, headers={}, auth_token=AUTH_TOKEN)
    assert verdict is SignatureCheck.MISSING


def test_check_is_invalid_without_a_configured_auth_token():
    headers = signed_headers(url=URL, params={})
    verdict = plivo_signature_check(method="POST", url=URL, params={}, headers=headers, auth_token="")
    assert verdict is SignatureCheck.INVALID


# --- Through the endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize("versions", [("v2",), ("ma-v2",), ("v3",), ("v2", "ma-v2", "v3")])
def test_a_callback_with_any_one_valid_signature_is_accepted(client, versions):
    params = report()
    response = post_callback(client, STATUS_PATH, params, versions=versions)
    assert response.status_code == 200
    assert DeliveryReport.objects.filter(message_uuid=params["MessageUUID"]).exists()


def test_a_wrong_v3_signature_is_refused_even_beside_a_valid_v2_one(client):
    # V3 covers the body and V2 does not: a correct V2 next to a wrong V3 is a body changed on the way.
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    headers["X-Plivo-Signature-V3"] = "bm90IGEgc2lnbmF0dXJl"
    assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 403
    assert not DeliveryReport.objects.exists()


def test_a_body_changed_under_v2_and_v3_headers_is_refused_on_v3(client):
    params = report(status="sent")
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    tampered = {**params, "Status": "undelivered", "ErrorCode": "200"}
    assert post_callback(client, STATUS_PATH, tampered, headers=headers).status_code == 403
    assert not DeliveryReport.objects.exists()


def test_a_v3_nonce_without_its_signature_is_refused_even_beside_a_valid_v2_one(client):
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    del headers["X-Plivo-Signature-V3"]
    assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 403


def test_a_ma_v3_signature_made_with_the_main_account_token_is_accepted(client):
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params, versions=("v3",))
    headers["X-Plivo-Signature-Ma-V3"] = headers.pop("X-Plivo-Signature-V3")
    assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 200


def test_v2_only_requests_are_refused_when_v2_only_is_turned_off(client, settings):
    settings.PLIVO_WEBHOOK_ACCEPT_V2_ONLY = False
    assert post_callback(client, STATUS_PATH, report(), versions=("v2", "ma-v2")).status_code == 403
    assert post_callback(client, STATUS_PATH, report(), versions=("v2", "v3")).status_code == 200
    assert DeliveryReport.objects.count() == 1


def test_v3_header_with_several_signatures_accepts_the_one_that_matches(client):
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params, versions=("v3",))
    headers["X-Plivo-Signature-V3"] = "b2xkLXRva2VuLXNpZ25hdHVyZQ==," + headers["X-Plivo-Signature-V3"]
    assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 200


@pytest.mark.parametrize("path", [STATUS_PATH, INBOUND_PATH])
def test_missing_signature_is_403_and_writes_nothing(client, path, caplog):
    params = report() if path == STATUS_PATH else inbound_payload(sender="+14155550123", text="STOP")
    with caplog.at_level(logging.WARNING):
        response = post_callback(client, path, params, headers={})
    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()
    assert not InboundMessage.objects.exists()
    assert any("plivo_webhook_rejected" in str(record.msg) for record in caplog.records)


def test_forged_signature_is_403_and_the_warning_holds_no_secret(client, caplog):
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params, auth_token="a-guessed-token")
    with caplog.at_level(logging.WARNING):
        response = post_callback(client, STATUS_PATH, params, headers=headers)
    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()
    logged = " ".join(str(record.msg) for record in caplog.records)
    assert "plivo_webhook_rejected" in logged
    assert "invalid" in logged
    for secret in (AUTH_TOKEN, headers["X-Plivo-Signature-V2"], headers["X-Plivo-Signature-V3"]):
        assert secret not in logged


def test_v3_only_callback_whose_body_was_changed_is_403(client):
    params = report(status="sent")
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params, versions=("v3",))
    tampered = {**params, "Status": "delivered"}
    assert post_callback(client, STATUS_PATH, tampered, headers=headers).status_code == 403
    assert not DeliveryReport.objects.exists()


def test_signature_is_checked_against_the_public_url_not_the_host_the_proxy_forwarded(client, settings):
    settings.PUBLIC_BASE_URL = "https://sms.example.com"
    params = report()
    # Signed for the URL the app sees locally: not what Plivo called, so refused.
    assert post_callback(client, STATUS_PATH, params, base_url="http://testserver").status_code == 403
    assert post_callback(client, STATUS_PATH, params, base_url="https://sms.example.com").status_code == 200


def test_signature_for_the_other_endpoint_is_403(client):
    params = report()
    headers = signed_headers(url="http://testserver" + INBOUND_PATH, params=params)
    assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 403


def test_no_auth_token_configured_refuses_every_callback(client, settings):
    settings.PLIVO_AUTH_TOKEN = ""
    assert post_callback(client, STATUS_PATH, report()).status_code == 403
    assert not DeliveryReport.objects.exists()


def test_get_callback_signed_over_its_query_string_is_accepted(client):
    params = report()
    response = get_callback(client, STATUS_PATH, params, versions=("v3",))
    assert response.status_code == 200
    assert DeliveryReport.objects.filter(message_uuid=params["MessageUUID"]).exists()
    assert get_callback(client, STATUS_PATH, report(), versions=("v2",)).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_non_ascii_query_under_a_wrong_v3_signature_is_403_not_a_server_error(client, method):
    headers = {"X-Plivo-Signature-V3": "bm90IGEgc2lnbmF0dXJl", "X-Plivo-Signature-V3-Nonce": nonce()}
    response = getattr(client, method)(STATUS_PATH + "?Units=%C2%B2&Text=%ED%A0%80", headers=headers)
    assert response.status_code == 403


def test_other_http_methods_are_refused(client):
    assert client.put(STATUS_PATH).status_code == 405


# --- Replays ---------------------------------------------------------------------------------------


def test_a_replayed_identical_callback_is_answered_200_and_recorded_once(client):
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    first = post_callback(client, STATUS_PATH, params, headers=headers)
    again = post_callback(client, STATUS_PATH, params, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["result"] == "duplicate"
    assert DeliveryReport.objects.filter(message_uuid=params["MessageUUID"]).count() == 1


def test_a_retried_callback_whose_nonces_were_stored_without_its_report_is_stored(client):
    # A report stored after its nonces (the nonces alone: a carrier opt-out, or a server of before they were
    # written together) whose report then failed: Plivo's retry of the same request stores the report.
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    nonces = {"v2": headers["X-Plivo-Signature-V2-Nonce"], "v3": headers["X-Plivo-Signature-V3-Nonce"]}
    fields = {name: [value] for name, value in params.items()}
    fingerprint = webhook_request_fingerprint(method="POST", url="http://testserver" + STATUS_PATH, fields=fields)
    assert webhook_nonces_record(nonces=nonces, fingerprint=fingerprint)
    response = post_callback(client, STATUS_PATH, params, headers=headers)
    assert (response.status_code, response.json()) == (200, {"result": "accepted"})
    assert DeliveryReport.objects.filter(message_uuid=params["MessageUUID"], pending=True).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL only")
def test_a_report_and_its_nonces_are_stored_together_or_not_at_all(client):
    # One statement: when the report cannot be stored, neither are its nonces (Plivo's retry then finds
    # neither), and a report is never stored without them.
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sends_deliveryreport RENAME TO sends_deliveryreport_away")
    try:
        assert post_callback(client, STATUS_PATH, params, headers=headers).status_code == 503
        assert not WebhookNonce.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE sends_deliveryreport_away RENAME TO sends_deliveryreport")
    assert post_callback(client, STATUS_PATH, params, headers=headers).json() == {"result": "accepted"}
    assert WebhookNonce.objects.count() == 2 and DeliveryReport.objects.count() == 1


def test_v2_headers_of_a_report_replayed_on_another_report_are_403(client):
    original = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=original, versions=("v2", "ma-v2"))
    assert post_callback(client, STATUS_PATH, original, headers=headers).json() == {"result": "accepted"}
    forged = report(status="undelivered")
    assert post_callback(client, STATUS_PATH, forged, headers=headers).status_code == 403
    assert not DeliveryReport.objects.filter(message_uuid=forged["MessageUUID"]).exists()


def test_v2_headers_replayed_on_a_different_body_are_403(client):
    # V2 signs only the URL and the nonce: a captured header must not authorise another body.
    original = inbound_payload(sender="+14155550123", text="hello")
    headers = signed_headers(url="http://testserver" + INBOUND_PATH, params=original, versions=("v2", "ma-v2"))
    assert post_callback(client, INBOUND_PATH, original, headers=headers).status_code == 200
    forged = inbound_payload(sender="+14155550199", text="STOP")
    assert post_callback(client, INBOUND_PATH, forged, headers=headers).status_code == 403
    assert not InboundMessage.objects.filter(from_number="+14155550199").exists()


def test_v2_headers_of_a_request_accepted_on_its_v3_signature_cannot_carry_another_body(client):
    original = inbound_payload(sender="+14155550123", text="hello")
    headers = signed_headers(url="http://testserver" + INBOUND_PATH, params=original)
    assert post_callback(client, INBOUND_PATH, original, headers=headers).status_code == 200
    v2_only = {name: value for name, value in headers.items() if "V3" not in name}
    forged = inbound_payload(sender="+14155550199", text="STOP")
    assert post_callback(client, INBOUND_PATH, forged, headers=v2_only).status_code == 403
    assert not InboundMessage.objects.filter(from_number="+14155550199").exists()


def test_v2_headers_replayed_on_another_body_after_the_cache_is_flushed_are_403(client):
    # The nonces live in the database: flushing the cache (a Redis restart) forgets none of them.
    original = inbound_payload(sender="+14155550123", text="hello")
    headers = signed_headers(url="http://testserver" + INBOUND_PATH, params=original, versions=("v2", "ma-v2"))
    assert post_callback(client, INBOUND_PATH, original, headers=headers).status_code == 200
    cache.clear()
    forged = inbound_payload(sender="+14155550199", text="START")
    assert post_callback(client, INBOUND_PATH, forged, headers=headers).status_code == 403
    assert not InboundMessage.objects.filter(from_number="+14155550199").exists()


def test_a_v2_nonce_outlives_the_window_while_v2_only_requests_are_accepted(client, settings):
    original = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=original, versions=("v2",))
    assert post_callback(client, STATUS_PATH, original, headers=headers).status_code == 200
    later = timezone.now() + timedelta(seconds=settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS * 10)
    assert webhook_nonces_prune(now=later) == 0
    forged = report(status="undelivered", error_code="200")
    assert post_callback(client, STATUS_PATH, forged, headers=headers).status_code == 403
    assert not DeliveryReport.objects.filter(message_uuid=forged["MessageUUID"]).exists()
    assert not Suppression.objects.exists()


def test_nonces_are_pruned_after_the_window_the_v2_ones_once_v2_only_is_refused(client, settings):
    assert post_callback(client, STATUS_PATH, report()).status_code == 200  # a V2 nonce and a V3 nonce
    window = settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS
    assert webhook_nonces_prune(now=timezone.now() + timedelta(seconds=window - 5)) == 0
    assert webhook_nonces_prune(now=timezone.now() + timedelta(seconds=window + 5)) == 1
    assert list(WebhookNonce.objects.values_list("version", flat=True)) == [WebhookNonce.Version.V2]
    settings.PLIVO_WEBHOOK_ACCEPT_V2_ONLY = False
    assert webhook_nonces_prune(now=timezone.now() + timedelta(seconds=window + 5)) == 1
    assert not WebhookNonce.objects.exists()


def test_a_v3_callback_replayed_after_its_nonce_was_pruned_changes_nothing(client, settings):
    # V3 signs the body, so all a forgotten V3 nonce allows is the very same callback again: a duplicate.
    params = report()
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=params, versions=("v3",))
    assert post_callback(client, STATUS_PATH, params, headers=headers).json()["result"] == "accepted"
    webhook_nonces_prune(now=timezone.now() + timedelta(seconds=settings.PLIVO_WEBHOOK_NONCE_TTL_SECONDS + 5))
    assert not WebhookNonce.objects.exists()
    assert post_callback(client, STATUS_PATH, params, headers=headers).json()["result"] == "duplicate"
    assert DeliveryReport.objects.count() == 1


def test_the_nonce_of_a_callback_answered_400_cannot_carry_another_body(client):
    # The nonce is stored before the handler runs, not in its transaction: a callback refused as malformed
    # must not leave its V2 headers free for a body of someone else's choosing.
    malformed = {**report(), "Units": "²"}
    headers = signed_headers(url="http://testserver" + STATUS_PATH, params=malformed, versions=("v2",))
    assert post_callback(client, STATUS_PATH, malformed, headers=headers).status_code == 400
    assert post_callback(client, STATUS_PATH, report(), headers=headers).status_code == 403
    assert not DeliveryReport.objects.exists()


def test_the_fingerprint_tells_apart_fields_that_would_print_alike():
    url = "http://testserver" + INBOUND_PATH
    one = webhook_request_fingerprint(method="POST", url=url, fields={"From": ["1"], "Text": ["hi\nTo=2"]})
    two = webhook_request_fingerprint(method="POST", url=url, fields={"From": ["1"], "Text": ["hi"], "To": ["2"]})
    assert one != two
    assert one == webhook_request_fingerprint(method="post", url=url, fields={"Text": ["hi\nTo=2"], "From": ["1"]})
    assert one != webhook_request_fingerprint(method="GET", url=url, fields={"From": ["1"], "Text": ["hi\nTo=2"]})


# --- Without the nonce store nothing is accepted ---------------------------------------------------------


def test_callbacks_are_answered_503_while_the_nonce_table_is_missing(client):
    # New code serving before its migration ran: nothing can be checked for replay, so Plivo must retry.
    params = report()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sends_webhooknonce RENAME TO sends_webhooknonce_away")
    response = post_callback(client, STATUS_PATH, params)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert not DeliveryReport.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sends_webhooknonce_away RENAME TO sends_webhooknonce")
    assert post_callback(client, STATUS_PATH, params).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_callbacks_are_answered_503_while_the_database_is_unreachable(client, caplog):
    params = report()
    reachable = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":  # a database file in a folder that does not exist cannot be opened
        connection.settings_dict.update(NAME=str(Path(reachable["NAME"]).parent / "gone" / "db.sqlite3"))
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=_closed_port())
    try:
        with caplog.at_level(logging.WARNING):
            response = post_callback(client, STATUS_PATH, params)
    finally:
        connection.close()
        connection.settings_dict.update(reachable)
    assert response.status_code == 503
    assert "plivo_webhook_nonce_store_unavailable" in " ".join(str(record.msg) for record in caplog.records)
    assert not DeliveryReport.objects.exists()
    assert post_callback(client, STATUS_PATH, params).status_code == 200  # Plivo's retry, once it is back


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once the probe closes: nothing listens there
