"""People asking to join a list by themselves: a keyword texted to our numbers, the sign-up page, or an
integration calling the API. Each request is a SubscriptionRequest carrying its evidence; with double opt-in
the contact stays `pending` (never texted a campaign) until they reply Y, and expires unconfirmed after
OPT_IN_PENDING_DAYS.

The texts themselves (the confirmation, the welcome) are delivered by whatever OPT_IN_TEXT_SENDER names
(sends.services.opt_in_texts): this app only decides what is said and records what was sent.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.services import audit_record, user_or_none
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactList,
    ContactListMembership,
    ListKeyword,
    SubscriptionRequest,
    Suppression,
)
from contacts.phones import normalize_phone
from contacts.selectors import suppression_reasons_blocking_opt_in
from contacts.services.consent import consent_event_record
from smscampaigns.errors import ApplicationError

Source = SubscriptionRequest.Source
_KEYWORD = re.compile(r"^[A-Z0-9]{1,20}$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CONFIRMATION = "confirmation"
WELCOME = "welcome"
TEXT_KINDS = (CONFIRMATION, WELCOME)
# How each way of asking is recorded in the consent history.
_CONSENT_METHOD = {
    Source.KEYWORD: ConsentEvent.Method.INBOUND_KEYWORD,
    Source.FORM: ConsentEvent.Method.SIGNUP_FORM,
    Source.API: ConsentEvent.Method.API,
}


def word_fold(word: str) -> str:
    """A keyword as stored and compared: upper case, letters and digits only ("Join!" -> "JOIN")."""
    return re.sub(r"[^0-9A-Z]", "", (word or "").upper())


def reserved_keywords() -> dict[str, str]:
    """Words a list keyword may not be, with what they already mean: a STOP-, HELP- or START-family word, or
    a confirming reply. A list keyword equal to STOP would make an opt-out a subscription."""
    reserved = {}
    for setting, meaning in (
        ("OPT_IN_CONFIRM_WORDS", "a reply confirming a subscription"),
        ("SMS_OPT_IN_KEYWORDS", "a START word"),
        ("SMS_HELP_KEYWORDS", "a HELP word"),
        ("SMS_OPT_OUT_KEYWORDS", "a STOP word"),
    ):
        for word in getattr(settings, setting):
            reserved[word_fold(word)] = meaning
    return reserved


def list_keywords_validate(*, keywords: list[str], contact_list: ContactList | None = None) -> list[str]:
    """The keywords folded, each checked (ApplicationError on `keywords`): letters and digits, at most 20,
    not a STOP, HELP, START or confirming word, not another list's keyword. Writes nothing."""
    folded = []
    reserved = reserved_keywords()
    for raw in keywords:
        keyword = (raw or "").strip().upper()
        if not keyword:
            continue
        if not _KEYWORD.fullmatch(keyword):
            raise ApplicationError(
                f"keyword {raw[:40]!r}: one word of letters and digits, at most 20 characters", field="keywords"
            )
        if keyword in reserved:
            raise ApplicationError(
                f"keyword {keyword} is {reserved[keyword]} (SMS_OPT_OUT_KEYWORDS, SMS_HELP_KEYWORDS, "
                "SMS_OPT_IN_KEYWORDS, OPT_IN_CONFIRM_WORDS) and cannot start a subscription",
                field="keywords",
            )
        taken = ListKeyword.objects.filter(keyword=keyword).exclude(contact_list_id=getattr(contact_list, "pk", None))
        other = taken.select_related("contact_list").first()
        if other is not None:
            raise ApplicationError(f"keyword {keyword} belongs to list {other.contact_list.name!r}", field="keywords")
        if keyword not in folded:
            folded.append(keyword)
    return folded


def slug_validate(*, slug: str | None, contact_list: ContactList | None = None) -> str | None:
    """The sign-up page's slug, or None for no page (ApplicationError on `slug`)."""
    slug = (slug or "").strip().lower()
    if not slug:
        return None
    if len(slug) > 60 or not _SLUG.fullmatch(slug):
        raise ApplicationError("the page address: lower-case letters, digits and hyphens, at most 60", field="slug")
    if ContactList.objects.filter(slug=slug).exclude(pk=getattr(contact_list, "pk", None)).exists():
        raise ApplicationError(f"another list already has the page /join/{slug}/", field="slug")
    return slug


