from contextlib import contextmanager

from django.test import TestCase

from sends.services import dispatch, fanout
from smscampaigns.celery import app


@contextmanager
def eager_celery():
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def run_in_process(ticks: int = 1) -> None:
    """Launch due campaigns, run every chunk message they queue, then `ticks` beat rounds, all here."""
    with eager_celery():
        with TestCase.captureOnCommitCallbacks(execute=True):
            fanout.campaigns_launch_due()
        for _ in range(ticks):
            with TestCase.captureOnCommitCallbacks(execute=True):
                dispatch.sends_dispatch_tick()
