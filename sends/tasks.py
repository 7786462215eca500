"""Celery tasks of the send engine: thin, they take ids and call one service. All are safe to run twice."""

from celery import shared_task

from sends.services import delivery_reports, dispatch, fanout, webhook_nonces


@shared_task(acks_late=True)
def campaigns_launch_due() -> list[int]:
    return fanout.campaigns_launch_due()


@shared_task(acks_late=True)
def sends_dispatch_chunk(campaign_id: int, first_id: int, last_id: int) -> None:
    dispatch.sends_dispatch_chunk(campaign_id=campaign_id, first_id=first_id, last_id=last_id)


@shared_task(acks_late=True)
def sends_dispatch_tick() -> None:
    dispatch.sends_dispatch_tick()


@shared_task(acks_late=True)
def delivery_reports_drain() -> int:
    return len(delivery_reports.delivery_reports_drain())


@shared_task(acks_late=True)
def webhook_nonces_prune() -> int:
    return webhook_nonces.webhook_nonces_prune()


@shared_task(acks_late=True)
def lookup_run_execute_task(run_id: int) -> None:
    from sends.services.lookups import lookup_run_execute

    lookup_run_execute(run_id=run_id)
