from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_admin_index_shows_the_three_apps(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    for section in ("Contacts", "Campaigns", "Sends and delivery", "Audit trail"):
        assert section in response.content.decode()


@pytest.mark.parametrize(
    "model",
    [
        "contacts/contact",
        "contacts/contactlist",
        "contacts/suppression",
        "campaigns/campaign",
        "sends/campaignsend",
        "sends/deliveryreport",
        "sends/inboundmessage",
        "audit/auditevent",
    ],
)
def test_every_changelist_loads_with_search_and_filters(admin_client, model):
    response = admin_client.get(f"/admin/{model}/", {"q": "+1415"})
    assert response.status_code == 200


def test_demo_setup_creates_the_login_once_and_prints_it(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("demo_setup", stdout=first)
    call_command("demo_setup", stdout=second)
    password = (tmp_path / "demo-login.txt").read_text()
    assert f"demo / {password}" in first.getvalue()
    assert first.getvalue() == second.getvalue()
    from django.contrib.auth import get_user_model

    demo = get_user_model().objects.get(username="demo")
    assert demo.is_superuser and demo.check_password(password)
