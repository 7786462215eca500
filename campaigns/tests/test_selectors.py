import random
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from django.db.models import CharField, ExpressionWrapper, F

from campaigns.models import ExclusionReason
from campaigns.quiet_hours import quiet_hours_verdict
from campaigns.segments import estimate_cost, segment_info
from campaigns.selectors import (
    campaign_audience,
    campaign_audience_breakdown,
    campaign_preview,
)
from campaigns.templating import body_render
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.selectors import ELIGIBLE
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    SuppressionFactory,
    contacts_with_every_reason_not_to_text,
)
from sends.models import CampaignSend

pytestmark = pytest.mark.django_db


def audience_with_every_exclusion():
    first, second, elsewhere = ContactListFactory(), ContactListFactory(), ContactListFactory()
    campaign = CampaignFactory()
    campaign.lists.set([first, second])
    people = {**contacts_with_every_reason_not_to_text(), "on_both_lists": ContactFactory()}
    for contact in people.values():
        contact_lists_add(contact=contact, contact_lists=[first])
    contact_lists_add(contact=people["on_both_lists"], contact_lists=[second])
    contact_lists_add(contact=ContactFactory(), contact_lists=[elsewhere])  # not in the audience
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
    assert set(ExclusionReason.ALL) <= {value for value, _ in CampaignSend._meta.get_field("skip_reason").choices}


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


def preview_row_by_row(*, campaign, now):
    """The preview as it was computed before the audience was read in groups: every eligible recipient
    rendered, priced and placed in their zone one by one (recipients by id). The reference the grouped
    preview must equal exactly."""
    audience = campaign_audience_breakdown(campaign=campaign)
    ucs2, longest, total, deferred, cost = {}, 0, 0, 0, Decimal("0")
    uncertain = waiting = no_common = 0
    rows = (
        campaign_audience(campaign=campaign)
        .filter(exclusion_reason=ELIGIBLE)
        .order_by("pk")
        .annotate(e164=ExpressionWrapper(F("phone_number"), output_field=CharField()))
        .values_list("e164", "country", "timezone", "first_name", "last_name", "attributes")
    )
    for e164, country, timezone_name, first_name, last_name, attributes in rows:
        info = segment_info(
            body_render(campaign.body, first_name=first_name, last_name=last_name, attributes=attributes)
        )
        ucs2.update(dict.fromkeys(info.ucs2_characters))
        longest = max(longest, info.segments)
        total += info.segments
        cost += estimate_cost(segments=info.segments, country=country)
        quiet = quiet_hours_verdict(now=now, timezone_name=timezone_name, e164=e164, country=country)
        uncertain += quiet.uncertain
        no_common += quiet.no_common_window
        if not quiet.is_open and not quiet.no_common_window:
            deferred += 1
            waiting += quiet.uncertain
    if not audience.eligible:
        info = segment_info(body_render(campaign.body))
        ucs2.update(dict.fromkeys(info.ucs2_characters))
        longest = info.segments
    return (
        audience,
        "UCS-2" if ucs2 else "GSM-7",
        tuple(ucs2),
        longest,
        total,
        cost,
        deferred,
        (uncertain, waiting, no_common),
    )


# (number, country, timezone): zones in quiet hours at some of the test's moments and not at others; numbers
# whose zone decides because the contact has none (or names no zone), among them a +1 212 number phonenumbers
# holds invalid (so the server's zone decides) beside a valid one of the same area code.
VARIED_NUMBERS = [
    ("+1212234{:04d}", "US", "America/New_York"),
    ("+1415234{:04d}", "US", "America/Los_Angeles"),
    ("+1808234{:04d}", "US", "Pacific/Honolulu"),
    ("+1416234{:04d}", "CA", "America/Toronto"),
    ("+4479112{:05d}", "GB", "Europe/London"),
    ("+3361234{:04d}", "FR", "Europe/Paris"),
    ("+4915123{:05d}", "DE", "Europe/Berlin"),
    ("+614123{:05d}", "AU", "Australia/Sydney"),
    ("+9198123{:05d}", "IN", "Asia/Kolkata"),
    ("+8190123{:05d}", "JP", "Asia/Tokyo"),
    ("+1212234{:04d}", "US", ""),
    ("+1212123{:04d}", "US", ""),
    ("+614123{:05d}", "AU", ""),  # an Australian mobile: any of eight zones
    ("+1800555{:04d}", "US", ""),  # toll-free: its zones share 90 minutes a day
    ("+1305234{:04d}", "US", "America/New_York"),  # Florida: 08:00-20:00
    ("+1305234{:04d}", "US", ""),
    ("+9198123{:05d}", "", ""),
    ("+4479112{:05d}", "GB", "Mars/Olympus_Mons"),
]
VARIED_NAMES = ["Ann", "Łukasz", "Zoë", "李", "Chloé", "O'Brien", "Ann", "€uro[1]", "A" * 140, ""]
VARIED_ATTRIBUTES = [
    {"code": "C1"},
    {"code": 1},
    {"code": 1.0},
    {"code": True},
    {"code": None},
    {"code": {"nested": "x"}},
    {},
    {"code": "Ç’", "first_name": "Attribute"},
    {"nickname": "Nick", "code": "C1"},
    {"code": "C1", "tier": "gold"},
]