@dataclass(frozen=True)
class ListOptIn:
    """How people join a list by themselves: what the admin form and the API set together."""

    slug: str | None
    opt_in_mode: str
    program_name: str
    message_frequency: str
    disclosure_text: str
    welcome_message: str
    keywords: list[str]

    @classmethod
    def of(cls, contact_list: ContactList) -> "ListOptIn":
        """The list's settings as they are, to compare with a form's."""
        return cls(
            slug=contact_list.slug,
            opt_in_mode=contact_list.opt_in_mode,
            program_name=contact_list.program_name,
            message_frequency=contact_list.message_frequency,
            disclosure_text=contact_list.disclosure_text,
            welcome_message=contact_list.welcome_message,
            keywords=list(contact_list.keywords.order_by("keyword").values_list("keyword", flat=True)),
        )


@transaction.atomic
def contact_list_opt_in_update(*, contact_list: ContactList, values: ListOptIn, actor=None) -> ContactList:
    """Set how people join the list by themselves. The disclosure's version goes up whenever the wording the
    sign-up page shows changes (its own text, or the program and frequency the default one names), so every
    sign-up's evidence names the wording the person saw."""
    if values.opt_in_mode not in ContactList.OptInMode.values:
        raise ApplicationError(f"unknown opt-in mode {values.opt_in_mode!r}", field="opt_in_mode")
    slug = slug_validate(slug=values.slug, contact_list=contact_list)
    keywords = list_keywords_validate(keywords=values.keywords, contact_list=contact_list)
    shown_before = disclosure_for(contact_list) if contact_list.pk else None
    contact_list.slug = slug
    contact_list.opt_in_mode = values.opt_in_mode
    contact_list.program_name = values.program_name.strip()[:80]
    contact_list.message_frequency = values.message_frequency.strip()[:80] or ContactList.DEFAULT_FREQUENCY
    contact_list.disclosure_text = values.disclosure_text.strip()
    contact_list.welcome_message = values.welcome_message.strip()
    if shown_before is not None and disclosure_for(contact_list) != shown_before:
        contact_list.disclosure_version += 1
    contact_list.save()
    ListKeyword.objects.filter(contact_list=contact_list).exclude(keyword__in=keywords).delete()
    for keyword in keywords:
        ListKeyword.objects.get_or_create(contact_list=contact_list, keyword=keyword)
    audit_record(
        actor=actor,
        action="contact_list.opt_in_updated",
        target=contact_list,
        data={
            "slug": slug,
            "mode": values.opt_in_mode,
            "keywords": keywords,
            "version": contact_list.disclosure_version,
        },
    )
    return contact_list


DEFAULT_DISCLOSURE = (
    "By ticking the box and signing up you agree to receive recurring automated marketing texts from {program} "
    "at the number given. Consent is not a condition of any purchase. {frequency}. Msg & data rates may apply. "
    "Reply HELP for help, STOP to cancel."
)


def disclosure_for(contact_list: ContactList) -> str:
    """What the sign-up page asks the person to agree to: the list's own wording, else one built from its
    program name and message frequency."""
    return contact_list.disclosure_text or DEFAULT_DISCLOSURE.format(
        program=contact_list.program_name or contact_list.name,
        frequency=contact_list.message_frequency or ContactList.DEFAULT_FREQUENCY,
    )


def confirmation_text_render(*, contact_list: ContactList) -> str:
    """The confirmation text for a list, with its CTIA disclosures (OPT_IN_CONFIRMATION_TEXT)."""
    return settings.OPT_IN_CONFIRMATION_TEXT.format(
        program=contact_list.program_name or contact_list.name,
        frequency=contact_list.message_frequency or ContactList.DEFAULT_FREQUENCY,
        brand=settings.SMS_BRAND_NAME,
        support=settings.SMS_SUPPORT_CONTACT,
    )


