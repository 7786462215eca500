"""The plivo backend: the real plivo SDK over real HTTP to the simulator (the `plivo_simulator` fixture)."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import plivo.rest.client as sdk_client
import pytest

from contacts.tests.factories import fictional_number
from sends.backends import get_connection
from sends.backends.base import BackendError, ErrorClass, OutboundMessage
from sends.backends.plivo import PlivoClient, SmsBackend
from sends.tests.outbound import SENDER, send


def test_single_send_returns_the_message_uuid_the_provider_recorded(plivo_simulator):
    [result] = send(["+14155550123"], body="Hi there")
    assert result.ok and result.destination == "+14155550123"
    [record] = plivo_simulator.messages()
    assert (record["uuid"], record["src"], record["dst"], record["text"]) == (
        result.message_uuid,
        SENDER,
        "+14155550123",
        "Hi there",
    )


def test_status_callback_url_defaults_to_the_status_webhook(plivo_simulator, settings):
    settings.PUBLIC_BASE_URL = "https://sms.example.com"
    send(["+14155550123"])
    assert plivo_simulator.messages()[0]["url"] == "https://sms.example.com/webhooks/plivo/status/"


def test_an_explicit_status_callback_url_is_used(plivo_simulator):
    with get_connection() as backend:
        backend.send_message(
            OutboundMessage(
                sender=SENDER, destinations=["+14155550123"], body="x", status_callback_url="http://cb.test/s/?send=7"
            )
        )
    assert plivo_simulator.messages()[0]["url"] == "http://cb.test/s/?send=7"


def test_bulk_send_maps_every_uuid_to_its_own_recipient_in_requests_of_at_most_1000(plivo_simulator):
    destinations = [fictional_number(200 + n) for n in range(1500)]
    results = send(destinations, body="Sale today")
    assert [r.destination for r in results] == destinations
    assert all(r.ok for r in results)
    recorded = {m["uuid"]: m["dst"] for m in plivo_simulator.messages()}
    assert len(recorded) == 1500
    assert {r.message_uuid: r.destination for r in results} == recorded
    stats = plivo_simulator.stats()
    assert stats["answers_202"] == 2  # 1,000 + 500


def test_invalid_numbers_in_a_202_fail_only_their_own_recipients(plivo_simulator):
    plivo_simulator.set_faults(invalid_numbers=["+14155550125"])
    destinations = ["+14155550123", "+1555", "+14155550124", "+14155550125", "+14155550126"]
    results = send(destinations)
    by_destination = {r.destination: r for r in results}
    for bad in ("+1555", "+14155550125"):
        error = by_destination[bad].error
        assert (error.error_class, error.code) == (ErrorClass.PERMANENT, "invalid_number")
        assert bad in error.message
    good = [r for r in results if r.ok]
    assert [r.destination for r in good] == ["+14155550123", "+14155550124", "+14155550126"]
    assert {m["uuid"]: m["dst"] for m in plivo_simulator.messages()} == {r.message_uuid: r.destination for r in good}


def test_a_request_with_no_valid_number_is_a_permanent_400(plivo_simulator):
    [result] = send(["+1555"])
    assert (result.error.error_class, result.error.code) == (ErrorClass.PERMANENT, "http_400")
    assert "+1555" in result.error.message
    assert plivo_simulator.messages() == []


def test_a_repeated_destination_or_the_sender_itself_is_refused_without_losing_the_others(plivo_simulator):
    results = send(["+14155550123", SENDER, "+1 415 555 0123", "+14155550124"])
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error.code == "destination_is_sender"
    assert results[2].error.code == "duplicate_destination"
    assert len(plivo_simulator.messages()) == 2


@pytest.mark.parametrize(
    ("faults", "error_class", "code", "retry_after"),
    [
        ({"share_429": 1.0}, ErrorClass.TRANSIENT, "http_429", 1.0),
        ({"share_5xx": 1.0}, ErrorClass.TRANSIENT, "http_500", None),
        ({"share_5xx": 1.0, "status_5xx": 503}, ErrorClass.TRANSIENT, "http_503", 1.0),
        ({"account_error": 402}, ErrorClass.ACCOUNT, "insufficient_credit", None),
        ({"account_error": 403}, ErrorClass.ACCOUNT, "geo_permission", None),
    ],
)
def test_provider_errors_are_classified_from_the_http_status(plivo_simulator, faults, error_class, code, retry_after):
    plivo_simulator.set_faults(**faults)
    results = send(["+14155550123", "+14155550124"])
    assert {(r.error.error_class, r.error.code, r.error.retry_after) for r in results} == {
        (error_class, code, retry_after)
    }
    assert plivo_simulator.messages() == []


def test_a_wrong_auth_token_is_an_account_error(plivo_simulator):
    [result] = send(["+14155550123"], auth_token="not-the-token")
    assert (result.error.error_class, result.error.code) == (ErrorClass.ACCOUNT, "auth_failed")
    assert "PLIVO_AUTH_ID" in result.error.message


def test_an_auth_id_plivo_would_never_issue_is_an_account_error_before_any_request(plivo_simulator):
    [result] = send(["+14155550123"], auth_id="not-an-auth-id")
    assert (result.error.error_class, result.error.code) == (ErrorClass.ACCOUNT, "auth_config")
    assert "20 characters" in result.error.message
    assert plivo_simulator.stats().get("answers_401") is None


def test_going_over_the_providers_rate_cap_is_a_transient_429(plivo_simulator):
    plivo_simulator.set_faults(max_per_second=3)
    results = send([fictional_number(300 + n) for n in range(5)])  # one request of 5 > 3 per second
    assert {r.error.code for r in results} == {"http_429"}
    assert all(r.error.is_retryable for r in results)


def test_a_slow_provider_is_a_transient_timeout(plivo_simulator):
    plivo_simulator.set_faults(latency_ms=500)
    [result] = send(["+14155550123"], read_timeout=0.1)
    assert (result.error.error_class, result.error.code) == (ErrorClass.TRANSIENT, "timeout")
    # The provider still accepts it after we gave up: why a timed-out send is reconciled, never re-sent
    # blindly. Waiting for it also keeps this late message out of the next test's record.
    deadline = time.monotonic() + 5
    while not plivo_simulator.messages() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["dst"] for m in plivo_simulator.messages()] == ["+14155550123"]


def test_an_unreachable_provider_is_a_transient_connection_error(plivo_simulator):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    [result] = send(["+14155550123"], api_url=f"http://127.0.0.1:{closed_port}")
    assert (result.error.error_class, result.error.code) == (ErrorClass.TRANSIENT, "connection_error")


def test_one_connection_is_kept_alive_across_sends(plivo_simulator):
    before = plivo_simulator.stats()["connections_opened"]
    with get_connection() as backend:
        for n in range(5):
            backend.send_message(OutboundMessage(sender=SENDER, destinations=[fictional_number(400 + n)], body="x"))
            backend.fetch_message_status(plivo_simulator.messages()[-1]["uuid"])
    after = plivo_simulator.stats()
    assert after["answers_202"] == 5
    # The control calls of this test reuse the handle's own connection, already open before `before`.
    assert after["connections_opened"] - before == 1


def test_the_api_url_override_is_per_client_and_leaves_the_sdk_module_alone(plivo_simulator):
    client = PlivoClient(api_url=plivo_simulator.url, auth_id=plivo_simulator.auth_id, auth_token="t", timeout=(1, 1))
    assert client.base_uri == f"{plivo_simulator.url}/v1/Account"
    assert sdk_client.PLIVO_API_BASE_URI == "https://api.plivo.com/v1/Account"


def test_message_status_follows_the_provider_until_delivered(plivo_simulator):
    [result] = send(["+14155550123"])
    plivo_simulator.wait_for_status(result.message_uuid, "delivered")
    with get_connection() as backend:
        assert backend.fetch_message_status(result.message_uuid) == "delivered"
        assert backend.fetch_message_status("00000000-0000-0000-0000-000000000000") is None


def test_an_undeliverable_number_ends_undelivered(plivo_simulator):
    plivo_simulator.set_faults(undeliverable_numbers=["+14155550123"])
    [result] = send(["+14155550123"])
    assert result.ok  # accepted; the carrier fails it later
    plivo_simulator.wait_for_status(result.message_uuid, "undelivered")
    assert get_connection().fetch_message_status(result.message_uuid) == "undelivered"


def test_a_status_lookup_that_fails_raises_with_the_classified_error(plivo_simulator):
    backend = SmsBackend(auth_token="wrong")
    with pytest.raises(BackendError) as caught:
        backend.fetch_message_status("00000000-0000-0000-0000-000000000000")
    assert caught.value.error.code == "auth_failed"


def test_find_messages_answers_every_message_to_a_number_in_the_window_across_pages(plivo_simulator):
    before = datetime.now(UTC) - timedelta(seconds=1)
    results = [send(["+14155550123"], body=f"offer {n}")[0] for n in range(25)]
    send(["+14155550124"], body="not theirs")
    with get_connection() as backend:
        found = backend.find_messages(to_number="+14155550123", since=before, until=datetime.now(UTC))
        assert {m.message_uuid for m in found} == {r.message_uuid for r in results}
        assert {(m.to_number, m.units) for m in found} == {("14155550123", 1)}
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        assert backend.find_messages(to_number="+14155550123", since=long_ago, until=long_ago) == []
    with pytest.raises(BackendError) as caught:
        SmsBackend(auth_token="wrong").find_messages(to_number="+14155550123", since=before, until=before)
    assert caught.value.error.code == "auth_failed"


def test_uuids_are_matched_by_asking_the_provider_when_the_answer_cannot_be_matched_by_order(plivo_simulator):
    results = send(["+14155550123", "+14155550124"])
    backend = get_connection()
    uuids = [r.message_uuid for r in reversed(results)]
    assert backend._uuids_by_recipient(uuids) == {"14155550123": uuids[1], "14155550124": uuids[0]}


def test_threads_sharing_one_backend_each_get_their_own_recipients_uuids(plivo_simulator):
    batches = [[fictional_number(1000 + 100 * t + n) for n in range(100)] for t in range(8)]
    with get_connection() as backend, ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(
            pool.map(
                lambda batch: backend.send_message(OutboundMessage(sender=SENDER, destinations=batch, body="x")),
                batches,
            )
        )
    results = [r for batch in outcomes for r in batch]
    assert all(r.ok for r in results) and len(results) == 800
    assert {r.message_uuid: r.destination for r in results} == {m["uuid"]: m["dst"] for m in plivo_simulator.messages()}
    assert sum(plivo_simulator.stats()["accepted_per_second"].values()) == 800
