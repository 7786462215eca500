"""Reads of campaigns. The audience rules live here once: the fan-out materialises them into sends, and a
preview counts them, so both always agree on who is eligible and why anyone is left out."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    Min,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Left

from campaigns.caps import capped_counts
from campaigns.local_time import LocalWave, local_waves, recipient_zones
from campaigns.models import Campaign, CampaignVariant, SenderPool
from campaigns.quiet_hours import QuietHoursVerdict, quiet_hours_verdict
from campaigns.segments import GSM7, UCS2, SegmentInfo, estimate_cost, message_length_problem, segment_info
from campaigns.templating import (
    body_is_personalised,
    body_plain_parts,
    body_render,
    body_variables,
    personalisation_context,
)
from campaigns.tracked_links import public_shorteners, text_as_sent, text_url_spans, trackable_urls
from campaigns.value_shapes import contact_value_shape_sql
from contacts.models import Contact, ContactListMembership, Segment
from contacts.selectors import ELIGIBLE, contacts_in_audience, contacts_with_exclusion_reason


def campaign_audience(*, campaign: Campaign, now: datetime | None = None) -> QuerySet[Contact]:
    """Every contact of the campaign's audience, once, annotated with `exclusion_reason` ("" = eligible): on
    any of its lists or matching any of its segments (evaluated at `now`, by default this moment, so a
    campaign reaches who matches when it goes), and on none of its excluded lists, matching none of its
    excluded segments (contacts.selectors.contacts_in_audience).

    Contact numbers are unique (E.164), so one row per contact is also one row per number: a person on
    two lists of the audience, or on a list and in a segment, is one recipient.
    """
    return contacts_with_exclusion_reason(
        contacts_in_audience(
            list_ids=campaign.lists.values_list("pk", flat=True),
            segments=campaign.segments.all(),
            excluded_list_ids=campaign.excluded_lists.values_list("pk", flat=True),
            excluded_segments=campaign.excluded_segments.all(),
            now=now,
        ),
        whole_audience=True,
    )


@dataclass(frozen=True)
class AudienceBreakdown:
    total: int
    eligible: int
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> contacts, only reasons that occur
    # List entries of people already counted through another of the campaign's lists: they get one message,
    # so these are left out of `total` (a number is one contact, so this is every duplicate number).
    duplicates: int = 0


def campaign_audience_breakdown(*, campaign: Campaign) -> AudienceBreakdown:
    """How many of the audience would be texted now, and how many are left out for each reason."""
    rows = campaign_audience(campaign=campaign).order_by().values("exclusion_reason").annotate(n=Count("pk"))
    return _breakdown(campaign=campaign, counts={row["exclusion_reason"]: row["n"] for row in rows})


def _breakdown(*, campaign: Campaign, counts: dict[str, int]) -> AudienceBreakdown:
    eligible = counts.pop(ELIGIBLE, 0)
    total = eligible + sum(counts.values())
    return AudienceBreakdown(total=total, eligible=eligible, excluded=counts, duplicates=_duplicates(campaign, total))


def _duplicates(campaign: Campaign, total: int) -> int:
    """List entries beyond the first of each person on the campaign's lists who is in its audience."""
    if not total:
        return 0
    entries = ContactListMembership.objects.filter(contact_list__campaigns=campaign)
    if not (campaign.segments.exists() or campaign.excluded_lists.exists() or campaign.excluded_segments.exists()):
        # Lists alone: the audience is exactly the people on them, so one count of the entries suffices.
        return entries.count() - total
    counted = entries.filter(contact__in=campaign_audience(campaign=campaign).values("pk")).aggregate(
        entries=Count("pk"), people=Count("contact", distinct=True)
    )
    return counted["entries"] - counted["people"]


# Campaigns whose audience is still to be decided or being texted: their segments are read at fan-out.
_GOING = (Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED)


def campaigns_going_with_segment(segment: Segment) -> str:
    """Why `segment` may not be deleted now: the scheduled or sending campaigns that include or exclude it
    (deleting an excluded segment would text those it protects); "" when there are none."""
    going = (
        Campaign.objects.filter(status__in=_GOING)
        .filter(Q(segments=segment) | Q(excluded_segments=segment))
        .distinct()
        .order_by("pk")
        .values_list("name", flat=True)[:5]
    )
    names = ", ".join(repr(name) for name in going)
    return f"the audience of campaigns not yet finished uses it ({names})" if names else ""


