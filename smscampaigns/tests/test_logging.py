import io
import json
import logging
import logging.config

import structlog
from django.conf import settings

from smscampaigns.logging import REDACTED, build_logging_config, mask_phone


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


def test_phone_numbers_are_masked_to_their_last_four_digits():
    def emit():
        log = structlog.get_logger("smscampaigns.test")
        log.warning(
            "opt-in refused", from_number="+14155550123", payload={"From": "14155550124", "To": "+1 (415) 555-0125"}
        )
        logging.getLogger("django.request").warning("Not Found: /api/v1/contacts/?search=+14155550126")

    lines = _capture_json_logs(emit)
    text = "\n".join(json.dumps(line) for line in lines)
    for number in ["4155550123", "4155550124", "415) 555-0125", "4155550126"]:
        assert number not in text
    assert lines[-2]["from_number"] == "+*******0123"
    assert lines[-2]["payload"] == {"From": "*******0124", "To": "+* (***) ***-0125"}
    assert lines[-1]["event"] == "Not Found: /api/v1/contacts/?search=+*******0126"


def test_short_numbers_and_ids_are_left_alone():
    assert mask_phone("123") == "123"
    assert mask_phone("+447700900123") == "+********0123"


def test_a_logged_request_shows_its_path_without_the_query_string(rf):
    request = rf.get("/api/v1/contacts/", {"search": "+14155550127", "token": "abc"})

    def emit():
        logging.getLogger("django.request").warning("Unauthorized: %s", request.path, extra={"request": request})
        structlog.get_logger("smscampaigns.test").info("url", url="/api/v1/contacts/?search=%2B14155550128")

    lines = _capture_json_logs(emit)
    assert lines[-2]["request"] == "GET /api/v1/contacts/"
    assert lines[-1]["url"] == "/api/v1/contacts/?search=%2B*******0128"


def test_a_logged_traceback_is_redacted_too(settings):
    settings.PLIVO_AUTH_TOKEN = "tok_SuperSecretValue123"

    def emit():
        try:
            raise ValueError("Key (phone_number)=(+14155550129) already exists; token tok_SuperSecretValue123")
        except ValueError:
            logging.getLogger("sends").exception("import failed")

    [line] = _capture_json_logs(emit)[-1:]
    assert "4155550129" not in line["exception"] and "+*******0129" in line["exception"]
    assert "tok_SuperSecretValue123" not in line["exception"]


def test_engine_ticks_stay_out_of_an_info_log_while_campaign_moves_are_in_it(db, staff_user):
    from campaigns.services.lifecycle import campaign_send_now
    from sends.services.fanout import campaigns_launch_due
    from sends.tests.test_engine import make_campaign

    campaign, _ = make_campaign(3)

    def emit():
        # What Celery writes at INFO for each of beat's ticks, every ENGINE_TICK_SECONDS.
        logging.getLogger("celery.beat").info("Scheduler: Sending due task sends-dispatch-tick")
        logging.getLogger("celery.app.trace").info("Task sends.tasks.sends_dispatch_tick succeeded")
        logging.getLogger("celery.app.trace").error("Task sends.tasks.sends_dispatch_tick raised")
        campaign_send_now(campaign=campaign, actor=staff_user)
        campaigns_launch_due()

    lines = _capture_json_logs(emit)
    events = [line["event"] for line in lines]
    assert not any("succeeded" in event or "Sending due task" in event for event in events)
    assert "Task sends.tasks.sends_dispatch_tick raised" in events
    moves = [(line["event"], line.get("status")) for line in lines if line.get("campaign_id") == campaign.pk]
    assert moves == [
        ("campaign_status_changed", "scheduled"),
        ("campaign_status_changed", "sending"),
        ("campaign_fanned_out", None),
    ]
    [fanned_out] = [line for line in lines if line["event"] == "campaign_fanned_out"]
    assert (fanned_out["queued"], fanned_out["skipped"]) == (3, 0)