def varied_audience(size: int):
    rng = random.Random(8)
    audience = ContactListFactory()
    for n in range(size):
        pattern, country, zone = VARIED_NUMBERS[n % len(VARIED_NUMBERS)]
        kind = rng.random()
        contact = ContactFactory(
            phone_number=pattern.format(n),
            country=country,
            timezone=zone,
            first_name=rng.choice(VARIED_NAMES),
            last_name=rng.choice(["Smith", "Żak", ""]),
            attributes=rng.choice(VARIED_ATTRIBUTES),
            **({"status": Contact.Status.UNSUBSCRIBED, "opted_out_at": "2026-01-01T00:00Z"} if kind < 0.05 else {}),
        )
        if 0.05 <= kind < 0.1:
            SuppressionFactory(phone_number=contact.phone_number, reason=Suppression.Reason.DO_NOT_CALL)
        contact_lists_add(contact=contact, contact_lists=[audience])
    return audience


@pytest.mark.parametrize(
    "body",
    [
        "Sale today, reply STOP to opt out",
        "Sale today’s the day " * 6,
        "Hi {{ first_name }}, sale today",
        "Hi {{ nickname|default:first_name }} {{ last_name|upper }}, code {{ code|default:'none' }} " * 2,
        "{{ tier|title }} {# a comment #}{{ first_name|truncatechars:5 }} [{{ code }}]",
    ],
)
def test_grouped_preview_equals_the_preview_of_every_recipient_one_by_one(body):
    audience = varied_audience(240)
    campaign = CampaignFactory(body=body)
    campaign.lists.set([audience])
    deferred = set()
    # Every two hours of a June day, so that each zone is inside and outside its window at some of them.
    for hour in range(0, 24, 2):
        now = datetime(2026, 6, 1, hour, 30, tzinfo=UTC)
        preview = campaign_preview(campaign=campaign, now=now)
        grouped = (
            preview.audience,
            preview.encoding,
            preview.ucs2_characters,
            preview.segments_per_message,
            preview.segments_total,
            preview.estimated_cost,
            preview.deferred_by_quiet_hours,
            (preview.uncertain_zone, preview.waiting_for_common_window, preview.no_common_quiet_window),
        )
        reference = preview_row_by_row(campaign=campaign, now=now)
        assert grouped == reference, f"at {now}"
        assert str(preview.estimated_cost) == str(reference[5])
        deferred.add(preview.deferred_by_quiet_hours)
    assert 0 < preview.audience.eligible < preview.audience.total
    assert len(deferred) > 3


def test_preview_counts_uncertain_zones_those_waiting_for_a_common_window_and_those_without_one(settings):
    """11:15 UTC in June: 21:15 in Sydney. An Australian mobile without a zone waits (though 19:15 in Perth);
    with its zone given (Perth) it goes now; a toll-free number has no common window in 09:00-18:00."""
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(8), time(21)
    audience = ContactListFactory()
    campaign = CampaignFactory(body="Sale today")
    campaign.lists.set([audience])
    people = [
        ContactFactory(phone_number="+61412345678", country="AU", timezone=""),
        ContactFactory(phone_number="+61412345679", country="AU", timezone="Australia/Perth"),
        ContactFactory(phone_number="+18005550199", country="US", timezone=""),
    ]
    for contact in people:
        contact_lists_add(contact=contact, contact_lists=[audience])
    now = datetime(2026, 6, 1, 11, 15, tzinfo=UTC)

    preview = campaign_preview(campaign=campaign, now=now)
    # The toll-free number's zones share 22:00-23:30 UTC: it waits too.
    assert (preview.uncertain_zone, preview.waiting_for_common_window, preview.no_common_quiet_window) == (2, 2, 0)
    assert preview.deferred_by_quiet_hours == 2

    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(9), time(18)
    preview = campaign_preview(campaign=campaign, now=now)
    assert (preview.uncertain_zone, preview.waiting_for_common_window, preview.no_common_quiet_window) == (2, 1, 1)
    assert preview.deferred_by_quiet_hours == 2  # the Australian waits; in Perth it is 19:15, past 18:00
