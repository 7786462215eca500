"""Requests over Django's size limits outside the API views: the admin and the webhooks answer 413/400."""

import pytest

pytestmark = pytest.mark.django_db

WEBHOOKS = ["/webhooks/plivo/status/", "/webhooks/plivo/inbound/"]


@pytest.fixture
def small_limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/contacts/contactlist/add/", *WEBHOOKS])
def test_a_form_body_over_the_size_limit_is_a_413(admin_client, small_limits, path):
    response = admin_client.post(path, {"name": "x" * 2000})
    assert response.status_code == 413
    assert response.content == b"Request body too large: the limit is 1000 bytes."


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/contacts/contactlist/add/", *WEBHOOKS])
def test_a_form_with_too_many_fields_is_a_400(admin_client, small_limits, path):
    response = admin_client.post(path, {f"field{n}": "x" for n in range(11)})
    assert response.status_code == 400
    assert response.content == b"Too many fields in the request: the limit is 10."


def test_too_many_query_parameters_on_an_admin_page_is_a_400(admin_client, small_limits):
    query = "&".join(f"p{n}=1" for n in range(11))
    response = admin_client.get(f"/admin/contacts/contact/?{query}")
    assert response.status_code == 400
    assert response.content == b"Too many fields in the request: the limit is 10."


@pytest.mark.parametrize("depth", [33, 100_000])
def test_json_nested_too_deeply_in_an_admin_form_is_a_form_error(admin_client, depth):
    response = admin_client.post(
        "/admin/contacts/contact/add/",
        {"phone_number": "+14155550123", "attributes": "[" * depth + "]" * depth},
    )
    assert response.status_code == 200  # the form again, with the error at the field
    assert "JSON nested deeper than 32 levels." in response.context["adminform"].form.errors["attributes"]


def test_a_bad_request_refused_before_any_api_view_still_answers_in_the_api_format(client):
    response = client.get("/api/v1/lists/", HTTP_HOST="not-an-allowed-host.example")  # DisallowedHost
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "errors": {}}
    assert client.get("/admin/", HTTP_HOST="not-an-allowed-host.example").status_code == 400
