from celery import shared_task

from contacts.services import contact_import_run


# acks_late (the project default): a worker killed mid-import leaves the message to be redelivered, and
# the import carries on after its last committed batch.
@shared_task
def run_contact_import(contact_import_id: int) -> None:
    contact_import_run(contact_import_id=contact_import_id)