def _text_send_on_commit(*, request_id: int, kind: str) -> None:
    """Ask OPT_IN_TEXT_SENDER to deliver one of the request's texts once this transaction commits."""
    sender = import_string(settings.OPT_IN_TEXT_SENDER)
    transaction.on_commit(lambda: sender(request_id=request_id, kind=kind))


@dataclass(frozen=True)
class Evidence:
    """Where a request came from, as the request's edge saw it."""

    source: str  # a SubscriptionRequest.Source
    detail: str = ""  # the keyword and our number, the page, the integration's own words
    text: str = ""  # the words texted, or the disclosure shown
    disclosure_version: int | None = None
    page_url: str = ""
    ip: str | None = None
    user_agent: str = ""
    our_number: str = ""  # the number the person texted (a keyword): the confirmation comes from it


@dataclass(frozen=True)
class SubscriptionStart:
    request: SubscriptionRequest
    created: bool  # False: the number already had a pending request for this list (idempotent)


def subscription_request_start(
    *,
    phone_number: str,
    contact_list: ContactList,
    evidence: Evidence,
    region: str | None = None,
    single_opt_in: bool = False,
    actor=None,
) -> SubscriptionStart:
    """The person asked to join `contact_list`. With double opt-in the contact becomes pending (unless already
    subscribed) and the confirmation text goes out; asking again while pending changes nothing and sends
    nothing. `single_opt_in` (a keyword of a single opt-in list) subscribes at once with the request as
    evidence. Refused for a do-not-call or manual suppression; refused for the person's own opt-out unless
    they asked by text themselves (a keyword), since only their own words may lift it."""
    if evidence.source not in Source.values:
        raise ApplicationError(f"unknown source {evidence.source!r}", field="source")
    e164 = normalize_phone(phone_number, region=region).e164
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        raise ApplicationError(
            f"{e164} may not be subscribed ({', '.join(blocking)})", field="phone_number", code="suppressed"
        )
    opted_out = Suppression.objects.filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).exists()
    if opted_out and evidence.source != Source.KEYWORD:
        keywords = list(contact_list.keywords.values_list("keyword", flat=True)[:1]) or ["START"]
        raise ApplicationError(
            f"{e164} opted out; only the person can opt back in, by texting {keywords[0]} to us",
            field="phone_number",
            code="opted_out_by_person",
        )
    try:
        with transaction.atomic():
            return _request_start(
                e164=e164, contact_list=contact_list, evidence=evidence, single_opt_in=single_opt_in, actor=actor
            )
    except IntegrityError:
        # A concurrent identical request won the unique pending (number, list) or the contact's number.
        pending = SubscriptionRequest.objects.filter(
            phone_number=e164, contact_list=contact_list, status=SubscriptionRequest.Status.PENDING
        ).first()
        if pending is None:
            raise
        return SubscriptionStart(request=pending, created=False)


