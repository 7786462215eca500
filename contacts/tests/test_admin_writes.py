"""The contacts admins write through the services: consent rules, checks and audit entries as in the API."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from audit.models import AuditEvent
from contacts.models import Contact, ContactImport, ContactList, Suppression
from contacts.services.consent import contact_opt_out
from contacts.services.suppressions import suppression_add
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory
from smscampaigns.tests.admin_forms import posted_back

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]


def url(model, page: str, *args) -> str:
    return reverse(f"admin:contacts_{model._meta.model_name}_{page}", args=args)


def contact_form(client, contact=None, **typed) -> dict:
    """The contact's change form (or the add form) as the page shows it, with `typed` typed in."""
    page = client.get(url(Contact, "change", contact.pk) if contact else url(Contact, "add"))
    return {
        **posted_back(page),
        **{name: value if isinstance(value, list) else [value] for name, value in typed.items()},
    }


def errors_on(response, field: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(field, []))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def trail(obj) -> list[str]:
    events = AuditEvent.objects.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk)).order_by("id")
    return [event.action for event in events]


# --- Suppressions ---------------------------------------------------------------------------------


def test_an_editor_cannot_delete_a_persons_opt_out_and_is_told_why(client, editor):
    contact = ContactFactory()
    contact_opt_out(contact=contact, source="inbound STOP")
    opt_out = Suppression.objects.get(phone_number=contact.phone_number, reason=Suppression.Reason.OPT_OUT)
    client.force_login(editor)
    response = client.post(url(Suppression, "delete", opt_out.pk), {"post": "yes"}, follow=True)
    assert Suppression.objects.filter(pk=opt_out.pk).exists()
    assert any(note.startswith("Not deleted: ") for note in messages_of(response))
    assert "suppression.removed" not in trail(opt_out)


def test_deleting_a_manual_suppression_goes_through_the_service_and_is_audited(client, editor):
    manual = SuppressionFactory(reason=Suppression.Reason.MANUAL)
    client.force_login(editor)
    assert client.post(url(Suppression, "delete", manual.pk), {"post": "yes"}).status_code == 302
    assert not Suppression.objects.filter(pk=manual.pk).exists()
    event = AuditEvent.objects.get(action="suppression.removed", target_id=str(manual.pk))
    assert event.actor == editor and event.data == {"reason": "manual"}


def test_delete_selected_with_an_opt_out_among_them_deletes_none_and_says_why(client, editor):
    manual = SuppressionFactory(reason=Suppression.Reason.MANUAL)
    opt_out = suppression_add(phone_number="+14155550177", reason=Suppression.Reason.OPT_OUT, source="inbound STOP")
    client.force_login(editor)
    response = client.post(
        url(Suppression, "changelist"),
        {"action": "delete_selected", "_selected_action": [manual.pk, opt_out.pk], "post": "yes"},
        follow=True,
    )
    assert Suppression.objects.filter(pk__in=[manual.pk, opt_out.pk]).count() == 2
    assert any(note.startswith("Nothing was deleted") for note in messages_of(response))
    assert not AuditEvent.objects.filter(action="suppression.removed").exists()


def test_a_suppressions_number_reason_and_source_are_read_only_and_its_note_change_is_audited(client, editor):
    suppression = suppression_add(phone_number="+14155550178", reason="do-not-call", source="dnc-2026-11.csv")
    client.force_login(editor)
    page = client.get(url(Suppression, "change", suppression.pk))
    assert set(page.context["adminform"].form.fields) == {"note"}
    response = client.post(
        url(Suppression, "change", suppression.pk),
        {"note": "checked by phone", "phone_number": "+14155550199", "reason": "manual", "source": "x"},
    )
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert (str(suppression.phone_number), suppression.reason, suppression.source, suppression.note) == (
        "+14155550178",
        "do-not-call",
        "dnc-2026-11.csv",
        "checked by phone",
    )
    assert trail(suppression)[-1] == "suppression.updated"


def test_adding_a_suppression_normalises_the_number_and_is_audited(client, editor):
    client.force_login(editor)
    add = url(Suppression, "add")
    refused = client.post(add, {"phone_number": "not a number", "reason": "manual"})
    assert errors_on(refused, "phone_number") == ["'not a number' is not a valid phone number: not a phone number"]
    assert client.post(add, {"phone_number": "(415) 555-0179", "reason": "manual", "note": ""}).status_code == 302
    suppression = Suppression.objects.get()
    assert str(suppression.phone_number) == "+14155550179" and suppression.created_by == editor
    assert trail(suppression) == ["suppression.added"]


# --- Contacts -------------------------------------------------------------------------------------


