"""Tags: /api/v1/tags/, `tags` on the contact (read and write), the import's tags column, and the rules of a
tag's name."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from contacts.models import Contact, ContactTag, Tag
from contacts.services.tags import contacts_tag, contacts_untag, tag_create, tag_names_split
from contacts.tests.factories import ContactFactory
from contacts.tests.test_import import run, write
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db

TAGS = "/api/v1/tags/"
CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def client(api_client):
    return api_client(
        "contacts.view_contact",
        "contacts.add_contact",
        "contacts.change_contact",
        "contacts.view_tag",
        "contacts.add_tag",
        "contacts.change_tag",
        "contacts.delete_tag",
    )


def names(contact: Contact) -> list[str]:
    return sorted(contact.tags.values_list("name", flat=True))


def test_tags_api_create_list_rename_delete(client):
    created = client.post(TAGS, {"name": " VIP "}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["name"] == "VIP" and created.json()["contacts_count"] == 0
    pk = created.json()["id"]
    again = client.post(TAGS, {"name": "vip"}, format="json")
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    contacts_tag(tag=Tag.objects.get(pk=pk), contact_ids=[ContactFactory().pk, ContactFactory().pk])
    listed = client.get(TAGS, {"search": "vi"}).json()["results"]
    assert [(t["name"], t["contacts_count"]) for t in listed] == [("VIP", 2)]
    assert client.patch(f"{TAGS}{pk}/", {"name": "gold"}, format="json").json()["name"] == "gold"
    assert client.delete(f"{TAGS}{pk}/").status_code == 204
    assert not ContactTag.objects.exists() and Contact.objects.count() == 2
    assert AuditEvent.objects.filter(action__startswith="tag.").count() == 4


@pytest.mark.parametrize(
    ("name", "says"),
    [("", "may not be blank"), ("a,b", "cannot hold"), ("x" * 101, "no more than 100"), (7, "valid string")],
)
def test_tags_api_refuses_a_bad_name(client, name, says):
    response = client.post(TAGS, {"name": name}, format="json")
    assert response.status_code == 400 and says in str(response.json()), response.json()
    assert not Tag.objects.exists()


def test_contact_api_reads_and_writes_tags_by_name_creating_new_ones(client):
    tag_create(name="VIP")
    created = client.post(CONTACTS, {"phone_number": "+14155550101", "tags": ["vip", "walk-in"]}, format="json")
    assert created.status_code == 201, created.json()
    assert sorted(created.json()["tags"]) == ["VIP", "walk-in"]  # "vip" is the existing VIP
    pk = created.json()["id"]
    changed = client.patch(f"{CONTACTS}{pk}/", {"tags": ["walk-in", "2026-fair"]}, format="json")
    assert sorted(changed.json()["tags"]) == ["2026-fair", "walk-in"]
    assert client.get(f"{CONTACTS}{pk}/").json()["tags"] == changed.json()["tags"]
    assert Tag.objects.count() == 3  # VIP stays, only off this contact
    refused = client.patch(f"{CONTACTS}{pk}/", {"tags": ["a;b"]}, format="json")
    assert refused.status_code == 400
    assert names(Contact.objects.get(pk=pk)) == ["2026-fair", "walk-in"]


def test_bulk_services_count_only_real_changes():
    vip = tag_create(name="vip")
    ann, bo = ContactFactory(), ContactFactory()
    assert contacts_tag(tag=vip, contact_ids=[ann.pk]) == 1
    assert contacts_tag(tag=vip, contact_ids=[ann.pk, bo.pk, bo.pk]) == 1
    assert contacts_untag(tag=vip, contact_ids=[ann.pk, ann.pk]) == 1
    assert names(bo) == ["vip"] and names(ann) == []


def test_a_cell_of_tags_splits_on_any_separator_once_each():
    assert tag_names_split(" vip, walk-in;VIP | 2026 fair ,, ") == ["vip", "walk-in", "2026 fair"]


def test_import_tags_column_adds_tags_and_keeps_those_a_contact_has(tmp_path):
    ann = ContactFactory(phone_number="+14155550101")
    ann.tags.add(tag_create(name="regular"))
    path = write(tmp_path, "phone,Labels\n+14155550101,vip; walk-in\n+14155550102,VIP\n+14155550103,\n")
    out = io.StringIO()
    call_command("import_contacts", str(path), "--map", "Labels=tags", stdout=out)
    assert "created 2, updated 0, unchanged 1" in out.getvalue()
    assert names(ann) == ["regular", "vip", "walk-in"]
    assert names(Contact.objects.get(phone_number="+14155550102")) == ["vip"]
    assert names(Contact.objects.get(phone_number="+14155550103")) == []
    assert Tag.objects.count() == 3


def test_import_rejects_a_row_whose_tag_is_too_long_naming_line_and_column(tmp_path):
    summary = run(write(tmp_path, f"phone,tags\n+14155550101,ok\n+14155550102,{'x' * 101}\n"), mapping={"tags": "tags"})
    assert (summary.created, summary.rejected) == (1, 1)
    error = summary.errors[0]
    assert (error.line, error.column) == (3, "tags") and "at most 100" in error.reason


def test_dry_run_creates_no_tag(tmp_path):
    summary = run(write(tmp_path, "phone,tags\n+14155550101,vip\n"), mapping={"tags": "tags"}, dry_run=True)
    assert summary.created == 1 and not Tag.objects.exists() and not Contact.objects.exists()


def test_admin_contact_form_sets_the_tags(admin_client):
    from smscampaigns.tests.admin_forms import posted_back

    vip, gold = tag_create(name="vip"), tag_create(name="gold")
    ann = ContactFactory()
    ann.tags.add(vip)
    url = reverse("admin:contacts_contact_change", args=[ann.pk])
    shown = posted_back(admin_client.get(url))
    assert shown["contact_tags"] == [str(vip.pk)]
    response = admin_client.post(url, {**shown, "contact_tags": [str(gold.pk)]})
    assert response.status_code == 302
    assert names(ann) == ["gold"]


def test_service_refuses_a_tag_name_holding_a_separator():
    with pytest.raises(ApplicationError, match="cannot hold"):
        tag_create(name="vip|gold")
