"""The project-wide templates in the top-level templates/ folder: the admin's frame and the error pages."""

import pytest
from django.template.loader import get_template, render_to_string
from django.test import Client
from django.urls import reverse

from smscampaigns.tests.test_browser_policies import assert_strict_policy
from smscampaigns.tests.test_hostile_input import inline_code

pytestmark = pytest.mark.django_db


def test_the_admin_pages_take_the_project_name_from_the_projects_base_site(client, manager):
    client.force_login(manager)
    page = client.get(reverse("admin:index")).content.decode()
    assert get_template("admin/base_site.html").origin.name.endswith("templates/admin/base_site.html")
    assert "<title>SMS campaigns back office | smscampaigns</title>" in page
    assert '<div id="site-name"><a href="/admin/">smscampaigns</a></div>' in page
    login = Client().get(reverse("admin:login")).content.decode()
    assert "| smscampaigns</title>" in login and ">smscampaigns</a>" in login


def test_an_unknown_page_gets_the_projects_404_page_with_nothing_inline():
    response = Client().get("/no-such-page/?q=<script>alert(1)</script>")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found (404)" in body and "There is no page at this address" in body
    assert "<script>alert(1)" not in body
    assert inline_code(body) == []
    assert_strict_policy(response)


@pytest.mark.parametrize(
    "name, says",
    [
        ("400.html", "Bad request (400)"),
        ("403.html", "Forbidden (403)"),
        ("404.html", "Page not found (404)"),
        ("500.html", "Server error (500)"),
        ("403_csrf.html", "CSRF verification failed"),
    ],
)
def test_each_error_page_renders_without_a_request_or_context_and_keeps_to_the_policy(name, says):
    # Django renders 500.html with an empty context and no request; the others must survive that too.
    html = render_to_string(name)
    assert says in html and "smscampaigns" in html
    assert inline_code(html) == []


def test_a_server_error_answers_the_projects_500_page(client, settings):
    from django.urls import path

    def broken(request):
        raise RuntimeError("boom")

    settings.ROOT_URLCONF = type("urls", (), {"urlpatterns": [path("broken/", broken)], "handler500": None})
    client.raise_request_exception = False
    response = client.get("/broken/")
    assert response.status_code == 500
    assert "Server error (500)" in response.content.decode()
