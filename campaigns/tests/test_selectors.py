from datetime import UTC, datetime
from decimal import Decimal

import pytest

from campaigns.selectors import ExclusionReason, campaign_audience, campaign_audience_breakdown, campaign_preview
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.services import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory
from sends.models import CampaignSend

pytestmark = pytest.mark.django_db


def audience_with_every_exclusion():
    first, second, elsewhere = ContactListFactory(), ContactListFactory(), ContactListFactory()
    campaign = CampaignFactory()
    campaign.lists.set([first, second])
    people = {
        "eligible": ContactFactory(),
        "on_both_lists": ContactFactory(),
        "opted_out": ContactFactory(status=Contact.Status.UNSUBSCRIBED, opted_out_at="2026-01-01T00:00Z"),
        "stop_suppressed": ContactFactory(),
        "do_not_call": ContactFactory(),
        "no_consent": ContactFactory(status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source=""),
        "invalid": ContactFactory(),
    }
    for contact in people.values():
        contact_lists_add(contact=contact, contact_lists=[first])
    contact_lists_add(contact=people["on_both_lists"], contact_lists=[second])
    contact_lists_add(contact=ContactFactory(), contact_lists=[elsewhere])  # not in the audience
    SuppressionFactory(phone_number=people["stop_suppressed"].phone_number, reason=Suppression.Reason.OPT_OUT)
    SuppressionFactory(phone_number=people["stop_suppressed"].phone_number, reason=Suppression.Reason.MANUAL)
    SuppressionFactory(phone_number=people["do_not_call"].phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    # Written around the services, the way a raw SQL fix or an old import could leave it.
    Contact.objects.filter(pk=people["invalid"].pk).update(phone_number="555-0199")
    return campaign, people


def test_audience_gives_each_contact_once_with_the_first_reason_that_applies():
    campaign, people = audience_with_every_exclusion()
    reasons = dict(campaign_audience(campaign=campaign).values_list("pk", "exclusion_reason"))
    assert reasons == {
        people["eligible"].pk: "",
        people["on_both_lists"].pk: "",
        people["opted_out"].pk: ExclusionReason.OPTED_OUT,
        people["stop_suppressed"].pk: ExclusionReason.OPTED_OUT,
        people["do_not_call"].pk: ExclusionReason.SUPPRESSED,
        people["no_consent"].pk: ExclusionReason.NO_CONSENT,
        people["invalid"].pk: ExclusionReason.INVALID_NUMBER,
    }


def test_breakdown_counts_the_eligible_and_each_exclusion_reason():
    campaign, _ = audience_with_every_exclusion()
    breakdown = campaign_audience_breakdown(campaign=campaign)
    assert (breakdown.total, breakdown.eligible) == (7, 2)
    assert breakdown.excluded == {"opted_out": 2, "suppressed": 1, "no_consent": 1, "invalid_number": 1}
    assert breakdown.duplicates == 1  # on_both_lists: one person, one message


def test_a_campaign_without_lists_has_an_empty_audience():
    breakdown = campaign_audience_breakdown(campaign=CampaignFactory())
    assert (breakdown.total, breakdown.eligible, breakdown.excluded) == (0, 0, {})


def test_every_exclusion_reason_is_a_send_skip_reason():
    assert set(ExclusionReason.ALL) <= set(CampaignSend.SkipReason.values)


def test_preview_counts_each_recipients_rendered_text_cost_and_quiet_hours():
    audience = ContactListFactory()
    campaign = CampaignFactory(body="Hi {{ first_name }}, sale today")
    campaign.lists.set([audience])
    # 19:00 UTC: 11:00 in Los Angeles (inside 08:00-21:00), 04:00 in Tokyo (outside).
    now = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    people = [
        ContactFactory(first_name="Ann", country="US", timezone="America/Los_Angeles"),
        ContactFactory(first_name="Łukasz", country="GB", timezone="Asia/Tokyo"),
        ContactFactory(first_name="Bo", status=Contact.Status.UNSUBSCRIBED, opted_out_at=now),
    ]
    for contact in people:
        contact_lists_add(contact=contact, contact_lists=[audience])

    preview = campaign_preview(campaign=campaign, now=now)

    assert (preview.audience.total, preview.audience.eligible) == (3, 2)
    assert preview.audience.excluded == {ExclusionReason.OPTED_OUT: 1}
    # Only Łukasz's name takes the message out of GSM-7.
    assert (preview.encoding, preview.ucs2_characters) == ("UCS-2", ("Ł",))
    assert (preview.segments_per_message, preview.segments_total) == (1, 2)
    assert preview.estimated_cost == Decimal("0.0055") + Decimal("0.0400")
    assert preview.deferred_by_quiet_hours == 1
    # The eligible recipients by id, each with the text they would receive: Bo opted out.
    assert [(s.contact_id, s.body, s.encoding) for s in preview.samples] == [
        (people[0].pk, "Hi Ann, sale today", "GSM-7"),
        (people[1].pk, "Hi Łukasz, sale today", "UCS-2"),
    ]


def test_preview_of_an_empty_audience_still_gives_the_bodys_encoding():
    campaign = CampaignFactory(body="Café’s open " * 10)
    preview = campaign_preview(campaign=campaign, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert (preview.audience.total, preview.audience.eligible, preview.segments_total) == (0, 0, 0)
    assert preview.encoding == "UCS-2" and preview.ucs2_characters == ("’",)
    assert preview.segments_per_message == 2
    assert preview.estimated_cost == 0 and preview.deferred_by_quiet_hours == 0 and preview.samples == ()


def test_preview_defers_a_recipient_without_a_timezone_by_the_zone_of_their_number():
    audience = ContactListFactory()
    campaign = CampaignFactory(body="Sale today")
    campaign.lists.set([audience])
    # 12:00 UTC: 08:00 in New York (inside 08:00-21:00), 21:30 in Adelaide (outside).
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    for number in ("+12122345678", "+61412345678"):
        contact = ContactFactory(phone_number=number, timezone="")
        contact_lists_add(contact=contact, contact_lists=[audience])

    preview = campaign_preview(campaign=campaign, now=now)

    assert preview.audience.eligible == 2
    assert preview.deferred_by_quiet_hours == 1
