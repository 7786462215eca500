"""Which number texts whom: the campaign's one sender, a number of its pool, or its Powerpack; for an A/B
tested campaign, a variant with a sender (or pool) of its own sends its recipients from that instead.

A pool managed here gives each contact one of its numbers and keeps it (SenderAssignment) when the pool is
sticky, so every campaign on the pool texts them from it and their replies stay in one thread; a new
contact gets a number with their area code when the pool has one (local match), else one spread evenly by
their number. Each number has its own rate, held by the shared rate limiter under the number's own key,
so the pool sends at the sum of its numbers' rates however many workers share it.
"""

import hashlib
from dataclasses import dataclass

from django.db import transaction

from campaigns.models import Campaign, CampaignVariant, SenderPool
from sends.models import SenderAssignment


@dataclass(frozen=True)
class Sender:
    """Where one request comes from and the rate it is paced at (segments per second)."""

    number: str  # "" for a Powerpack: Plivo picks the number
    per_second: int | None
    powerpack_uuid: str = ""

    @property
    def rate_key(self) -> str:
        """The rate limiter's key: each number's own, or the Powerpack's as a whole."""
        return f"powerpack:{self.powerpack_uuid}" if self.powerpack_uuid else self.number


@dataclass(frozen=True)
class PoolRecipient:
    send_id: int
    contact_id: int | None
    to_number: str
    variant_id: int | None = None  # the A/B variant they get, whose own sender (if any) they hear from


@dataclass(frozen=True)
class SenderSource:
    """What a campaign, or one of its A/B variants, sends from: one sender, or a pool."""

    sender: str  # the number or alphanumeric id (PLIVO_SENDER when the campaign gives none)
    pool: SenderPool | None
    per_second: int | None  # the campaign's rate, for one sender

    @property
    def total_rate(self) -> int | None:
        """Segments per second it sends at in all: a pool's numbers' sum, or the one sender's."""
        return (self.pool.total_rate if self.pool is not None else 0) or self.per_second


def campaign_sender_source(campaign: Campaign) -> SenderSource:
    """The campaign's own sender or pool."""
    return SenderSource(
        sender=campaign.effective_sender, pool=campaign.sender_pool, per_second=campaign.effective_max_per_second
    )


def campaign_sender_sources(campaign: Campaign) -> dict[int | None, SenderSource]:
    """The campaign's own source under None, and each A/B variant with a sender of its own under its id."""
    sources: dict[int | None, SenderSource] = {None: campaign_sender_source(campaign)}
    variants = CampaignVariant.objects.filter(campaign_id=campaign.pk).select_related("sender_pool")
    for variant in variants.exclude(sender="", sender_pool__isnull=True):
        sources[variant.pk] = SenderSource(
            sender=variant.sender, pool=variant.sender_pool, per_second=campaign.effective_max_per_second
        )
    return sources


def source_single_sender(source: SenderSource) -> Sender:
    """The sender of a source without a pool (and of a Powerpack pool, which Plivo spreads itself)."""
    pool = source.pool
    if pool is not None and pool.kind == SenderPool.Kind.POWERPACK:
        return Sender(number="", per_second=pool.total_rate or source.per_second, powerpack_uuid=pool.powerpack_uuid)
    return Sender(number=source.sender, per_second=source.per_second)


def campaign_single_sender(campaign: Campaign) -> Sender:
    """The sender of a campaign without a pool (and of a Powerpack pool, which Plivo spreads itself)."""
    return source_single_sender(campaign_sender_source(campaign))


