"""Settings are read once per process, so each case runs manage.py in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smscampaigns.tests.helpers import PRODUCTION_ENV, ROOT, assert_start_up_refused_naming, manage


def test_missing_secret_key_stops_start_up_with_one_line_naming_it():
    result = manage("check", env={"DEBUG": "false"})
    assert result.returncode != 0
    assert result.stderr.strip() == "Configuration error: Setting SECRET_KEY is required when DEBUG is off."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QUIET_HOURS_START", "eight"),
        ("QUIET_HOURS_RULES", '{"Florida": ["08:00", "20:00"]}'),
        ("QUIET_HOURS_RULES", '{"US-FL": ["20:00", "08:00"]}'),
        ("QUIET_HOURS_RULES", "{nope"),
        ("QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS", "2"),
        ("DEFAULT_PHONE_REGION", "USA"),
        ("SEND_RATE_PER_SECOND", "fast"),
        ("REDIS_URL", "localhost:6379"),
        ("API_THROTTLE_RATE", "lots"),
        ("DATABASE_URL", "nonsense://"),
        ("TRUSTED_PROXY_HEADER", "X Forwarded For"),
        ("TRUSTED_PROXY_COUNT", "two"),
        ("TRUSTED_PROXY_COUNT", "-1"),
        ("CONTACT_IMPORT_MAX_BYTES", "fifty megabytes"),
        ("CONTACT_MAX_ATTRIBUTES", "0"),
        ("FREQUENCY_CAP_MAX_MESSAGES", "-1"),
        ("FREQUENCY_CAP_MAX_MESSAGES", "three"),
        ("FREQUENCY_CAP_WINDOW_DAYS", "0"),
        ("OPT_IN_PENDING_DAYS", "0"),
        ("JOIN_RATE_LIMIT_PER_HOUR", "many"),
        ("NUMBER_LOOKUP_PRICE", "four tenths of a cent"),
        ("NUMBER_LOOKUP_PRICE", "-0.004"),
        ("NUMBER_LOOKUP_EXCLUDED_LINE_TYPES", "fixed,landline"),
        ("NUMBER_LOOKUP_MAX_AGE_DAYS", "ninety"),
        ("OPT_IN_CONFIRMATION_TEXT", "{program}: reply Y. {nope}. Msg & data rates may apply. HELP, STOP"),
        # The CTIA disclosures may not be dropped from the confirmation.
        ("OPT_IN_CONFIRMATION_TEXT", "{program}: reply Y to confirm. Msg & data rates may apply. Reply HELP."),
        ("OPT_IN_CONFIRMATION_TEXT", "{program}: reply Y to confirm. Reply HELP for help, STOP to cancel."),
    ],
)
def test_malformed_setting_names_itself(name, value):
    assert_start_up_refused_naming(name, value)


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_needs_no_environment_in_debug():
    result = manage("check", env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_BACKEND", "sends.backends.console.SmsBackend"),
        ("SMS_BACKEND", "sends.backends.locmem.SmsBackend"),
        ("SMS_BACKEND", "sends.backends.filebased.SmsBackend"),
        ("SMS_BACKEND", ""),
        ("PLIVO_AUTH_ID", ""),
        ("PLIVO_AUTH_TOKEN", ""),
        ("PLIVO_SENDER", ""),
        ("PUBLIC_BASE_URL", "http://sms.example.com"),
    ],
)
def test_production_that_would_send_nothing_is_refused_by_check_deploy(name, value):
    result = manage("check", "--deploy", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: Setting {name} "), lines[0]


def test_a_non_delivering_backend_is_allowed_when_delivery_is_declared_not_required():
    env = {**PRODUCTION_ENV, "SMS_BACKEND": "sends.backends.locmem.SmsBackend", "SMS_DELIVERY_REQUIRED": "false"}
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["gunicorn", "smscampaigns.wsgi:application", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0"],
        ["celery", "-A", "smscampaigns", "worker", "--pool", "solo"],
        ["celery", "-A", "smscampaigns", "beat"],
    ],
    ids=["web", "worker", "beat"],
)
def test_web_worker_and_beat_refuse_to_start_with_a_backend_that_sends_nothing(command, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "VAR_DIR": str(tmp_path),
        **PRODUCTION_ENV,
        "SMS_BACKEND": "sends.backends.console.SmsBackend",
    }
    executable = str(Path(sys.executable).parent / command[0])
    result = subprocess.run([executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if line.startswith("Configuration error:")]
    assert refusals == [
        "Configuration error: Setting SMS_BACKEND is sends.backends.console.SmsBackend, which delivers nothing, "
        "and DEBUG is off: use sends.backends.plivo.SmsBackend (or SMS_DELIVERY_REQUIRED=false where nobody may "
        "be texted)."
    ]
    assert "Traceback" not in result.stderr