def campaigns_due(*, now) -> QuerySet[Campaign]:
    """Scheduled campaigns whose time has come, oldest first."""
    return Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now).order_by("scheduled_at")


@dataclass(frozen=True)
class PreviewSample:
    """One real eligible recipient and the text they would receive."""

    contact_id: int
    phone_number: str
    name: str
    body: str
    segments: int
    encoding: str
    too_long: str = ""  # why this text would not be sent (message_length_problem), "" when it would


PREVIEW_SAMPLES = 3


@dataclass(frozen=True)
class CampaignPreview:
    audience: AudienceBreakdown
    encoding: str  # UCS-2 when the message of any eligible recipient needs it
    ucs2_characters: tuple[str, ...]  # every character forcing UCS-2, over all recipients' messages
    segments_per_message: int  # the longest recipient's message (the body rendered blank if nobody is eligible)
    segments_total: int
    estimated_cost: Decimal
    deferred_by_quiet_hours: int  # eligible recipients outside their quiet-hours window at `now`
    # Eligible recipients whose own text would be too long: skipped at send (ExclusionReason.MESSAGE_TOO_LONG),
    # and left out of the segments, cost and quiet-hours figures above.
    message_too_long: int = 0
    samples: tuple[PreviewSample, ...] = ()  # the first PREVIEW_SAMPLES eligible recipients, by id
    # Eligible recipients with no zone given whose number may be in several zones: texted only while the
    # window is open in all of them.
    uncertain_zone: int = 0
    # Of those, the ones deferred at `now` (counted in deferred_by_quiet_hours too) until a common window.
    waiting_for_common_window: int = 0
    # Eligible recipients whose possible zones share no window at all: skipped, never texted at a guess.
    no_common_quiet_window: int = 0
    # Hosts of public shorteners (bit.ly and the like) the text links to: carriers filter such texts.
    public_shorteners: tuple[str, ...] = ()
    # Links that become a short link per recipient (each counted at its short link's length).
    tracked_links: int = 0
    # Eligible recipients the frequency caps would skip now, per reason (ExclusionReason.FREQUENCY_CAP,
    # RECENTLY_TEXTED); dispatch decides it again when each send is claimed.
    capped: dict[str, int] = field(default_factory=dict)
    # A local-time campaign's waves: when each zone's share goes, in time order.
    waves: tuple[LocalWave, ...] = ()

    @property
    def capped_total(self) -> int:
        return sum(self.capped.values())

    @property
    def will_be_texted(self) -> int:
        return max(0, self.audience.eligible - self.message_too_long - self.capped_total)


def campaign_preview(*, campaign: Campaign, now: datetime, body: str | None = None) -> CampaignPreview:
    """What sending the campaign at `now` would do: who gets it, in how many segments, at what cost, and how
    many would wait for their quiet-hours window. Each eligible recipient's message is rendered as the send
    engine renders it, so personalisation that lengthens a message or forces UCS-2 is counted, and so are the
    recipients whose message it makes too long to send. `body`: another text for the same audience (an A/B
    variant's) instead of the campaign's."""
    body = campaign.body if body is None else body
    # A body of plain {{ variables }} is priced once per shape of its values (campaigns.value_shapes) by
    # PostgreSQL, which computes the shapes: a million distinct values make a few hundred shapes.
    if connection.vendor == "postgresql" and body_is_personalised(body) and body_plain_parts(body) is not None:
        try:
            return _campaign_preview(campaign=campaign, now=now, body=body, by_shape=True)
        except _ValueInUrl:
            pass  # a URL runs into a value: its real characters decide whether it is a tracked link
    return _campaign_preview(campaign=campaign, now=now, body=body, by_shape=False)


class _ValueInUrl(Exception):
    """A text rendered from shapes has a URL that runs into a value: the shape cannot stand for the value."""


