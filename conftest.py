"""Fixtures shared by every app's tests."""

import pytest
from hypothesis import settings as hypothesis_settings

# Property-based tests draw the same cases on every run, so that CI fails on a regression rather than on a
# lucky draw, and are not timed per example on a busy machine. A test may still bound its own examples.
hypothesis_settings.register_profile("smscampaigns", derandomize=True, deadline=None)
hypothesis_settings.load_profile("smscampaigns")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)


@pytest.fixture
def staff_roles(db):
    """The role groups of the 0001_roles migration, made again if a transactional test flushed them."""
    from smscampaigns.roles import roles_create

    roles_create()


@pytest.fixture
def staff_member(django_user_model, staff_roles):
    """Make a staff user in one of the role groups: `staff_member("Viewer")`, `staff_member(MANAGER, "bob")`."""
    from django.contrib.auth.models import Group

    def make(group: str, username: str = ""):
        user = django_user_model.objects.create_user(
            username or group.lower().replace(" ", "_"), password="pw-123-abc!", is_staff=True
        )
        user.groups.add(Group.objects.get(name=group))
        return django_user_model.objects.get(pk=user.pk)  # fresh: no cached permissions

    return make


@pytest.fixture
def manager(staff_member):
    return staff_member("Marketing manager")


@pytest.fixture
def editor(staff_member):
    return staff_member("Marketing editor")


@pytest.fixture
def viewer(staff_member):
    return staff_member("Viewer")


@pytest.fixture(autouse=True)
def sms_outbox():
    """The locmem backend's outbox, emptied before each test (like Django's mail.outbox)."""
    from sends.backends import locmem

    locmem.reset()
    yield locmem.outbox
    locmem.reset()


# The Plivo simulator fixtures (`plivo_simulator`, `plivo_simulator_live`) and the admin's browser (`browser`):
# see each module's docstring.
pytest_plugins = ["sends.simulator.pytest_plugin", "campaigns.tests.browser"]


@pytest.fixture
def api_client(django_user_model):
    """Make an API client authenticated by token as a new user holding the given permissions.

    `api_client("contacts.view_contact")`; `api_client(superuser=True)` may do everything.
    """
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    made = 0

    def make(*perms: str, superuser: bool = False) -> APIClient:
        nonlocal made
        made += 1
        user = django_user_model.objects.create_user(f"integration{made}", is_superuser=superuser)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        client.user = user
        return client

    return make


@pytest.fixture(autouse=True)
def link_clicks_spool(settings, tmp_path):
    """Without Redis, clicks queue in a spool directory: each test its own, never the checkout's var/."""
    settings.LINK_CLICKS_SPOOL_DIR = tmp_path / "link-clicks"
    return settings.LINK_CLICKS_SPOOL_DIR
