"""The production stack as written: docker-compose.yml, the Dockerfile, gunicorn.conf.py.

No Docker engine runs here, so the compose file and the Dockerfile are read and checked for what the stack
needs; gunicorn runs for real with gunicorn.conf.py and production settings, and the web service's own
health check command is run against it.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from smscampaigns.tests.helpers import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker", "beat")


def test_the_stack_has_its_services_each_app_one_from_the_projects_image():
    assert set(SERVICES) == {"migrate", "web", "worker", "beat", "postgres", "redis"}
    for name in APP_SERVICES:
        assert SERVICES[name]["build"] == ".", name  # the Dockerfile beside it, so the same pyproject
        assert SERVICES[name]["image"] == "smscampaigns:latest", name
        environment = SERVICES[name]["environment"]
        assert (
            environment["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in environment["DATABASE_URL"]
        )
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert SERVICES["web"]["command"][0] == "gunicorn" and "gunicorn.conf.py" in SERVICES["web"]["command"]
    assert SERVICES["worker"]["command"][:4] == ["celery", "-A", "smscampaigns", "worker"]
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "smscampaigns", "beat"]


def test_migrations_run_once_before_web_worker_and_beat_start():
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"  # a one-shot service
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_every_long_running_service_but_beat_has_a_health_check():
    for name in ("web", "worker", "postgres", "redis"):
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["interval"] and check["retries"], name
    assert "pg_isready" in SERVICES["postgres"]["healthcheck"]["test"][1]
    assert SERVICES["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # A worker answers for itself, not for whichever replica replies first.
    assert "--destination celery@$$HOSTNAME" in SERVICES["worker"]["healthcheck"]["test"][1]


def test_data_lives_in_named_volumes_and_uploads_are_shared_by_web_and_worker():
    declared = set(COMPOSE["volumes"])
    assert declared == {"postgres-data", "redis-data", "beat-schedule", "media"}
    mounts = {name: dict(v.split(":", 1) for v in service.get("volumes", [])) for name, service in SERVICES.items()}
    assert mounts["postgres"] == {"postgres-data": "/var/lib/postgresql/data"}
    assert mounts["redis"] == {"redis-data": "/data"}
    # The web stores an uploaded CSV (MEDIA_ROOT, under VAR_DIR=/app/var); a worker reads it.
    assert mounts["web"]["media"] == mounts["worker"]["media"] == "/app/var/media"
    used = {volume for service_mounts in mounts.values() for volume in service_mounts}
    assert used == declared


def test_the_image_is_built_from_pyproject_runs_unprivileged_and_leaves_secrets_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith(("#", " "))]
    assert "COPY pyproject.toml README.md ./" in instructions
    assert "RUN pip install --no-cache-dir ." in instructions
    assert "requirements" not in dockerfile  # one list of dependencies: pyproject.toml
    assert instructions.index("COPY pyproject.toml README.md ./") < instructions.index(
        "RUN pip install --no-cache-dir ."
    )
    assert "USER app" in instructions
    assert not any(line.startswith("HEALTHCHECK") for line in instructions)  # per service, in the compose file
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret_or_state in (".env", ".venv/", ".git/", "var/", "db.sqlite3*"):
        assert secret_or_state in ignored, secret_or_state


def test_secrets_come_from_the_environment_never_from_the_compose_file():
    for name in APP_SERVICES:
        assert SERVICES[name]["env_file"] == ".env"
        environment = SERVICES[name]["environment"]
        assert "SECRET_KEY" not in environment and "PLIVO_AUTH_TOKEN" not in environment
        assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]  # required, never defaulted


# --- gunicorn, for real ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(base: str, process: subprocess.Popen, log: Path) -> None:
    """Until the server at `base` answers /healthz; fails with its log if it exits or takes over a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{process.args} did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn with gunicorn.conf.py and production settings, on SQLite (nothing here needs a table)."""
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
        # The image runs collectstatic when it is built (Dockerfile); here nothing was built.
        "STATIC_MANIFEST": "false",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    command = [sys.executable, "-m", "gunicorn", "smscampaigns.wsgi:application", "-c", "gunicorn.conf.py"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base, process, tmp_path / "gunicorn.log")
        yield base, env, tmp_path / "gunicorn.log"
    finally:  # stopped even when it never answered
        process.terminate()
        process.wait(30)
        log.close()


def test_gunicorn_runs_no_control_socket(gunicorn):
    _, _, log = gunicorn
    assert "Control socket listening" not in log.read_text()


def test_the_web_services_health_check_passes_against_gunicorn(gunicorn):
    _, env, _ = gunicorn
    kind, command = SERVICES["web"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$")  # compose's escape for a literal $
    result = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_production_answers_https_only_with_hsts_secure_cookies_and_secure_headers(gunicorn):
    base, _, _ = gunicorn
    site = {"Host": "sms.example.com"}
    plain = requests.get(f"{base}/admin/login/", headers=site, allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"] == "https://sms.example.com/admin/login/"

    # Behind the TLS proxy (X-Forwarded-Proto from an address gunicorn trusts).
    page = requests.get(f"{base}/admin/login/", headers={**site, "X-Forwarded-Proto": "https"}, timeout=30)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csrf_cookie = next(c for c in page.cookies if c.name == "csrftoken")
    assert csrf_cookie.secure

    unknown_host = requests.get(f"{base}/admin/login/", headers={"Host": "evil.example"}, timeout=30)
    assert unknown_host.status_code == 400  # ALLOWED_HOSTS holds; only /healthz answers any host


def test_production_pages_carry_the_content_security_policy_and_permissions_policy(gunicorn):
    from smscampaigns.tests.test_browser_policies import assert_strict_policy
    from smscampaigns.tests.test_hostile_input import inline_code

    base, _, _ = gunicorn
    headers = {"Host": "sms.example.com", "X-Forwarded-Proto": "https"}
    for path in ("/admin/login/", "/api/docs/", "/api/v1/contacts/", "/no-such-page/"):
        answer = requests.get(f"{base}{path}", headers=headers, allow_redirects=False, timeout=30)
        assert answer.status_code in (200, 401, 404), (path, answer.status_code)
        assert_strict_policy(answer)
        if answer.headers["Content-Type"].startswith("text/html"):
            assert inline_code(answer.text) == [], path
    script = requests.get(f"{base}/api/docs/?script=", headers=headers, timeout=30)
    assert script.status_code == 200 and script.headers["Content-Type"] == "application/javascript"


def test_the_access_log_leaves_query_strings_out(gunicorn):
    base, _, log = gunicorn
    headers = {"Host": "sms.example.com", "X-Forwarded-Proto": "https"}
    answer = requests.get(f"{base}/api/v1/contacts/", params={"search": "+14155550123"}, headers=headers, timeout=30)
    assert answer.status_code == 401
    deadline = time.monotonic() + 10
    while not (access := re.findall(r'.*"GET /api/v1/contacts/ HTTP.*', log.read_text())):
        assert time.monotonic() < deadline, f"no access log line for the request:\n{log.read_text()}"
        time.sleep(0.1)
    assert "4155550123" not in log.read_text() and "search=" not in access[0]