def _request_start(
    *, e164: str, contact_list: ContactList, evidence: Evidence, single_opt_in: bool, actor
) -> SubscriptionStart:
    pending = (
        SubscriptionRequest.objects.select_for_update(of=("self",))
        .filter(phone_number=e164, contact_list=contact_list, status=SubscriptionRequest.Status.PENDING)
        .first()
    )
    if pending is not None:
        return SubscriptionStart(request=pending, created=False)
    contact, created = Contact.objects.select_for_update().get_or_create(
        phone_number=e164,
        defaults={"status": Contact.Status.PENDING, "country": normalize_phone(e164).region},
    )
    if created:
        audit_record(actor=actor, action="contact.created", target=contact, data={"source": evidence.source})
    now = timezone.now()
    request = SubscriptionRequest.objects.create(
        contact=contact,
        contact_list=contact_list,
        phone_number=e164,
        source=evidence.source,
        double_opt_in=not single_opt_in,
        source_detail=evidence.detail[:255],
        request_text=evidence.text[:2000],
        disclosure_version=evidence.disclosure_version,
        page_url=evidence.page_url[:1000],
        ip=evidence.ip or None,
        user_agent=(evidence.user_agent or "")[:512],
        requested_by=user_or_none(actor),
        our_number=evidence.our_number[:32],
        created_at=now,
        expires_at=None if single_opt_in else now + timedelta(days=settings.OPT_IN_PENDING_DAYS),
        confirmation_text="" if single_opt_in else confirmation_text_render(contact_list=contact_list),
    )
    if single_opt_in:
        _request_confirm(request=request, contact=contact, now=now, reply_text="", reply_uuid="")
        return SubscriptionStart(request=request, created=True)
    if contact.status != Contact.Status.SUBSCRIBED:
        # Pending contacts may sit on the list (the preview counts them) because their status keeps them
        # out of every audience; a subscribed contact joins the list only when they confirm.
        if contact.status == Contact.Status.UNSUBSCRIBED and contact.opted_out_at is None:
            contact.status = Contact.Status.PENDING
            contact.save(update_fields=["status", "updated_at"])
        ContactListMembership.objects.get_or_create(contact=contact, contact_list=contact_list)
    consent_event_record(
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.OPT_IN_REQUESTED,
        method=_CONSENT_METHOD[evidence.source],
        source=f"{request.get_source_display()} for list {contact_list.name}: {evidence.detail}",
        text=evidence.text,
        actor=actor,
        ip=evidence.ip,
        user_agent=evidence.user_agent,
    )
    audit_record(
        actor=actor,
        action="subscription.requested",
        target=request,
        data={"list": contact_list.pk, "source": evidence.source},
    )
    _text_send_on_commit(request_id=request.pk, kind=CONFIRMATION)
    return SubscriptionStart(request=request, created=True)


def subscription_pending_exists(*, e164: str) -> bool:
    """Whether the number has a request waiting for its confirming reply."""
    return SubscriptionRequest.objects.filter(phone_number=e164, status=SubscriptionRequest.Status.PENDING).exists()


def confirm_word_is(text_folded: str) -> bool:
    """Whether a reply (folded as word_fold does) is one of OPT_IN_CONFIRM_WORDS."""
    return bool(text_folded) and text_folded in {word_fold(w) for w in settings.OPT_IN_CONFIRM_WORDS}


def list_for_keyword(*, keyword_folded: str) -> ContactList | None:
    """The list whose keyword this is, if any."""
    found = ListKeyword.objects.filter(keyword=keyword_folded).select_related("contact_list").first()
    return found.contact_list if found is not None else None


@transaction.atomic
def subscription_confirm(
    *, e164: str, reply_text: str, reply_message_uuid: str = "", to_number: str = ""
) -> list[SubscriptionRequest]:
    """The person replied a confirming word: every pending request of the number is confirmed with the reply
    as its evidence, the contact subscribed and put on the lists (a welcome text follows where the list has
    one). A do-not-call or manual suppression still wins: those requests end instead."""
    requests = list(
        SubscriptionRequest.objects.select_for_update(of=("self",))
        .filter(phone_number=e164, status=SubscriptionRequest.Status.PENDING)
        .select_related("contact_list")
        .order_by("pk")
    )
    if not requests:
        return []
    now = timezone.now()
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    contact = Contact.objects.select_for_update().filter(phone_number=e164).first()
    confirmed = []
    for request in requests:
        if blocking or contact is None:
            _request_end(
                request=request,
                status=SubscriptionRequest.Status.CANCELLED,
                reason=f"confirmed while suppressed ({', '.join(blocking)})" if blocking else "contact deleted",
                now=now,
            )
            continue
        request.reply_text = reply_text[:2000]
        request.reply_received_at = now
        request.reply_message_uuid = reply_message_uuid[:64]
        if to_number and not request.our_number:
            request.our_number = to_number[:32]
        _request_confirm(
            request=request, contact=contact, now=now, reply_text=reply_text, reply_uuid=reply_message_uuid
        )
        confirmed.append(request)
    return confirmed


