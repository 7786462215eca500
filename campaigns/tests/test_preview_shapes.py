"""The preview priced once per shape of the values (PostgreSQL) equals every recipient's text priced one by one."""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from campaigns import selectors
from campaigns.segments import GSM7_BASIC, GSM7_EXTENSION, message_length_problem, segment_info
from campaigns.selectors import campaign_audience, campaign_preview
from campaigns.templating import body_plain_parts, body_render
from campaigns.tests.factories import CampaignFactory
from campaigns.tracked_links import URL_DECIDING_CHARACTERS, text_as_sent
from campaigns.value_shapes import contact_value_shape_sql, value_shape
from contacts.models import Contact
from contacts.selectors import ELIGIBLE
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="shapes are computed by PostgreSQL")

NOW = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
NAMES = ["Ann", "Łukasz", "Zoë", "李", "Chloé", "O'Brien", "", "€uro[1]", "{x}^~|\\", "A" * 150, "😀 Joy", "Sophie"]
MEMBER_ALPHABET = "abcXYZ0123456789 €[]{}^~|\\éñüàΔ_@£$-.,:/'\"ç’😀李\n"


def member_value(rng: random.Random):
    """A value of its own for most contacts, of every JSON type and of every character class."""
    kind = rng.random()
    if kind < 0.75:
        return "".join(rng.choice(MEMBER_ALPHABET) for _ in range(rng.randint(0, 14)))
    return rng.choice([None, 7, 1.5, True, {"nested": "x"}, ["a"], "", "http://shop.example/sale", "😀" * 400])


def shaped_audience(size: int):
    rng = random.Random(5)
    audience = ContactListFactory()
    for n in range(size):
        attributes = {"member": member_value(rng), "code": f"C{n % 7}"}
        if n % 9 == 0:
            del attributes["member"]
        if n % 11 == 0:
            attributes["first_name"] = "Attribute"  # the name field wins over it
        contact = ContactFactory(
            first_name=rng.choice(NAMES), last_name=rng.choice(["Smith", "Żak", ""]), attributes=attributes
        )
        contact.lists.add(audience)
    return audience


def preview_per_contact(*, campaign, body: str) -> tuple:
    """Every eligible recipient's text as sent, priced one by one (recipients by id)."""
    ucs2, longest, total, cost, too_long = {}, 0, 0, Decimal("0"), 0
    rows = (
        campaign_audience(campaign=campaign)
        .filter(exclusion_reason=ELIGIBLE)
        .order_by("pk")
        .values_list("country", "first_name", "last_name", "attributes")
    )
    for country, first_name, last_name, attributes in rows:
        text = body_render(body, first_name=first_name, last_name=last_name, attributes=attributes)
        info = segment_info(text_as_sent(campaign=campaign, text=text, body=body))
        if message_length_problem(info):
            too_long += 1
            continue
        ucs2.update(dict.fromkeys(info.ucs2_characters))
        longest = max(longest, info.segments)
        total += info.segments
        cost += selectors.estimate_cost(segments=info.segments, country=country)
    return ("UCS-2" if ucs2 else "GSM-7", tuple(ucs2), longest, total, cost, too_long)


def figures(preview) -> tuple:
    return (
        preview.encoding,
        preview.ucs2_characters,
        preview.segments_per_message,
        preview.segments_total,
        preview.estimated_cost,
        preview.message_too_long,
    )


BODIES = [
    "Hi {{ first_name }}, your member code {{ member }} takes 20% off until Sunday.",
    "{{ member }}{{ first_name }}{{ last_name }}{{ nickname }}",
    "Hi {{ first_name }} {{ last_name }}, code {{ member }}: see https://shop.example/sale now. " * 2,
]


