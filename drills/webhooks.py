"""Webhooks as Plivo sends them, from the drills: inbound STOPs, and the delivery-report flood (drill 5).

Requests are signed the way Plivo signs them (the simulator's signing, written from Plivo's algorithm) with
the stack's auth token; forged ones with another token. Like Plivo, anything not answered 2xx is retried.
"""

import http.client
import random
import statistics
import threading
import time
import uuid
from urllib.parse import urlencode

import requests

from drills.campaign import Result
from drills.stack import SENDER, Stack
from sends.simulator import DEMO_AUTH_TOKEN
from sends.simulator.callbacks import signed_headers
from sends.webhook_paths import INBOUND_WEBHOOK_PATH, STATUS_WEBHOOK_PATH

# Plivo retries a webhook it got no 2xx for; these are the pauses before each retry.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
FORGED_TOKEN = "Zm9yZ2VkLXRva2VuLW5vdC1wbGl2by1ub3QtdGhlLWFwcA"
_sessions = threading.local()


def post_inbound_stop(stack: Stack, *, sender: str) -> float | None:
    """A handset texts STOP to the campaign's sender; the moment the app answered 2xx (None if it never did)."""
    url = stack.web_url + INBOUND_WEBHOOK_PATH
    fields = {
        "From": sender.lstrip("+"),
        "To": SENDER.lstrip("+"),
        "Text": "STOP",
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "Units": "1",
        "TotalRate": "0.00000",
        "TotalAmount": "0.00000",
        "MessageIntent": "",
        "PowerpackUUID": "",
    }
    headers = signed_headers(auth_token=DEMO_AUTH_TOKEN, method="POST", url=url, params=fields)
    session = getattr(_sessions, "session", None) or requests.Session()
    _sessions.session = session
    for delay in (0.0, *RETRY_DELAYS):
        time.sleep(delay)
        try:
            response = session.post(url, data=fields, headers=headers, timeout=10)
        except requests.RequestException:
            continue
        if 200 <= response.status_code < 300:
            return time.time()
    return None


# --- drill 5 ---------------------------------------------------------------------------------------------

FLOOD_CLIENT_THREADS = 64
# How long the drainer may take, after the flood's last answer, to apply what is still pending.
DRAIN_TIMEOUT_SECONDS = 60
UUID_PREFIX = "00000000-0000-4000-8000-"


def _uuid(k: int) -> str:
    return f"{UUID_PREFIX}{k:012d}"


def _sends_create(stack: Stack, *, genuine: int, forged: int) -> int:
    """A campaign whose `genuine + forged` sends were handed to Plivo (status sent, uuid k for send k)."""
    from django.db import connection, transaction

    from campaigns.models import Campaign
    from sends.services.counters import campaign_counters_rebuild

    campaign = Campaign.objects.create(name="drill 5", body="Drill 5", sender=SENDER, status=Campaign.Status.SENDING)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sends_campaignsend (campaign_id, contact_id, to_number, body, status, skip_reason,
                provider_message_uuid, error_code, error_message, attempts, segments, queued_at, sent_at,
                status_updated_at)
            SELECT %s, NULL, '+1' || (2125000000 + g)::text, 'Drill 5', 'sent', '',
                   %s || lpad(g::text, 12, '0'), '', '', 1, 1, now(), now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [campaign.pk, UUID_PREFIX, genuine + forged],
        )
    campaign_counters_rebuild(campaign_id=campaign.pk)
    return campaign.pk


def _report(k: int, *, status: str = "delivered", error_code: str = "") -> dict[str, str]:
    return {
        "MessageUUID": _uuid(k),
        "To": str(12125000000 + k),
        "From": SENDER.lstrip("+"),
        "Type": "sms",
        "Status": status,
        "Units": "1",
        "TotalRate": "0.00550",
        "TotalAmount": "0.00550",
        "MCC": "310",
        "MNC": "004",
        "ErrorCode": error_code,
        "ParentMessageUUID": _uuid(k),
        "PartInfo": "1 of 1",
        "Sequence": "3",
    }


