"""Delivery reports per second through the real stack: gunicorn (the production config), Django, PostgreSQL.

Each round posts signed "delivered" callbacks (Plivo's field names, V2 + V3 signatures) for sends that were
handed to Plivo, from several keep-alive client threads, and then as many requests to a trivial Django view
on the same server: the baseline that says how much of the server's capacity a report takes. Medians over
rounds; latencies are the webhook's own.

The webhook only stores a report; a Celery worker and beat, running beside gunicorn as in production, drain
them into the sends and the campaign counters. The lag is measured from each report's 200 to the moment
the campaign's delivered counter reflects it: a thread reads the counter every LAG_POLL_SECONDS, and the
k-th report answered counts as reflected once the counter has grown by k.
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
REPORTS_PER_ROUND = 1500
CLIENT_THREADS = 8
STATUS_PATH = "/webhooks/plivo/status/"
NOOP_PATH = "/_bench/noop/"
AUTH_TOKEN = "YmVuY2gtb25seS1hdXRoLXRva2VuLW5vdC1yZWFs"
LAG_POLL_SECONDS = 0.01
LAG_GOAL_MS = 2000.0
DRAIN_TIMEOUT_SECONDS = 120


def _stack_env(database_url: str, port: int) -> dict[str, str]:
    """The environment of the bench's gunicorn and of its Celery worker and beat."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.webhook_settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        "SMS_BACKEND": "sends.backends.locmem.SmsBackend",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        "WEB_THREADS": os.environ.get("WEB_THREADS", "4"),
    }


