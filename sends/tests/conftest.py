"""Fixtures for the send engine: a clean cache (dispatch windows, rate buckets) and an in-process engine."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def clean_engine_state():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def run_engine():
    """Run the engine in this process the way a worker and beat would (Celery eager)."""
    from sends.tests.engine import run_in_process

    return run_in_process