def _evidence_summary(request: SubscriptionRequest) -> str:
    """The consent wording kept on the contact: how they asked, what we texted, what they answered, when."""
    asked = f"{request.created_at:%Y-%m-%d %H:%M:%S} UTC"
    lines = [f"{request.get_source_display()} for list {request.contact_list.name} at {asked}"]
    if request.source_detail:
        lines.append(f"source: {request.source_detail}")
    if request.request_text:
        label = "texted" if request.source == Source.KEYWORD else "disclosure"
        version = f" v{request.disclosure_version}" if request.disclosure_version else ""
        lines.append(f"{label}{version}: {request.request_text}")
    if request.page_url:
        lines.append(f"page: {request.page_url} from {request.ip or '?'} ({request.user_agent})")
    if request.double_opt_in:
        sent = f"{request.confirmation_sent_at:%Y-%m-%d %H:%M:%S} UTC" if request.confirmation_sent_at else "unsent"
        lines.append(f"we texted from {request.our_number or '?'} ({sent}): {request.confirmation_text}")
        lines.append(f"they replied at {request.reply_received_at:%Y-%m-%d %H:%M:%S} UTC: {request.reply_text}")
    return "\n".join(lines)


def _request_confirm(
    *, request: SubscriptionRequest, contact: Contact, now: datetime, reply_text: str, reply_uuid: str
) -> None:
    contact_list = request.contact_list
    request.status = SubscriptionRequest.Status.CONFIRMED
    request.confirmed_at = now
    request.welcome_text = contact_list.welcome_message
    request.save()
    # The person's own words lift their own opt-out, as a START does.
    lifted = Suppression.objects.filter(phone_number=request.phone_number, reason=Suppression.Reason.OPT_OUT)
    had_opt_out = lifted.exists()
    for suppression in lifted:
        audit_record(actor=None, action="suppression.lifted", target=suppression, data={"source": "double opt-in"})
    lifted.delete()
    summary = _evidence_summary(request)
    how = "double opt-in" if request.double_opt_in else "single opt-in"
    contact.status = Contact.Status.SUBSCRIBED
    contact.consented_at = now
    contact.consent_source = f"{how}: {request.get_source_display()} for list {contact_list.name}"[:255]
    contact.consent_text = summary
    contact.opted_out_at = None
    contact.opt_out_source = ""
    contact.save(
        update_fields=[
            "status",
            "consented_at",
            "consent_source",
            "consent_text",
            "opted_out_at",
            "opt_out_source",
            "updated_at",
        ]
    )
    ContactListMembership.objects.get_or_create(contact=contact, contact_list=contact_list)
    consent_event_record(
        contact=contact,
        phone_number=request.phone_number,
        kind=ConsentEvent.Kind.OPTED_IN if had_opt_out else ConsentEvent.Kind.CONSENT_GIVEN,
        method=_CONSENT_METHOD[request.source],
        source=contact.consent_source,
        text=summary,
        ip=request.ip,
        user_agent=request.user_agent,
    )
    audit_record(actor=None, action="subscription.confirmed", target=request, data={"list": contact_list.pk})
    if request.welcome_text:
        _text_send_on_commit(request_id=request.pk, kind=WELCOME)


def _request_end(*, request: SubscriptionRequest, status: str, reason: str, now: datetime) -> None:
    """End a pending request unconfirmed: its contact, pending for nothing else, is no longer pending and
    leaves the list it was put on while waiting."""
    request.status = status
    request.ended_at = now
    request.end_reason = reason[:255]
    request.save(update_fields=["status", "ended_at", "end_reason"])
    contact = request.contact
    if contact is not None and contact.status == Contact.Status.PENDING:
        ContactListMembership.objects.filter(contact=contact, contact_list_id=request.contact_list_id).delete()
        if not SubscriptionRequest.objects.filter(contact=contact, status=SubscriptionRequest.Status.PENDING).exists():
            contact.status = Contact.Status.UNSUBSCRIBED
            contact.save(update_fields=["status", "updated_at"])
    consent_event_record(
        contact=contact,
        phone_number=request.phone_number,
        kind=ConsentEvent.Kind.REQUEST_ENDED,
        method=_CONSENT_METHOD[request.source],
        source=f"request to join {request.contact_list.name}",
        text=reason,
    )
    audit_record(actor=None, action=f"subscription.{status}", target=request, data={"reason": reason[:255]})


