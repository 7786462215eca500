import pytest

from audit.models import AuditEvent
from contacts.models import Contact, ContactListMembership, Suppression
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"
ALL_CONTACT_PERMS = (
    "contacts.view_contact",
    "contacts.add_contact",
    "contacts.change_contact",
    "contacts.delete_contact",
)


@pytest.fixture
def client(api_client):
    return api_client(
        *ALL_CONTACT_PERMS,
        "contacts.view_contactlist",
        "contacts.add_contactlist",
        "contacts.change_contactlist",
        "contacts.delete_contactlist",
        "contacts.view_suppression",
        "contacts.add_suppression",
        "contacts.delete_suppression",
    )


def test_create_normalises_the_number_and_subscribes_with_consent(client):
    vip = ContactListFactory()
    response = client.post(
        CONTACTS,
        {
            "phone_number": "(212) 555-0142",
            "first_name": "Ada",
            "attributes": {"city": "New York"},
            "lists": [vip.pk],
            "consent_source": "checkout form",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone_number"] == "+12125550142"
    assert body["status"] == "subscribed"
    assert body["timezone"] == ""  # none given: the number's zone is derived when sending, never stored
    assert body["lists"] == [vip.pk]
    assert body["attributes"] == {"city": "New York"}
    assert body["consented_at"] and body["opted_out_at"] is None
    assert AuditEvent.objects.filter(action="contact.created", actor=client.user).exists()


def test_create_without_consent_is_unsubscribed(client):
    response = client.post(CONTACTS, {"phone_number": "+14155550150"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "unsubscribed"


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"phone_number": "hello"}, "phone_number", "not a phone number"),
        ({"phone_number": "+1 555 0100"}, "phone_number", "without its area code"),
        ({}, "phone_number", "required"),
        ({"phone_number": "+14155550150", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"phone_number": "+14155550150", "lists": [999999]}, "lists.0", "999999"),
        ({"phone_number": "+14155550150", "attributes": ["not", "an", "object"]}, "attributes", "dictionary"),
        ({"phone_number": "+14155550150", "attributes": {"a": "nul\u0000"}}, "attributes", "NUL"),
        ({"phone_number": "+14155550150", "consented_at": "yesterday"}, "consented_at", "format"),
        ({"phone_number": "+14155550150", "consented_at": "2999-01-01T00:00:00Z"}, "consented_at", "future"),
    ],
)
def test_create_refuses_bad_input_with_a_field_error(client, payload, field, says):
    response = client.post(CONTACTS, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert field in body["errors"], body
    assert says in " ".join(body["errors"][field])
    assert not Contact.objects.exists()


def test_create_refuses_a_number_already_on_file(client):
    ContactFactory(phone_number="+14155550150")
    response = client.post(CONTACTS, {"phone_number": "415-555-0150"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["errors"]["phone_number"][0]


def test_malformed_json_is_a_400_in_the_error_format(client):
    response = client.generic("POST", CONTACTS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {}
    assert "JSON parse error" in response.json()["detail"]


def test_list_filters_by_status_list_and_number_in_any_format(client):
    vip = ContactListFactory()
    on_list = ContactFactory(phone_number="+14155550101")
    on_list.lists.add(vip)
    ContactFactory(phone_number="+14155550102", status=Contact.Status.UNSUBSCRIBED, consented_at=None)
    ContactFactory(phone_number="+12125550103", first_name="Grace")

    def numbers(**params):
        response = client.get(CONTACTS, params)
        assert response.status_code == 200, response.json()
        return sorted(c["phone_number"] for c in response.json()["results"])

    assert numbers() == ["+12125550103", "+14155550101", "+14155550102"]
    assert numbers(status="unsubscribed") == ["+14155550102"]
    assert numbers(list=vip.pk) == ["+14155550101"]
    assert numbers(search="(415) 555-0101") == ["+14155550101"]
    assert numbers(search="555 010") == ["+12125550103", "+14155550101", "+14155550102"]
    assert numbers(search="415") == ["+14155550101", "+14155550102"]
    assert numbers(search="grace") == ["+12125550103"]
    assert numbers(status="subscribed", list=vip.pk) == ["+14155550101"]


def test_list_is_paginated(client):
    ContactFactory.create_batch(3)
    response = client.get(CONTACTS, {"page_size": 2})
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert len(client.get(body["next"]).json()["results"]) == 1


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"status": "maybe"}, 400, "status"),
        ({"list": "abc"}, 400, "list"),
        ({"list": "99999"}, 400, "list"),
        ({"list": "99999999999999999999999"}, 400, "list"),
        ({"page": "9"}, 404, None),
    ],
)
def test_list_refuses_bad_filters(client, params, status, field):
    response = client.get(CONTACTS, params)
    assert response.status_code == status
    assert set(response.json()) == {"detail", "errors"}
    assert list(response.json()["errors"]) == ([field] if field else [])