def _start_drainer(database_url: str, port: int, folder: Path) -> list[subprocess.Popen]:
    """A Celery worker (one process) and beat, as deployed: beat starts the drains, the worker runs them."""
    env = _stack_env(database_url, port)
    celery = [sys.executable, "-m", "celery", "-A", "smscampaigns"]
    return [
        subprocess.Popen(
            [*celery, "worker", "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*celery, "beat", "--schedule", str(folder / "celerybeat-schedule")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]


def _start_gunicorn(database_url: str) -> tuple[subprocess.Popen, int, socket.socket]:
    # The listening socket is ours, bound to an ephemeral port (or BENCH_WEBHOOK_PORT, on a machine where each
    # user has a range of ports), and handed to gunicorn by descriptor.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(os.environ.get("BENCH_WEBHOOK_PORT", "0"))))
    listener.listen(256)
    port = listener.getsockname()[1]
    env = _stack_env(database_url, port)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"fd://{listener.fileno()}",
            "--access-logfile",
            "/dev/null",
            "--max-requests",
            "0",
            "smscampaigns.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            status, _ = _request(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "GET", NOOP_PATH)
            if status == 200:
                return process, port, listener
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not answer within 60 s")


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b"", headers=None):
    conn.request(method, path, body=body or None, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def _signed_reports(port: int, message_uuids: list[str], to_number: str) -> list[tuple[bytes, dict]]:
    from sends.tests.plivo_callbacks import signed_headers, status_payload

    url = f"http://127.0.0.1:{port}{STATUS_PATH}"
    requests = []
    for message_uuid in message_uuids:
        params = status_payload(message_uuid=message_uuid, status="delivered", to=to_number)
        headers = signed_headers(url=url, params=params, auth_token=AUTH_TOKEN)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        requests.append((urlencode(params).encode(), headers))
    return requests


def _drive(
    port: int,
    method: str,
    path: str,
    requests: list[tuple[bytes, dict]],
    *,
    expected: int = 200,
    answered: list[float] | None = None,
) -> tuple[float, list[float]]:
    """Send every request from CLIENT_THREADS keep-alive connections; (requests/s, latencies in ms). `path` may
    hold "{}", filled in with each request's own part (its headers' "X-Bench-Path", not sent). `answered`, when
    given, receives the perf_counter time of each answer."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, times = [], []
        for body, headers in chunk:
            headers = dict(headers)
            own = path.format(headers.pop("X-Bench-Path", ""))
            started = time.perf_counter()
            status, content = _request(conn, method, own, body, headers)
            done = time.perf_counter()
            mine.append((done - started) * 1000)
            times.append(done)
            if status != expected:
                failures.append(f"{status}: {content[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)
            if answered is not None:
                answered.extend(times)

    threads = [threading.Thread(target=client, args=(requests[i::CLIENT_THREADS],)) for i in range(CLIENT_THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return len(requests) / elapsed, latencies


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


class _CounterWatch:
    """Reads a campaign's delivered counter every LAG_POLL_SECONDS on a connection of its own, noting when it
    first reached each value."""

    def __init__(self, database_url: str, campaign_id: int):
        self.database_url, self.campaign_id = database_url, campaign_id
        self.reached: dict[int, float] = {}  # counter value -> perf_counter time it was first seen
        self.value = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stopped.is_set():
                [(value,)] = conn.execute(
                    "SELECT delivered_count FROM campaigns_campaign WHERE id = %s", [self.campaign_id]
                ).fetchall()
                seen = time.perf_counter()
                for n in range(self.value + 1, value + 1):
                    self.reached[n] = seen
                self.value = max(self.value, value)
                time.sleep(LAG_POLL_SECONDS)

    def wait_for(self, value: int) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while self.value < value:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the drainer applied {self.value} reports of {value} in {DRAIN_TIMEOUT_SECONDS} s")
            time.sleep(0.05)

    def lags_ms(self, answered: list[float], *, counted_before: int) -> list[float]:
        """The k-th report answered is reflected when the counter reaches counted_before + k."""
        return [(self.reached[counted_before + k] - at) * 1000 for k, at in enumerate(sorted(answered), start=1)]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def run(ctx) -> dict:
    import tempfile

    from django.utils import timezone

    from campaigns.models import Campaign
    from sends.models import CampaignSend, DeliveryReport
    from sends.services.counters import campaign_counters_rebuild

    process, port, listener = _start_gunicorn(ctx["database_url"])
    campaign = Campaign.objects.create(name="bench webhooks", body="Hi", status=Campaign.Status.SENDING)
    to_number = "+14155550123"
    report_rates, noop_rates, report_latencies, noop_latencies, lags = [], [], [], [], []
    folder = tempfile.TemporaryDirectory(prefix="bench-webhooks-")
    drainer = _start_drainer(ctx["database_url"], port, Path(folder.name))
    watch = _CounterWatch(ctx["database_url"], campaign.pk)
    watch.thread.start()

    def sends_sent(n: int) -> list[str]:
        uuids = [str(uuid.uuid4()) for _ in range(n)]
        now = timezone.now()
        CampaignSend.objects.bulk_create(
            CampaignSend(
                campaign=campaign,
                to_number=to_number,
                status=CampaignSend.Status.SENT,
                provider_message_uuid=message_uuid,
                sent_at=now,
                segments=1,
            )
            for message_uuid in uuids
        )
        campaign_counters_rebuild(campaign_id=campaign.pk)
        return uuids

    try:
        # One report through, and applied, before measuring: the worker and beat are up.
        _drive(port, "POST", STATUS_PATH, _signed_reports(port, sends_sent(1), to_number))
        watch.wait_for(1)
        for _ in range(ROUNDS):
            reports = _signed_reports(port, sends_sent(REPORTS_PER_ROUND), to_number)
            counted_before, answered = watch.value, []
            rate, latencies = _drive(port, "POST", STATUS_PATH, reports, answered=answered)
            report_rates.append(rate)
            report_latencies += latencies
            watch.wait_for(counted_before + REPORTS_PER_ROUND)
            lags += watch.lags_ms(answered, counted_before=counted_before)
            rate, latencies = _drive(port, "GET", NOOP_PATH, [(b"", {})] * REPORTS_PER_ROUND)
            noop_rates.append(rate)
            noop_latencies += latencies
        campaign.refresh_from_db()
        expected = 1 + ROUNDS * REPORTS_PER_ROUND
        if campaign.delivered_count != expected:
            raise RuntimeError(f"counted {campaign.delivered_count} deliveries, expected {expected}")
    finally:
        watch.stopped.set()
        watch.thread.join(timeout=10)
        for child in [process, *drainer]:
            child.terminate()
        for child in [process, *drainer]:
            child.wait(timeout=30)
        listener.close()
        folder.cleanup()
        DeliveryReport.objects.filter(send__campaign=campaign).delete()
        campaign.delete()

    return {
        "webhooks.delivery_reports_per_s": {
            "value": statistics.median(report_rates),
            "unit": "reports/s",
            "baseline": "trivial Django view, same gunicorn",
            "baseline_value": statistics.median(noop_rates),
        },
        "webhooks.delivery_report_p99_ms": {
            "value": _p99(report_latencies),
            "unit": "ms",
            "baseline": "trivial view p99",
            "baseline_value": _p99(noop_latencies),
        },
        "webhooks.delivery_report_lag_p95_ms": {
            "value": _p95(lags),
            "unit": "ms",
            "baseline": "goal: p95 lag from 200 to counter",
            "baseline_value": LAG_GOAL_MS,
        },
    }
