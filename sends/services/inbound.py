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
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import Contact, Suppression
from contacts.selectors import contact_get_by_phone, suppression_reasons_blocking_opt_in
from contacts.services import contact_opt_in, suppression_opt_out_lift
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.models import InboundMessage
from sends.plivo_fields import plivo_number_e164, plivo_required, plivo_sender, plivo_text
from sends.services.counters import campaign_counters_add
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


def inbound_text_action(text: str, *, intent: str = "") -> str:
    """What a text asks for: opt-out, opt-in, help or none. An opt-out in any form wins over everything."""
    opt_out, opt_in, help_, phrases = _vocabulary(
        tuple(settings.SMS_OPT_OUT_KEYWORDS),
        tuple(settings.SMS_OPT_IN_KEYWORDS),
        tuple(settings.SMS_HELP_KEYWORDS),
        tuple(settings.SMS_OPT_OUT_PHRASES),
    )
    normalized = text_normalize(text)
    padded = f" {normalized} "
    plivo_action = PLIVO_INTENT_ACTION.get((intent or "").strip().lower())
    if normalized in opt_out or plivo_action == Action.OPT_OUT or any(f" {phrase} " in padded for phrase in phrases):
        return Action.OPT_OUT
    if normalized in opt_in:
        return Action.OPT_IN
    if normalized in help_:
        return Action.HELP
    return plivo_action or Action.NONE


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
    action = inbound_text_action(text, intent=intent)
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
        reply = _inbound_act(message=message, keyword=text_normalize(text).upper() or intent.upper())

        def answer() -> None:
            # A message already on its way to this number leaves first: both the confirmation text and the
            # webhook's answer come after it, so nobody is texted after their STOP was answered.
            if action == Action.OPT_OUT and not sends_in_flight_wait(e164=e164):
                log.warning("inbound_opt_out_send_still_in_flight", inbound_id=message.pk)
            if reply:
                inbound_reply_send(message=message, body=reply)

        transaction.on_commit(answer)
    return InboundResult(message=message, reply=reply)


def _inbound_act(*, message: InboundMessage, keyword: str) -> str:
    """Apply the message's action; returns the reply to send ("" for none)."""
    e164 = message.from_number
    if message.action == Action.OPT_OUT:
        result = number_opt_out(e164=e164, source=f"inbound text {keyword[:40]!r} to {message.to_number}")
        if result.newly_opted_out:
            campaign_id = campaign_id_last_texted(e164=e164)
            if campaign_id is not None:
                campaign_counters_add(campaign_id=campaign_id, opt_outs=1)
        return _confirmation(message=message, template=settings.SMS_OPT_OUT_CONFIRMATION)
    if message.action == Action.OPT_IN:
        if not _number_opt_in(message=message, keyword=keyword):
            message.action = Action.NONE
            message.save(update_fields=["action"])
            return ""
        return _confirmation(message=message, template=settings.SMS_OPT_IN_CONFIRMATION)
    if message.action == Action.HELP:
        return _render(settings.SMS_HELP_TEXT)
    return ""


def _number_opt_in(*, message: InboundMessage, keyword: str) -> bool:
    """Re-subscribe the contact (consent source: the keyword) and lift an opt-out suppression; False when a
    do-not-call or manual suppression forbids it."""
    e164 = message.from_number
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        log.warning("inbound_opt_in_blocked", from_number=e164, reasons=blocking)
        return False
    contact = Contact.objects.select_for_update().filter(phone_number=e164).first()
    opted_out = Suppression.objects.filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).exists()
    if contact is not None and contact.status == Contact.Status.SUBSCRIBED and not opted_out:
        # Already subscribed (a YES to a question, say): the consent evidence on file stays as it is.
        return True
    if contact is not None:
        contact_opt_in(
            contact=contact,
            consent_source=f"inbound keyword {keyword[:40]}",
            consent_text=f"Texted {keyword[:40]} to {message.to_number}",
        )
        return True
    # No contact to subscribe: lifting the opt-out lets a later import with consent subscribe the number.
    suppression_opt_out_lift(phone_number=e164, source=f"inbound {keyword[:40]}")
    return True


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
        return False
    if not result.ok:
        log.error("inbound_reply_failed", inbound_id=message.pk, error=result.error and result.error.code)
        return False
    log.info("inbound_reply_sent", inbound_id=message.pk, action=message.action, message_uuid=result.message_uuid)
    return True