def subscription_requests_expire(*, now: datetime | None = None) -> int:
    """End every pending request older than OPT_IN_PENDING_DAYS, with the reason; how many (the beat task)."""
    now = now or timezone.now()
    ended = 0
    due = SubscriptionRequest.objects.filter(status=SubscriptionRequest.Status.PENDING, expires_at__lte=now)
    for request_id in list(due.values_list("pk", flat=True)[:5000]):
        with transaction.atomic():
            request = (
                SubscriptionRequest.objects.select_for_update(of=("self",))
                .filter(pk=request_id, status=SubscriptionRequest.Status.PENDING)
                .select_related("contact", "contact_list")
                .first()
            )
            if request is None:
                continue  # confirmed or ended meanwhile
            days = settings.OPT_IN_PENDING_DAYS
            _request_end(
                request=request,
                status=SubscriptionRequest.Status.EXPIRED,
                reason=f"not confirmed within {days} day{'s' if days != 1 else ''}",
                now=now,
            )
            ended += 1
    return ended


def _pending_requests_end(*, reason: str, **matching) -> int:
    """End the pending requests matching `matching` (locked), cancelled with `reason`; how many."""
    now = timezone.now()
    requests = list(
        SubscriptionRequest.objects.select_for_update(of=("self",))
        .filter(status=SubscriptionRequest.Status.PENDING, **matching)
        .select_related("contact", "contact_list")
    )
    for request in requests:
        _request_end(request=request, status=SubscriptionRequest.Status.CANCELLED, reason=reason, now=now)
    return len(requests)


def subscription_requests_end_for_list(*, contact_list: ContactList) -> int:
    """The list is being deleted: its pending requests end (a later Y confirms nothing); how many."""
    return _pending_requests_end(contact_list=contact_list, reason="list deleted")


def subscription_requests_cancel(*, e164: str, reason: str) -> int:
    """The person opted out while asking to join: their pending requests end (called inside the opt-out)."""
    return _pending_requests_end(phone_number=e164, reason=reason)


def subscription_text_claim(*, request_id: int, kind: str) -> SubscriptionRequest | None:
    """Claim the right to send one of a request's texts: the first caller gets the request, every later one
    (a retry, a second worker) None, so each text goes out at most once. A confirmation is claimed only while
    the request is pending (a STOP in between ends it)."""
    if kind not in TEXT_KINDS:
        raise ApplicationError(f"unknown text {kind!r}", field="kind")
    rows = SubscriptionRequest.objects.filter(pk=request_id, **{f"{kind}_claimed_at__isnull": True})
    if kind == CONFIRMATION:
        rows = rows.filter(status=SubscriptionRequest.Status.PENDING)
    else:
        rows = rows.filter(status=SubscriptionRequest.Status.CONFIRMED).exclude(welcome_text="")
    if not rows.update(**{f"{kind}_claimed_at": timezone.now()}):
        return None
    return SubscriptionRequest.objects.select_related("contact_list").get(pk=request_id)


def subscription_text_record(
    *, request_id: int, kind: str, message_uuid: str = "", segments: int = 0, error: str = "", sender: str = ""
) -> None:
    """Record what became of a claimed text: the provider's id and when, or why it failed."""
    values = {f"{kind}_error": error[:255]}
    if message_uuid:
        values.update({f"{kind}_message_uuid": message_uuid[:64], f"{kind}_sent_at": timezone.now()})
    if kind == WELCOME:
        values["welcome_segments"] = segments
    rows = SubscriptionRequest.objects.filter(pk=request_id)
    if sender:
        rows.filter(Q(our_number="")).update(our_number=sender[:32])
    rows.update(**values)
