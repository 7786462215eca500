"""The admin in a real browser: Playwright driving Debian's chromium against pytest-django's live server.

A pytest plugin (loaded by the root conftest.py), so that every app's browser tests share one set-up: the
`browser` fixture, `requires_chromium`, and helpers to make staff and log them in. No browser is downloaded:
Makefile's `chromium` target installs Debian's package when it is missing; tests marked `requires_chromium`
are skipped, saying why, only when no chromium can be found. Screenshots go to ARTIFACTS (test-artifacts/).
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "pw-browser-123!"

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"chromium not found at {CHROMIUM} (`make test` installs Debian's chromium when run as root)",
)


@pytest.fixture
def browser(monkeypatch):
    # Imported here so that a machine without the playwright package can still load this plugin.
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses database calls there unless
    # told it is safe, which it is: the test code and the loop never touch the database concurrently.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _watch_policy_violations(browser, monkeypatch, violations)
        yield browser
        browser.close()
        # Database calls the test made while Playwright ran went through a connection of their own (Django keeps
        # connections per context, and Playwright's greenlets give the test another one): close it here, where
        # it is reachable, or it outlives the test and blocks dropping the test database at the end.
        connections.close_all()
    # Every page must work under the Content-Security-Policy and Permissions-Policy: a script, style or
    # feature they block is a page that is broken in production, whatever the test itself checked.
    assert not violations, "the browser reported policy violations:\n" + "\n".join(violations)


POLICY_MESSAGES = ("Content Security Policy", "Content-Security-Policy", "Permissions-Policy", "Permissions policy")


def _watch_policy_violations(browser, monkeypatch, violations: list[str]) -> None:
    """Collect what Chromium writes to the console of any page of the test about a policy it enforced."""

    def on_console(message):
        if any(words in message.text for words in POLICY_MESSAGES):
            violations.append(f"{message.type}: {message.text} ({message.location.get('url', '')})")

    new_context, new_page = browser.new_context, browser.new_page

    def watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on("console", on_console)
        return context

    def watched_page(*args, **kwargs):
        page = new_page(*args, **kwargs)
        page.on("console", on_console)
        return page

    monkeypatch.setattr(browser, "new_context", watched_context)
    monkeypatch.setattr(browser, "new_page", watched_page)


def staff(django_user_model, username: str, group: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def logged_in_page(browser, live_server, username: str, timezone_id: str = "Europe/Paris"):
    from playwright.sync_api import expect

    context = browser.new_context(timezone_id=timezone_id, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
    return page
