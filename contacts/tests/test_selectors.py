"""Who may be texted: the one rule every audience, preview and send re-check reads."""

import pytest

from contacts.models import Contact, UntextableReason
from contacts.selectors import contacts_textable, contacts_with_exclusion_reason
from contacts.tests.factories import contacts_with_every_reason_not_to_text

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
