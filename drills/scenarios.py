"""The reliability drills. Each takes the running stack and a scale (1.0 = the sizes the issue names) and
returns a Result; the workers and beat of a drill are its own, started with the settings it needs."""

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from drills.campaign import (
    PERSONAL_CODE,
    Result,
    audience_create,
    campaign_launch,
    campaign_status,
    judge_exactly_once,
    number,
    wait_for_completion,
    wait_for_first_sends,
    witness,
)
from drills.stack import Stack
from drills.webhooks import post_inbound_stop, webhook_flood

# Settings every send drill gives its workers and beat: a quick engine tick, and status callbacks sent to
# a port where nothing listens (the webhook drill measures those on its own; 60,000 callbacks beside a
# 20,000-message campaign would only slow the drills down), not retried.
FAST_TICK = {"ENGINE_TICK_SECONDS": "1"}
# A killed worker's chunks are queued again after this long without progress, and its claimed sends are
# reconciled after this long: the product's defaults (60 s, 300 s) would make the drill last many minutes.
QUICK_RECOVERY = {"DISPATCH_LEASE_SECONDS": "5", "SEND_STUCK_AFTER_SECONDS": "15"}


def _engine_start(stack: Stack, *, workers: int, **env: str) -> dict[str, str]:
    """Beat and `workers` workers with the drill's settings; returns those settings, for restarts."""
    env = {**FAST_TICK, "PUBLIC_BASE_URL": f"http://127.0.0.1:{stack.ports.nowhere}", **env}
    stack.beat_start(**env)
    for i in range(workers):
        stack.worker_start(f"w{i + 1}", **env)
    return env


def _fresh_start(stack: Stack, **faults) -> None:
    stack.redis_flush()  # the previous drill's rate buckets and dispatch windows
    stack.sim("DELETE", "messages")
    stack.sim("POST", "faults", json={"callback_retry_delays_ms": [], **faults})


def _scaled(n: int, scale: float) -> int:
    return max(10, round(n * scale))


def drill_worker_kills(stack: Stack, scale: float) -> Result:
    """1. SIGKILL one of two workers every few seconds during a 20,000-recipient campaign; restart it."""
    return _worker_kills(
        stack,
        scale,
        block=1,
        title="1. SIGKILL a worker every 3 s",
        body="Drill 1: worker kills. Our sale starts today. Reply STOP to opt out",
    )


def drill_worker_kills_personalised(stack: Stack, scale: float) -> Result:
    """1b. The same kills while every recipient gets a text of their own: one request each, over
    DISPATCH_CONNECTIONS at once, so that workers die with requests in flight on several connections."""
    return _worker_kills(
        stack,
        scale,
        block=7,
        title="1b. SIGKILL a worker every 3 s, personalised texts",
        body=f"Drill 1b: worker kills. Your code is {PERSONAL_CODE}. Reply STOP to opt out",
    )