def _campaign_preview(*, campaign: Campaign, now: datetime, body: str, by_shape: bool) -> CampaignPreview:
    personalised = body_is_personalised(body)
    names = body_variables(body) if personalised else ()
    # Recipients who share the values the body reads, a country and a timezone get the same text at the same
    # price and wait the same, so the database hands the audience over in such groups: a plain body makes a
    # handful of groups out of a million recipients, instead of a million rows rendered and priced one by one.
    value_of = contact_value_shape_sql if by_shape else _context_value
    values = {f"value_{index}": value_of(name) for index, name in enumerate(names)}
    groups = (
        campaign_audience(campaign=campaign)
        # The leading digits decide the zones a number may be in and its state's rules (phonenumbers' data
        # is keyed by prefixes of at most eight digits but one): one number stands for its prefix.
        .annotate(number_prefix=Left(_stored_number(), _ZONE_PREFIX_LENGTH))
        .values("exclusion_reason", "country", "timezone", "number_prefix", **values)
        .annotate(n=Count("pk"), first_id=Min("pk"), number=Min(_stored_number()))
        # Characters forcing UCS-2 in order of appearance, recipients by id.
        .order_by("first_id")
    )
    plain = (
        segment_info(text_as_sent(campaign=campaign, text=body_render(body), body=body)) if not personalised else None
    )

    @lru_cache(maxsize=65536)
    def rendered(key: tuple) -> SegmentInfo:
        fields = _render_shaped_fields(names, key) if by_shape else _render_fields(names, key)
        text = body_render(body, **fields)
        if by_shape and _value_in_url(campaign=campaign, body=body, text=text, fields=fields):
            raise _ValueInUrl
        return segment_info(text_as_sent(campaign=campaign, text=text, body=body))

    verdicts: dict[tuple[str, str, str], QuietHoursVerdict] = {}
    wave_counts: dict[tuple[str, ...], int] = {}

    counts: dict[str, int] = {}
    ucs2: dict[str, None] = {}
    longest = total = deferred = too_long = uncertain = waiting = no_common = 0
    cost = Decimal("0")
    for group in _audience_groups(groups, few=by_shape or not personalised):
        reason, recipients = group["exclusion_reason"], group["n"]
        counts[reason] = counts.get(reason, 0) + recipients
        if reason != ELIGIBLE:
            continue
        info = plain or rendered(tuple(group[name] for name in values))
        if message_length_problem(info):
            too_long += recipients
            continue
        ucs2.update(dict.fromkeys(info.ucs2_characters))
        longest = max(longest, info.segments)
        total += info.segments * recipients
        cost += estimate_cost(segments=info.segments, country=group["country"], recipients=recipients)
        key = (group["timezone"], group["country"], group["number_prefix"])
        if (quiet := verdicts.get(key)) is None:
            quiet = verdicts[key] = quiet_hours_verdict(
                now=now, timezone_name=key[0], e164=group["number"], country=key[1]
            )
        uncertain += recipients * quiet.uncertain
        if campaign.sends_at_local_time:
            zones = recipient_zones(timezone_name=key[0], e164=group["number"])
            wave_counts[zones] = wave_counts.get(zones, 0) + recipients
        if quiet.no_common_window:
            no_common += recipients
        elif not quiet.is_open:
            deferred += recipients
            waiting += recipients * quiet.uncertain
    audience = _breakdown(campaign=campaign, counts=counts)
    if audience.eligible == too_long:  # nobody would be sent a text: describe the body itself
        info = plain or segment_info(text_as_sent(campaign=campaign, text=body_render(body), body=body))
        ucs2.update(dict.fromkeys(info.ucs2_characters))
        longest = info.segments
    return CampaignPreview(
        audience=audience,
        encoding=UCS2 if ucs2 else GSM7,
        ucs2_characters=tuple(ucs2),
        segments_per_message=longest,
        segments_total=total,
        estimated_cost=cost,
        deferred_by_quiet_hours=deferred,
        message_too_long=too_long,
        samples=_preview_samples(campaign=campaign, body=body),
        uncertain_zone=uncertain,
        waiting_for_common_window=waiting,
        no_common_quiet_window=no_common,
        public_shorteners=tuple(public_shorteners(body)),
        tracked_links=len(trackable_urls(body)) if campaign.track_links else 0,
        capped=capped_counts(
            campaign=campaign, eligible=campaign_audience(campaign=campaign).filter(exclusion_reason=ELIGIBLE), now=now
        )
        if audience.eligible
        else {},
        waves=local_waves(campaign=campaign, counts=wave_counts, launched_at=now) if wave_counts else (),
    )


# "+" and eight digits.
_ZONE_PREFIX_LENGTH = 9

