import io

import pytest

from sends.backends import get_connection
from sends.backends.base import BaseSmsBackend, ErrorClass, OutboundMessage, SendError


def test_get_connection_builds_the_configured_backend(settings, sms_outbox):
    settings.SMS_BACKEND = "sends.backends.locmem.SmsBackend"
    with get_connection() as backend:
        results = backend.send_message(OutboundMessage(sender="+14155550100", destinations=["+14155550101"], body="Hi"))
    assert [r.destination for r in results] == ["+14155550101"]
    assert results[0].ok
    assert sms_outbox[0].body == "Hi"
    assert backend.fetch_message_status(results[0].message_uuid) == "queued"


def test_locmem_outbox_is_empty_at_the_start_of_each_test(sms_outbox):
    assert sms_outbox == []


def test_console_backend_prints_each_message():
    stream = io.StringIO()
    backend = get_connection("sends.backends.console.SmsBackend", stream=stream)
    message = OutboundMessage(sender="+14155550100", destinations=["+14155550101", "+14155550102"], body="Sale!")
    results = backend.send_message(message)
    assert len(results) == 2 and all(r.ok for r in results)
    assert stream.getvalue().count("Sale!") == 2
    assert "to +14155550102" in stream.getvalue()


def test_base_backend_refuses_to_pretend_it_sent():
    with pytest.raises(NotImplementedError):
        BaseSmsBackend().send_message(OutboundMessage(sender="x", destinations=["y"], body="z"))


def test_only_transient_errors_are_retryable():
    assert SendError(ErrorClass.TRANSIENT, "http_429", "slow down").is_retryable
    assert not SendError(ErrorClass.PERMANENT, "invalid_number", "no such number").is_retryable
    assert not SendError(ErrorClass.ACCOUNT, "insufficient_credit", "top up").is_retryable
