"""/api/v1/segments/: create, read, change, delete and count segments; bad rules answered with where."""

import pytest

from audit.models import AuditEvent
from contacts.models import Contact, Segment
from contacts.tests.factories import ContactFactory, SegmentFactory, rules

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
US = rules([("country", "in", ["US"])])


@pytest.fixture
def client(api_client):
    return api_client(*(f"contacts.{verb}_segment" for verb in ("view", "add", "change", "delete")))


def test_create_list_read_update_delete(client):
    created = client.post(SEGMENTS, {"name": "Americans", "rules": US}, format="json")
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    assert created.json()["rules"] == {
        "match": "all",
        "groups": [{"match": "all", "conditions": US["groups"][0]["conditions"]}],
    }
    assert [row["name"] for row in client.get(SEGMENTS).json()["results"]] == ["Americans"]
    assert client.get(f"{SEGMENTS}{segment_id}/").json()["name"] == "Americans"
    changed = client.patch(f"{SEGMENTS}{segment_id}/", {"rules": rules([("country", "in", ["CA"])])}, format="json")
    assert changed.status_code == 200
    assert Segment.objects.get(pk=segment_id).rules["groups"][0]["conditions"][0]["value"] == ["CA"]
    assert client.delete(f"{SEGMENTS}{segment_id}/").status_code == 204
    assert not Segment.objects.exists()
    trail = AuditEvent.objects.filter(target_type="contacts.segment").values_list("action", flat=True)
    assert sorted(trail) == ["segment.created", "segment.deleted", "segment.updated"]


def test_bad_rules_are_answered_400_with_every_fault_and_where_it_is(client):
    bad = rules([("country", "in", ["US"])], [("country", "in", ["US"]), ("consented_at", "in_last_days", "soon")])
    answer = client.post(SEGMENTS, {"name": "Bad", "rules": bad}, format="json")
    assert answer.status_code == 400
    assert answer.json()["errors"]["rules"] == [
        "group 2, condition 2, field `value`: must be a whole number of days from 1 to 3650"
    ]
    assert "group 2, condition 2, field `value`" in answer.json()["detail"]
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "rules_given",
    [
        "not rules",
        5,
        None,
        {"groups": "x"},
        {"groups": [[[[[]]]]]},
        {"groups": [{"conditions": [{"field": {"a": 1}}]}]},
    ],
)
def test_malformed_rules_never_answer_a_server_error(client, rules_given):
    answer = client.post(SEGMENTS, {"name": "Bad", "rules": rules_given}, format="json")
    assert answer.status_code == 400, answer.content
    assert "rules" in answer.json()["errors"]


def test_a_name_is_unique(client):
    SegmentFactory(name="Taken")
    answer = client.post(SEGMENTS, {"name": "Taken", "rules": US}, format="json")
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"name": ["a segment named 'Taken' already exists"]}


def test_count_says_how_many_match_now_and_may_be_texted(client):
    segment = SegmentFactory(rules=US)
    ContactFactory(country="US")
    ContactFactory(country="US", status=Contact.Status.UNSUBSCRIBED, consented_at=None)
    ContactFactory(country="CA")
    assert client.get(f"{SEGMENTS}{segment.pk}/count/").json() == {"count": 2, "textable": 1}
    ContactFactory(country="US")  # evaluated when asked, never stored
    assert client.get(f"{SEGMENTS}{segment.pk}/count/").json() == {"count": 3, "textable": 2}
