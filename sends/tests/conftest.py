"""Fixtures for the send engine: a clean cache (dispatch windows, rate buckets) and an in-process engine."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from campaigns.quiet_hours_rules import WITHOUT_LOCAL_RULES
from sends.backends.filebased import read_requests

# Noon in Los Angeles, where the +1 415 numbers of the factories ring: inside every quiet-hours window.
LA_NOON = datetime(2026, 6, 2, 19, 0, tzinfo=UTC)


@pytest.fixture
def daytime():
    """The clock at LA_NOON and running; tests about quiet hours move it (`daytime.move_to(...)`)."""
    with time_machine.travel(LA_NOON, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def clean_engine_state():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scripted(settings):
    """The provider plays failures on cue (sends/tests/scripted_backend.py)."""
    from sends.tests import scripted_backend

    settings.SMS_BACKEND = "sends.tests.scripted_backend.SmsBackend"
    scripted_backend.reset()
    yield scripted_backend.script
    scripted_backend.reset()


@pytest.fixture
def run_engine():
    """Run the engine in this process the way a worker and beat would (Celery eager)."""
    from sends.tests.engine import run_in_process

    return run_in_process


class Workers:
    """Real Celery worker processes (each with its own embedded beat) on this test run's database and
    broker: Redis when REDIS_URL is set, else the embedded file-system broker. They send through the
    file-based backend, whose JSON lines are the record of what left the system."""

    def __init__(self, tmp_path: Path, database_url: str):
        self.tmp_path = tmp_path
        self.outbox = tmp_path / "sms-outbox.jsonl"
        self.database_url = database_url
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str = "w1", *, concurrency: int = 0, **env_overrides: str) -> subprocess.Popen:
        """A worker with its own beat: one process (the solo pool), or `concurrency` child processes (the
        prefork pool, as `make run` starts it)."""
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SMS_BACKEND": "sends.backends.filebased.SmsBackend",
            "SMS_FILE_PATH": str(self.outbox),
            "ENGINE_TICK_SECONDS": "0.5",
            # Real time runs on in the worker: let every hour be a sending hour there.
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "23:59:59.999999",
            "QUIET_HOURS_RULES": WITHOUT_LOCAL_RULES,
            "LOG_LEVEL": "WARNING",
            **env_overrides,
        }
        log = (self.tmp_path / f"worker-{name}.log").open("ab")
        command = [
            sys.executable, "-m", "celery", "-A", "smscampaigns", "worker",
            *(["--pool", "prefork", "--concurrency", str(concurrency)] if concurrency else ["--pool", "solo"]),
            "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "WARNING",
            "--beat", "--schedule", str(self.tmp_path / f"beat-{name}"),
        ]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and its beat at once, the way a machine dies."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def requests(self) -> list[dict]:
        return read_requests(self.outbox)

    def destinations(self) -> Counter:
        return Counter(number for request in self.requests() for number in request["messages"])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.tmp_path.glob("worker-*.log"))


def _database_url_of_test_db() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict["USER"] or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


@pytest.fixture
def workers(transactional_db, tmp_path):
    """Start workers with `workers.start()`; they are stopped before the database is flushed."""
    if not settings.REDIS_URL:
        broker = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        shutil.rmtree(broker, ignore_errors=True)
        Path(broker).mkdir(parents=True, exist_ok=True)
    pool = Workers(tmp_path, _database_url_of_test_db())
    yield pool
    pool.stop_all()


def wait_for(predicate, *, timeout: float, message: str, workers: Workers | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    message = message() if callable(message) else message
    raise AssertionError(f"timed out after {timeout}s waiting for {message}\n{workers.logs() if workers else ''}")


class WebhookReceiver:
    """A stand-in for the app's webhook views: records every request; answers from a script of statuses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answers for the next requests, in order; then 200
        self.redirects: dict[str, tuple[int, str]] = {}  # path -> (3xx status, Location) answered for it
        self.connections = 0  # connections the requests came over
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.do_POST()

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.command == "GET":
                    body = urlsplit(self.path).query
                with receiver.lock:
                    redirect = receiver.redirects.get(urlsplit(self.path).path)
                    status = redirect[0] if redirect else receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "form": {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()},
                            "answered": status,
                        }
                    )
                self.send_response(status)
                if redirect:
                    self.send_header("Location", redirect[1])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