@pytest.mark.parametrize("track_links", [False, True])
@pytest.mark.parametrize("body", BODIES)
def test_preview_by_shape_equals_every_recipient_priced_one_by_one(body, track_links):
    campaign = CampaignFactory(body=body, track_links=track_links)
    campaign.lists.set([shaped_audience(300)])

    preview = campaign_preview(campaign=campaign, now=NOW)

    assert figures(preview) == preview_per_contact(campaign=campaign, body=body)
    assert preview.encoding == "UCS-2" and preview.message_too_long > 0
    if connection.vendor == "postgresql":
        by_value = selectors._campaign_preview(campaign=campaign, now=NOW, body=body, by_shape=False)
        assert preview == by_value
        try:
            assert selectors._campaign_preview(campaign=campaign, now=NOW, body=body, by_shape=True) == by_value
        except selectors._ValueInUrl:
            # A member whose value is a URL, in a text whose URLs become short links: only then are values
            # rendered as they are.
            assert track_links and "https://" in body


@on_postgresql
def test_a_value_inside_a_tracked_url_is_priced_by_its_own_characters():
    # "https://shop.example/sale" is tracked; a member whose code makes the same URL gets a short link too.
    body = "See https://shop.example/sale and https://shop.example/{{ member }} soon"
    campaign = CampaignFactory(body=body, track_links=True)
    audience = ContactListFactory()
    for member in ["sale", "sale", "sole", "x" * 40]:
        ContactFactory(attributes={"member": member}).lists.add(audience)
    campaign.lists.set([audience])

    with pytest.raises(selectors._ValueInUrl):
        selectors._campaign_preview(campaign=campaign, now=NOW, body=body, by_shape=True)
    preview = campaign_preview(campaign=campaign, now=NOW)
    assert figures(preview) == preview_per_contact(campaign=campaign, body=body)


def test_a_shape_keeps_every_character_that_decides_size_encoding_or_urls():
    value = "Hi {Zoë}: https://x.co/€[a]\n😀"
    shape = value_shape(value)
    assert len(shape) == len(value)
    for original, shaped in zip(value, shape, strict=True):
        if (original not in GSM7_BASIC and original not in GSM7_EXTENSION) or original in URL_DECIDING_CHARACTERS:
            assert shaped == original
        else:
            assert (shaped in GSM7_EXTENSION) == (original in GSM7_EXTENSION)
    assert segment_info(shape) == segment_info(value)
    assert shape == "Ha ~aaë~: https://a.aa/~~a]\n😀"


def test_only_plain_variables_make_a_body_of_plain_parts():
    assert body_plain_parts("Hi {{ first_name }}!") == ((False, "Hi "), (True, "first_name"), (False, "!"))
    for body in ["{{ first_name|upper }}", "{{ first_name.upper }}", '{{ "x" }}', "{{ a|default:b }}"]:
        assert body_plain_parts(body) is None


@on_postgresql
def test_the_database_shapes_a_value_as_value_shape_does():
    # Letters and digits alone take the quick way (the shape of their length); anything else is translated.
    values = ["", "Ann", "abc123XYZ", "Sophie", "http", "Zoë", "€uro[1]", "a b", "A" * 150, "O'Brien", "李"]
    for value in values:
        ContactFactory(first_name=value, attributes={"member": value})
    ContactFactory(first_name="Nobody", attributes={})
    rows = Contact.objects.annotate(
        first=contact_value_shape_sql("first_name"), member=contact_value_shape_sql("member")
    ).values_list("first_name", "first", "member")
    for value, first, member in rows:
        assert first == value_shape(value)
        assert member == (None if value == "Nobody" else "s" + value_shape(value))


@on_postgresql
def test_the_preview_puts_back_the_planner_settings_it_changes():
    campaign = CampaignFactory(body="Hi {{ first_name }}")
    audience = ContactListFactory()
    ContactFactory(first_name="Ann").lists.add(audience)
    campaign.lists.set([audience])
    names = list(selectors._GROUPS_PLANNER_SETTINGS)

    def current() -> tuple:
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
            return cursor.fetchone()

    before = current()
    assert campaign_preview(campaign=campaign, now=NOW).audience.eligible == 1
    assert current() == before
