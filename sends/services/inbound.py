"""Inbound texts: record each one, read STOP / START / HELP (and informal opt-outs) and act on it at once.

Opt-outs take effect inside the webhook's transaction; the confirmation reply goes out through the SMS
backend after the commit, from the number the person texted. The answer to an opt-out waits (briefly) for
any message already on its way to that number, so that nobody is texted after their STOP was answered.
Retries of one message (same MessageUUID) are no-ops.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.models import ConsentEvent
from contacts.selectors import contact_get_by_phone
from contacts.services.consent import person_opt_in_record
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.listeners import message_listeners
from sends.models import HelpReply, InboundMessage
from sends.plivo_fields import plivo_number_e164, plivo_required, plivo_sender, plivo_text
from sends.services.counters import campaign_counters_add
from sends.services.opt_in_replies import opt_in_act, opt_in_reading
from sends.services.opt_outs import number_opt_out, sends_in_flight_wait
from sends.webhook_selectors import campaign_id_last_texted, inbound_last_keyword_action

log = structlog.get_logger(__name__)
Action = InboundMessage.Action

# Plivo's MessageIntent values: set when Plivo itself recognised a standard keyword.
PLIVO_INTENT_ACTION = {"optout": Action.OPT_OUT, "optin": Action.OPT_IN, "help": Action.HELP}

_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_WORD = re.compile(r"[^\w]+|_")
# Cyrillic and Greek letters that look like Latin ones (after case folding): a "SТОР" typed on a Cyrillic
# layout, or pasted, is an opt-out all the same. A real word of those alphabets never folds to a keyword
# ("стоп" becomes "ctoп").
_LATIN_LOOKALIKES = str.maketrans(
    "аеорсухіјѕһԁԛԝкмнтвαβεζηικμνορτυχ",
    "aeopcyxijshdqwkmhtbabezhikmnoptyx",
)


def text_normalize(text: str) -> str:
    """Lower case, accents, invisible characters and apostrophes dropped ("Don’t" -> "dont"), Latin
    lookalikes read as Latin, other punctuation and runs of space as one space."""
    decomposed = unicodedata.normalize("NFKD", text or "").casefold()
    # Combining marks (accents) and format characters (zero-width spaces and joiners, soft hyphens) go:
    # "S\u200bTOP" and "STÓP" are STOP.
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Cf"))
    folded = unicodedata.normalize("NFKC", kept).translate(_LATIN_LOOKALIKES)
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split())


@lru_cache(maxsize=8)
def _vocabulary(
    opt_out: tuple[str, ...], opt_in: tuple[str, ...], help_: tuple[str, ...], phrases: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str], frozenset[str], tuple[str, ...]]:
    def words(values: tuple[str, ...]) -> frozenset[str]:
        return frozenset(n for n in map(text_normalize, values) if n)

    return words(opt_out), words(opt_in), words(help_), tuple(n for n in map(text_normalize, phrases) if n)


@dataclass(frozen=True)
class TextReading:
    action: str  # an InboundMessage.Action
    method: str = ""  # for an opt-out, how it was made: a ConsentEvent.Method


def inbound_text_read(text: str, *, intent: str = "") -> TextReading:
    """What a text asks for, and for an opt-out how it was said. An opt-out in any form wins over everything."""
    opt_out, opt_in, help_, phrases = _vocabulary(
        tuple(settings.SMS_OPT_OUT_KEYWORDS),
        tuple(settings.SMS_OPT_IN_KEYWORDS),
        tuple(settings.SMS_HELP_KEYWORDS),
        tuple(settings.SMS_OPT_OUT_PHRASES),
    )
    normalized = text_normalize(text)
    padded = f" {normalized} "
    plivo_action = PLIVO_INTENT_ACTION.get((intent or "").strip().lower())
    Method = ConsentEvent.Method
    if normalized in opt_out:
        return TextReading(Action.OPT_OUT, Method.INBOUND_KEYWORD)
    if any(f" {phrase} " in padded for phrase in phrases):
        return TextReading(Action.OPT_OUT, Method.INBOUND_PHRASE)
    if plivo_action == Action.OPT_OUT:
        return TextReading(Action.OPT_OUT, Method.PLIVO_INTENT)
    if normalized in opt_in:
        return TextReading(Action.OPT_IN)
    if normalized in help_:
        return TextReading(Action.HELP)
    return TextReading(plivo_action or Action.NONE)


def inbound_text_action(text: str, *, intent: str = "") -> str:
    """What a text asks for: opt-out, opt-in, help or none. An opt-out in any form wins over everything."""
    return inbound_text_read(text, intent=intent).action


@lru_cache(maxsize=8)
def _languages(configured: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {text_normalize(keyword): language.strip().upper() for keyword, language in configured}


def keyword_language(keyword: str) -> str:
    """The language of a keyword ("ES", "FR"), or "" for the default; from SMS_KEYWORD_LANGUAGES."""
    return _languages(tuple(settings.SMS_KEYWORD_LANGUAGES.items())).get(text_normalize(keyword), "")


def _template(name: str, language: str) -> str:
    """The setting `name` in that language where such a template exists, else the default one."""
    return (language and getattr(settings, f"{name}_{language}", "")) or getattr(settings, name)


@dataclass(frozen=True)
class InboundResult:
    message: InboundMessage | None  # None for a retried callback (already recorded)
    reply: str  # the text replied, "" for none

    @property
    def duplicate(self) -> bool:
        return self.message is None


def inbound_message_receive(*, payload: dict[str, str]) -> InboundResult:
    """Record an inbound text and act on it; the confirmation (if any) is sent once the changes commit."""
    column = InboundMessage._meta.get_field
    # A unique MessageUUID is what makes a repeated callback (a retry, or a signed request replayed) a no-op.
    message_uuid = plivo_required(payload, "MessageUUID", max_length=column("message_uuid").max_length)
    raw_from = plivo_required(payload, "From", max_length=column("from_number").max_length)
    to_number = plivo_sender(plivo_text(payload, "To", max_length=column("to_number").max_length))
    text = payload.get("Text") or payload.get("Body") or ""
    intent = (payload.get("MessageIntent") or "").strip()
    e164 = plivo_number_e164(raw_from)
    reading = inbound_text_read(text, intent=intent)
    action = reading.action
    if e164 is not None:
        action = opt_in_reading(e164=e164, text=text, action=action)
    if e164 is None and action != Action.NONE:
        # A short code or a sender name cannot be suppressed or replied to; staff still see the text.
        log.warning("inbound_keyword_from_unusable_number", action=action, from_number=raw_from)
        action = Action.NONE

    with transaction.atomic():
        try:
            with transaction.atomic():
                message = InboundMessage.objects.create(
                    message_uuid=message_uuid,
                    from_number=e164 or raw_from,
                    to_number=to_number,
                    text=text,
                    intent=intent[:32],
                    action=action,
                    contact=contact_get_by_phone(e164=e164) if e164 else None,
                    payload=dict(payload),
                )
        except IntegrityError:
            return InboundResult(message=None, reply="")
        reply = _inbound_act(
            message=message, keyword=text_normalize(text).upper() or intent.upper(), method=reading.method
        )
        for listener in message_listeners():
            listener.inbound_received(message=message)

        def answer() -> None:
            # A message already on its way to this number leaves first: both the confirmation text and the
            # webhook's answer come after it, so nobody is texted after their STOP was answered.
            if action == Action.OPT_OUT and not sends_in_flight_wait(e164=e164):
                log.warning("inbound_opt_out_send_still_in_flight", inbound_id=message.pk)
            if reply:
                inbound_reply_send(message=message, body=reply)

        transaction.on_commit(answer)
    return InboundResult(message=message, reply=reply)


def _inbound_act(*, message: InboundMessage, keyword: str, method: str) -> str:
    """Apply the message's action; returns the reply to send ("" for none)."""
    e164 = message.from_number
    language = keyword_language(keyword)
    if message.action == Action.OPT_OUT:
        result = number_opt_out(
            e164=e164,
            method=method,
            source=f"inbound text {keyword[:40]!r} to {message.to_number}",
            text=message.text,
        )
        if result.newly_opted_out:
            campaign_id = campaign_id_last_texted(e164=e164)
            if campaign_id is not None:
                campaign_counters_add(campaign_id=campaign_id, opt_outs=1)
        return _confirmation(message=message, template=_template("SMS_OPT_OUT_CONFIRMATION", language))
    if message.action == Action.OPT_IN:
        if not person_opt_in_record(e164=e164, keyword=keyword, text=message.text, to_number=message.to_number):
            log.warning("inbound_opt_in_blocked", from_number=e164)
            message.action = Action.NONE
            message.save(update_fields=["action"])
            return ""
        return _confirmation(message=message, template=_template("SMS_OPT_IN_CONFIRMATION", language))
    if message.action == Action.HELP:
        return _render(_template("SMS_HELP_TEXT", language)) if _help_reply_due(e164=e164) else ""
    if message.action in (Action.JOIN, Action.CONFIRM):
        opt_in_act(message=message)  # its texts are sent by OPT_IN_TEXT_SENDER once this commits
    return ""


