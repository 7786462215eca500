"""What the simulator remembers: accepted messages, the fault settings, and counts for drills.

One lock guards it all; every operation under it is short (no I/O), so thousands of messages a second
pass through without contention mattering.
"""

import os
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal

import phonenumbers

from campaigns.segments import price_per_segment, segment_info

MAX_DESTINATIONS = 1000
# Plivo's error code for a handset that cannot be reached (https://www.plivo.com/docs/sms/api/message#error-codes).
DEFAULT_UNDELIVERED_CODE = "70"
# Plivo fails a message still in its queue when its message_expiry passes, with this error code, and does not
# charge it (Plivo support, "Message Expiry"). message_expiry is 5 to 10,799 seconds; without it, 10,800.
EXPIRED_ERROR_CODE = "420"
MIN_MESSAGE_EXPIRY = 5
MAX_MESSAGE_EXPIRY = 10_799


# Counted events, shown in GET /_sim/stats (0 until they happen).
_COUNTERS = (
    "connections_opened",
    "rejected_rate_cap",
    "callbacks_delivered",
    "callbacks_failed_attempts",
    "callbacks_given_up",
    "inbound_queued",
    "lookups",
)


class FaultError(ValueError):
    """A /_sim/faults payload that cannot be applied; the message names the field."""


