"""Settings are read once per process, so each case runs manage.py in a fresh process."""

import pytest

from smscampaigns.tests.helpers import PRODUCTION_ENV, assert_start_up_refused_naming, manage


def test_missing_secret_key_stops_start_up_with_one_line_naming_it():
    result = manage("check", env={"DEBUG": "false"})
    assert result.returncode != 0
    assert result.stderr.strip() == "Configuration error: Setting SECRET_KEY is required when DEBUG is off."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QUIET_HOURS_START", "eight"),
        ("DEFAULT_PHONE_REGION", "USA"),
        ("SEND_RATE_PER_SECOND", "fast"),
        ("REDIS_URL", "localhost:6379"),
        ("API_THROTTLE_RATE", "lots"),
        ("DATABASE_URL", "nonsense://"),
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
