import pytest
from django.db import IntegrityError

from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db


def test_phone_number_is_unique():
    ContactFactory(phone_number="+14155550101")
    with pytest.raises(IntegrityError):
        ContactFactory(phone_number="+14155550101")


def test_phone_number_is_stored_as_e164():
    contact = ContactFactory(phone_number="+1 (415) 555-0102")
    contact.refresh_from_db()
    assert Contact.objects.filter(phone_number="+14155550102").exists()
    assert str(contact.phone_number) == "+14155550102"


def test_subscribed_without_consent_is_refused_by_the_database():
    with pytest.raises(IntegrityError):
        ContactFactory(status=Contact.Status.SUBSCRIBED, consented_at=None)


def test_unsubscribed_without_consent_is_allowed():
    contact = ContactFactory(status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source="")
    assert contact.pk


def test_list_membership_is_unique():
    contact, contact_list = ContactFactory(), ContactListFactory()
    contact.lists.add(contact_list)
    contact.lists.add(contact_list)
    assert contact.lists.count() == 1


def test_one_suppression_per_number_and_reason():
    Suppression.objects.create(phone_number="+14155550103", reason=Suppression.Reason.OPT_OUT)
    Suppression.objects.create(phone_number="+14155550103", reason=Suppression.Reason.DO_NOT_CALL)
    with pytest.raises(IntegrityError):
        Suppression.objects.create(phone_number="+14155550103", reason=Suppression.Reason.OPT_OUT)
