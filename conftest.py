"""Fixtures shared by every app's tests."""

import pytest


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)


@pytest.fixture
def staff_roles(db):
    """The role groups of the 0001_roles migration, made again if a transactional test flushed them."""
    from smscampaigns.roles import roles_create

    roles_create()


@pytest.fixture(autouse=True)
def sms_outbox():
    """The locmem backend's outbox, emptied before each test (like Django's mail.outbox)."""
    from sends.backends import locmem

    locmem.reset()
    yield locmem.outbox
    locmem.reset()


# The Plivo simulator fixtures (`plivo_simulator`, `plivo_simulator_live`): see that module's docstring.
pytest_plugins = ["sends.simulator.pytest_plugin"]
