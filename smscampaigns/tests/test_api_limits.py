"""Input over the limits and guessed tokens: each answered in the API's one error format, never a 500."""

import itertools
import json
import random

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# Each test its own client address: the failure counts live in the shared cache (Redis in CI).
_addresses = (f"198.18.{n // 250 % 256}.{n % 250 + 1}" for n in itertools.count(random.randrange(60_000)))


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [33, 100_000])
def test_deeply_nested_json_is_a_400(api_client, depth):
    response = api_client(superuser=True).post(
        "/api/v1/lists/", data=f'{{"name": "VIP", "x": {_nested(depth)}}}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - JSON nested deeper than 32 levels.", "errors": {}}


def test_json_nested_within_the_limit_is_read(api_client):
    response = api_client(superuser=True).post(
        "/api/v1/lists/", data=f'{{"name": "VIP", "x": {_nested(31)}}}', content_type="application/json"
    )
    assert response.status_code == 201


def test_a_body_over_the_upload_limit_is_a_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "VIP", "description": "x" * 2000})
    response = api_client(superuser=True).post("/api/v1/lists/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: the limit is 1000 bytes.", "errors": {}}


def test_too_many_query_parameters_is_a_400(api_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"p{n}=1" for n in range(11))
    response = api_client(superuser=True).get(f"/api/v1/contacts/?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Too many fields in the request: the limit is 10.", "errors": {}}


def _guess(address: str, token: str = "0" * 40):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/lists/")


def test_wrong_tokens_are_throttled_per_client_address(api_client, settings):
    settings.API_AUTH_FAILURE_RATE = "3/minute"
    guesser, neighbour = next(_addresses), next(_addresses)
    assert [_guess(guesser).status_code for _ in range(3)] == [401, 401, 401]
    throttled = _guess(guesser)
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled.json()["detail"].startswith("Too many failed authentication attempts from this address.")
    assert throttled.json()["errors"] == {}
    # While the address is over the rate even the right token is refused: else the guesser would see it work.
    valid = Token.objects.get(user=api_client(superuser=True).user).key
    assert _guess(guesser, valid).status_code == 429
    # Another address is not affected.
    assert _guess(neighbour, valid).status_code == 200
    assert _guess(neighbour).status_code == 401


def test_behind_a_proxy_wrong_tokens_are_counted_per_client_not_per_proxy(settings):
    settings.API_AUTH_FAILURE_RATE = "2/minute"
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy, guesser, neighbour = next(_addresses), next(_addresses), next(_addresses)

    def via_proxy(client_address):
        client = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{next(_addresses)}, {client_address}")
        client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        return client.get("/api/v1/lists/").status_code

    assert [via_proxy(guesser) for _ in range(3)] == [401, 401, 429]  # the spoofed hop changes nothing
    assert via_proxy(neighbour) == 401


def test_session_requests_are_not_held_by_an_addresses_wrong_tokens(settings, django_user_model):
    settings.API_AUTH_FAILURE_RATE = "1/minute"
    address = next(_addresses)
    _guess(address)
    assert _guess(address).status_code == 429
    client = APIClient(REMOTE_ADDR=address)
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw-admin-123"))
    assert client.get("/api/v1/lists/").status_code == 200
