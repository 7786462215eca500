import time

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from contacts.models import Contact, ContactImport
from contacts.services.imports import contact_import_run_queued
from contacts.tests.factories import csv_upload
from contacts.tests.test_import_fuzz import multipart_request
from smscampaigns.celery import app as celery_app
from smscampaigns.tests.helpers import end_worker_connections

IMPORT = "/api/v1/contacts/import/"
CSV = "phone,first_name,city\n(415) 555-0101,Ada,Paris\n+14155550102,Grace,Lyon\nnot a number,Bob,Nice\n"


@pytest.fixture
def importer(api_client):
    return api_client("contacts.add_contactimport", "contacts.view_contactimport")


@pytest.mark.django_db
def test_upload_answers_202_with_the_import_to_poll_and_queues_it(importer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = importer.post(IMPORT, {"file": csv_upload(CSV), "list_name": "Fair", "consent_source": "fair sheet"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["source_name"], body["list_name"]) == ("pending", "contacts.csv", "Fair")
    assert response["Location"] == f"{IMPORT}{body['id']}/"
    assert len(queued) == 1  # the worker's task, sent once the upload is committed

    contact_import_run_queued(contact_import_id=body["id"])  # what the worker does with it
    polled = importer.get(response["Location"]).json()
    assert (polled["status"], polled["percent_done"]) == ("completed", 100)
    assert (polled["rows_read"], polled["created"], polled["rejected"]) == (3, 2, 1)
    assert Contact.objects.get(phone_number="+14155550101").attributes == {"city": "Paris"}

    errors = importer.get(f"{response['Location']}errors/").json()
    assert [(e["line"], e["column"], e["value"]) for e in errors["results"]] == [(4, "phone", "not a number")]
    assert "not a valid phone number" in errors["results"][0]["reason"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({}, "file", "No file was submitted"),
        ({"file": csv_upload("name,email\nAnn,a@b.c\n")}, None, "phone"),
        ({"file": csv_upload(CSV), "default_region": "ZZ"}, "default_region", "unknown region"),
        ({"file": csv_upload(CSV), "dry_run": "perhaps"}, "dry_run", "valid boolean"),
    ],
)
def test_a_bad_upload_is_refused_at_once_with_the_reason(importer, payload, field, says):
    response = importer.post(IMPORT, payload)
    assert response.status_code == 400
    body = response.json()
    assert says in (body["errors"][field][0] if field else body["detail"]), body
    assert not ContactImport.objects.exists()


@pytest.mark.django_db
def test_json_is_not_an_upload(importer):
    response = importer.post(IMPORT, {"file": "phone\n+14155550101\n"}, format="json")
    assert response.status_code == 415
    assert set(response.json()) == {"detail", "errors"}


@pytest.mark.django_db
def test_importing_needs_the_import_permission(api_client):
    client = api_client("contacts.add_contact", "contacts.view_contactimport")
    assert client.post(IMPORT, {"file": csv_upload(CSV)}).status_code == 403
    assert api_client().get(f"{IMPORT}1/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_real_celery_worker(importer):
    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=30):
        location = importer.post(IMPORT, {"file": csv_upload(CSV), "consent_source": "fair sheet"})["Location"]
        deadline = time.monotonic() + 60
        polled = importer.get(location).json()
        while polled["status"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            polled = importer.get(location).json()
    assert polled["status"] == "completed", polled["failure"]
    assert polled["created"] == 2
    assert Contact.objects.filter(status=Contact.Status.SUBSCRIBED).count() == 2
    end_worker_connections()


@pytest.mark.django_db
def test_an_upload_announced_over_the_cap_is_answered_401_before_413_and_never_read(settings, tmp_path):
    settings.CONTACT_IMPORT_MAX_BYTES = 1000
    request = multipart_request(tmp_path, "big.csv", [b"phone\n" + b"+14155550101\n" * 10_000], {})
    with request["wsgi.input"] as body:
        response = APIClient().generic("POST", IMPORT, b"", **request)
        assert body.tell() == 0
    assert response.status_code == 401


@pytest.mark.django_db
def test_upload_takes_a_column_mapping_and_reports_the_encoding(importer, settings, tmp_path):
    from contacts.models import CustomField
    from contacts.services.custom_fields import custom_field_create

    settings.MEDIA_ROOT = tmp_path
    custom_field_create(key="score", label="Score", type=CustomField.Type.NUMBER)
    text = "Mobile;Who;Points;Labels\n+14155550101;Zoë Li;12;vip\n"
    upload = csv_upload("")
    upload.file.write(text.encode("cp1252"))
    upload.file.seek(0)
    upload.size = len(text)
    mapping = '{"Mobile": "phone", "Who": "name", "Points": "field:score", "Labels": "tags"}'
    response = importer.post(IMPORT, {"file": upload, "mapping": mapping})
    assert response.status_code == 202, response.json()
    assert response.json()["encoding"] == "Windows-1252" and response.json()["mapping"]["Points"] == "field:score"
    contact_import_run_queued(contact_import_id=response.json()["id"])
    zoe = Contact.objects.get()
    assert (zoe.first_name, zoe.last_name, zoe.attributes) == ("Zoë", "Li", {"score": "12"})
    assert list(zoe.tags.values_list("name", flat=True)) == ["vip"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ('{"phone": "mobile number"}', "'mobile number' is not a target"),
        ('{"Nope": "phone"}', "the mapping names column 'Nope', which the file does not have"),
        ('{"city": "field:unknown"}', "custom field 'unknown', which does not exist"),
        ('["phone"]', "must be an object"),
    ],
)
def test_upload_refuses_a_mapping_that_does_not_fit_the_file(importer, settings, tmp_path, mapping, says):
    settings.MEDIA_ROOT = tmp_path
    response = importer.post(IMPORT, {"file": csv_upload(CSV), "mapping": mapping})
    assert response.status_code == 400 and says in response.json()["detail"], response.json()
    assert not ContactImport.objects.exists()