def test_an_opted_out_contact_cannot_be_set_back_to_subscribed_in_the_change_form(client, editor):
    contact = ContactFactory(first_name="Ann")
    contact_opt_out(contact=contact, source="inbound STOP")
    client.force_login(editor)
    data = contact_form(client, contact, first_name="Annie", status="subscribed", consent_source="made up")
    assert client.post(url(Contact, "change", contact.pk), data).status_code == 302
    contact.refresh_from_db()
    assert contact.first_name == "Annie"  # the details are saved ...
    assert contact.status == Contact.Status.UNSUBSCRIBED and contact.consent_source == "web form"  # ... not these
    assert Suppression.objects.filter(phone_number=contact.phone_number, reason="opt-out").exists()
    event = AuditEvent.objects.filter(action="contact.updated", target_id=str(contact.pk)).get()
    assert event.actor == editor and event.data == {"fields": ["first_name"]}


@pytest.mark.parametrize("page", ["add", "change"])
def test_a_timezone_that_does_not_exist_is_a_form_error_and_is_not_stored(client, editor, page):
    contact = ContactFactory()
    client.force_login(editor)
    if page == "add":
        response = client.post(
            url(Contact, "add"), contact_form(client, phone_number="+14155550180", timezone="Mars/Olympus")
        )
    else:
        response = client.post(
            url(Contact, "change", contact.pk), contact_form(client, contact, timezone="Mars/Olympus")
        )
    assert response.status_code == 200
    assert errors_on(response, "timezone") == ["'Mars/Olympus' is not an IANA time zone such as America/New_York"]
    assert not Contact.objects.filter(timezone="Mars/Olympus").exists()
    assert not AuditEvent.objects.exists()


def test_adding_a_subscribed_contact_without_consent_adds_it_unsubscribed_not_a_server_error(client, editor):
    client.force_login(editor)
    response = client.post(url(Contact, "add"), contact_form(client, phone_number="+14155550181", status="subscribed"))
    assert response.status_code == 302
    contact = Contact.objects.get(phone_number="+14155550181")
    assert contact.status == Contact.Status.UNSUBSCRIBED and contact.consented_at is None
    assert trail(contact) == ["contact.created"]


def test_adding_a_contact_with_consent_evidence_subscribes_it_through_the_service(client, editor):
    vip = ContactListFactory()
    client.force_login(editor)
    data = contact_form(
        client,
        phone_number="(415) 555-0182",
        first_name="Bo",
        consent_source="shop till",
        consent_text="Yes, text me",
        contact_lists=[str(vip.pk)],
    )
    response = client.post(url(Contact, "add"), data)
    contact = Contact.objects.get()
    assert response.status_code == 302 and response["Location"] == url(Contact, "changelist")
    # No zone given in the form: none is stored (quiet hours derive the number's zones when sending).
    assert (str(contact.phone_number), contact.country, contact.timezone) == ("+14155550182", "US", "")
    assert contact.status == Contact.Status.SUBSCRIBED and contact.consented_at is not None
    assert list(contact.lists.all()) == [vip]
    event = AuditEvent.objects.get(action="contact.created")
    assert event.actor == editor and event.target_id == str(contact.pk)


def test_a_suppressed_number_added_with_consent_arrives_unsubscribed(client, editor):
    suppression_add(phone_number="+14155550183", reason="do-not-call")
    client.force_login(editor)
    client.post(url(Contact, "add"), contact_form(client, phone_number="+14155550183", consent_source="shop till"))
    assert Contact.objects.get().status == Contact.Status.UNSUBSCRIBED


def test_a_number_already_taken_in_another_format_is_a_form_error(client, editor):
    ContactFactory(phone_number="+14155550184")
    other = ContactFactory()
    client.force_login(editor)
    added = client.post(url(Contact, "add"), contact_form(client, phone_number="415-555-0184"))
    changed = client.post(url(Contact, "change", other.pk), contact_form(client, other, phone_number="415 555 0184"))
    for response in (added, changed):
        assert errors_on(response, "phone_number") == ["a contact with number +14155550184 already exists"]
    assert Contact.objects.count() == 2


def test_attributes_that_are_not_names_and_values_are_a_form_error(client, editor):
    contact = ContactFactory()
    client.force_login(editor)
    response = client.post(url(Contact, "change", contact.pk), contact_form(client, contact, attributes="[1, 2]"))
    assert errors_on(response, "attributes") == ['attributes must be names and values, e.g. {"city": "Lyon"}']


def test_the_attribute_limits_of_the_service_show_on_the_attributes_field(client, editor, settings):
    settings.CONTACT_MAX_ATTRIBUTES = 2
    contact = ContactFactory()
    client.force_login(editor)
    data = contact_form(client, contact, attributes='{"a": 1, "b": 2, "c": 3}')
    response = client.post(url(Contact, "change", contact.pk), data)
    [error] = errors_on(response, "attributes")
    assert "a contact holds at most 2 (CONTACT_MAX_ATTRIBUTES)" in error
    contact.refresh_from_db()
    assert len(contact.attributes) < 3


