import pytest

from smscampaigns.tests.helpers import PRODUCTION_ENV, assert_start_up_refused_naming, manage


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
    assert_start_up_refused_naming(name, value)


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