class _Flood:
    """Offers signed reports at `rate` per second for `seconds` from a bounded pool of client threads.

    Request i is due at start + i/rate; a thread takes the next due request, so when the server answers
    more slowly than the rate the offered rate falls too and the table says so. No new request is offered
    after `seconds`; those under way finish, with their retries.
    """

    def __init__(self, stack: Stack, *, rate: int, seconds: float, genuine_block: int):
        self.stack, self.rate, self.seconds = stack, rate, seconds
        self.url = stack.web_url + STATUS_WEBHOOK_PATH
        self.host, self.port = "127.0.0.1", stack.ports.web
        self.genuine_block = genuine_block  # uuids 1..genuine_block for genuine reports, then the forged ones
        self.lock = threading.Lock()
        self.rng = random.Random(5)
        self.next_index = 0
        self.next_genuine = 0
        self.next_forged = 0
        self.earlier: list[tuple[int, bytes, dict]] = []  # genuine requests sent, for duplicates
        self.outcomes: dict[str, list] = {"genuine": [], "duplicate": [], "forged": []}  # (k, final status)
        self.retries = 0
        self.latencies: list[float] = []

    def _next(self) -> tuple[str, int, bytes, dict, float] | None:
        """The next request to offer: (kind, send number, body, headers, when it is due); None after `seconds`."""
        with self.lock:
            if time.monotonic() > self.start + self.seconds:
                return None
            due = self.start + self.next_index / self.rate
            self.next_index += 1
            roll = self.rng.random()
            if roll < 0.05:
                self.next_forged += 1
                k = self.genuine_block + self.next_forged
                params = _report(k, status="undelivered", error_code="200")  # it would opt the number out
                return "forged", k, urlencode(params).encode(), self._headers(params, FORGED_TOKEN), due
            if roll < 0.15 and self.earlier:
                k, body, headers = self.earlier[self.rng.randrange(len(self.earlier))]
                if self.rng.random() < 0.5:  # half resent as they were (a retry), half signed anew
                    return "duplicate", k, body, headers, due
                kind = "duplicate"
            else:
                kind = "genuine"
                self.next_genuine += 1
                k = self.next_genuine
        params = _report(k)
        body, headers = urlencode(params).encode(), self._headers(params, DEMO_AUTH_TOKEN)
        if kind == "genuine":
            with self.lock:
                self.earlier.append((k, body, headers))
        return kind, k, body, headers, due

    def _headers(self, params: dict, token: str) -> dict:
        headers = signed_headers(auth_token=token, method="POST", url=self.url, params=params)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers

    def _client(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while (item := self._next()) is not None:
            kind, k, body, headers, due = item
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            final: int | str = "no answer"
            for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
                if delay:
                    time.sleep(delay)
                    with self.lock:
                        self.retries += 1
                started = time.perf_counter()
                try:
                    conn.request("POST", STATUS_WEBHOOK_PATH, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    final = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    final = "no answer"
                    continue
                if attempt == 0:
                    with self.lock:
                        self.latencies.append((time.perf_counter() - started) * 1000)
                if 200 <= final < 300 or (kind == "forged" and final == 403):
                    break  # a 403 is final for a forgery: it was never Plivo's to retry
            with self.lock:
                self.outcomes[kind].append((k, final))
        conn.close()

    def run(self) -> float:
        self.start = time.monotonic()
        threads = [threading.Thread(target=self._client) for _ in range(FLOOD_CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - self.start


def _reports_pending(stack: Stack) -> int:
    return stack.sql("SELECT count(*) FROM sends_deliveryreport WHERE pending")[0][0]


def webhook_flood(stack: Stack, *, rate: int, seconds: float) -> Result:
    planned = int(rate * seconds)
    result = Result(f"5. webhook flood ({rate:,}/s offered for {seconds:.0f} s)")
    genuine_block = int(planned * 0.9) + 10
    campaign_id = _sends_create(stack, genuine=genuine_block, forged=planned // 10 + 10)
    flood = _Flood(stack, rate=rate, seconds=seconds, genuine_block=genuine_block)
    elapsed = flood.run()
    # The webhook only stores reports; the judgement waits until the drainer has applied every one stored.
    drain_started = time.monotonic()
    while (pending := _reports_pending(stack)) and time.monotonic() - drain_started < DRAIN_TIMEOUT_SECONDS:
        time.sleep(0.2)
    drain_seconds = time.monotonic() - drain_started

    genuine = {k: status for k, status in flood.outcomes["genuine"]}
    forged = {k: status for k, status in flood.outcomes["forged"]}
    duplicates = flood.outcomes["duplicate"]
    offered = len(genuine) + len(forged) + len(duplicates)
    answered_2xx = sum(1 for s in [*genuine.values(), *(s for _, s in duplicates)] if isinstance(s, int) and s < 300)
    rows = stack.sql(
        "SELECT s.provider_message_uuid, s.status, count(r.id) FROM sends_campaignsend s "
        "LEFT JOIN sends_deliveryreport r ON r.message_uuid = s.provider_message_uuid "
        "WHERE s.campaign_id = %s GROUP BY 1, 2",
        [campaign_id],
    )
    db = {int(u.rsplit("-", 1)[1]): (status, reports) for u, status, reports in rows}
    applied_once = {k for k in genuine if db.get(k) == ("delivered", 1)}
    lost = sorted(k for k in genuine if k not in applied_once)
    extra_rows = sum(max(0, reports - 1) for status, reports in db.values())
    forged_accepted = sorted(k for k, status in forged.items() if status != 403)
    forged_applied = sorted(k for k in forged if db.get(k) != ("sent", 0))
    suppressed = stack.sql(
        "SELECT count(*) FROM contacts_suppression WHERE phone_number = ANY(%s)",
        [[f"+1{2125000000 + k}" for k in forged]],
    )[0][0]
    delivered_count = stack.sql("SELECT delivered_count FROM campaigns_campaign WHERE id = %s", [campaign_id])[0][0]

    result.expected, result.sent, result.duplicates, result.lost = (
        len(genuine),
        len(applied_once),
        extra_rows,
        len(lost),
    )
    result.seconds = elapsed
    result.check(f"the drainer applied every stored report within {DRAIN_TIMEOUT_SECONDS} s", pending == 0)
    result.check("every genuine report applied exactly once", not lost and extra_rows == 0)
    result.check("every duplicate answered 2xx and stored no second report", extra_rows == 0 and all(
        isinstance(s, int) and s < 300 for _, s in duplicates
    ))  # fmt: skip
    result.check("every forged report refused (403), nothing of it stored", not forged_accepted and not forged_applied)
    result.check("a forged carrier opt-out suppressed nobody", suppressed == 0)
    result.check("the campaign's delivered counter equals the reports applied", delivered_count == len(applied_once))
    offered_rate, achieved = offered / seconds, answered_2xx / elapsed
    p50 = statistics.median(flood.latencies) if flood.latencies else 0
    p99 = (
        statistics.quantiles(flood.latencies, n=100)[98] if len(flood.latencies) >= 100 else max(flood.latencies or [0])
    )
    result.figures.update(
        target_rate=rate,
        planned=planned,
        offered=offered,
        offered_per_second=round(offered_rate),
        answered_2xx_per_second=round(achieved),
        genuine=len(genuine),
        duplicates_sent=len(duplicates),
        forged_sent=len(forged),
        retries=flood.retries,
        latency_p50_ms=round(p50),
        latency_p99_ms=round(p99),
        drained_seconds_after_flood=round(drain_seconds, 1),
        pending_after_drain=pending,
    )
    result.notes.append(
        f"target {rate:,}/s: offered {offered:,} of {planned:,} planned in {seconds:.0f} s ({offered_rate:,.0f}/s; "
        f"{FLOOD_CLIENT_THREADS} client connections, each waits for its answer), {achieved:,.0f} 2xx/s achieved "
        f"over {elapsed:.0f} s; {len(duplicates):,} duplicates, {len(forged):,} forged, {flood.retries} retries; "
        f"latency p50 {p50:.0f} ms, p99 {p99:.0f} ms; the drainer had applied every report {drain_seconds:.1f} s "
        f"after the last answer ({pending} still pending)"
    )
    if lost:
        result.notes.append(f"genuine reports not applied once: {lost[:10]} (of {len(lost)})")
    if forged_accepted or forged_applied:
        result.notes.append(f"forged reports not refused: {sorted(set(forged_accepted) | set(forged_applied))[:10]}")
    return result
