"""Inbound texts that grow a list, per second, in process on PostgreSQL (sends.services.inbound):
- a list keyword (JOIN) from a new number: the request to join, the pending contact, the confirmation text
  (locmem backend);
- the confirming reply (Y) to it: the subscription with its evidence;
each beside the baseline measured in the same run: an inbound text that is no keyword at all ("thanks!"),
which every text pays for (recording it, reading STOP and HELP) and which now also looks keywords up.

Sizes: BENCH_OPT_IN_TEXTS (texts per round, default 300), BENCH_OPT_IN_REPEAT (rounds, median; default 3).
"""

import os
import statistics
import time
import uuid

from django.conf import settings

TEXTS = int(os.environ.get("BENCH_OPT_IN_TEXTS", "300"))
REPEAT = int(os.environ.get("BENCH_OPT_IN_REPEAT", "3"))
OUR_NUMBER = "+14155550100"
PREFIX = "+1415720"  # this benchmark's own numbers: +1 415 720 xxxx


def _payload(number: str, text: str) -> dict[str, str]:
    return {"From": number.lstrip("+"), "To": OUR_NUMBER.lstrip("+"), "Text": text, "MessageUUID": str(uuid.uuid4())}


def _rate(numbers: list[str], text: str) -> float:
    from sends.services.inbound import inbound_message_receive

    started = time.perf_counter()
    for number in numbers:
        inbound_message_receive(payload=_payload(number, text))
    return len(numbers) / (time.perf_counter() - started)


def _clean(numbers: list[str]) -> None:
    from contacts.models import ConsentEvent, Contact, SubscriptionRequest
    from sends.models import InboundMessage

    for model, field in (
        (InboundMessage, "from_number"),
        (SubscriptionRequest, "phone_number"),
        (ConsentEvent, "phone_number"),
        (Contact, "phone_number"),
    ):
        model.objects.filter(**{f"{field}__in": numbers}).delete()


def run(ctx) -> dict:
    from contacts.models import ContactList, ListKeyword
    from sends.backends import locmem

    settings.SMS_BACKEND = "sends.backends.locmem.SmsBackend"
    settings.SEND_RATE_PER_SECOND = 0  # the sender's rate is not what is measured here
    contact_list, _ = ContactList.objects.get_or_create(name="bench-opt-in")
    for n in range(50):  # a product with many keywords on many lists: one of them is texted
        ListKeyword.objects.get_or_create(keyword=f"BENCH{n}", defaults={"contact_list": contact_list})
    ListKeyword.objects.get_or_create(keyword="JOIN", defaults={"contact_list": contact_list})
    plain, joins, confirms = [], [], []
    for round_ in range(REPEAT):
        numbers = [f"{PREFIX}{round_}{n:03d}" for n in range(min(TEXTS, 1000))]
        _clean(numbers)
        plain.append(_rate(numbers, "thanks!"))
        _clean(numbers)
        joins.append(_rate(numbers, "JOIN"))
        confirms.append(_rate(numbers, "Y"))
        _clean(numbers)
        locmem.reset()
    baseline = statistics.median(plain)
    row = {"unit": "texts/s", "baseline": "inbound text, no keyword", "baseline_value": baseline}
    return {
        "inbound list keyword (JOIN)": {"value": statistics.median(joins), **row},
        "inbound confirming reply (Y)": {"value": statistics.median(confirms), **row},
    }
