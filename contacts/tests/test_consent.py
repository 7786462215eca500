"""initial_consent: how a new contact starts, the one rule of contact_create and the import."""

import io
from datetime import UTC, datetime, timedelta

import pytest

from contacts.models import Contact, Suppression
from contacts.selectors import OptOutSuppression
from contacts.services.consent import initial_consent
from contacts.services.contacts import contact_create
from contacts.services.imports import contact_import_run
from contacts.services.suppressions import suppression_add
from contacts.tests.factories import fictional_number

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPT_OUT = OptOutSuppression(source="STOP by text", created_at=NOW - timedelta(days=3), origin="person")


def test_consent_evidence_subscribes_a_number_without_suppression():
    initial = initial_consent(
        consent_source="spring fair", consent_text="Yes, text me", suppressed=False, opt_out=None, now=NOW
    )
    assert initial.subscribed
    assert (initial.consent_source, initial.consent_text, initial.consented_at) == ("spring fair", "Yes, text me", NOW)
    assert (initial.opted_out_at, initial.opt_out_source) == (None, "")


def test_the_time_consent_was_given_is_kept_when_known():
    earlier = NOW - timedelta(days=30)
    initial = initial_consent(consent_source="form", consented_at=earlier, suppressed=False, opt_out=None, now=NOW)
    assert initial.consented_at == earlier


def test_without_consent_evidence_a_contact_starts_unsubscribed():
    initial = initial_consent(consent_source="", suppressed=False, opt_out=None, now=NOW)
    assert not initial.subscribed
    assert (initial.status, initial.consent_source, initial.consented_at) == (Contact.Status.UNSUBSCRIBED, "", None)


def test_a_suppressed_number_is_not_subscribed_by_consent_evidence():
    initial = initial_consent(consent_source="spring fair", suppressed=True, opt_out=None, now=NOW)
    assert initial.status == Contact.Status.UNSUBSCRIBED
    # Not an opt-out: the evidence is kept, for when the suppression is lifted.
    assert (initial.consent_source, initial.consented_at) == ("spring fair", NOW)


def test_consent_claimed_for_an_opted_out_number_is_void_and_the_opt_out_is_carried():
    initial = initial_consent(
        consent_source="spring fair", consent_text="Yes", suppressed=True, opt_out=OPT_OUT, now=NOW
    )
    assert initial.status == Contact.Status.UNSUBSCRIBED
    assert (initial.consent_source, initial.consent_text, initial.consented_at) == ("", "", None)
    assert (initial.opted_out_at, initial.opt_out_source) == (OPT_OUT.created_at, "STOP by text")


CONSENT_FIELDS = ("status", "consent_source", "consent_text", "opt_out_source")


@pytest.mark.django_db
@pytest.mark.parametrize("consent_source", ["", "spring fair"])
@pytest.mark.parametrize("opted_out", [False, True])
def test_a_contact_starts_the_same_whether_created_or_imported(consent_source, opted_out):
    created_number, imported_number = fictional_number(701), fictional_number(702)
    opt_out_times = {}
    if opted_out:
        for number in (created_number, imported_number):
            suppression = suppression_add(phone_number=number, reason=Suppression.Reason.OPT_OUT, source="old list")
            opt_out_times[number] = suppression.created_at
    contact_create(phone_number=created_number, consent_source=consent_source)
    contact_import_run(file=io.BytesIO(f"phone\n{imported_number}\n".encode()), consent_source=consent_source)

    created = Contact.objects.get(phone_number=created_number)
    imported = Contact.objects.get(phone_number=imported_number)
    assert [getattr(created, f) for f in CONSENT_FIELDS] == [getattr(imported, f) for f in CONSENT_FIELDS]
    subscribed = bool(consent_source) and not opted_out
    assert created.status == (Contact.Status.SUBSCRIBED if subscribed else Contact.Status.UNSUBSCRIBED)
    assert (created.consented_at is not None) == (imported.consented_at is not None) == subscribed
    assert created.opted_out_at == opt_out_times.get(created_number)
    assert imported.opted_out_at == opt_out_times.get(imported_number)
