"""The engine benchmark's audience is what its docstring says whatever other benchmarks left in the database:
a personalised text per contact, never the same body for thousands of them (which the engine would send in
bulk, and the personalised figure would measure bulk sending)."""

import pytest
from django.db import connection

from bench import bench_engine
from contacts.models import Contact, ContactList

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks run on PostgreSQL"),
]


def test_contacts_left_by_another_benchmark_are_remade_as_the_engine_s_own(monkeypatch):
    monkeypatch.setattr(bench_engine, "RECIPIENTS", 40)
    monkeypatch.setattr(bench_engine, "LIST_NAME", "bench-engine-test")
    # As the import benchmark leaves them: a New York number inside the engine's range, its own first name and
    # no code; and one just outside the range, longer, that a string range would have taken in.
    Contact.objects.create(phone_number="+12122000010", first_name="Ann", status=Contact.Status.UNSUBSCRIBED)
    Contact.objects.create(phone_number="+121220000105", first_name="Bob")

    list_id = bench_engine._prepare_audience()

    members = Contact.objects.filter(lists__id=list_id)
    assert members.count() == 40
    left = Contact.objects.get(phone_number="+12122000010")
    assert (left.first_name, left.attributes, left.status) == ("Name10", {"code": "C3"}, Contact.Status.SUBSCRIBED)
    assert not members.filter(phone_number="+121220000105").exists()
    bodies = {(c.first_name, c.attributes["code"]) for c in members}
    assert len(bodies) == 40
    assert ContactList.objects.get(pk=list_id).name == "bench-engine-test"
