"""Sender pools: the numbers (or the Powerpack) a campaign may send from instead of one sender."""

from django.db import IntegrityError, transaction

from audit.services import audit_record
from campaigns.models import PoolNumber, SenderPool
from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError

MAX_POOL_NUMBERS = 500


def sender_pool_numbers_parse(text: str) -> list[tuple[str, int | None]]:
    """The numbers typed one per line, each optionally followed by its own rate ("+14155550190 5"), as
    (E.164, rate or None); ApplicationError naming the line at fault."""
    numbers: dict[str, int | None] = {}
    lines = [line.strip() for line in (text or "").splitlines()]
    for index, line in enumerate(lines, start=1):
        if not line:
            continue
        # A trailing number is a rate when what precedes it is a phone number by itself: "+1 415 555 0190"
        # is one number, "+1 415 555 0190 5" that number at 5 per second.
        head, _, tail = line.replace(",", " ").replace(";", " ").rpartition(" ")
        e164, rate_text = None, ""
        if head.strip() and tail.isdigit():
            try:
                e164, rate_text = normalize_phone(head.strip()[:64]).e164, tail
            except ApplicationError:
                e164 = None
        if e164 is None:
            try:
                e164 = normalize_phone(line[:64]).e164
            except ApplicationError as exc:
                raise ApplicationError(f"line {index}: {exc.message}", field="numbers") from None
        rate = int(rate_text) if rate_text else None
        if rate is not None and not 1 <= rate <= 10_000:
            raise ApplicationError(f"line {index}: a rate is 1 to 10000 segments per second", field="numbers")
        if e164 in numbers:
            raise ApplicationError(f"line {index}: {e164} is listed twice", field="numbers")
        numbers[e164] = rate
        if len(numbers) > MAX_POOL_NUMBERS:
            raise ApplicationError(f"a pool holds at most {MAX_POOL_NUMBERS} numbers", field="numbers")
    return list(numbers.items())


def sender_pool_check(*, pool: SenderPool, numbers: list[tuple[str, int | None]]) -> None:
    if pool.kind == SenderPool.Kind.POWERPACK and not pool.powerpack_uuid.strip():
        raise ApplicationError("a Powerpack pool needs the Powerpack's UUID", field="powerpack_uuid")
    if pool.kind == SenderPool.Kind.NUMBERS and not numbers:
        raise ApplicationError("a pool of numbers needs at least one number", field="numbers")


@transaction.atomic
def sender_pool_save(
    *, pool: SenderPool, numbers: list[tuple[str, int | None]], actor, created: bool = False
) -> SenderPool:
    """Create or change a pool with exactly these numbers. A number taken out releases the contacts who heard
    from it: they get another number of the pool at their next message."""
    sender_pool_check(pool=pool, numbers=numbers)
    pool.powerpack_uuid = pool.powerpack_uuid.strip()
    try:
        with transaction.atomic():
            pool.save()
    except IntegrityError:
        raise ApplicationError(f"a sender pool named {pool.name!r} already exists", field="name") from None
    pool.numbers.exclude(number__in=[n for n, _ in numbers]).delete()
    for number, rate in numbers:
        PoolNumber.objects.update_or_create(pool=pool, number=number, defaults={"rate": rate})
    audit_record(
        actor=actor,
        action="sender_pool.created" if created else "sender_pool.edited",
        target=pool,
        data={"kind": pool.kind, "numbers": [n for n, _ in numbers]},
    )
    return pool


def sender_pool_delete(*, pool: SenderPool, actor) -> None:
    """Delete a pool no campaign (nor any A/B variant) uses; a campaign's sender is part of its record."""
    if pool.campaigns.exists() or pool.variants.exists():
        raise ApplicationError(f"sender pool {pool.name!r} is the sender of campaigns; it cannot be deleted")
    with transaction.atomic():
        audit_record(actor=actor, action="sender_pool.deleted", target=pool)
        pool.delete()
