"""The Plivo simulator over HTTP: Plivo's shapes, signed webhooks (checked with the SDK's own validators), faults."""

import os
import re
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from plivo.exceptions import ResourceNotFoundError
from plivo.utils import validate_signature, validate_v3_signature

from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.backends.plivo import PlivoClient
from sends.simulator import DEMO_AUTH_ID
from sends.tests.outbound import SENDER, send


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def assert_signed_by_plivo(request, url, auth_token):
    headers = request["headers"]
    assert validate_signature(url, headers["X-Plivo-Signature-V2-Nonce"], headers["X-Plivo-Signature-V2"], auth_token)
    assert validate_v3_signature(
        "POST",
        url,
        headers["X-Plivo-Signature-V3-Nonce"],
        auth_token,
        headers["X-Plivo-Signature-V3"],
        dict(request["form"]),
    )


def test_status_callbacks_arrive_in_order_signed_so_that_the_sdk_validates_them(plivo_simulator, webhook_receiver):
    url = f"{webhook_receiver.url}/webhooks/plivo/status/?campaign=7&a=b"
    [result] = send(["+14155550123"], url=url, body="Hi €")
    wait_until(lambda: len(webhook_receiver.requests) == 3)
    statuses = [r["form"]["Status"] for r in webhook_receiver.requests]
    assert statuses == ["queued", "sent", "delivered"]
    for request in webhook_receiver.requests:
        assert request["path"] == "/webhooks/plivo/status/?campaign=7&a=b"
        form = request["form"]
        assert (form["MessageUUID"], form["To"], form["From"]) == (result.message_uuid, "14155550123", "14155550100")
        assert (form["Units"], form["TotalRate"], form["TotalAmount"]) == ("1", "0.0055", "0.0055")
        assert_signed_by_plivo(request, url, plivo_simulator.auth_token)


def test_signatures_fail_validation_with_another_token_or_a_tampered_field(plivo_simulator, webhook_receiver):
    url = f"{webhook_receiver.url}/status/"
    send(["+14155550123"], url=url)
    wait_until(lambda: len(webhook_receiver.requests) == 3)
    request = webhook_receiver.requests[0]
    headers = request["headers"]
    nonce_v2, sig_v2 = headers["X-Plivo-Signature-V2-Nonce"], headers["X-Plivo-Signature-V2"]
    nonce_v3, sig_v3 = headers["X-Plivo-Signature-V3-Nonce"], headers["X-Plivo-Signature-V3"]
    assert not validate_signature(url, nonce_v2, sig_v2, "another-token")
    assert not validate_v3_signature("POST", url, nonce_v3, "another-token", sig_v3, request["form"])
    tampered = {**request["form"], "Status": "delivered"}
    assert not validate_v3_signature("POST", url, nonce_v3, plivo_simulator.auth_token, sig_v3, tampered)


def test_undeliverable_and_failed_numbers_end_with_their_error_code(plivo_simulator, webhook_receiver):
    plivo_simulator.set_faults(
        undeliverable_numbers=["+14155550123"], failed_numbers={"+14155550124": "200"}, delivery_delay_ms=5
    )
    send(["+14155550123", "+14155550124"], url=f"{webhook_receiver.url}/s/")
    wait_until(lambda: len(webhook_receiver.requests) == 6)
    finals = {r["form"]["To"]: r["form"] for r in webhook_receiver.requests if r["form"]["Sequence"] == "3"}
    assert (finals["14155550123"]["Status"], finals["14155550123"]["ErrorCode"]) == ("undelivered", "70")
    assert (finals["14155550124"]["Status"], finals["14155550124"]["ErrorCode"]) == ("failed", "200")


def test_a_failing_callback_is_retried_until_the_app_takes_it(plivo_simulator, webhook_receiver):
    plivo_simulator.set_faults(callback_retry_delays_ms=[10, 10, 10])
    webhook_receiver.statuses = [500, 503]  # the app fails twice, then answers 200
    send(["+14155550123"], url=f"{webhook_receiver.url}/s/")
    plivo_simulator.wait_for_callbacks()
    answered = [(r["form"]["Status"], r["answered"]) for r in webhook_receiver.requests]
    assert answered == [("queued", 500), ("queued", 503), ("queued", 200), ("sent", 200), ("delivered", 200)]
    stats = plivo_simulator.stats()
    assert (stats["callbacks_failed_attempts"], stats["callbacks_delivered"], stats["callbacks_given_up"]) == (2, 3, 0)


