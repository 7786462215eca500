"""Reads of contacts and suppressions that more than one caller needs."""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    FilteredRelation,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Left, Length, Lower, StrIndex, Substr
from django.db.models.lookups import Exact, GreaterThan, Range
from django.utils import timezone

from contacts.bulksql import sql_in
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactList,
    ContactListMembership,
    CustomField,
    Suppression,
    Tag,
    UntextableReason,
)
from contacts.phones import normalize_phone, number_zones
from contacts.segment_rules import segment_rules_q
from smscampaigns.errors import ApplicationError

ELIGIBLE = ""
# What a stored number must look like to be sent to (E.164). Contacts are normalised on the way in, so
# this only catches rows written around the services.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


def e164_shaped(field: str = "phone_number") -> Q:
    """`field` matches E164_PATTERN, tested as plain string functions: "+", a digit 1-9, then only digits, 8
    to 16 characters in all. A fan-out tests every number of its audience, and PostgreSQL runs these in half
    the time of the regular expression (which it turns into wide characters for every row)."""
    digits = "0123456789"
    return Q(
        Exact(Left(field, 1), Value("+")),
        Range(Length(field), (8, 16)),
        GreaterThan(StrIndex(Value(digits[1:]), Substr(field, 2, 1)), 0),
        Exact(Func(Substr(field, 2), Value(digits), function="LTRIM", output_field=CharField()), Value("")),
    )


def contacts_with_exclusion_reason(contacts: QuerySet[Contact], *, whole_audience: bool = False) -> QuerySet[Contact]:
    """`contacts` annotated with `exclusion_reason`: "" when they may be texted, else the first reason that
    applies (invalid number, opted out, suppressed, awaiting opt-in confirmation, no consent, a line type a
    lookup found that cannot take SMS: NUMBER_LOOKUP_EXCLUDED_LINE_TYPES). Who may be texted, in one place:
    the audience of a campaign, its preview, its fan-out and the re-check right before each send use it.

    `whole_audience`: the contacts are a campaign's audience, up to millions, so the suppressions are matched
    by joins the database may hash once rather than by an index probe per contact (a quarter of a fan-out's
    time at a million); a few contacts (the re-check of a chunk before sending) keep the probe."""
    if whole_audience:
        contacts, suppressed = _suppression_joined(contacts)
    else:
        suppressed = _suppression_probe()
    return contacts.annotate(
        exclusion_reason=Case(
            When(~e164_shaped(), then=Value(UntextableReason.INVALID_NUMBER)),
            When(
                Q(status=Contact.Status.UNSUBSCRIBED, opted_out_at__isnull=False),
                then=Value(UntextableReason.OPTED_OUT),
            ),
            default=Coalesce(
                suppressed,
                Case(
                    When(status=Contact.Status.PENDING, then=Value(UntextableReason.PENDING)),
                    When(
                        ~Q(status=Contact.Status.SUBSCRIBED) | Q(consented_at__isnull=True),
                        then=Value(UntextableReason.NO_CONSENT),
                    ),
                    When(
                        line_type__in=list(settings.NUMBER_LOOKUP_EXCLUDED_LINE_TYPES),
                        then=Value(UntextableReason.LINE_TYPE),
                    ),
                    default=Value(ELIGIBLE),
                ),
            ),
            output_field=CharField(),
        )
    )


def _suppression_probe() -> Subquery:
    """The suppression reason of a contact's number (NULL when none), by one probe of the suppression index.
    "opt-out" sorts after "manual" and "do-not-call", so descending order returns it first when a number has
    several entries."""
    return Subquery(
        Suppression.objects.filter(phone_number=OuterRef("phone_number"))
        .order_by("-reason")
        .annotate(
            exclusion=Case(
                When(reason=Suppression.Reason.OPT_OUT, then=Value(UntextableReason.OPTED_OUT)),
                default=Value(UntextableReason.SUPPRESSED),
                output_field=CharField(),
            )
        )
        .values("exclusion")[:1]
    )


def _suppression_joined(contacts: QuerySet[Contact]) -> tuple[QuerySet[Contact], Case]:
    """What _suppression_probe answers, as one LEFT JOIN per suppression reason: a number has at most one
    entry per reason, so no join repeats a contact, and a join no query reads is removed by the planner."""
    aliases = {reason: f"suppression_{index}" for index, reason in enumerate(Suppression.Reason.values)}
    contacts = contacts.annotate(
        **{
            alias: FilteredRelation("suppressions", condition=Q(suppressions__reason=reason))
            for reason, alias in aliases.items()
        }
    )
    others = Q()
    for reason, alias in aliases.items():
        if reason != Suppression.Reason.OPT_OUT:
            others |= Q(**{f"{alias}__reason__isnull": False})
    opted_out = Q(**{f"{aliases[Suppression.Reason.OPT_OUT]}__reason__isnull": False})
    return contacts, Case(
        When(opted_out, then=Value(UntextableReason.OPTED_OUT)),
        When(others, then=Value(UntextableReason.SUPPRESSED)),
        default=None,
        output_field=CharField(),
    )


