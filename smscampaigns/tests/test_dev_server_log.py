"""The development server (`make run`: runserver, Procfile.dev) logs requests as production's gunicorn does:
the path without its query string, no phone number. The production side: test_production_stack.py."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from smscampaigns.logging import AccessLogRedaction, request_line_redact
from smscampaigns.tests.test_production_stack import _free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]


def test_a_request_line_keeps_its_path_and_loses_its_query_string():
    assert request_line_redact("GET /admin/contacts/contact/?q=%2B14155550123&o=1 HTTP/1.1") == (
        "GET /admin/contacts/contact/ HTTP/1.1"
    )
    assert request_line_redact("GET /api/v1/contacts/?search=Smith HTTP/1.1") == "GET /api/v1/contacts/ HTTP/1.1"
    assert request_line_redact("GET /x/+14155550123/ HTTP/1.1") == "GET /x/+*******0123/ HTTP/1.1"
    assert request_line_redact("POST /webhooks/plivo/status/ HTTP/1.1") == "POST /webhooks/plivo/status/ HTTP/1.1"


def test_the_filter_redacts_the_arguments_django_logs_a_request_with():
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s', ("GET /?q=4155550123 HTTP/1.1", "200", "5"), None
    )
    assert AccessLogRedaction().filter(record)
    assert record.getMessage() == '"GET / HTTP/1.1" 200 5'


def test_runserver_leaves_query_strings_and_numbers_out_of_its_access_log(tmp_path):
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    log = (tmp_path / "runserver.log").open("w")
    command = [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base, process, tmp_path / "runserver.log")
        requests.get(f"{base}/api/v1/contacts/", params={"search": "+14155550123"}, timeout=30)
        requests.get(f"{base}/api/v1/lists/", params={"search": "Okafor 4155550199"}, timeout=30)
        deadline = time.monotonic() + 10
        while '"GET /api/v1/lists/ HTTP/1.1" 401' not in (text := (tmp_path / "runserver.log").read_text()):
            assert time.monotonic() < deadline, f"no access log line for the request:\n{text}"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert '"GET /api/v1/contacts/ HTTP/1.1" 401' in text
    for personal in ("4155550123", "4155550199", "Okafor", "search="):
        assert personal not in text, personal
