"""Helpers the tests of every app share (tests are exempt from the import layers, so any app's tests may use them)."""

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, transaction

ROOT = Path(__file__).resolve().parents[2]
# The least a production start-up needs: settings tests add or break one value at a time.
PRODUCTION_ENV = {
    "ENV_FILE": "",  # a developer's .env is no production's
    "DEBUG": "false",
    "SECRET_KEY": "x8#kP2!vQz9@Lm4$Tn7^Wr1&Ys6*Hb3(Jd5)Fg0-Ac+Ee=Ui~Oo",
    "ALLOWED_HOSTS": "sms.example.com",
    "PUBLIC_BASE_URL": "https://sms.example.com",
    "SMS_BACKEND": "sends.backends.plivo.SmsBackend",
    "PLIVO_AUTH_ID": "MAXXXXXXXXXXXXXXXXXX",
    "PLIVO_AUTH_TOKEN": "production-auth-token-for-the-settings-tests",
    "PLIVO_SENDER": "+14155550100",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """manage.py in a fresh process: settings are read once per process."""
    # Only PATH and the given values: nothing from the developer's shell or the test run leaks in.
    clean = {"PATH": os.environ["PATH"], "VAR_DIR": os.environ.get("VAR_DIR", str(ROOT / "var")), "ENV_FILE": "", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def assert_start_up_refused_naming(name: str, value: str) -> None:
    """With `name` set to `value`, start-up stops with one line of error that names the setting."""
    result = manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


@contextmanager
def rolled_back():
    """What the block writes is undone after it, so the next one starts from the same database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def run_concurrently(*calls: Callable[[], object], together: bool = False) -> list:
    """Each call in a thread of its own, with its own database connection (closed after, so the test database
    can be dropped); with `together`, they start at one barrier, to make a race likely. Returns the calls'
    results in order, or raises the first exception a thread raised (in a thread, it would otherwise vanish)."""
    barrier = threading.Barrier(len(calls)) if together else None
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            if barrier is not None:
                barrier.wait()
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def end_worker_connections() -> None:
    """End the database connections of an in-process Celery worker's threads: they outlive the worker and
    would keep the test database from being dropped."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
