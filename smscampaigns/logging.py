"""Structured logging: JSON lines in production, readable lines in DEBUG; secrets never written."""

import logging
import re
from typing import Any

import structlog

_SECRET_KEY_NAMES = re.compile(r"token|secret|password|passwd|authorization|signature|api_key|cookie", re.I)
REDACTED = "[redacted]"
# A phone number is personal data: logs keep its last digits (enough to tell two apart while debugging, not
# to text anyone). Values of these keys are numbers whatever their form (Plivo writes them without the '+');
# anywhere else a number is recognised by its E.164 form.
_PHONE_KEY_NAMES = re.compile(r"phone|number|^(from|to|src|dst)$", re.I)
_E164 = re.compile(r"(\+|%2[Bb])([1-9]\d{6,14})\b")  # as written, or URL-encoded in a query string
_DIGITS_SHOWN = 4


def mask_phone(text: str) -> str:
    """Every digit but the last four as '*': '+14155550123' -> '+*******0123'."""
    digits = sum(ch.isdigit() for ch in text)
    seen = 0
    masked = []
    for ch in text:
        if ch.isdigit():
            seen += 1
            masked.append(ch if seen > digits - _DIGITS_SHOWN else "*")
        else:
            masked.append(ch)
    return "".join(masked)


def _secret_values() -> list[str]:
    try:
        from django.conf import settings

        return [v for v in (settings.PLIVO_AUTH_TOKEN, settings.SECRET_KEY) if v and len(v) >= 8]
    except Exception:  # settings not configured yet (e.g. while settings themselves load)
        return []


# Event webhook signing secrets (integrations.models.endpoint_secret_generate), wherever they show up.
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9_\-]{8,}")


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        value = _WEBHOOK_SECRET.sub(REDACTED, value)
        return _E164.sub(lambda match: match.group(1) + mask_phone(match.group(2)), value)
    if isinstance(value, dict):
        return {k: _scrub_item(str(k), v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


def _scrub_item(key: str, value: Any, secrets: list[str]) -> Any:
    if _SECRET_KEY_NAMES.search(key):
        return REDACTED
    if key == "request" and hasattr(value, "method") and hasattr(value, "path"):
        # Django's request log records carry the request, whose repr has the query string (?search=...).
        return f"{value.method} {value.path}"
    if _PHONE_KEY_NAMES.search(key) and isinstance(value, str):
        return mask_phone(value)
    return _scrub(value, secrets)


def scrub(value: Any) -> Any:
    """`value` (text, or dicts and lists of them) with secrets dropped and phone numbers masked, as in logs."""
    return _scrub(value, _secret_values())


def redact_secrets(logger, method_name, event_dict: dict) -> dict:
    """Drop values of secret-looking keys and any configured secret that appears inside a value; mask phone
    numbers down to their last digits."""
    secrets = _secret_values()
    return {
        key: _scrub(value, secrets) if key == "event" else _scrub_item(key, value, secrets)
        for key, value in event_dict.items()
    }


_QUERY_STRING = re.compile(r"\?[^\s\"]*")


def request_line_redact(line: str) -> str:
    """A request line as production's access log keeps it (gunicorn.conf.py): the path without its query string,
    which can hold a phone number or a name (the admin's ?q=, the API's ?search=); any number left, masked."""
    return _scrub(_QUERY_STRING.sub("", line), _secret_values())


class AccessLogRedaction(logging.Filter):
    """The development server's request lines (logger django.server, `make run`), redacted like production's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = request_line_redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(request_line_redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def drop_duplicate_message(logger, method_name, event_dict: dict) -> dict:
    """stdlib records carry their text twice (event and message); keep one."""
    if event_dict.get("message") == event_dict.get("event"):
        del event_dict["message"]
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        drop_duplicate_message,
        redact_secrets,
    ]


def build_logging_config(*, json_lines: bool, level: str) -> dict:
    """Route stdlib logging and structlog through one formatter, and configure structlog."""
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    # Again, now that the traceback is text: an exception's message can hold a number or a
                    # secret ("Key (phone_number)=(+1...) already exists").
                    redact_secrets,
                    renderer,
                ],
                "foreign_pre_chain": _shared_processors(),
            },
            # runserver's request lines keep Django's own format (django.utils.log.DEFAULT_LOGGING), redacted.
            "django.server": {
                "()": "django.utils.log.ServerFormatter",
                "format": "[{server_time}] {message}",
                "style": "{",
            },
        },
        "filters": {"access_log_redaction": {"()": AccessLogRedaction}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
            "django.server": {
                "class": "logging.StreamHandler",
                "formatter": "django.server",
                "filters": ["access_log_redaction"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
            "django.db.backends": {"level": "WARNING"},
            "celery": {"level": level},
            # Beat's engine ticks run every ENGINE_TICK_SECONDS: at INFO, Celery's "sending due task", "received"
            # and "succeeded" lines for them would bury everything else. Failures still show (ERROR); the
            # services log what the ticks did (campaign_status_changed, campaign_fanned_out).
            **{
                name: {"level": "DEBUG" if level == "DEBUG" else "WARNING"}
                for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
            },
        },
    }
