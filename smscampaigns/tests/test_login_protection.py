import pytest

pytestmark = pytest.mark.django_db


def _login(client, password):
    return client.post("/admin/login/?next=/admin/", {"username": "staff", "password": password})


def test_admin_login_is_locked_after_repeated_wrong_passwords(client, staff_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert _login(client, "wrong-password").status_code == 200  # the form again, with an error
    assert _login(client, "wrong-password").status_code == 429
    # Locked out: even the right password is refused until the cool-off ends.
    assert _login(client, "pw-staff-123").status_code == 429


def test_a_successful_login_resets_the_failure_count(client, staff_user):
    for _ in range(4):
        _login(client, "wrong-password")
    assert _login(client, "pw-staff-123").status_code == 302
    client.logout()
    for _ in range(4):
        assert _login(client, "wrong-password").status_code == 200


PROXY = "10.0.0.2"  # the proxy every request arrives from


def _login_via_proxy(client, password, forwarded_for):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "staff", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.TRUSTED_PROXY_COUNT = 1


def test_behind_a_proxy_one_clients_wrong_passwords_lock_out_only_that_client(behind_one_proxy, staff_user):
    from django.test import Client

    attacker, colleague = Client(), Client()
    for _ in range(5):
        _login_via_proxy(attacker, "wrong-password", "203.0.113.7")
    assert _login_via_proxy(attacker, "pw-staff-123", "203.0.113.7").status_code == 429
    # Same proxy, same username, another address: still logs in.
    assert _login_via_proxy(colleague, "pw-staff-123", "198.51.100.20").status_code == 302


def test_a_spoofed_hop_before_the_trusted_proxy_does_not_evade_the_lockout(behind_one_proxy, staff_user):
    from django.test import Client

    attacker = Client()
    for attempt in range(5):
        # The proxy appends the real address; what the client wrote before it changes on every try.
        _login_via_proxy(attacker, "wrong-password", f"192.0.2.{attempt}, 203.0.113.7")
    assert _login_via_proxy(attacker, "pw-staff-123", "192.0.2.99, 203.0.113.7").status_code == 429
    assert _login_via_proxy(attacker, "pw-staff-123", "203.0.113.7").status_code == 429


def test_without_a_configured_proxy_a_forwarded_for_header_is_ignored(staff_user):
    from django.test import Client

    attacker = Client()
    for attempt in range(5):
        _login_via_proxy(attacker, "wrong-password", f"192.0.2.{attempt}")
    assert _login_via_proxy(attacker, "pw-staff-123", "192.0.2.99").status_code == 429
