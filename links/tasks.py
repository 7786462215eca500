"""Celery tasks of the links app: thin, one service call each; safe to run twice."""

from celery import shared_task

from links.services import clicks


@shared_task(acks_late=True)
def link_clicks_flush() -> int:
    return clicks.link_clicks_flush()
