"""The per-chunk cost of a sender pool: choosing each recipient's number (sticky assignments read and, for
new contacts, written) for a dispatch chunk of 500 sends.

Figures: the choice with every contact already assigned (a pool's steady state), and with none assigned yet
(the first campaign on the pool writes each assignment). Baseline: reading the same 500 contact rows,
the least a chunk does. Medians of several runs.
"""

import statistics
import time

CONTACTS = 500
NUMBERS = 20
REPEAT = 7


def _median_seconds(work, before=None) -> float:
    times = []
    for _ in range(REPEAT):
        if before:
            before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(ctx) -> dict[str, dict]:
    from campaigns.models import PoolNumber, SenderPool
    from contacts.models import Contact
    from sends.models import SenderAssignment
    from sends.services.sender_pools import PoolRecipient, pool_senders

    SenderPool.objects.filter(name="bench pool").delete()
    Contact.objects.filter(phone_number__startswith="+1212555").delete()
    pool = SenderPool.objects.create(name="bench pool", rate_per_number=10)
    PoolNumber.objects.bulk_create(
        [PoolNumber(pool=pool, number=f"+1{area}5550190") for area in range(201, 201 + NUMBERS)]
    )
    contacts = Contact.objects.bulk_create([Contact(phone_number=f"+1212555{1000 + i:04d}") for i in range(CONTACTS)])
    ids = [c.pk for c in contacts]
    recipients = [PoolRecipient(send_id=c.pk, contact_id=c.pk, to_number=str(c.phone_number)) for c in contacts]

    def forget() -> None:
        SenderAssignment.objects.filter(pool=pool).delete()

    first = _median_seconds(lambda: pool_senders(pool=pool, recipients=recipients), before=forget)
    pool_senders(pool=pool, recipients=recipients)
    steady = _median_seconds(lambda: pool_senders(pool=pool, recipients=recipients))
    baseline = _median_seconds(lambda: list(Contact.objects.filter(pk__in=ids).values_list("pk", "country")))
    SenderPool.objects.filter(pk=pool.pk).delete()
    Contact.objects.filter(pk__in=ids).delete()
    return {
        "sender_pool_choice_500_steady_seconds": {
            "value": steady,
            "unit": "s",
            "baseline": "reading the 500 contact rows (s)",
            "baseline_value": baseline,
        },
        "sender_pool_choice_500_first_seconds": {
            "value": first,
            "unit": "s",
            "baseline": "reading the 500 contact rows (s)",
            "baseline_value": baseline,
        },
    }
