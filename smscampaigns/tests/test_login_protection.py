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
