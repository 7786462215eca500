import pytest

from smscampaigns.tests.test_settings import PRODUCTION_ENV, manage


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_HELP_TEXT", "{brnd}: reply STOP to stop"),
        ("SMS_OPT_OUT_CONFIRMATION", "Bye from {0}"),
        ("SMS_CONFIRMATION_WINDOW_SECONDS", "ten minutes"),
        ("PLIVO_WEBHOOK_NONCE_TTL_SECONDS", "1h"),
        ("SMS_REPLY_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_malformed_reply_setting_stops_start_up_naming_itself(name, value):
    result = manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_reply_templates_from_the_environment_are_used():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SMS_HELP_TEXT.format(brand=settings.SMS_BRAND_NAME, "
        "support=settings.SMS_SUPPORT_CONTACT)); print(settings.SMS_OPT_OUT_KEYWORDS)",
        env={
            **PRODUCTION_ENV,
            "SMS_BRAND_NAME": "Acme",
            "SMS_HELP_TEXT": "{brand} help",
            "SMS_OPT_OUT_KEYWORDS": "STOP,BASTA",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["Acme help", "['STOP', 'BASTA']"]