def test_with_status_callbacks_off_messages_are_delivered_without_calling_back(plivo_simulator, webhook_receiver):
    plivo_simulator.set_faults(status_callbacks=False)
    [result] = send(["+14155550123"], url=f"{webhook_receiver.url}/s/")
    plivo_simulator.wait_for_status(result.message_uuid, "delivered")
    plivo_simulator.wait_for_callbacks()
    assert webhook_receiver.requests == []
    assert plivo_simulator.stats()["callbacks_delivered"] == 0


def test_each_message_of_a_bulk_request_gets_its_callbacks_in_order_over_kept_alive_connections(
    plivo_simulator, webhook_receiver
):
    numbers = [f"+1415555{n:04d}" for n in range(200, 260)]
    results = send(numbers, url=f"{webhook_receiver.url}/s/")
    plivo_simulator.wait_for_callbacks()
    by_message: dict[str, list[str]] = {}
    for request in webhook_receiver.requests:
        by_message.setdefault(request["form"]["MessageUUID"], []).append(request["form"]["Status"])
    assert by_message == {r.message_uuid: ["queued", "sent", "delivered"] for r in results}
    # 180 callbacks from the simulator's few callback workers, each over its one kept-alive connection.
    assert webhook_receiver.connections <= 8


@pytest.mark.parametrize(
    ("status", "method", "form_kept"), [(307, "POST", True), (308, "POST", True), (302, "GET", False)]
)
def test_a_redirected_callback_is_followed_as_requests_follows_it(
    plivo_simulator, webhook_receiver, status, method, form_kept
):
    webhook_receiver.redirects["/old/"] = (status, "/new/")
    send(["+14155550123"], url=f"{webhook_receiver.url}/old/")
    plivo_simulator.wait_for_callbacks()
    followed = [r for r in webhook_receiver.requests if r["path"] == "/new/"]
    assert [r["method"] for r in followed] == [method] * 3
    assert [r["form"].get("Status") for r in followed] == (["queued", "sent", "delivered"] if form_kept else [None] * 3)
    assert len(webhook_receiver.requests) == 6  # each callback once where it was sent, once where it was sent on
    assert plivo_simulator.stats()["callbacks_delivered"] == 3


def test_a_callback_is_given_up_after_the_last_retry_and_the_next_status_still_goes(plivo_simulator, webhook_receiver):
    plivo_simulator.set_faults(callback_retry_delays_ms=[10])
    webhook_receiver.statuses = [500, 500]
    send(["+14155550123"], url=f"{webhook_receiver.url}/s/")
    plivo_simulator.wait_for_callbacks()
    assert [r["form"]["Status"] for r in webhook_receiver.requests] == ["queued", "queued", "sent", "delivered"]
    assert plivo_simulator.stats()["callbacks_given_up"] == 1


def test_inbound_text_reaches_the_apps_inbound_webhook_signed(plivo_simulator, webhook_receiver):
    plivo_simulator.app_url = webhook_receiver.url
    answer = plivo_simulator.inbound(from_="+14155550123", to=SENDER, text="STOP")
    wait_until(lambda: len(webhook_receiver.requests) == 1)
    [request] = webhook_receiver.requests
    assert request["path"] == "/webhooks/plivo/inbound/"
    form = request["form"]
    assert (form["From"], form["To"], form["Text"], form["MessageUUID"]) == (
        "14155550123",
        "14155550100",
        "STOP",
        answer["message_uuid"],
    )
    assert_signed_by_plivo(request, f"{webhook_receiver.url}/webhooks/plivo/inbound/", plivo_simulator.auth_token)


def test_inbound_without_a_sender_says_what_is_missing(plivo_simulator):
    response = requests.post(f"{plivo_simulator.url}/_sim/inbound", json={"to": SENDER, "text": "hi"}, timeout=5)
    assert response.status_code == 400
    assert "`from` is required" in response.json()["error"]


def test_the_message_record_lists_each_accepted_message_once_and_can_be_emptied(plivo_simulator):
    send(["+14155550123", "+14155550124"], body="One")
    send(["+14155550123"], body="Two")
    records = requests.get(f"{plivo_simulator.url}/_sim/messages", timeout=5).json()
    assert records["count"] == 3
    assert [(m["dst"], m["text"]) for m in records["messages"]] == [
        ("+14155550123", "One"),
        ("+14155550124", "One"),
        ("+14155550123", "Two"),
    ]
    assert set(records["messages"][0]) >= {"uuid", "src", "dst", "text", "time"}
    assert requests.delete(f"{plivo_simulator.url}/_sim/messages", timeout=5).status_code == 200
    assert plivo_simulator.messages() == []