def _spread(key: str, size: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % size


def pool_number_pick(*, numbers: list[str], to_number: str, local_match: bool) -> str:
    """A number for a recipient who has none yet: one with their area code first (local match), spread
    evenly and repeatably by their number among the candidates."""
    candidates = numbers
    if local_match and to_number.startswith("+1"):
        candidates = [n for n in numbers if n.startswith("+1") and n[2:5] == to_number[2:5]] or numbers
    return candidates[_spread(to_number, len(candidates))]


def pool_senders(*, pool: SenderPool, recipients: list[PoolRecipient]) -> dict[int, Sender]:
    """Each recipient's sender (by send id) from a pool managed here; sticky assignments are made and kept.

    Two workers assigning the same new contact at once agree: the first row written wins and both read it."""
    rates = pool.number_rates()
    if not rates:
        return {}
    numbers = sorted(rates)
    chosen: dict[int, str] = {}
    if pool.sticky_sender:
        contact_ids = {r.contact_id for r in recipients if r.contact_id is not None}
        kept = dict(
            SenderAssignment.objects.filter(pool=pool, contact_id__in=contact_ids, number__in=numbers).values_list(
                "contact_id", "number"
            )
        )
        new = {
            r.contact_id: pool_number_pick(numbers=numbers, to_number=r.to_number, local_match=pool.local_match)
            for r in recipients
            if r.contact_id is not None and r.contact_id not in kept
        }
        if new:
            with transaction.atomic():
                # A number taken out of the pool frees its contacts for a new one.
                SenderAssignment.objects.filter(pool=pool, contact_id__in=new).exclude(number__in=numbers).delete()
                SenderAssignment.objects.bulk_create(
                    [SenderAssignment(pool=pool, contact_id=cid, number=number) for cid, number in new.items()],
                    ignore_conflicts=True,
                )
            kept |= dict(
                SenderAssignment.objects.filter(pool=pool, contact_id__in=new).values_list("contact_id", "number")
            )
        chosen = {r.send_id: kept[r.contact_id] for r in recipients if r.contact_id in kept}
    for r in recipients:
        if r.send_id not in chosen:
            chosen[r.send_id] = pool_number_pick(numbers=numbers, to_number=r.to_number, local_match=pool.local_match)
    return {send_id: Sender(number=number, per_second=rates[number]) for send_id, number in chosen.items()}


def campaign_sender_for_number(*, campaign: Campaign, to_number: str) -> Sender:
    """The sender a one-off message of the campaign's text (variant A's, for an A/B test) to `to_number`
    goes from (a staff test send): the contact's kept pool number when they have one, else the one the pool
    would pick; nothing is stored."""
    sources = campaign_sender_sources(campaign)
    variant_a = CampaignVariant.objects.filter(campaign_id=campaign.pk, label="A").values_list("pk", flat=True)
    source = sources.get(variant_a.first(), sources[None])
    pool = source.pool
    if pool is None or pool.kind != SenderPool.Kind.NUMBERS:
        return source_single_sender(source)
    rates = pool.number_rates()
    if not rates:
        return source_single_sender(source)
    kept = (
        SenderAssignment.objects.filter(pool=pool, contact__phone_number=to_number, number__in=list(rates))
        .values_list("number", flat=True)
        .first()
    )
    number = kept or pool_number_pick(numbers=sorted(rates), to_number=to_number, local_match=pool.local_match)
    return Sender(number=number, per_second=rates[number])


@dataclass(frozen=True)
class ChunkSenders:
    """Each recipient's sender (by send id), and the rate of the slowest source among them: a wave mixing
    sources is claimed at once and paced by each, so it is sized for the slowest."""

    by_send: dict[int, Sender]
    per_second: int | None


def campaign_senders(*, campaign: Campaign, recipients: list[PoolRecipient]) -> ChunkSenders:
    """Each recipient's sender, by send id: their variant's own source when it has one, else the campaign's."""
    sources = campaign_sender_sources(campaign)
    by_source: dict[int | None, list[PoolRecipient]] = {}
    for recipient in recipients:
        key = recipient.variant_id if recipient.variant_id in sources else None
        by_source.setdefault(key, []).append(recipient)
    by_send: dict[int, Sender] = {}
    for key, group in by_source.items():
        by_send |= source_senders(source=sources[key], recipients=group)
    rates = [rate for key in by_source or [None] if (rate := sources[key].total_rate)]
    return ChunkSenders(by_send=by_send, per_second=min(rates) if rates else None)


def source_senders(*, source: SenderSource, recipients: list[PoolRecipient]) -> dict[int, Sender]:
    """Each recipient's sender from one source, by send id."""
    pool = source.pool
    if pool is not None and pool.kind == SenderPool.Kind.NUMBERS:
        return pool_senders(pool=pool, recipients=recipients)
    single = source_single_sender(source)
    return dict.fromkeys((r.send_id for r in recipients), single)