# How PostgreSQL plans the preview's one pass over the audience. It cannot estimate the groups (every key
# reads the unique number, so it assumes one group per contact) and so plans a sort of every contact, on one
# core when read through a cursor; the groups are in fact a few thousand. Hashing them, with the audience's
# rows and keys computed by parallel workers, takes about half the time; compiling the expressions (JIT)
# costs more than it saves.
_GROUPS_PLANNER_SETTINGS = {
    "jit": "off",
    "enable_sort": "off",
    "parallel_tuple_cost": "0.001",
    "work_mem": "256MB",
}


def _audience_groups(groups: QuerySet, *, few: bool) -> Iterable[dict]:
    """The preview's groups, by their first recipient ("first_id"). `few`: a few thousand at most (one per
    value shape, zone and number prefix), so PostgreSQL reads them in one answer, planned as above; otherwise
    a group per real value may mean a million, streamed through a cursor."""
    if not few or connection.vendor != "postgresql":
        return groups.iterator(chunk_size=2000)
    names = list(_GROUPS_PLANNER_SETTINGS)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL would outlast a savepoint: the settings are put back by hand.
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        before = dict(zip(names, cursor.fetchone(), strict=True))
        _settings_set(cursor, _GROUPS_PLANNER_SETTINGS)
        rows = list(groups.order_by())
        _settings_set(cursor, before)
    return sorted(rows, key=itemgetter("first_id"))


def _settings_set(cursor, values: dict[str, str]) -> None:
    """Set PostgreSQL settings for the rest of the transaction."""
    cursor.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(values)),
        [part for name, value in values.items() for part in (name, value)],
    )


def _stored_number() -> ExpressionWrapper:
    """A contact's number as stored, the text dispatch reads from the send (the field gives PhoneNumber objects)."""
    return ExpressionWrapper(F("phone_number"), output_field=CharField())


class _JsonKeyText(Func):
    """The JSON text of one key of a JSON object (NULL when absent). Grouping on the text, not the JSON value,
    keeps 1 and 1.0 apart, which a body renders differently."""

    arity = 2
    arg_joiner = " -> "  # SQLite (3.38+) and PostgreSQL both have it
    template = "(%(expressions)s)"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="((%(expressions)s)::text)", **extra_context)


def _context_value(name: str):
    """The column (or attribute) a body's variable `name` reads: personalisation_context lets the name
    fields win over attributes of the same name."""
    if name in ("first_name", "last_name"):
        return F(name)
    return _JsonKeyText("attributes", Value(name))


def _render_fields(names: tuple[str, ...], key: tuple) -> dict:
    """body_render's arguments for a group whose values under `names` are `key` (attributes as JSON text)."""
    fields: dict = {"attributes": {}}
    for name, value in zip(names, key, strict=True):
        if name in ("first_name", "last_name"):
            fields[name] = value
        elif value is not None:
            fields["attributes"][name] = json.loads(value)
    return fields


def _render_shaped_fields(names: tuple[str, ...], key: tuple) -> dict:
    """body_render's arguments for a group whose value shapes under `names` are `key`
    (campaigns.value_shapes.contact_value_shape_sql)."""
    fields: dict = {"attributes": {}}
    for name, shape in zip(names, key, strict=True):
        if name in ("first_name", "last_name"):
            fields[name] = shape
        elif shape is not None:
            fields["attributes"][name] = shape[1:] if shape[0] == "s" else json.loads(shape[1:])
    return fields


def _value_in_url(*, campaign: Campaign, body: str, text: str, fields: dict) -> bool:
    """Whether `text` (the body rendered with `fields`) has a URL overlapping a variable's value, when its
    URLs are replaced by short links: only then may a value's own characters change the text as sent."""
    if not (campaign.track_links and trackable_urls(body)):
        return False  # text_as_sent replaces nothing, whatever the URLs
    context = dict.fromkeys(body_variables(body), "")
    context.update(
        personalisation_context(
            first_name=fields.get("first_name", ""),
            last_name=fields.get("last_name", ""),
            attributes=fields["attributes"],
        )
    )
    values, pieces, at = [], [], 0
    for is_variable, piece in body_plain_parts(body):
        piece = context[piece] if is_variable else piece
        if is_variable and piece:
            values.append((at, at + len(piece)))
        pieces.append(piece)
        at += len(piece)
    if "".join(pieces) != text:
        return True  # not rendered as plain parts after all: trust nothing
    return any(
        start < end_value and start_value < end
        for start, end in text_url_spans(text)
        for start_value, end_value in values
    )


