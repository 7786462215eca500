"""The admin "Import contacts" page, and the Celery task that runs what is uploaded there."""

import csv
import io
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, ContactImport
from contacts.services.imports import contact_import_resume, contact_import_run_queued, contact_import_start
from contacts.tests.factories import csv_upload
from contacts.tests.test_import import MESSY
from smscampaigns.celery import app as celery_app
from smscampaigns.errors import ApplicationError
from smscampaigns.tests.helpers import end_worker_connections


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.django_db
def test_contact_list_page_links_to_the_import_page(admin_client):
    page = admin_client.get(reverse("admin:contacts_contact_changelist")).content.decode()
    assert reverse("admin:contacts_contactimport_add") in page and "Import contacts" in page


@pytest.mark.django_db
def test_mapping_step_refuses_a_file_without_a_phone_column_and_says_what_it_found(admin_client):
    response = admin_client.post(
        reverse("admin:contacts_contactimport_add"),
        {"file": csv_upload("name,email\nAnn,a@b.c\n"), "default_region": "US"},
    )
    record = ContactImport.objects.get()
    mapping_url = reverse("admin:contacts_contactimport_mapping", args=[record.pk])
    assert response["Location"] == mapping_url
    refused = admin_client.post(mapping_url, {"column_0": "name", "column_1": "attribute"})
    assert refused.status_code == 200
    assert "no phone column" in refused.content.decode() and "&#x27;email&#x27;" in refused.content.decode()
    record.refresh_from_db()
    assert record.status == ContactImport.Status.MAPPING and not Contact.objects.exists()


@pytest.mark.django_db
def test_import_page_stores_the_upload_and_queues_it_once_mapped(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:contacts_contactimport_add"),
            {"file": csv_upload(MESSY), "default_region": "US", "list_name": "Fair", "consent_source": "fair sheet"},
        )
    record = ContactImport.objects.get()
    assert response.status_code == 302 and not callbacks  # nothing runs before the columns are mapped
    mapping_url = reverse("admin:contacts_contactimport_mapping", args=[record.pk])
    assert response["Location"] == mapping_url
    form = admin_client.get(mapping_url).context["form"]
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(mapping_url, {name: field.initial for name, field in form.fields.items()})
    assert response["Location"] == reverse("admin:contacts_contactimport_change", args=[record.pk])
    assert len(callbacks) == 1  # the task is sent once the record is committed
    record.refresh_from_db()
    assert (record.status, record.created_by, record.list_name) == ("pending", admin_user, "Fair")
    assert record.file.read().decode("utf-8") == MESSY
    page = admin_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page  # follows the progress while a worker runs it