def test_retrieve_and_404(client):
    contact = ContactFactory()
    assert client.get(f"{CONTACTS}{contact.pk}/").json()["phone_number"] == str(contact.phone_number)
    response = client.get(f"{CONTACTS}{contact.pk + 1000}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": {}}


def test_update_changes_details_and_lists_but_not_status(client):
    old, new = ContactListFactory(), ContactListFactory()
    contact = ContactFactory(phone_number="+14155550101")
    contact.lists.add(old)
    response = client.patch(
        f"{CONTACTS}{contact.pk}/",
        {"first_name": "Ada", "phone_number": "+44 20 7946 0958", "lists": [new.pk], "status": "unsubscribed"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["first_name"], body["phone_number"], body["lists"]) == ("Ada", "+442079460958", [new.pk])
    assert body["timezone"] == ""  # the Los Angeles zone went with the old number; none is guessed
    assert body["status"] == "subscribed"  # status moves only through opt-out/ and opt-in/
    assert AuditEvent.objects.filter(action="contact.updated", target_id=str(contact.pk)).exists()


def test_update_refuses_a_number_of_another_contact(client):
    ContactFactory(phone_number="+14155550101")
    contact = ContactFactory(phone_number="+14155550102")
    response = client.patch(f"{CONTACTS}{contact.pk}/", {"phone_number": "4155550101"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["errors"]["phone_number"][0]


@pytest.mark.parametrize(
    ("attributes", "field", "says"),
    [
        ({"a": "1", "b": "2", "c": "3"}, "attributes", "3 attributes; a contact holds at most 2"),
        ({"city": "L" * 21}, "attributes.city", "21 characters; an attribute value holds at most 20"),
        ({"tags": ["x" * 30]}, "attributes.tags", "an attribute value holds at most 20"),
        ({"n" * 101: "x"}, f"attributes.{'n' * 40}...", "an attribute name is at most 100 characters"),
    ],
)
def test_create_and_update_apply_the_attribute_limits_the_importer_applies(client, settings, attributes, field, says):
    settings.CONTACT_MAX_ATTRIBUTES = 2
    settings.CONTACT_ATTRIBUTE_MAX_CHARS = 20
    created = client.post(CONTACTS, {"phone_number": "+14155550101", "attributes": attributes}, format="json")
    assert created.status_code == 400, created.json()
    assert says in created.json()["errors"][field][0]
    assert not Contact.objects.exists()

    contact = ContactFactory(phone_number="+14155550102", attributes={"city": "Lyon"})
    updated = client.patch(f"{CONTACTS}{contact.pk}/", {"attributes": attributes}, format="json")
    assert updated.status_code == 400, updated.json()
    assert says in updated.json()["errors"][field][0]
    contact.refresh_from_db()
    assert contact.attributes == {"city": "Lyon"}


def test_delete(client):
    contact = ContactFactory()
    assert client.delete(f"{CONTACTS}{contact.pk}/").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert client.delete(f"{CONTACTS}{contact.pk}/").status_code == 404


def test_opt_out_then_opt_in_with_consent_evidence(client):
    contact = ContactFactory(phone_number="+14155550101")
    response = client.post(f"{CONTACTS}{contact.pk}/opt-out/", {"source": "phone call"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed" and response.json()["opted_out_at"]
    assert Suppression.objects.filter(phone_number="+14155550101", reason="opt-out").exists()

    refused = client.post(f"{CONTACTS}{contact.pk}/opt-in/", {}, format="json")
    assert refused.status_code == 400
    assert "consent_source" in refused.json()["errors"]

    response = client.post(f"{CONTACTS}{contact.pk}/opt-in/", {"consent_source": "keyword JOIN"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "subscribed"
    assert response.json()["consent_source"] == "keyword JOIN"
    assert not Suppression.objects.filter(phone_number="+14155550101").exists()


def test_opt_in_is_refused_while_the_number_is_on_do_not_call(client):
    contact = ContactFactory(phone_number="+14155550101", status=Contact.Status.UNSUBSCRIBED, consented_at=None)
    SuppressionFactory(phone_number="+14155550101", reason=Suppression.Reason.DO_NOT_CALL)
    response = client.post(f"{CONTACTS}{contact.pk}/opt-in/", {"consent_source": "web"}, format="json")
    assert response.status_code == 400
    assert "do-not-call" in response.json()["detail"]
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("perms", "method", "path", "payload"),
    [
        ((), "get", CONTACTS, None),
        (("contacts.view_contact",), "post", CONTACTS, {"phone_number": "+14155550150"}),
        (("contacts.view_contact",), "patch", "{contact}", {"first_name": "x"}),
        (("contacts.view_contact",), "delete", "{contact}", None),
        (("contacts.view_contact",), "post", "{contact}opt-out/", {}),
        (("contacts.view_contact",), "post", "/api/v1/lists/", {"name": "x"}),
        (("contacts.view_contactlist",), "post", "/api/v1/lists/{list}/contacts/", {"add": []}),
        (("contacts.view_suppression",), "delete", "/api/v1/suppressions/{suppression}/", None),
    ],
)
def test_each_operation_needs_its_model_permission(api_client, perms, method, path, payload):
    client = api_client(*perms)
    path = path.format(
        contact=f"{CONTACTS}{ContactFactory().pk}/", list=ContactListFactory().pk, suppression=SuppressionFactory().pk
    )
    response = getattr(client, method)(path, payload, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action.", "errors": {}}


def test_lists_crud_and_bulk_membership(client):
    response = client.post("/api/v1/lists/", {"name": "VIP", "description": "best"}, format="json")
    assert response.status_code == 201
    list_id = response.json()["id"]
    assert client.post("/api/v1/lists/", {"name": "VIP"}, format="json").json()["errors"]["name"]

    a, b, c = ContactFactory.create_batch(3)
    url = f"/api/v1/lists/{list_id}/contacts/"
    response = client.post(url, {"add": [a.pk, b.pk, c.pk]}, format="json")
    assert response.json() == {"added": 3, "removed": 0, "contacts_count": 3}
    response = client.post(url, {"add": [a.pk], "remove": [b.pk, c.pk]}, format="json")
    assert response.json() == {"added": 0, "removed": 2, "contacts_count": 1}

    refused = client.post(url, {"add": [b.pk, 999999]}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"add": ["no contact with id 999999"]}
    assert list(ContactListMembership.objects.values_list("contact_id", flat=True)) == [a.pk]  # nothing half-done

    assert client.patch(f"/api/v1/lists/{list_id}/", {"name": "VIPs"}, format="json").json()["name"] == "VIPs"
    listed = client.get("/api/v1/lists/", {"search": "vip"}).json()["results"]
    assert [(item["name"], item["contacts_count"]) for item in listed] == [("VIPs", 1)]
    assert client.delete(f"/api/v1/lists/{list_id}/").status_code == 204
    assert Contact.objects.count() == 3


def test_suppressions_list_create_delete(client):
    response = client.post(
        "/api/v1/suppressions/", {"phone_number": "(415) 555-0199", "reason": "do-not-call"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["phone_number"] == "+14155550199"
    SuppressionFactory(reason=Suppression.Reason.MANUAL)
    listed = client.get("/api/v1/suppressions/", {"reason": "do-not-call"}).json()["results"]
    assert [s["phone_number"] for s in listed] == ["+14155550199"]
    assert client.get("/api/v1/suppressions/", {"search": "4155550199"}).json()["count"] == 1

    bad = client.post("/api/v1/suppressions/", {"phone_number": "12", "reason": "because"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"reason"}  # field validation first, then the number in the service

    assert client.delete(f"/api/v1/suppressions/{response.json()['id']}/").status_code == 204
    assert AuditEvent.objects.filter(action="suppression.removed").exists()


def test_an_opt_out_suppression_cannot_be_deleted_only_lifted_by_opting_in(client):
    contact = ContactFactory(phone_number="+14155550101")
    client.post(f"{CONTACTS}{contact.pk}/opt-out/", {"source": "STOP"}, format="json")
    opt_out = Suppression.objects.get(phone_number="+14155550101", reason="opt-out")
    response = client.delete(f"/api/v1/suppressions/{opt_out.pk}/")
    assert response.status_code == 400
    assert "only new consent lifts that: opt the contact in" in response.json()["detail"]
    assert Suppression.objects.filter(pk=opt_out.pk).exists()


def test_suppression_with_a_bad_number_says_why(client):
    bad = client.post("/api/v1/suppressions/", {"phone_number": "12", "reason": "manual"}, format="json")
    assert bad.status_code == 400
    assert "too short" in bad.json()["errors"]["phone_number"][0]