@dataclass
class Faults:
    """Knobs set with POST /_sim/faults. A POST replaces them all: fields it leaves out go back to these defaults."""

    latency_ms: int = 0  # added before every API answer
    share_429: float = 0.0  # share of Message POSTs answered 429 at random
    share_5xx: float = 0.0  # share of Message POSTs answered `status_5xx` at random
    status_5xx: int = 500
    account_error: int | None = None  # 401, 402 or 403: every Message POST fails as that account problem
    invalid_numbers: list[str] = field(default_factory=list)  # listed in `invalid_number` of the 202
    undeliverable_numbers: dict[str, str] = field(default_factory=dict)  # number -> Plivo ErrorCode
    failed_numbers: dict[str, str] = field(default_factory=dict)  # like undeliverable, with Status=failed
    max_per_second: int | None = None  # messages accepted per wall-clock second; above it, 429
    delivery_delay_ms: int = 0  # between the queued, sent and delivered callbacks of one message
    # How long each message is deemed to wait in Plivo's queue behind others before it is handed to the
    # carrier: counted against its message_expiry (not slept, so that an expiry test needs no real wait).
    queue_backlog_ms: int = 0
    callback_retry_delays_ms: list[int] = field(default_factory=lambda: [1000, 5000, 30000])
    # False: messages still go through their statuses, but no status callback is sent, as if each had been
    # sent without `url` (a benchmark of sending, where calling back would be Plivo's work on Plivo's servers).
    status_callbacks: bool = True
    seed: int | None = None  # makes the random 429/5xx choices repeatable
    # Share of delivered messages whose recipient opens the short links in it (GET over HTTP from the app at
    # --app-url, with a phone browser's User-Agent), click_delay_ms after the delivery: a live click rate.
    click_share: float = 0.0
    click_delay_ms: int = 0
    # Lookup API: number -> line type answered instead of the rule in simulator/numbers.py.
    lookup_line_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: dict) -> "Faults":
        if not isinstance(payload, dict):
            raise FaultError("the body must be a JSON object of fault settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise FaultError(f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        faults = cls()
        for name, value in payload.items():
            setattr(faults, name, _check_fault(name, value))
        return faults

    def to_payload(self) -> dict:
        return asdict(self)


def _check_fault(name: str, value):
    def fail(expected: str):
        raise FaultError(f"fault setting `{name}` must be {expected}, got {value!r}")

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if name in ("latency_ms", "delivery_delay_ms", "queue_backlog_ms", "click_delay_ms"):
        return value if is_int and value >= 0 else fail("an integer >= 0")
    if name in ("share_429", "share_5xx", "click_share"):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        return float(value) if ok else fail("a number between 0 and 1")
    if name == "status_5xx":
        return value if is_int and 500 <= value <= 599 else fail("an HTTP status 500-599")
    if name == "account_error":
        return value if value is None or value in (401, 402, 403) else fail("401, 402, 403 or null")
    if name in ("max_per_second", "seed"):
        return (
            value
            if value is None or (is_int and value >= (1 if name == "max_per_second" else 0))
            else fail("a positive integer or null")
        )
    if name == "invalid_numbers":
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            fail("a list of phone numbers")
        return [digits(n) for n in value]
    if name in ("undeliverable_numbers", "failed_numbers"):
        if isinstance(value, list) and all(isinstance(n, str) for n in value):
            return {digits(n): DEFAULT_UNDELIVERED_CODE for n in value}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {digits(k): str(v) for k, v in value.items()}
        fail("a list of phone numbers or an object {number: Plivo error code}")
    if name == "lookup_line_types":
        allowed = ("fixed", "mobile", "voip", "toll-free", "unknown")
        if not isinstance(value, dict) or not all(isinstance(k, str) and v in allowed for k, v in value.items()):
            fail(f"an object {{number: line type}} with types among {', '.join(allowed)}")
        return {digits(k): v for k, v in value.items()}
    if name == "status_callbacks":
        return value if isinstance(value, bool) else fail("true or false")
    if name == "callback_retry_delays_ms":
        if not isinstance(value, list) or not all(isinstance(d, int) and d >= 0 for d in value):
            fail("a list of integers >= 0")
        return value
    raise FaultError(f"unknown fault setting `{name}`")  # unreachable: from_payload checked the names


def digits(number: str) -> str:
    """How Plivo keys a number: `+1 (415) 555-0123` and `14155550123` are the same destination."""
    return re.sub(r"[\s().+-]", "", number)


def is_valid_account_id(auth_id: str) -> bool:
    """What the SDK accepts as an auth id: MA (account) or SA (subaccount) and 18 capitals or digits."""
    return bool(re.fullmatch(r"(MA|SA)[A-Z0-9]{18}", auth_id or ""))


_DESTINATION = re.compile(r"[1-9]\d{6,14}")


def destination_region(key: str) -> str | None:
    """The region (ISO alpha-2, "" when the plan names none) of a valid destination; None for an invalid one.
    One parse of the number answers both, once per destination of a bulk request."""
    if not _DESTINATION.fullmatch(key):
        return None
    try:
        parsed = phonenumbers.parse("+" + key)
    except phonenumbers.NumberParseException:
        return None
    # is_valid_number(parsed) is exactly this: the number's region, then whether it is valid there.
    region = phonenumbers.region_code_for_number(parsed)
    if not phonenumbers.is_valid_number_for_region(parsed, region):
        return None
    return region or ""


def is_valid_destination(key: str) -> bool:
    return destination_region(key) is not None


def plivo_time(moment: float) -> str:
    """Plivo's timestamp format in callbacks: 2026-11-23 11:08:30.123456 (UTC)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(slots=True)
class SimMessage:
    uuid: str
    src: str
    dst: str  # digits, as Plivo stores it
    text: str
    time: float
    url: str | None
    method: str
    units: int
    rate: Decimal
    outcome: str  # the final status: delivered, undelivered or failed
    error_code: str
    expiry: int | None = None  # message_expiry, seconds in the queue before Plivo gives up on it
    powerpack_uuid: str = ""  # the Powerpack that picked `src`, when the request named one
    status: str = "queued"
    status_times: dict = field(default_factory=dict)
    callback_queue: deque = field(default_factory=deque)  # status callbacks waiting for the one in flight
    callback_busy: bool = False
    clicked: bool = False  # its recipient opened its short links (click_share, POST /_sim/clicks)
    expired_in_queue: bool = False  # failed at dequeue past its message_expiry: never "sent"

    @property
    def amount(self) -> Decimal:
        return self.rate * self.units

    def expire_if_due(self, *, now: float, backlog_seconds: float) -> bool:
        """At dequeue: past its message_expiry, the message fails with Plivo's expired code, uncharged."""
        if self.expiry is None or now - self.time + backlog_seconds <= self.expiry:
            return False
        self.outcome, self.error_code, self.rate = "failed", EXPIRED_ERROR_CODE, Decimal("0")
        self.expired_in_queue = True
        return True

    def record(self) -> dict:
        """The entry in GET /_sim/messages."""
        return {
            "uuid": self.uuid,
            "src": self.src,
            "dst": "+" + self.dst,
            "text": self.text,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "status": self.status,
            "units": self.units,
            "url": self.url,
            "message_expiry": self.expiry,
            "powerpack_uuid": self.powerpack_uuid,
        }

    def plivo_resource(self, auth_id: str) -> dict:
        """The body of GET /v1/Account/{auth_id}/Message/{uuid}/, in Plivo's shape."""
        return {
            "api_id": str(uuid.uuid1()),
            "error_code": self.error_code if self.status in ("undelivered", "failed") else "000",
            "from_number": self.src.lstrip("+"),
            "message_direction": "outbound",
            "message_state": self.status,
            "message_time": plivo_time(self.time)[:19] + "+00:00",
            "message_type": "sms",
            "message_uuid": self.uuid,
            "resource_uri": f"/v1/Account/{auth_id}/Message/{self.uuid}/",
            "to_number": self.dst,
            "total_amount": str(self.amount),
            "total_rate": str(self.rate),
            "units": self.units,
        }

    def status_callback(self, sequence: int) -> dict:
        """The form fields Plivo posts to the message's `url` when its status changes."""
        fields = {
            "MessageUUID": self.uuid,
            "To": self.dst,
            "From": self.src.lstrip("+"),
            "Type": "sms",
            "Status": self.status,
            "Units": str(self.units),
            "TotalRate": str(self.rate),
            "TotalAmount": str(self.amount),
            "MCC": "310",
            "MNC": "004",
            "ErrorCode": self.error_code if self.status in ("undelivered", "failed") else "",
            "ParentMessageUUID": self.uuid,
            "PartInfo": f"1 of {self.units}",
            "Sequence": str(sequence),
            "MessageTime": plivo_time(self.time),
            "PowerpackUUID": self.powerpack_uuid,
        }
        for name, status in (("QueuedTime", "queued"), ("SentTime", "sent"), ("DeliveryReportTime", self.outcome)):
            fields[name] = plivo_time(self.status_times[status]) if status in self.status_times else ""
        return fields


class Rejected(Exception):
    """An API request the simulator answers with an error status, in Plivo's {"api_id", "error"} shape."""

    def __init__(self, status: int, error: str, retry_after: int | None = None):
        super().__init__(error)
        self.status, self.error, self.retry_after = status, error, retry_after


class SimulatorState:
    def __init__(self):
        self._lock = threading.Lock()
        self.faults = Faults()
        self._rng = random.Random()
        self._messages: list[SimMessage] = []
        self._by_uuid: dict[str, SimMessage] = {}
        self._by_dst: dict[str, list[SimMessage]] = {}
        self._per_second: dict[int, int] = {}
        # (sender digits, second) -> messages accepted from that number in that second: per-number rates.
        self._per_sender_second: dict[tuple[str, int], int] = {}
        self.counters: dict[str, int] = {}
        self.generation = 0  # bumped by reset: callbacks scheduled before it are dropped
        self.awaiting_carrier = 0  # accepted messages whose 202 is being written, not yet on the carrier's clock

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._by_uuid.clear()
            self._by_dst.clear()
            self._per_second.clear()
            self._per_sender_second.clear()
            self.counters.clear()
            self.generation += 1

    def roll(self) -> float:
        """A draw in [0, 1) from the fault settings' random source (repeatable with `seed`)."""
        with self._lock:
            return self._rng.random()

    def to_click(self, share: float, *, src: str = "") -> list["SimMessage"]:
        """Delivered messages not clicked yet (only those sent from `src`, when given), each picked with
        probability `share`, marked clicked."""
        source = digits(src)
        with self._lock:
            picked = [
                m
                for m in self._messages
                if m.status == "delivered"
                and not m.clicked
                and (not source or digits(m.src) == source)
                and self._rng.random() < share
            ]
            for message in picked:
                message.clicked = True
        return picked

    def random_failure(self) -> Rejected | None:
        """The 429 or 5xx the fault settings call for this request, if any."""
        with self._lock:
            faults, roll = self.faults, self._rng.random()
        if roll < faults.share_429:
            return Rejected(429, "too many requests", retry_after=1)
        if roll < faults.share_429 + faults.share_5xx:
            status = faults.status_5xx
            return Rejected(status, "internal server error", retry_after=1 if status == 503 else None)
        return None

    def accept(
        self,
        *,
        src: str,
        dst: str,
        text: str,
        url: str | None,
        method: str,
        generation: int,
        expiry: int | None = None,
        pick_sender=None,
        powerpack_uuid: str = "",
    ) -> tuple[list, list]:
        """Queue one message per valid destination; (messages in destination order, invalid numbers as given).

        Plivo drops repeated destinations and lists the invalid ones; the uuids it returns follow the order
        of the remaining destinations, which is what lets a sender map each uuid back to its recipient.
        """
        faults = self.faults
        seen, valid, invalid = set(), [], []
        regions: dict[str, str] = {}
        for raw in dst.split("<"):
            key = digits(raw)
            if key in seen:
                continue
            seen.add(key)
            region = None if key in faults.invalid_numbers else destination_region(key)
            if region is None:
                invalid.append(raw)
            else:
                valid.append(key)
                regions[key] = region
        if not valid:
            raise Rejected(400, f"no valid destination number in dst: {', '.join(invalid)}")
        info = segment_info(text)
        units = max(info.segments, 1)
        prices = {region: price_per_segment(region) for region in set(regions.values())}
        now = time.time()
        messages = []
        # Random version-4 ids drawn from one read of the system's random source for the whole request, as
        # uuid4() would draw each from one read of its own.
        randomness = os.urandom(16 * len(valid))
        for index, key in enumerate(valid):
            if key in faults.failed_numbers:
                outcome, code = "failed", faults.failed_numbers[key]
            elif key in faults.undeliverable_numbers:
                outcome, code = "undelivered", faults.undeliverable_numbers[key]
            else:
                outcome, code = "delivered", "000"
            messages.append(
                SimMessage(
                    uuid=str(uuid.UUID(bytes=randomness[16 * index : 16 * index + 16], version=4)),
                    src=src if pick_sender is None else "+" + pick_sender(key),
                    powerpack_uuid=powerpack_uuid,
                    dst=key,
                    text=text,
                    time=now,
                    url=url,
                    method=method,
                    units=units,
                    rate=prices[regions[key]],
                    outcome=outcome,
                    error_code=code,
                    status_times={"queued": now},
                    expiry=expiry,
                )
            )
        second = int(now)
        with self._lock:
            if generation != self.generation:
                # Begun before a reset (e.g. a client that timed out during injected latency): it belongs to
                # a finished test and must not show up in the next one's record.
                raise Rejected(503, "the simulator was reset while this request was in progress")
            cap = self.faults.max_per_second
            already = self._per_second.get(second, 0)
            if cap is not None and already + len(messages) > cap:
                self.counters["rejected_rate_cap"] = self.counters.get("rejected_rate_cap", 0) + 1
                raise Rejected(429, f"rate limit exceeded: at most {cap} messages per second", retry_after=1)
            self._per_second[second] = already + len(messages)
            for message in messages:
                sender_second = (digits(message.src), second)
                self._per_sender_second[sender_second] = self._per_sender_second.get(sender_second, 0) + 1
            self.awaiting_carrier += len(messages)
            self._messages.extend(messages)
            for message in messages:
                self._by_uuid[message.uuid] = message
                self._by_dst.setdefault(message.dst, []).append(message)
        return messages, invalid

    def expire_at_dequeue(self, message: SimMessage) -> bool:
        """Whether `message`, leaving the queue now, had outlived its message_expiry (and is now failed so)."""
        with self._lock:
            return message.expire_if_due(now=time.time(), backlog_seconds=self.faults.queue_backlog_ms / 1000)

    def handed_to_carrier(self, n: int) -> None:
        with self._lock:
            self.awaiting_carrier = max(0, self.awaiting_carrier - n)

    def advance(self, message: SimMessage, status: str) -> None:
        with self._lock:
            message.status = status
            message.status_times[status] = time.time()

    def get(self, message_uuid: str) -> SimMessage | None:
        with self._lock:
            return self._by_uuid.get(message_uuid)

    def find(
        self, *, to_number: str | None, from_number: str | None, since: float | None, until: float | None
    ) -> list[SimMessage]:
        """Outbound messages matching Plivo's list filters, the most recent first (as Plivo lists them).
        `since` and `until` are inclusive epoch seconds; numbers are compared by their digits."""
        with self._lock:
            candidates = list(self._by_dst.get(digits(to_number), ())) if to_number else list(self._messages)
        source = digits(from_number) if from_number else None
        found = [
            m
            for m in candidates
            if (source is None or digits(m.src) == source)
            and (since is None or m.time >= since)
            and (until is None or m.time <= until)
        ]
        return sorted(found, key=lambda m: m.time, reverse=True)

    def records(self) -> list[dict]:
        with self._lock:
            messages = list(self._messages)
        return [m.record() for m in messages]

    def stats(self) -> dict:
        with self._lock:
            per_second = dict(sorted(self._per_second.items()))
            by_sender: dict[str, int] = {}
            for (sender, _second), n in self._per_sender_second.items():
                by_sender["+" + sender] = max(by_sender.get("+" + sender, 0), n)
            counters = dict(self.counters)
            total = len(self._messages)
        known = dict.fromkeys(_COUNTERS, 0)
        return {
            "messages_accepted": total,
            "accepted_per_second": {str(second): n for second, n in per_second.items()},
            "max_accepted_in_one_second": max(per_second.values(), default=0),
            "max_accepted_in_one_second_by_sender": by_sender,
            **known,
            **counters,  # and answers_<status> for every HTTP status the API answered
        }