def test_the_per_second_cap_answers_429_above_it_and_the_stats_prove_it_held(plivo_simulator):
    plivo_simulator.set_faults(max_per_second=5)
    outcomes = [send([f"+1415555{200 + n:04d}"])[0] for n in range(30)]
    accepted = [r for r in outcomes if r.ok]
    refused = [r for r in outcomes if not r.ok]
    assert accepted and refused
    assert {r.error.code for r in refused} == {"http_429"}
    stats = plivo_simulator.stats()
    assert stats["max_accepted_in_one_second"] <= 5
    assert sum(stats["accepted_per_second"].values()) == len(accepted) == stats["messages_accepted"]


def test_plivo_error_shape_and_auth(plivo_simulator):
    url = f"{plivo_simulator.url}/v1/Account/{DEMO_AUTH_ID}/Message/"
    body = {"src": SENDER, "dst": "14155550123", "text": "hi"}
    wrong = requests.post(url, json=body, auth=(DEMO_AUTH_ID, "wrong"), timeout=5)
    assert wrong.status_code == 401 and set(wrong.json()) == {"api_id", "error"}
    right = requests.post(url, json=body, auth=(DEMO_AUTH_ID, plivo_simulator.auth_token), timeout=5)
    assert right.status_code == 202
    assert set(right.json()) == {"api_id", "message", "message_uuid", "invalid_number"}
    assert right.json()["message"] == "message(s) queued"
    missing = requests.post(url, json={"src": SENDER}, auth=(DEMO_AUTH_ID, plivo_simulator.auth_token), timeout=5)
    assert missing.status_code == 400 and "dst, text" in missing.json()["error"]


def test_the_sdk_reads_a_message_back_in_plivos_shape(plivo_simulator):
    [result] = send(["+14155550123"], body="x" * 161)
    client = PlivoClient(
        api_url=plivo_simulator.url, auth_id=plivo_simulator.auth_id, auth_token=plivo_simulator.auth_token, timeout=5
    )
    record = client.messages.get(result.message_uuid)
    assert (record.to_number, record.from_number, record.units, record.message_direction) == (
        "14155550123",
        "14155550100",
        2,
        "outbound",
    )
    with pytest.raises(ResourceNotFoundError):
        client.messages.get("no-such-message")


def test_the_sdk_lists_messages_by_number_and_time_a_page_of_at_most_20_at_a_time(plivo_simulator):
    client = PlivoClient(
        api_url=plivo_simulator.url, auth_id=plivo_simulator.auth_id, auth_token=plivo_simulator.auth_token, timeout=5
    )
    for n in range(23):
        send(["+14155550123"], body=f"number {n}")
    send(["+14155550124"], body="someone else")
    first = client.messages.list(to_number="14155550123", limit=20)
    assert len(first) == 20 and first.meta["next"] and first.meta["previous"] is None
    rest = client.messages.list(to_number="14155550123", limit=20, offset=20)
    assert len(rest) == 3 and rest.meta["next"] is None
    uuids = [m.message_uuid for m in (*first, *rest)]
    assert len(set(uuids)) == 23 and {m.to_number for m in (*first, *rest)} == {"14155550123"}
    times = [m.message_time for m in (*first, *rest)]
    assert times == sorted(times, reverse=True)  # the most recent first, as Plivo lists them
    assert len(client.messages.list(to_number="14155550123", message_time__gte="2000-01-01 00:00:00")) == 20
    assert len(client.messages.list(to_number="14155550123", message_time__lte="2000-01-01 00:00")) == 0
    assert len(client.messages.list(message_direction="inbound")) == 0
    url = f"{plivo_simulator.url}/v1/Account/{DEMO_AUTH_ID}/Message/"
    auth = (DEMO_AUTH_ID, plivo_simulator.auth_token)
    too_many = requests.get(url, params={"limit": 21}, auth=auth, timeout=5)
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]
    bad_time = requests.get(url, params={"message_time__gte": "yesterday"}, auth=auth, timeout=5)
    assert bad_time.status_code == 400 and "message_time__gte" in bad_time.json()["error"]
    assert requests.get(url, auth=(DEMO_AUTH_ID, "wrong"), timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"share_492": 1}, "share_492"),
        ({"share_429": 2}, "share_429"),
        ({"max_per_second": "ten"}, "max_per_second"),
        ({"account_error": 404}, "account_error"),
        ({"invalid_numbers": "+14155550123"}, "invalid_numbers"),
    ],
)
def test_a_bad_fault_setting_is_refused_with_its_name(plivo_simulator, payload, named):
    response = requests.post(f"{plivo_simulator.url}/_sim/faults", json=payload, timeout=5)
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_faults_are_reset_between_tests(plivo_simulator):
    faults = requests.get(f"{plivo_simulator.url}/_sim/faults", timeout=5).json()
    assert (faults["share_429"], faults["invalid_numbers"], faults["max_per_second"]) == (0.0, [], None)


