"""The development `.env` that `make run` writes, and the README's commands in a fresh checkout after it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from sends.simulator import DEMO_AUTH_ID, DEMO_AUTH_TOKEN
from smscampaigns.management.commands.dev_env import ensure_env_file


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_the_first_run_writes_a_development_env_with_the_simulator_and_a_secret_of_its_own(tmp_path):
    path = tmp_path / ".env"
    ensure_env_file(path, port=8000, simulator_port=8999)
    values = read_env(path)
    assert values["DEBUG"] == "true"
    assert values["PLIVO_AUTH_ID"] == DEMO_AUTH_ID
    assert values["PLIVO_AUTH_TOKEN"] == DEMO_AUTH_TOKEN
    assert values["PLIVO_API_URL"] == "http://127.0.0.1:8999"
    assert values["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert "DATABASE_URL" not in values and "REDIS_URL" not in values  # the embedded default
    assert len(values["SECRET_KEY"]) >= 50
    assert path.stat().st_mode & 0o077 == 0  # it holds a secret: readable by its owner only

    other = tmp_path / "other.env"
    ensure_env_file(other, port=8000, simulator_port=8999)
    assert read_env(other)["SECRET_KEY"] != values["SECRET_KEY"]


def test_a_later_run_on_other_ports_moves_only_the_loopback_addresses_and_keeps_the_rest(tmp_path):
    path = tmp_path / ".env"
    ensure_env_file(path, port=8000, simulator_port=8999)
    secret = read_env(path)["SECRET_KEY"]
    path.write_text(path.read_text() + "SMS_BRAND_NAME=Mine\n")

    said = ensure_env_file(path, port=8080, simulator_port=9001)

    values = read_env(path)
    assert values["PUBLIC_BASE_URL"] == "http://127.0.0.1:8080"
    assert values["PLIVO_API_URL"] == "http://127.0.0.1:9001"
    assert values["SIMULATOR_PORT"] == "9001"
    assert values["SECRET_KEY"] == secret and values["SMS_BRAND_NAME"] == "Mine"
    assert "follow this run's ports" in said


def test_an_address_the_developer_pointed_elsewhere_is_left_alone(tmp_path):
    path = tmp_path / ".env"
    path.write_text("DEBUG=true\nPUBLIC_BASE_URL=https://abc.tunnel.example\nPLIVO_API_URL=https://api.plivo.com\n")

    assert ensure_env_file(path, port=8080, simulator_port=9001) == "Using .env."
    assert read_env(path) == {
        "DEBUG": "true",
        "PUBLIC_BASE_URL": "https://abc.tunnel.example",
        "PLIVO_API_URL": "https://api.plivo.com",
    }


def checkout_copy(destination: Path) -> Path:
    """The files git tracks or would (untracked, not ignored), as in this working tree: a fresh clone of this change."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = settings.BASE_DIR / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.mark.skipif(not shutil.which("make") or not shutil.which("git"), reason="needs make and git")
def test_the_readme_commands_work_in_a_fresh_checkout_right_after_the_set_up(tmp_path):
    checkout = checkout_copy(tmp_path / "smscampaigns")
    # This suite's virtualenv stands in for the one `make` would install (same pyproject), and `make -o`
    # keeps make from re-installing into it.
    venv = Path(sys.prefix)
    (checkout / ".venv").symlink_to(venv, target_is_directory=True)
    # A new user's shell: nothing of this project's settings exported, not even by the test runner.
    shell = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=checkout, env=shell, capture_output=True, text=True, timeout=300)

    setup = run("make", "-o", ".venv/.installed", "setup", "PORT=8123", "SIMULATOR_PORT=9123")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "Login: demo / " in setup.stdout
    assert read_env(checkout / ".env")["PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"

    # Then, "in another terminal", the README's commands as written.
    check = run(".venv/bin/python", "manage.py", "check")
    assert check.returncode == 0, check.stderr

    token = run(".venv/bin/python", "manage.py", "create_api_token", "demo")
    assert token.returncode == 0, token.stderr
    assert re.fullmatch(r"[0-9a-f]{40}", token.stdout.strip())

    (checkout / "people.csv").write_text("phone,first_name\n(415) 555-0123,Ada\n+1 415 555 0124,Grace\n")
    imported = run(
        ".venv/bin/python", "manage.py", "import_contacts", "people.csv", "--list", "Newsletter",
        "--consent-source", "spring fair sign-up sheet",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    exported = run(".venv/bin/python", "manage.py", "export_contacts", "--list", "Newsletter")
    assert exported.returncode == 0, exported.stderr
    assert "+14155550123" in exported.stdout and "+14155550124" in exported.stdout
    # They all used the checkout's own embedded database, not anything of the test run's.
    assert (checkout / "db.sqlite3").is_file()