def _worker_kills(stack: Stack, scale: float, *, block: int, title: str, body: str) -> Result:
    size = _scaled(20_000, scale)
    result = Result(f"{title} ({size:,} recipients)")
    _fresh_start(stack)
    list_id = audience_create(block=block, size=size)
    # 500/s makes 20,000 last 40 s: a dozen kills. Small scales send slower, so that kills still land.
    rate = min(500, max(30, size // 40))
    env = _engine_start(stack, workers=2, SEND_RATE_PER_SECOND=str(rate), **QUICK_RECOVERY)
    campaign_id = campaign_launch(list_id=list_id, name=f"drill {block}", body=body)
    wait_for_first_sends(stack, body)
    kills, victim = 0, 0
    deadline = time.monotonic() + 60 + size / 100
    while campaign_status(stack, campaign_id) != "completed" and time.monotonic() < deadline:
        time.sleep(3)
        if campaign_status(stack, campaign_id) == "completed":
            break
        name = f"w{victim % 2 + 1}"
        stack.workers[name].kill()
        stack.worker_start(name, **env)
        kills, victim = kills + 1, victim + 1
    wait_for_completion(stack, campaign_id, timeout=120)
    seen = witness(stack, campaign_id=campaign_id, body=body)
    judge_exactly_once(result, seen, expected=seen.eligible)
    result.check("workers were killed during the campaign", kills >= 1)
    # A killed worker's claimed sends are settled from the provider's message list: found ones are sent,
    # the rest sent again; none is left for staff to guess about.
    result.check("no send left unknown", result.unknown == 0)
    result.figures["kills"] = kills
    [(found, requeued)] = stack.sql(
        "SELECT count(*) FILTER (WHERE error_message LIKE 'reconciled: found%%'), "
        "count(*) FILTER (WHERE error_message LIKE 'reconciled: the provider never%%') "
        "FROM sends_campaignsend WHERE campaign_id = %s",
        [campaign_id],
    )
    result.figures |= {"reconciled_found": found, "reconciled_requeued": requeued}
    result.notes.insert(
        0,
        f"{kills} SIGKILLs, each worker restarted at once; of the sends they left claimed, {found} were found "
        f"at the provider and recorded as sent, {requeued} had never reached it and were sent again",
    )
    return result


def drill_fault_storm(stack: Stack, scale: float) -> Result:
    """4. 30% 429, 10% 5xx, 500 ms latency: completes, the rate never exceeded, retries bounded."""
    size, rate, max_attempts = _scaled(5_000, scale), 100, 5
    result = Result(f"4. simulator fault storm ({size:,} recipients, {rate}/s)")
    body = "Drill 4: fault storm. Our sale starts today. Reply STOP to opt out"
    _fresh_start(stack, share_429=0.3, share_5xx=0.1, latency_ms=500, seed=9)
    list_id = audience_create(block=4, size=size)
    env = {"SEND_MAX_ATTEMPTS": str(max_attempts), "SEND_RETRY_BASE_SECONDS": "1", "SEND_RETRY_MAX_SECONDS": "8"}
    # Four workers, so that together they could go faster than the rate: the limit has something to hold.
    _engine_start(stack, workers=4, **env)
    campaign_id = campaign_launch(list_id=list_id, name="drill 4", body=body, max_per_second=rate)
    wait_for_completion(stack, campaign_id, timeout=120 + size / 20)
    stack.sim("POST", "faults", json={"callback_retry_delays_ms": []})
    seen = witness(stack, campaign_id=campaign_id, body=body)
    gave_up = {n for n, (status, _, _) in seen.sends.items() if status == "failed"}
    judge_exactly_once(result, seen, expected=seen.eligible, may_miss=gave_up)
    stats = stack.sim("GET", "stats")
    busiest = stats["max_accepted_in_one_second"]
    attempts = stack.sql(
        "SELECT max(attempts), sum(attempts) FROM sends_campaignsend WHERE campaign_id = %s", [campaign_id]
    )
    most, total = attempts[0][0] or 0, attempts[0][1] or 0
    refused = sum(v for k, v in stats.items() if k.startswith("answers_") and k[8:] in ("429", "500"))
    result.check(f"at most {rate} accepted in any second (simulator's count)", busiest <= rate)
    result.check(f"no send tried more than SEND_MAX_ATTEMPTS={max_attempts} times", most <= max_attempts)
    result.check("the storm forced retries", refused > 0 and most > 1)
    gave_up_not_sent = {n for n in gave_up if n not in seen.sim_times}
    result.check("a send that gave up is failed with its error, never sent", gave_up == gave_up_not_sent)
    result.figures.update(
        busiest_second=busiest, answers_refused=refused, attempts_max=most, attempts_total=total, gave_up=len(gave_up)
    )
    result.notes.insert(
        0,
        f"busiest second at the simulator: {busiest}/{rate}; {refused:,} requests refused (429/500) and retried; "
        f"attempts per send at most {most}; {len(gave_up)} recipients failed after {max_attempts} attempts "
        "(bounded retries, not sent)",
    )
    return result


def drill_stop_storm(stack: Stack, scale: float) -> Result:
    """6. 1,000 STOPs while a campaign sends: none of those numbers texted after its STOP was answered."""
    size, stops, rate = _scaled(10_000, scale), _scaled(1_000, scale), 300
    result = Result(f"6. STOP storm ({stops:,} STOPs, {size:,} recipients)")
    body = "Drill 6: STOP storm. Our sale starts today. Reply STOP to opt out"
    _fresh_start(stack)
    list_id = audience_create(block=6, size=size)
    _engine_start(stack, workers=2, SEND_RATE_PER_SECOND=str(rate))
    campaign_id = campaign_launch(list_id=list_id, name="drill 6", body=body)
    stoppers = [number(6, n) for n in range(1, size + 1, max(1, size // stops))][:stops]
    random.Random(6).shuffle(stoppers)
    wait_for_first_sends(stack, body, n=max(1, size // 20))
    answered = _concurrently(stoppers, lambda n: post_inbound_stop(stack, sender=n), threads=8)
    wait_for_completion(stack, campaign_id, timeout=120 + size / 50)
    seen = witness(stack, campaign_id=campaign_id, body=body)
    late = [
        n
        for n in stoppers
        if answered.get(n) is not None and any(t.timestamp() > answered[n] for t in seen.sim_times.get(n, []))
    ]
    judge_exactly_once(result, seen, expected=seen.eligible - set(stoppers), may_miss=set(stoppers))
    unanswered = [n for n in stoppers if answered.get(n) is None]
    still_subscribed = stack.sql(
        "SELECT count(*) FROM contacts_contact WHERE phone_number = ANY(%s) AND status <> 'unsubscribed'", [stoppers]
    )[0][0]
    result.check("every STOP answered 2xx", not unanswered)
    result.check("nobody texted after their STOP was answered", not late)
    result.check("every STOP number unsubscribed", still_subscribed == 0)
    texted_before = sum(1 for n in stoppers if n in seen.sim_times)
    result.figures.update(stops=len(stoppers), texted_before_stop=texted_before, texted_after_stop=len(late))
    result.notes.insert(
        0,
        f"{len(stoppers):,} STOPs answered while sending; {texted_before:,} of those numbers had been texted before "
        f"their STOP, {len(late)} after it",
    )
    if late:
        result.notes.append("texted after STOP was answered: " + ", ".join(sorted(late)[:10]))
    return result


def _outage_drill(
    stack: Stack,
    scale: float,
    *,
    block: int,
    title: str,
    stop: Callable[[], None],
    start: Callable[[], None],
    down_seconds: float = 6,
) -> Result:
    size = _scaled(10_000, scale)
    result = Result(f"{block}. {title} mid-campaign ({size:,} recipients)")
    body = f"Drill {block}: {title}. Our sale starts today. Reply STOP to opt out"
    _fresh_start(stack)
    list_id = audience_create(block=block, size=size)
    _engine_start(stack, workers=2, SEND_RATE_PER_SECOND="500", **QUICK_RECOVERY)
    campaign_id = campaign_launch(list_id=list_id, name=f"drill {block}", body=body)
    wait_for_first_sends(stack, body, n=size // 5)
    stop()
    health: list[int | str] = []
    down_until = time.monotonic() + down_seconds
    while time.monotonic() < down_until:
        try:
            health.append(stack.http.get(f"{stack.web_url}/healthz", timeout=5).status_code)
        except Exception as exc:  # no answer at all: the web app fell over
            health.append(exc.__class__.__name__)
        time.sleep(0.5)
    start()
    wait_for_completion(stack, campaign_id, timeout=180 + size / 100)
    after = stack.http.get(f"{stack.web_url}/healthz", timeout=5).status_code
    seen = witness(stack, campaign_id=campaign_id, body=body)
    judge_exactly_once(result, seen, expected=seen.eligible)
    result.check("/healthz answered 503 throughout the outage", bool(health) and set(health) == {503})
    result.check("/healthz back to 200 afterwards", after == 200)
    result.figures.update(health_during_outage=sorted({str(h) for h in health}), outage_seconds=down_seconds)
    result.notes.insert(
        0,
        f"down {down_seconds:.0f} s: /healthz answered {', '.join(sorted({str(h) for h in health}))} "
        f"({len(health)} probes), {after} after",
    )
    return result


def drill_redis_restart(stack: Stack, scale: float) -> Result:
    """2. Restart Redis (its data lost: no persistence) mid-campaign."""
    return _outage_drill(stack, scale, block=2, title="Redis restart", stop=stack.redis_stop, start=stack.redis_start)


def drill_postgres_restart(stack: Stack, scale: float) -> Result:
    """3. Restart PostgreSQL mid-campaign."""
    return _outage_drill(
        stack, scale, block=3, title="PostgreSQL restart", stop=stack.postgres_stop, start=stack.postgres_start
    )


def drill_webhook_flood(stack: Stack, scale: float) -> Result:
    """5. 5,000 signed delivery reports/s for 30 s, 10% duplicates, 5% forged."""
    # The webhook stores reports; a worker started by beat applies them to the sends and counters, as deployed.
    stack.beat_start()
    stack.worker_start("w1")
    return webhook_flood(stack, rate=5_000, seconds=max(3.0, 30 * scale))


def _concurrently(items: list[str], call: Callable[[str], float | None], *, threads: int) -> dict[str, float | None]:
    """`call(item)` for every item from `threads` threads; item -> what the call returned."""
    results: dict[str, float | None] = {}
    pending = list(items)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            value = call(item)
            with lock:
                results[item] = value

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


DRILLS: dict[str, Callable[[Stack, float], Result]] = {
    "kills": drill_worker_kills,
    "kills-personal": drill_worker_kills_personalised,
    "redis": drill_redis_restart,
    "postgres": drill_postgres_restart,
    "storm": drill_fault_storm,
    "webhooks": drill_webhook_flood,
    "stops": drill_stop_storm,
}


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