@pytest.mark.django_db
def test_import_page_shows_the_summary_and_offers_the_error_report(admin_client, admin_user):
    record = contact_import_start(file=csv_upload(MESSY), consent_source="fair sheet", actor=admin_user)
    contact_import_run_queued(contact_import_id=record.pk)

    page = admin_client.get(reverse("admin:contacts_contactimport_change", args=[record.pk])).content.decode()
    assert "Completed" in page and 'http-equiv="refresh"' not in page
    assert "line 10, Mobile: hello" in page
    report = admin_client.get(reverse("admin:contacts_contactimport_errors", args=[record.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows[0] == ["line", "column", "value", "reason"]
    assert [row[0] for row in rows[1:]] == ["10", "11", "16"]


@pytest.mark.django_db
def test_an_upload_that_failed_midway_resumes_after_its_last_batch(failing_insert, admin_user):
    lines = ["phone"] + [f"+1415555{100 + n:04d}" for n in range(10)]
    record = contact_import_start(file=csv_upload("\n".join(lines) + "\n"), consent_source="fair", actor=admin_user)
    with pytest.raises(DatabaseError):
        run_stored_upload(record, batch_size=2)
    record.refresh_from_db()
    assert (record.status, record.lines_done, record.created) == ("failed", 5, 4)

    failing_insert()
    run_stored_upload(record, batch_size=2)
    record.refresh_from_db()
    # Counted once each, as if it had never stopped.
    assert (record.status, record.rows_read, record.created, record.unchanged) == ("completed", 10, 10, 0)
    assert Contact.objects.count() == 10


def run_stored_upload(record: ContactImport, **options):
    from contacts.services.imports import contact_import_run as service

    with record.file.open("rb") as file:
        return service(file=file, record=record, consent_source=record.consent_source, **options)


@pytest.mark.django_db(transaction=True)
def test_upload_is_imported_by_a_real_celery_worker(admin_client):
    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=30):
        response = admin_client.post(
            reverse("admin:contacts_contactimport_add"),
            {"file": csv_upload(MESSY), "default_region": "US", "list_name": "Fair", "consent_source": "fair sheet"},
        )
        assert response.status_code == 302
        mapping_url = response["Location"]
        form = admin_client.get(mapping_url).context["form"]
        admin_client.post(mapping_url, {name: field.initial for name, field in form.fields.items()})
        record = ContactImport.objects.get()
        deadline = time.monotonic() + 60
        while record.status in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            record.refresh_from_db()
    assert record.status == ContactImport.Status.COMPLETED, record.failure
    assert (record.rows_read, record.created, record.rejected) == (
        13,
        9,
        3,
    )  # no opted-out or suppressed numbers in this database
    assert Contact.objects.filter(lists__name="Fair").count() == 9
    end_worker_connections()


@pytest.mark.django_db
def test_only_a_failed_upload_can_be_resumed(admin_user, django_capture_on_commit_callbacks):
    record = contact_import_start(file=csv_upload("phone\n+14155550101\n"), actor=admin_user)
    with pytest.raises(ApplicationError, match="waiting for a worker"):
        contact_import_resume(contact_import=record)
    ContactImport.objects.filter(pk=record.pk).update(status=ContactImport.Status.FAILED)
    record.refresh_from_db()
    with django_capture_on_commit_callbacks() as callbacks:
        contact_import_resume(contact_import=record)
    record.refresh_from_db()
    assert record.status == ContactImport.Status.PENDING and len(callbacks) == 1


@pytest.mark.django_db
def test_a_worker_that_cannot_read_the_upload_marks_the_import_failed(admin_user):
    record = contact_import_start(file=csv_upload("phone\n+14155550101\n"), actor=admin_user)
    record.file.storage.delete(record.file.name)
    contact_import_run_queued(contact_import_id=record.pk)
    record.refresh_from_db()
    assert record.status == ContactImport.Status.FAILED and "cannot be read" in record.failure


@pytest.mark.django_db
def test_a_redelivered_task_leaves_a_running_import_alone_unless_its_worker_went_silent(admin_user):
    record = contact_import_start(file=csv_upload("phone\n+14155550101\n"), actor=admin_user)
    running = ContactImport.objects.filter(pk=record.pk)
    running.update(status=ContactImport.Status.RUNNING, progress_at=timezone.now())
    assert contact_import_run_queued(contact_import_id=record.pk) is None
    assert not Contact.objects.exists()

    running.update(progress_at=timezone.now() - timedelta(minutes=10))
    assert contact_import_run_queued(contact_import_id=record.pk).created == 1
    assert running.get().status == ContactImport.Status.COMPLETED


class _Named(io.BytesIO):
    """An upload with any name at all: SimpleUploadedFile would refuse some before the product sees them."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name, self.size = name, len(data)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "c" * 50 + "." + "d" * 140,  # an extension the storage cannot shorten: was a 500
        " " * 20,  # nothing the storage can make a name of: was a 500
        "..",
        "\U0001f600" * 60 + ".csv",
        "../../etc/passwd",
    ],
)
def test_an_upload_with_an_awkward_name_is_stored_under_a_name_the_storage_keeps(admin_user, name):
    record = contact_import_start(file=_Named(name, b"phone\n+14155550101\n"), actor=admin_user)
    assert record.source_name == (name.strip() or "upload.csv")
    stored = record.file.name.rsplit("/", 1)[-1]
    assert len(record.file.name) <= 100 and ".." not in record.file.name.replace(stored, "")
    assert record.file.read() == b"phone\n+14155550101\n"
    assert contact_import_run_queued(contact_import_id=record.pk).created == 1


@pytest.mark.django_db
def test_the_import_page_still_checks_the_csrf_token(admin_user):
    # The page installs the upload cap before the CSRF check reads the body, so it runs the check itself.
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("admin:contacts_contactimport_add")
    response = client.post(url, {"file": csv_upload("phone\n+14155550101\n"), "default_region": "US"})
    assert response.status_code == 403
    assert not ContactImport.objects.exists()

    token = client.get(url).context["csrf_token"]
    response = client.post(
        url, {"file": csv_upload("phone\n+14155550101\n"), "default_region": "US", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302 and ContactImport.objects.count() == 1
