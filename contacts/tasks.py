from celery import shared_task

from contacts.services import subscriptions
from contacts.services.imports import contact_import_run_queued as service


# acks_late (the project default): a worker killed mid-import leaves the message to be redelivered, and
# the import carries on after its last committed batch. Named as the service it calls; registered under its
# earlier name so that a message queued by the previous release is still run after a deploy.
@shared_task(name="contacts.tasks.run_contact_import")
def contact_import_run_queued(contact_import_id: int) -> None:
    service(contact_import_id=contact_import_id)


@shared_task(name="contacts.tasks.subscription_requests_expire")
def subscription_requests_expire() -> int:
    """The beat task ending requests to join that were never confirmed (OPT_IN_PENDING_DAYS)."""
    return subscriptions.subscription_requests_expire()
