import io
import json
import logging
import logging.config

import structlog
from django.conf import settings

from smscampaigns.logging import REDACTED, build_logging_config


def _capture_json_logs(emit) -> list[dict]:
    """The JSON lines that the production logging configuration writes while `emit` runs.

    The handler writes to a buffer of our own and the test's configuration is undone afterwards: a handler
    left on pytest's capture stream of this test would fail on every later log line once that stream closes.
    """
    buffer = io.StringIO()
    config = build_logging_config(json_lines=True, level="INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    try:
        emit()
    finally:
        logging.config.dictConfig(settings.LOGGING)
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_log_lines_are_json_with_level_logger_and_time():
    lines = _capture_json_logs(lambda: structlog.get_logger("smscampaigns.test").info("hello", n=3))
    assert lines[-1]["event"] == "hello"
    assert lines[-1]["n"] == 3
    assert lines[-1]["level"] == "info"
    assert lines[-1]["logger"] == "smscampaigns.test"
    assert "timestamp" in lines[-1]


def test_secrets_are_never_written(settings):
    settings.PLIVO_AUTH_TOKEN = "tok_SuperSecretValue123"

    def emit():
        log = structlog.get_logger("smscampaigns.test")
        log.info("calling plivo", auth_token="tok_SuperSecretValue123", headers={"Authorization": "Basic abc"})
        log.warning("failed with url https://MA:tok_SuperSecretValue123@api.plivo.com")
        logging.getLogger("django.request").error("stdlib record with %s", "tok_SuperSecretValue123")

    lines = _capture_json_logs(emit)
    text = "\n".join(json.dumps(line) for line in lines)
    assert "tok_SuperSecretValue123" not in text
    assert "Basic abc" not in text
    assert lines[-3]["auth_token"] == REDACTED
    assert REDACTED in lines[-2]["event"]
    assert REDACTED in lines[-1]["event"]
