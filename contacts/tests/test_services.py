import io

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from contacts.models import Contact, Suppression
from contacts.phones import normalize_phone, number_zones
from contacts.services.consent import contact_opt_in, contact_opt_out
from contacts.services.contacts import contact_create, contact_update
from contacts.services.lists import contact_list_create, contact_list_members_change
from contacts.services.suppressions import suppression_add
from contacts.tests.factories import ContactFactory
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "region", "e164", "country"),
    [
        ("(415) 555-0123", "US", "+14155550123", "US"),
        ("+44 20 7946 0958", "US", "+442079460958", "GB"),
        ("020 7946 0958", "GB", "+442079460958", "GB"),
        ("01 23 45 67 89", "FR", "+33123456789", "FR"),
    ],
)
def test_normalize_phone_accepts_every_format(raw, region, e164, country):
    number = normalize_phone(raw, region=region)
    assert (number.e164, number.region) == (e164, country)
    assert number_zones(number.e164)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("hello", "not a phone number"),
        ("+1 555 0100", "without its area code"),
        ("+1555555010", "too short"),
        ("+1 415 555 01234", "too long"),
    ],
)
def test_normalize_phone_rejects_with_a_reason(raw, reason):
    with pytest.raises(ApplicationError) as excinfo:
        normalize_phone(raw, region="US")
    assert reason in excinfo.value.message
    assert excinfo.value.field == "phone_number"


def test_contact_create_stores_no_derived_timezone_and_records_consent():
    """The timezone field holds what the person gave; the number's zones are worked out at send time."""
    contact = contact_create(phone_number="(212) 555-0142", consent_source="signup form")
    assert contact.phone_number == "+12125550142"
    assert contact.timezone == ""
    assert contact.status == Contact.Status.SUBSCRIBED
    assert contact.consented_at is not None


def test_contact_create_without_consent_is_unsubscribed():
    contact = contact_create(phone_number="+14155550150")
    assert contact.status == Contact.Status.UNSUBSCRIBED


def test_contact_create_for_a_suppressed_number_is_unsubscribed():
    suppression_add(phone_number="+14155550151", reason=Suppression.Reason.DO_NOT_CALL)
    contact = contact_create(phone_number="+14155550151", consent_source="signup form")
    assert contact.status == Contact.Status.UNSUBSCRIBED


def test_opt_out_then_opt_in_lifts_only_the_opt_out_suppression(staff_user):
    contact = contact_create(phone_number="+14155550152", consent_source="signup form")
    contact_opt_out(contact=contact, source="inbound STOP", actor=staff_user)
    assert Suppression.objects.filter(phone_number=contact.phone_number, reason="opt-out").exists()
    contact_opt_in(contact=contact, consent_source="START", actor=staff_user)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert not Suppression.objects.filter(phone_number=contact.phone_number).exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["suppression.added", "contact.opted_out", "suppression.lifted", "contact.opted_in"]


def test_opt_in_refused_while_on_do_not_call():
    contact = contact_create(phone_number="+14155550153")
    suppression_add(phone_number="+14155550153", reason=Suppression.Reason.DO_NOT_CALL)
    with pytest.raises(ApplicationError, match="do-not-call"):
        contact_opt_in(contact=contact, consent_source="START")


def test_suppression_add_rejects_unknown_reason():
    with pytest.raises(ApplicationError, match="unknown suppression reason"):
        suppression_add(phone_number="+14155550154", reason="because")


def test_contact_update_rederives_country_from_a_new_number_and_drops_the_old_numbers_zone():
    contact = contact_create(phone_number="+14155550150", consent_source="web", timezone_name="America/Los_Angeles")
    contact_update(contact=contact, phone_number="020 7946 0958", region="GB")
    contact.refresh_from_db()
    assert (contact.phone_number, contact.country, contact.timezone) == ("+442079460958", "GB", "")
    contact_update(contact=contact, phone_number="+14155550150", timezone="America/Denver")
    contact.refresh_from_db()
    assert contact.timezone == "America/Denver"  # given with the new number: kept
    assert contact.status == Contact.Status.SUBSCRIBED


def test_contact_update_refuses_status_and_consent_fields():
    contact = contact_create(phone_number="+14155550150")
    with pytest.raises(ApplicationError, match="cannot be changed here: status"):
        contact_update(contact=contact, status=Contact.Status.SUBSCRIBED)


def test_contact_create_refuses_an_unknown_timezone():
    with pytest.raises(ApplicationError) as excinfo:
        contact_create(phone_number="+14155550150", timezone_name="Europe/Atlantis")
    assert excinfo.value.field == "timezone"
    assert not Contact.objects.exists()


def test_list_members_change_counts_only_real_changes():
    vip = contact_list_create(name="VIP")
    a = contact_create(phone_number="+14155550150")
    b = contact_create(phone_number="+14155550151")
    assert contact_list_members_change(contact_list=vip, add=[a, b], remove=[]) == (2, 0)
    assert contact_list_members_change(contact_list=vip, add=[a], remove=[b]) == (0, 1)
    with pytest.raises(ApplicationError, match="both added and removed"):
        contact_list_members_change(contact_list=vip, add=[a], remove=[a])
    assert list(vip.contacts.all()) == [a]


def test_contact_create_of_a_multi_zone_number_stores_no_guessed_zone():
    """An Australian mobile once got Australia/Adelaide, the first zone of phonenumbers' list, as if the person
    had said so."""
    contact = contact_create(phone_number="+61 412 345 678", consent_source="web")
    assert contact.timezone == ""
    given = contact_create(phone_number="+61 412 345 679", consent_source="web", timezone_name="Australia/Perth")
    assert given.timezone == "Australia/Perth"


def test_contact_update_of_the_number_stores_no_guessed_zone():
    contact = contact_create(phone_number="+14155550151", consent_source="web")
    contact_update(contact=contact, phone_number="+1 800 555 0199")
    contact.refresh_from_db()
    assert contact.timezone == ""


def test_timezones_possibly_guessed_are_counted_and_cleared_only_on_request():
    """A stored zone equal to the first of a multi-zone number's zones is what an earlier version stored when
    none was given: the command finds those, and clears them only with --clear (audited)."""
    guessed = ContactFactory(phone_number="+61412345678", timezone=number_zones("+61412345678")[0])
    given = ContactFactory(phone_number="+61412345679", timezone="Australia/Perth")
    single = ContactFactory(phone_number="+12125550142", timezone="America/New_York")
    out = io.StringIO()
    call_command("timezones_possibly_guessed", stdout=out)
    assert "1 contacts hold the first zone" in out.getvalue()
    guessed.refresh_from_db()
    assert guessed.timezone
    call_command("timezones_possibly_guessed", "--clear", stdout=out)
    assert "cleared 1" in out.getvalue()
    for contact in (guessed, given, single):
        contact.refresh_from_db()
    assert (guessed.timezone, given.timezone, single.timezone) == ("", "Australia/Perth", "America/New_York")
    event = AuditEvent.objects.get(action="contact.timezone_cleared")
    assert event.target_id == str(guessed.pk) and event.data["timezone"] == "Australia/Adelaide"