def test_the_management_command_serves_the_sdk_on_the_port_it_prints(tmp_path):
    env = {
        **os.environ,
        "PLIVO_AUTH_ID": DEMO_AUTH_ID,
        "PLIVO_AUTH_TOKEN": "command-token",
        "DEBUG": "true",
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "unused.sqlite3"),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "plivo_simulator", "--port", "0", "--app-url", "http://127.0.0.1:9"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        backend = get_connection(
            "sends.backends.plivo.SmsBackend", api_url=match.group(0), auth_id=DEMO_AUTH_ID, auth_token="command-token"
        )
        [result] = backend.send_message(OutboundMessage(sender=SENDER, destinations=["+14155550123"], body="hi"))
        assert result.ok, result.error
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_management_command_refuses_credentials_the_sdk_would_refuse():
    env = {**os.environ, "PLIVO_AUTH_ID": "abc", "PLIVO_AUTH_TOKEN": "t", "DEBUG": "true"}
    finished = subprocess.run(
        [sys.executable, "manage.py", "plivo_simulator", "--port", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "PLIVO_AUTH_ID must be a Plivo auth id" in finished.stderr


def test_the_live_fixture_points_callbacks_and_inbound_texts_at_the_live_server(plivo_simulator_live, live_server):
    assert plivo_simulator_live.app_url == live_server.url == settings.PUBLIC_BASE_URL
    send(["+14155550123"])
    assert plivo_simulator_live.messages()[0]["url"] == f"{live_server.url}/webhooks/plivo/status/"
    plivo_simulator_live.wait_for_callbacks()
    stats = plivo_simulator_live.stats()
    # The live server answered each callback (whatever its status while the webhook views do not exist yet).
    assert stats["callbacks_delivered"] + stats["callbacks_failed_attempts"] == 3


def test_get_callbacks_carry_the_fields_in_the_query_and_validate_with_the_sdk(plivo_simulator, webhook_receiver):
    url = f"{webhook_receiver.url}/status/?campaign=7"
    response = requests.post(
        f"{plivo_simulator.url}/v1/Account/{DEMO_AUTH_ID}/Message/",
        json={"src": SENDER, "dst": "14155550123", "text": "hi", "url": url, "method": "GET"},
        auth=(DEMO_AUTH_ID, plivo_simulator.auth_token),
        timeout=5,
    )
    assert response.status_code == 202
    wait_until(lambda: len(webhook_receiver.requests) == 3)
    for request in webhook_receiver.requests:
        assert request["method"] == "GET"
        assert request["form"]["campaign"] == "7" and request["form"]["To"] == "14155550123"
        headers = request["headers"]
        called = f"{webhook_receiver.url}{request['path']}"
        assert validate_signature(
            called, headers["X-Plivo-Signature-V2-Nonce"], headers["X-Plivo-Signature-V2"], plivo_simulator.auth_token
        )
        assert validate_v3_signature(
            "GET",
            called,
            headers["X-Plivo-Signature-V3-Nonce"],
            plivo_simulator.auth_token,
            headers["X-Plivo-Signature-V3"],
        )


def test_a_request_still_in_progress_at_a_reset_is_not_recorded_after_it(plivo_simulator):
    plivo_simulator.set_faults(latency_ms=300)
    [result] = send_with_timeout(["+14155550123"], read_timeout=0.05)
    assert result.error.code == "timeout"
    plivo_simulator.reset()  # what the fixture does between tests
    time.sleep(0.5)  # the server finishes the slow request meanwhile
    assert plivo_simulator.messages() == []
    assert plivo_simulator.stats()["messages_accepted"] == 0


def send_with_timeout(destinations, *, read_timeout):
    with get_connection(read_timeout=read_timeout) as backend:
        return backend.send_message(OutboundMessage(sender=SENDER, destinations=destinations, body="x"))


def test_numbers_reserved_for_fiction_are_delivered_by_default(plivo_simulator):
    numbers = ["+12125550100", "+16465550199", "+13105550142", "+14155550123"]
    results = send(numbers)
    assert all(r.ok for r in results)
    for result in results:
        plivo_simulator.wait_for_status(result.message_uuid, "delivered")