def contacts_lookup_due(contacts: QuerySet[Contact], *, now: datetime) -> QuerySet[Contact]:
    """Those of `contacts` whose number was never looked up, or longer ago than NUMBER_LOOKUP_MAX_AGE_DAYS:
    a lookup costs money, so a fresh one is never repeated."""
    fresh_since = now - timedelta(days=settings.NUMBER_LOOKUP_MAX_AGE_DAYS)
    return contacts.filter(Q(looked_up_at__isnull=True) | Q(looked_up_at__lt=fresh_since))


def contacts_textable(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Those of `contacts` who may be texted now."""
    return contacts_with_exclusion_reason(contacts).filter(exclusion_reason=ELIGIBLE)


def contact_get_by_phone(*, e164: str) -> Contact | None:
    return Contact.objects.filter(phone_number=e164).first()


def suppression_reasons_blocking_opt_in(*, e164: str) -> list[str]:
    """Suppression reasons that no opt-in may lift (everything but the person's own opt-out)."""
    blocking = Suppression.objects.filter(phone_number=e164).exclude(reason=Suppression.Reason.OPT_OUT)
    return sorted(blocking.values_list("reason", flat=True))


# The methods by which staff, not the person, record an opt-out: never the evidence of the person's own.
_STAFF_METHODS = (ConsentEvent.Method.API, ConsentEvent.Method.ADMIN, ConsentEvent.Method.QUICK_SEND)


@dataclass(frozen=True, slots=True)
class OptOutSuppression:
    source: str
    created_at: datetime
    origin: str


def opt_out_suppressions(*, numbers: list[str]) -> dict[str, OptOutSuppression]:
    """The opt-out suppression of each of these E.164 numbers that has one, in one query (plain SQL, as in
    suppression_reasons)."""
    if not numbers:
        return {}
    table = connection.ops.quote_name(Suppression._meta.db_table)
    found = {}
    with connection.cursor() as cursor:
        matching, params = sql_in(numbers)
        cursor.execute(
            f"SELECT phone_number, source, created_at, origin FROM {table} WHERE reason = %s "
            f"AND phone_number {matching}",
            [Suppression.Reason.OPT_OUT, *params],
        )
        for phone, source, created_at, origin in cursor:
            if isinstance(created_at, str):  # SQLite hands back the UTC text it stored
                created_at = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
            found[phone] = OptOutSuppression(source, created_at, origin)
    return found


def person_opt_outs(*, numbers: list[str]) -> dict[str, str]:
    """For each of these E.164 numbers whose opt-out came from the person: when and how, in a sentence that
    says only they can lift it. Two queries, whatever the number of numbers."""
    suppressions = {
        phone: suppression
        for phone, suppression in opt_out_suppressions(numbers=numbers).items()
        if suppression.origin == Suppression.Origin.PERSON
    }
    if not suppressions:
        return {}
    latest: dict[str, ConsentEvent] = {}
    events = (
        ConsentEvent.objects.filter(phone_number__in=list(suppressions), kind=ConsentEvent.Kind.OPTED_OUT)
        .exclude(method__in=_STAFF_METHODS)
        .order_by("phone_number", "-created_at", "-id")
        .only("phone_number", "method", "source", "text", "created_at")
    )
    for event in events:
        latest.setdefault(event.phone_number, event)
    start = (settings.SMS_OPT_IN_KEYWORDS or ["START"])[0].upper()
    explained = {}
    for phone, suppression in suppressions.items():
        event = latest.get(phone)
        if event is not None:
            how, when = _opt_out_how(event), event.created_at
        else:
            how, when = (f"({suppression.source})" if suppression.source else ""), suppression.created_at
        opted_out = " ".join(part for part in (phone, "opted out", how, "on", utc_minute(when)) if part)
        explained[phone] = f"{opted_out}; only they can opt back in, by texting {start}"
    return explained


def person_opt_out(*, e164: str) -> str | None:
    """person_opt_outs for one number: the sentence, or None when no opt-out of the person's stands."""
    return person_opt_outs(numbers=[e164]).get(e164)


def _opt_out_how(event: ConsentEvent) -> str:
    Method = ConsentEvent.Method
    words = " ".join(event.text.split())[:60]
    if event.method in (Method.INBOUND_KEYWORD, Method.INBOUND_PHRASE) and words:
        return f"by texting {words!r}" if event.method == Method.INBOUND_PHRASE else f"by texting {words}"
    if event.method == Method.PLIVO_INTENT:
        return f"by texting {words!r}, which Plivo read as an opt-out"
    if event.method == Method.CARRIER_ERROR:
        return f"through their carrier ({words})" if words else "through their carrier"
    return f"({event.source})" if event.source else ""


def utc_minute(moment) -> str:
    """A moment as people read it in an error message: 2026-11-20 14:03 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def consent_history(*, contact: Contact) -> QuerySet[ConsentEvent]:
    """A contact's consent and opt-out events, newest first: those of the contact, and those of its number
    from before it was a contact (an opt-out texted by someone we did not know yet)."""
    return ConsentEvent.objects.filter(Q(contact=contact) | Q(phone_number=str(contact.phone_number))).select_related(
        "actor"
    )


EXPORT_COLUMNS = [
    "phone_number",
    "first_name",
    "last_name",
    "country",
    "timezone",
    "status",
    "consented_at",
    "consent_source",
    "consent_text",
    "opted_out_at",
    "opt_out_source",
    "suppressed",
    "lists",
    "attributes",
    "created_at",
    "last_consent_event_at",
    "last_consent_event",
    "last_consent_event_method",
    "last_consent_event_source",
    "last_consent_event_text",
    "consent_events",
]


def contacts_for_export(*, list_name: str = "", status: str = "", chunk_size: int = 2000) -> Iterator[list]:
    """Rows of EXPORT_COLUMNS, streamed in chunks: the consent evidence of every contact, for an audit."""
    contacts = Contact.objects.order_by("id")
    if list_name:
        contacts = contacts.filter(lists__name=list_name)
    if status:
        contacts = contacts.filter(status=status)
    contacts = contacts.prefetch_related(Prefetch("lists", queryset=ContactList.objects.only("name").order_by("name")))
    for chunk in batched(contacts.iterator(chunk_size=chunk_size), chunk_size):
        reasons = suppression_reasons(numbers=[str(contact.phone_number) for contact in chunk])
        histories = _consent_histories(chunk)
        for contact in chunk:
            phone = str(contact.phone_number)
            latest, count = histories.get(contact.pk, (None, 0))
            yield [
                phone,
                contact.first_name,
                contact.last_name,
                contact.country,
                contact.timezone,
                contact.status,
                _iso(contact.consented_at),
                contact.consent_source,
                contact.consent_text,
                _iso(contact.opted_out_at),
                contact.opt_out_source,
                ";".join(sorted(reasons.get(phone, ()))),
                ";".join(contact_list.name for contact_list in contact.lists.all()),
                json.dumps(contact.attributes, ensure_ascii=False, sort_keys=True) if contact.attributes else "",
                _iso(contact.created_at),
                *(
                    [_iso(latest.created_at), latest.kind, latest.method, latest.source, latest.text]
                    if latest is not None
                    else [""] * 5
                ),
                count,
            ]


def _consent_histories(contacts: list[Contact]) -> dict[int, tuple[ConsentEvent, int]]:
    """Each contact's latest consent event and how many it has (those of its number included, as
    consent_history shows them), in one query for the chunk."""
    by_phone = {str(contact.phone_number): contact.pk for contact in contacts}
    events = ConsentEvent.objects.filter(Q(contact__in=contacts) | Q(phone_number__in=list(by_phone)))
    pks = set(by_phone.values())
    histories: dict[int, tuple[ConsentEvent, int]] = {}
    for event in events.order_by("created_at", "id").only(
        "contact_id", "phone_number", "kind", "method", "source", "text", "created_at"
    ):
        owners = {event.contact_id, by_phone.get(event.phone_number)} & pks
        for pk in owners:
            _, count = histories.get(pk, (event, 0))
            histories[pk] = (event, count + 1)
    return histories


def suppression_reasons(*, numbers: list[str]) -> dict[str, list[str]]:
    """The suppression reasons of each of these E.164 numbers that has any, in one query.

    Plain SQL: a filter on PhoneNumberField would parse and validate every number again.
    """
    reasons: dict[str, list[str]] = {}
    if not numbers:
        return reasons
    table = connection.ops.quote_name(Suppression._meta.db_table)
    with connection.cursor() as cursor:
        matching, params = sql_in(numbers)
        cursor.execute(f"SELECT phone_number, reason FROM {table} WHERE phone_number {matching}", params)
        for phone, reason in cursor:
            reasons.setdefault(phone, []).append(reason)
    return reasons


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` items, consuming `items` lazily (itertools.batched arrives in Python 3.12)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


def contact_import_errors(*, contact_import: ContactImport) -> Iterator[list]:
    """The error report of an import, row by row (line, column, value, reason), streamed."""
    rows = contact_import.errors.order_by("line", "id").values_list("line", "column", "value", "reason")
    yield from (list(row) for row in rows.iterator(chunk_size=2000))


def contact_attribute_keys(*, sample: int = 1000) -> list[str]:
    """Attribute names on the newest contacts: the personalisation placeholders staff can use beyond names.

    A sample, not the whole table: the draft form shows this on every page view.
    """
    keys: set[str] = set()
    for attributes in Contact.objects.order_by("-id").values_list("attributes", flat=True)[:sample]:
        keys.update(attributes or {})
    return sorted(keys)


def number_q(text: str, *, field: str = "phone_number") -> Q | None:
    """A filter for numbers equal to `text` in any format, or containing its digits; None if it is no number."""
    text = text.strip()
    try:
        return Q(**{field: normalize_phone(text).e164})
    except ApplicationError:
        pass
    digits = re.sub(r"\D", "", text)
    if digits and not re.search(r"[^\d\s()+.\-]", text):
        return Q(**{f"{field}__contains": digits})
    return None


def contacts_matching(queryset: QuerySet[Contact], text: str) -> QuerySet[Contact]:
    """Contacts whose number is `text` in any format (or contains its digits), else whose name contains it."""
    if not text.strip():
        return queryset
    by_number = number_q(text)
    if by_number is not None:
        return queryset.filter(by_number)
    return queryset.filter(Q(first_name__icontains=text.strip()) | Q(last_name__icontains=text.strip()))


def contacts_with_a_possibly_guessed_timezone() -> Iterator[int]:
    """Ids of contacts whose stored timezone may be a guess from an earlier version rather than given: their
    number may be in several zones and the stored one is the first of them, the one that version stored when
    none was given. A person may have given that very zone too; nothing stored tells the two apart."""
    rows = Contact.objects.exclude(timezone="").order_by("pk").values_list("pk", "phone_number", "timezone")
    for pk, phone_number, zone in rows.iterator(chunk_size=5000):
        zones = number_zones(str(phone_number))
        if len(zones) > 1 and zone == zones[0]:
            yield pk


def segment_contacts(*, rules: dict, now: datetime | None = None) -> QuerySet[Contact]:
    """The contacts a segment's rules match at `now` (default: this moment), as one query."""
    return Contact.objects.filter(segment_rules_q(rules, now=now))


@dataclass(frozen=True, slots=True)
class SegmentCount:
    matching: int  # contacts the rules match
    textable: int  # of them, those who may be texted now (contacts_textable)


def segment_count(*, rules: dict, now: datetime | None = None) -> SegmentCount:
    """How many contacts the rules match now, and how many of them may be texted: two counts in one query."""
    counts = (
        contacts_with_exclusion_reason(segment_contacts(rules=rules, now=now))
        .order_by()
        .aggregate(matching=Count("pk"), textable=Count("pk", filter=Q(exclusion_reason=ELIGIBLE)))
    )
    return SegmentCount(matching=counts["matching"], textable=counts["textable"])


def contacts_in_audience(
    *,
    list_ids: Iterable[int] = (),
    segments: Iterable = (),
    excluded_list_ids: Iterable[int] = (),
    excluded_segments: Iterable = (),
    now: datetime | None = None,
) -> QuerySet[Contact]:
    """Who an audience reaches, each person once: on any of the lists or matching any of the segments, and
    on none of the excluded lists and matching none of the excluded segments (segments as Segment rows,
    evaluated at `now`). The one definition campaigns' audience, preview and fan-out build on."""
    now = now or timezone.now()

    def any_of(ids, rule_sets) -> Q | None:
        parts = [Q(Exists(ContactListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id__in=ids)))]
        parts = parts if ids else []
        parts += [segment_rules_q(segment.rules, now=now) for segment in rule_sets]
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined |= part
        return combined

    included = any_of(list(list_ids), list(segments))
    if included is None:
        return Contact.objects.none()
    excluded = any_of(list(excluded_list_ids), list(excluded_segments))
    return Contact.objects.filter(included if excluded is None else included & ~excluded)


def custom_fields_by_key() -> dict[str, CustomField]:
    """Every custom field by its key (the attribute name): what a write of attributes is checked against."""
    return {field.key: field for field in CustomField.objects.all()}


def tags_named(names: Iterable[str]) -> dict[str, Tag]:
    """The existing tags among `names`, by name folded to lower case (tag names are unique ignoring case)."""
    folded = {name.lower() for name in names}
    if not folded:
        return {}
    return {tag.name.lower(): tag for tag in Tag.objects.annotate(folded=Lower("name")).filter(folded__in=folded)}