def _help_reply_due(*, e164: str) -> bool:
    """Whether this number may be answered HELP now (recording that it is): once per the configured interval.
    One statement, so two HELPs arriving together get one answer."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_HELP_REPLY_INTERVAL_SECONDS)
    table = connection.ops.quote_name(HelpReply._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (phone_number, replied_at) VALUES (%s, %s) ON CONFLICT (phone_number) "
            f"DO UPDATE SET replied_at = excluded.replied_at WHERE {table}.replied_at <= %s RETURNING phone_number",
            [e164, adapt(now), adapt(cutoff)],
        )
        return cursor.fetchone() is not None


def _confirmation(*, message: InboundMessage, template: str) -> str:
    """The confirmation to send, or "" when the same confirmation went to this number within the window."""
    since = timezone.now() - timedelta(seconds=settings.SMS_CONFIRMATION_WINDOW_SECONDS)
    previous = inbound_last_keyword_action(e164=message.from_number, since=since, exclude_id=message.pk)
    return "" if previous == message.action else _render(template)


def _render(template: str) -> str:
    return template.format(brand=settings.SMS_BRAND_NAME, support=settings.SMS_SUPPORT_CONTACT)


def inbound_reply_send(*, message: InboundMessage, body: str) -> bool:
    """Reply to an inbound text through the SMS backend, from the number the person texted."""
    sender = message.to_number or settings.PLIVO_SENDER
    try:
        # Short timeouts: the webhook is still waiting on this, and Plivo retries it after 8 s.
        timeout = settings.SMS_REPLY_TIMEOUT_SECONDS
        with get_connection(connect_timeout=min(2.0, timeout), read_timeout=timeout) as connection:
            [result] = connection.send_message(
                OutboundMessage(sender=sender, destinations=[message.from_number], body=body)
            )
    except Exception as exc:  # the opt-out is already committed; a lost confirmation must not undo it
        log.error("inbound_reply_failed", inbound_id=message.pk, error=exc.__class__.__name__)
        result = None
    _auto_reply_tell(message=message, body=body, result=result)
    if result is None:
        return False
    if not result.ok:
        log.error("inbound_reply_failed", inbound_id=message.pk, error=result.error and result.error.code)
        return False
    log.info("inbound_reply_sent", inbound_id=message.pk, action=message.action, message_uuid=result.message_uuid)
    return True


def _auto_reply_tell(*, message: InboundMessage, body: str, result) -> None:
    # The reply is already sent or lost: what a listener makes of it must not turn that into an error.
    for listener in message_listeners():
        try:
            listener.auto_reply_sent(message=message, body=body, result=result)
        except Exception as exc:
            log.error("inbound_reply_listener_failed", inbound_id=message.pk, error=exc.__class__.__name__)