def test_the_lists_field_changes_memberships_through_the_service(client, editor):
    old, new = ContactListFactory(), ContactListFactory()
    contact = ContactFactory()
    contact.lists.add(old)
    client.force_login(editor)
    data = contact_form(client, contact)
    assert data["contact_lists"] == [str(old.pk)]
    data["contact_lists"] = [str(new.pk)]
    assert client.post(url(Contact, "change", contact.pk), data).status_code == 302
    assert list(contact.lists.all()) == [new]
    assert trail(contact) == ["contact.updated"]


def test_a_viewer_sees_the_contacts_lists_and_cannot_change_them(client, viewer):
    contact = ContactFactory()
    contact.lists.add(ContactListFactory(name="VIP"), ContactListFactory(name="Regulars"))
    client.force_login(viewer)
    page = client.get(url(Contact, "change", contact.pk))
    assert "Regulars, VIP" in page.content.decode()
    assert client.post(url(Contact, "change", contact.pk), posted_back(page)).status_code == 403


def test_deleting_a_contact_is_audited_and_keeps_its_suppression(client, editor):
    contact = ContactFactory()
    contact_opt_out(contact=contact, source="inbound STOP")
    number = contact.phone_number
    client.force_login(editor)
    client.post(url(Contact, "delete", contact.pk), {"post": "yes"})
    assert not Contact.objects.exists()
    assert AuditEvent.objects.filter(action="contact.deleted", actor=editor).count() == 1
    assert Suppression.objects.filter(phone_number=number, reason="opt-out").exists()


def test_opt_in_action_needs_consent_evidence_subscribes_and_refuses_a_do_not_call_number(client, editor):
    staff_opt_out = ContactFactory()
    contact_opt_out(contact=staff_opt_out, source="staff: asked by phone", actor=editor)
    blocked = ContactFactory(status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source="")
    suppression_add(phone_number=str(blocked.phone_number), reason="do-not-call")
    client.force_login(editor)
    changelist = url(Contact, "changelist")
    selected = {"action": "opt_in", "_selected_action": [staff_opt_out.pk, blocked.pk], "apply": "yes"}
    asked = client.post(changelist, {**selected, "consent_source": ""})
    assert asked.status_code == 200 and "This field is required" in asked.content.decode()
    response = client.post(changelist, {**selected, "consent_source": "called us back"}, follow=True)
    staff_opt_out.refresh_from_db()
    blocked.refresh_from_db()
    assert staff_opt_out.status == Contact.Status.SUBSCRIBED and staff_opt_out.consent_source == "called us back"
    assert not Suppression.objects.filter(phone_number=staff_opt_out.phone_number).exists()
    assert blocked.status == Contact.Status.UNSUBSCRIBED
    assert any("do-not-call" in note for note in messages_of(response))
    assert trail(staff_opt_out)[-1] == "contact.opted_in"


# --- Lists and imports ----------------------------------------------------------------------------


def test_lists_are_added_renamed_and_deleted_through_the_services(client, editor):
    ContactListFactory(name="VIP")
    client.force_login(editor)
    duplicate = client.post(url(ContactList, "add"), {"name": "VIP", "description": ""})
    assert errors_on(duplicate, "name") == ["a list named 'VIP' already exists"]
    blank = client.post(url(ContactList, "add"), {"name": "   ", "description": ""})
    assert blank.status_code == 200 and ContactList.objects.count() == 1
    assert client.post(url(ContactList, "add"), {"name": "Regulars", "description": ""}).status_code == 302
    regulars = ContactList.objects.get(name="Regulars")
    client.post(url(ContactList, "change", regulars.pk), {"name": "Loyal", "description": "since 2020"})
    client.post(url(ContactList, "delete", regulars.pk), {"post": "yes"})
    assert trail(regulars) == ["contact_list.created", "contact_list.updated", "contact_list.deleted"]


def test_deleting_an_import_is_audited_and_removes_its_file_but_not_while_it_runs(client, editor, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    done = ContactImport(source_name="people.csv", default_region="US", status=ContactImport.Status.COMPLETED)
    done.file.save("people.csv", ContentFile(b"phone\n+14155550185\n"))
    running = ContactImport.objects.create(
        source_name="b.csv", default_region="US", status=ContactImport.Status.RUNNING
    )
    stored = done.file.path
    client.force_login(editor)
    client.post(url(ContactImport, "delete", done.pk), {"post": "yes"})
    assert not ContactImport.objects.filter(pk=done.pk).exists() and not (tmp_path / stored).exists()
    assert trail(done) == ["contact_import.deleted"]
    response = client.post(url(ContactImport, "delete", running.pk), {"post": "yes"}, follow=True)
    assert ContactImport.objects.filter(pk=running.pk).exists()
    assert any("is running" in note for note in messages_of(response))