def _preview_samples(*, campaign: Campaign, body: str) -> tuple[PreviewSample, ...]:
    fields = ("pk", "phone_number", "first_name", "last_name", "attributes")
    rows = campaign_audience(campaign=campaign).filter(exclusion_reason=ELIGIBLE).order_by("pk").values_list(*fields)
    samples = []
    for pk, phone_number, first_name, last_name, attributes in rows[:PREVIEW_SAMPLES]:
        text = body_render(body, first_name=first_name, last_name=last_name, attributes=attributes)
        text = text_as_sent(campaign=campaign, text=text, body=body)
        info = segment_info(text)
        name = f"{first_name} {last_name}".strip()
        samples.append(
            PreviewSample(pk, phone_number, name, text, info.segments, info.encoding, message_length_problem(info))
        )
    return tuple(samples)


def _audience_rules(campaign: Campaign) -> str:
    """The segments and exclusions of the audience, with each segment's rules as they are now, hashed."""
    rules = {
        "segments": list(campaign.segments.order_by("pk").values_list("pk", "rules")),
        "excluded_lists": sorted(campaign.excluded_lists.values_list("pk", flat=True)),
        "excluded_segments": list(campaign.excluded_segments.order_by("pk").values_list("pk", "rules")),
    }
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:32]


def campaign_launch_facts(*, campaign: Campaign, audience: AudienceBreakdown | None = None) -> dict:
    """What staff approve when they confirm a launch from the preview: the text, the sender, the lists, the
    segments and exclusions (with their rules), the audience's size and the sending rules (local time, caps).
    Compared again at the confirmation, so a draft edited (or an audience grown) after the preview is not
    launched unseen."""
    audience = audience or campaign_audience_breakdown(campaign=campaign)
    # The body and every A/B variant's text: editing any of them after the preview needs a new one.
    texts = "\x00".join([campaign.body, *campaign_variant_bodies(campaign)])
    return {
        "text": hashlib.sha256(texts.encode()).hexdigest()[:32],
        "sender": campaign.effective_sender,
        "sender_pool": campaign.sender_pool_id,
        # Lists, as they come back from the signed token's JSON; None without variants.
        "variant_senders": [
            list(row)
            for row in CampaignVariant.objects.filter(campaign=campaign)
            .order_by("label")
            .values_list("label", "sender", "sender_pool_id")
        ]
        or None,
        "lists": sorted(campaign.lists.values_list("pk", flat=True)),
        "segments": _audience_rules(campaign),
        "audience": audience.total,
        "eligible": audience.eligible,
        "rules": [
            campaign.schedule_mode,
            campaign.local_send_time.isoformat() if campaign.local_send_time else None,
            campaign.local_time_passed,
            campaign.skip_recent_hours,
            campaign.transactional,
        ],
    }


def campaign_variant_bodies(campaign: Campaign) -> list[str]:
    """An A/B tested campaign's variant texts, A first; [] without an A/B test."""
    return list(CampaignVariant.objects.filter(campaign=campaign).order_by("label").values_list("body", flat=True))


@dataclass(frozen=True)
class VariantPreview:
    label: str
    body: str
    preview: CampaignPreview  # as if everyone eligible got this variant
    sender: str  # where it is sent from, in words
    own_sender: bool  # its own sender or pool, not the campaign's


def sender_in_words(*, sender: str, pool: SenderPool | None) -> str:
    """A sender as staff read it: the number or id, the pool's name, or the default."""
    if pool is not None:
        return f"{pool.get_kind_display()} {pool.name!r}"
    return sender or f"{settings.PLIVO_SENDER or 'no sender'} (PLIVO_SENDER)"


def campaign_variants_preview(*, campaign: Campaign, now: datetime) -> list[VariantPreview]:
    """Each A/B variant previewed over the whole audience: its own segments, encoding, cost and samples, and
    the sender it goes from."""
    campaign_sender = sender_in_words(sender=campaign.sender, pool=campaign.sender_pool)
    return [
        VariantPreview(
            variant.label,
            variant.body,
            campaign_preview(campaign=campaign, now=now, body=variant.body),
            sender=(
                sender_in_words(sender=variant.sender, pool=variant.sender_pool)
                if variant.has_own_sender
                else f"the campaign's: {campaign_sender}"
            ),
            own_sender=variant.has_own_sender,
        )
        for variant in CampaignVariant.objects.filter(campaign=campaign).select_related("sender_pool").order_by("label")
    ]
