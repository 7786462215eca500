"""The three staff roles created by the smscampaigns.0001_roles migration."""

import pytest
from django.contrib.auth.models import Group

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def member_of(django_user_model, group: str):
    user = django_user_model.objects.create_user(group.replace(" ", "-"), password="pw-123-abc!", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return django_user_model.objects.get(pk=user.pk)


def test_manager_may_do_everything_including_send(django_user_model):
    user = member_of(django_user_model, "Marketing manager")
    for perm in [
        "campaigns.send_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.delete_campaign",
        "contacts.change_contact",
        "contacts.add_contactimport",
        "contacts.add_suppression",
        "sends.view_campaignsend",
        "audit.view_auditevent",
    ]:
        assert user.has_perm(perm), perm


def test_editor_works_on_contacts_and_drafts_but_never_sends(django_user_model):
    user = member_of(django_user_model, "Marketing editor")
    for perm in ["contacts.add_contact", "contacts.change_contact", "contacts.add_contactimport"]:
        assert user.has_perm(perm), perm
    assert user.has_perm("campaigns.add_campaign") and user.has_perm("campaigns.change_campaign")
    assert not user.has_perm("campaigns.send_campaign")
    assert not user.has_perm("campaigns.delete_campaign")
    assert user.has_perm("sends.view_inboundmessage") and not user.has_perm("sends.change_inboundmessage")
    # The inbox: editors reply, assign and add notes.
    assert user.has_perm("conversations.reply_conversation") and user.has_perm("conversations.change_conversation")


def test_viewer_may_only_view(django_user_model):
    user = member_of(django_user_model, "Viewer")
    codenames = set(Group.objects.get(name="Viewer").permissions.values_list("codename", flat=True))
    assert codenames and all(c.startswith("view_") for c in codenames)
    assert user.has_perm("campaigns.view_campaign") and user.has_perm("contacts.view_contact")
    assert not user.has_perm("campaigns.send_campaign") and not user.has_perm("contacts.change_contact")
    assert user.has_perm("conversations.view_conversation") and not user.has_perm("conversations.reply_conversation")


@pytest.mark.parametrize(
    ("group", "url", "status"),
    [
        ("Viewer", "/admin/contacts/contact/add/", 403),
        ("Viewer", "/admin/campaigns/campaign/add/", 403),
        ("Viewer", "/admin/contacts/contactimport/add/", 403),
        ("Viewer", "/admin/campaigns/campaign/", 200),
        ("Marketing editor", "/admin/campaigns/campaign/add/", 200),
        ("Marketing editor", "/admin/contacts/contactimport/add/", 200),
        ("Marketing editor", "/admin/auth/user/", 403),
        ("Marketing manager", "/admin/auth/user/", 403),  # people are managed by superusers only
        ("Marketing manager", "/admin/audit/auditevent/add/", 403),  # nobody writes the audit trail
    ],
)
def test_each_role_reaches_only_its_admin_pages(client, django_user_model, group, url, status):
    client.force_login(member_of(django_user_model, group))
    assert client.get(url).status_code == status


def test_the_roles_come_from_a_migration():
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    applied = MigrationRecorder(connection).applied_migrations()
    assert ("smscampaigns", "0001_roles") in applied
