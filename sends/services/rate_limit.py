"""Send rate per sender, counted in segments: a token bucket shared by every worker through Redis.

The bucket is kept as GCRA (a "theoretical arrival time" per sender): each request reserves
`segments / rate` seconds of the sender's time and is told how long to wait until its reservation has
elapsed. A reservation is taken atomically by a Lua script, so N workers on N machines together never go
beyond the rate. With no REDIS_URL (the embedded default, one machine) the same arithmetic runs on a small
file per sender under VAR_DIR, under an exclusive lock, so the worker processes of that machine share it.
"""

import fcntl
import hashlib
import time
from functools import lru_cache
from pathlib import Path

import redis
from django.conf import settings

# A reservation further ahead than this cannot be real (the bucket file outlived a reboot).
_MAX_BACKLOG_SECONDS = 3600.0
# A request reaches the provider a little after its turn (the claim, the connection), and not always equally
# late. Turns spaced 5% wider than the rate needs keep a request up to ~50 ms later than the one before it
# inside its own second, as a provider counting per second sees it (without it, 120 went in one second at 100/s).
RATE_HEADROOM = 0.05

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1]) / tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return string.format('%.6f', new_tat - now)
"""


def _reserve_on_this_machine(key: str, cost: float, rate: float) -> float:
    folder = Path(settings.VAR_DIR) / "rate-limit"
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    with open(folder / name, "a+b") as bucket:
        fcntl.flock(bucket, fcntl.LOCK_EX)
        bucket.seek(0)
        # The machine's monotonic clock: shared by its processes, and deaf to wall-clock changes.
        now = time.clock_gettime(time.CLOCK_MONOTONIC)
        tat = float(bucket.read() or 0)
        if tat - now > _MAX_BACKLOG_SECONDS:  # written before a reboot (the clock restarted): start afresh
            tat = now
        tat = max(tat, now)
        new_tat = tat + cost / rate
        bucket.seek(0)
        bucket.truncate()
        bucket.write(f"{new_tat:.6f}".encode())
        return new_tat - now


@lru_cache(maxsize=4)
def _redis_script(url: str):
    return redis.Redis.from_url(url).register_script(_RESERVE)


def rate_limit_reserve(*, sender: str, segments: int, per_second: int | None) -> float:
    """Reserve `segments` of the sender's rate; returns the seconds to wait before sending (0 if off)."""
    if not per_second or per_second <= 0 or segments <= 0:
        return 0.0
    key = f"smscampaigns:rate:{sender}"
    rate = per_second * (1 - RATE_HEADROOM)
    if settings.REDIS_URL:
        return float(_redis_script(settings.REDIS_URL)(keys=[key], args=[segments, rate]))
    return _reserve_on_this_machine(key, segments, rate)


def rate_limit_wait(*, sender: str, segments: int, per_second: int | None) -> None:
    """Block until `segments` may be sent from `sender` at `per_second`."""
    delay = rate_limit_reserve(sender=sender, segments=segments, per_second=per_second)
    if delay > 0:
        time.sleep(delay)


def batch_size_for_rate(*, per_second: int | None, segments_per_message: int, backend_limit: int) -> int:
    """Destinations per request: bulk as the backend allows, but no request bigger than a fifth of a
    second of the rate, so that the rate holds over any one-second window and not just on average."""
    if not per_second or per_second <= 0:
        return backend_limit
    return max(1, min(backend_limit, (per_second // 5) // max(1, segments_per_message)))
