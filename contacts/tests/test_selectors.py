"""Who may be texted: the one rule every audience, preview and send re-check reads."""

import re
from itertools import combinations

import pytest
from django.db import connection

from contacts.models import Contact, Suppression, UntextableReason
from contacts.selectors import E164_PATTERN, contacts_textable, contacts_with_exclusion_reason
from contacts.tests.factories import ContactFactory, SuppressionFactory, contacts_with_every_reason_not_to_text

pytestmark = pytest.mark.django_db


def test_only_a_consenting_subscriber_with_a_valid_unsuppressed_number_is_textable():
    people = contacts_with_every_reason_not_to_text()
    everyone = Contact.objects.filter(pk__in=[c.pk for c in people.values()])

    assert dict(contacts_with_exclusion_reason(everyone).values_list("pk", "exclusion_reason")) == {
        people["eligible"].pk: "",
        people["opted_out"].pk: UntextableReason.OPTED_OUT,
        people["stop_suppressed"].pk: UntextableReason.OPTED_OUT,
        people["do_not_call"].pk: UntextableReason.SUPPRESSED,
        people["no_consent"].pk: UntextableReason.NO_CONSENT,
        people["invalid"].pk: UntextableReason.INVALID_NUMBER,
    }
    assert list(contacts_textable(everyone).values_list("pk", flat=True)) == [people["eligible"].pk]


@pytest.mark.parametrize(
    "number",
    [
        "+12125550100",
        "+1234567",  # the shortest E.164 number: 7 digits
        "+123456789012345",  # the longest: 15 digits
        "+123456",
        "+1234567890123456",
        "+02125550100",
        "12125550100",
        "++12125550100",
        "+1212555010a",
        "+1 2125550100",
        "+1212555١٢٣",  # Arabic-Indic digits are digits, but not the ASCII ones E.164 means
        "+１２３４５６７",  # full-width digits
        "+",
        "",
    ],
)
def test_a_number_is_valid_exactly_when_it_matches_the_e164_pattern(number):
    contact = ContactFactory()
    with connection.cursor() as cursor:  # around the services, which would normalise or refuse it
        cursor.execute("UPDATE contacts_contact SET phone_number = %s WHERE id = %s", [number, contact.pk])
    reason = contacts_with_exclusion_reason(Contact.objects.filter(pk=contact.pk)).get().exclusion_reason

    assert (reason != UntextableReason.INVALID_NUMBER) == bool(re.fullmatch(E164_PATTERN, number))


def test_a_whole_audience_matched_by_joins_gets_the_reasons_the_probe_gives():
    people = contacts_with_every_reason_not_to_text()
    # Every combination of suppression entries a number can hold, on contacts who may otherwise be texted.
    reasons = list(Suppression.Reason.values)
    for size in range(1, len(reasons) + 1):
        for held in combinations(reasons, size):
            contact = ContactFactory()
            people["+".join(held)] = contact
            for reason in held:
                SuppressionFactory(phone_number=contact.phone_number, reason=reason)
    # A suppression of a number nobody has, and an opted-out contact whose number is suppressed too.
    SuppressionFactory(phone_number="+14155550999", reason=Suppression.Reason.MANUAL)
    SuppressionFactory(phone_number=people["opted_out"].phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    everyone = Contact.objects.filter(pk__in=[c.pk for c in people.values()])

    probed = dict(contacts_with_exclusion_reason(everyone).values_list("pk", "exclusion_reason"))
    joined = dict(contacts_with_exclusion_reason(everyone, whole_audience=True).values_list("pk", "exclusion_reason"))

    assert joined == probed
    assert joined[people["opt-out+do-not-call+manual"].pk] == UntextableReason.OPTED_OUT
    assert joined[people["do-not-call+manual"].pk] == UntextableReason.SUPPRESSED
    assert joined[people["eligible"].pk] == ""
    # One row per contact: no join repeats a contact with several entries.
    assert contacts_with_exclusion_reason(everyone, whole_audience=True).count() == len(people)
