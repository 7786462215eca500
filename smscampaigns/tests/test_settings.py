"""Settings are read once per process, so each case runs manage.py in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x8#kP2!vQz9@Lm4$Tn7^Wr1&Ys6*Hb3(Jd5)Fg0-Ac+Ee=Ui~Oo",
    "ALLOWED_HOSTS": "sms.example.com",
    "PUBLIC_BASE_URL": "https://sms.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only PATH and the given values: nothing from the developer's shell or the test run leaks in.
    clean = {"PATH": os.environ["PATH"], "VAR_DIR": os.environ.get("VAR_DIR", str(ROOT / "var")), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


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
    ],
)
def test_malformed_setting_names_itself(name, value):
    result = manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_needs_no_environment_in_debug():
    result = manage("check", env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
