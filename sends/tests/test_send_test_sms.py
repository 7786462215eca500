import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command


def test_send_test_sms_sends_through_the_configured_backend_and_prints_the_uuid(plivo_simulator, capsys):
    call_command("send_test_sms", "+14155550123", "Hello")
    out = capsys.readouterr().out
    [record] = plivo_simulator.messages()
    assert (record["dst"], record["text"]) == ("+14155550123", "Hello")
    assert f"message uuid {record['uuid']}" in out
    assert "1 segment (GSM-7)" in out


def test_send_test_sms_accepts_a_national_number_in_the_default_region(plivo_simulator):
    call_command("send_test_sms", "(415) 555-0124", "Hi")
    assert plivo_simulator.messages()[0]["dst"] == "+14155550124"


def test_send_test_sms_says_which_argument_is_wrong(plivo_simulator):
    with pytest.raises(CommandError, match="Argument `to`: '12' is not a valid phone number"):
        call_command("send_test_sms", "12", "Hello")
    with pytest.raises(CommandError, match="Argument `text`: the message is empty"):
        call_command("send_test_sms", "+14155550123", "  ")
    with pytest.raises(CommandError, match="too long to send: 1,601 characters in GSM-7"):
        call_command("send_test_sms", "+14155550123", "x" * 1601)
    assert plivo_simulator.messages() == []


def test_send_test_sms_reports_a_provider_refusal_with_its_class(plivo_simulator):
    plivo_simulator.set_faults(account_error=402)
    with pytest.raises(CommandError, match=r"Not sent \(account, insufficient_credit\)"):
        call_command("send_test_sms", "+14155550123", "Hello")


def test_send_test_sms_works_with_the_locmem_backend_too(sms_outbox, capsys):
    call_command("send_test_sms", "+14155550123", "Hello")
    assert sms_outbox[0].destinations == ["+14155550123"]
    assert "Sent: message uuid" in capsys.readouterr().out


def test_another_process_reaches_the_test_simulator_through_its_env(plivo_simulator):
    finished = subprocess.run(
        [sys.executable, "manage.py", "send_test_sms", "+14155550123", "From a worker"],
        cwd=settings.BASE_DIR,
        env={**os.environ, **plivo_simulator.env(), "PLIVO_SENDER": "+14155550100"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    [record] = plivo_simulator.messages()
    assert record["text"] == "From a worker"
    assert record["uuid"] in finished.stdout
