"""What every API endpoint shares: authentication, throttling, the error format, the schema and its docs."""

from io import StringIO

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from smscampaigns.api import UserThrottle, exception_handler

pytestmark = pytest.mark.django_db


def test_unauthenticated_is_401_with_the_token_challenge():
    response = APIClient().get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided.", "errors": {}}


def test_a_wrong_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/v1/contacts/").status_code == 401


def test_session_authentication_works_and_csrf_guards_its_writes(django_user_model):
    user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw-admin-123")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/contacts/").status_code == 200
    response = client.post("/api/v1/lists/", {"name": "VIP"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_throttling_is_per_user_and_says_when_to_retry(api_client, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    first, second = api_client(superuser=True), api_client(superuser=True)
    # The history lives in the shared cache, keyed by user id: start from none (ids are reused on SQLite).
    cache.delete_many([UserThrottle.cache_format % {"scope": "user", "ident": c.user.pk} for c in (first, second)])
    assert [first.get("/api/v1/lists/").status_code for _ in range(2)] == [200, 200]
    throttled = first.get("/api/v1/lists/")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert set(throttled.json()) == {"detail", "errors"}
    assert second.get("/api/v1/lists/").status_code == 200


def test_nested_input_errors_are_flattened_to_a_path(api_client):
    client = api_client(superuser=True)
    list_id = client.post("/api/v1/lists/", {"name": "VIP"}, format="json").json()["id"]
    response = client.post(f"/api/v1/lists/{list_id}/contacts/", {"add": [1, "x"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input. add.1: A valid integer is required.",
        "errors": {"add.1": ["A valid integer is required."]},
    }


def test_an_unexpected_failure_answers_json_without_the_traceback(caplog):
    response = exception_handler(RuntimeError("secret internals"), {"view": None})
    assert response.status_code == 500
    assert response.data == {"detail": "Internal server error; it has been logged.", "errors": {}}
    assert "secret internals" in caplog.text  # in the log, for operators; not in the answer


def test_an_unsupported_method_is_405_in_the_error_format(api_client):
    response = api_client(superuser=True).put("/api/v1/contacts/", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.', "errors": {}}


def test_schema_generates_without_warnings_and_validates():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert "/api/v1/contacts/{id}/opt-in/" in schema["paths"]


def test_schema_is_served_and_documents_the_error_format():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["schemas"]["ApiError"]["required"] == ["detail", "errors"]
    contacts_list = schema["paths"]["/api/v1/contacts/"]["get"]
    assert {"200", "400", "401", "403", "429"} <= set(contacts_list["responses"])
    assert {p["name"] for p in contacts_list["parameters"]} >= {"status", "list", "search", "page", "page_size"}


def test_swagger_ui_is_served_from_our_static_files_not_a_cdn():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_create_api_token_prints_a_working_token(django_user_model):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    out = StringIO()
    call_command("create_api_token", "ops", stdout=out)
    key = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/contacts/").status_code == 200

    again = StringIO()
    call_command("create_api_token", "ops", stdout=again)
    assert again.getvalue().strip() == key
    call_command("create_api_token", "ops", "--rotate", stdout=StringIO())
    assert Token.objects.get(user__username="ops").key != key
    assert client.get("/api/v1/contacts/").status_code == 401


def test_create_api_token_for_an_unknown_user_says_so():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_api_token", "nobody")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/contacts/-1/", "Not found."),
        ("/api/v1/contacts/abc/", "Not found."),
        ("/api/v1/nothing/", "Not found."),
        ("/api/v1/contacts", "Not found. Did you mean /api/v1/contacts/ (with the trailing slash)?"),
    ],
)
def test_unknown_api_paths_answer_json_404(api_client, path, detail):
    response = api_client(superuser=True).get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": detail, "errors": {}}


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "501", "null"])
def test_a_bad_page_size_is_400_not_ignored(api_client, page_size):
    response = api_client(superuser=True).get("/api/v1/contacts/", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json()["errors"] == {"page_size": ["must be a whole number from 1 to 500"]}


@pytest.mark.parametrize("payload", [{"name": 5}, {"name": True}, {"name": "x", "description": 0}])
def test_text_fields_refuse_numbers_and_booleans(api_client, payload):
    response = api_client(superuser=True).post("/api/v1/lists/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(payload) - ({"name"} if payload.get("name") == "x" else set())


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("page=", "page", "must be a whole number from 1"),
        ("page=last", "page", "must be a whole number from 1"),
        ("status=", "status", "must not be empty; leave the parameter out to not filter by it"),
        ("list=", "list", "must not be empty; leave the parameter out to not filter by it"),
        ("status=subscribed&status=unsubscribed", "status", "given more than once; give one value"),
    ],
)
def test_ambiguous_query_parameters_are_400(api_client, query, field, message):
    response = api_client(superuser=True).get(f"/api/v1/contacts/?{query}")
    assert response.status_code == 400
    assert response.json()["errors"] == {field: [message]}


def test_an_empty_search_is_no_filter(api_client):
    assert api_client(superuser=True).get("/api/v1/contacts/?search=").status_code == 200


HUGE = 10**30  # past any database integer: must be a clean 4xx, never an overflow error


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", f"/api/v1/contacts/{HUGE}/", None),
        ("get", f"/api/v1/contacts/?list={HUGE}", None),
        ("post", "/api/v1/contacts/", {"phone_number": "+14155550150", "lists": [HUGE]}),
        ("post", "/api/v1/lists/{list}/contacts/", {"add": [HUGE]}),
        ("patch", f"/api/v1/campaigns/{HUGE}/", {"name": "x"}),
        ("get", f"/api/v1/campaigns/{HUGE}/sends/", None),
    ],
)
def test_ids_past_the_integer_range_are_a_client_error(api_client, method, path, payload):
    from contacts.tests.factories import ContactListFactory

    client = api_client(superuser=True)
    response = getattr(client, method)(path.format(list=ContactListFactory().pk), payload, format="json")
    assert response.status_code in (400, 404)
    assert set(response.json()) == {"detail", "errors"}
