"""A campaign whose text could not be sent is refused when it is saved, on every path that saves a body; a body
the message engine cannot compile is refused the same way; and the preview counts the recipients whose own
text (their values filled in) would be too long."""

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.segments import PLIVO_MAX_CHARACTERS, UCS2
from campaigns.selectors import campaign_preview
from campaigns.services.drafts import campaign_create, campaign_update
from campaigns.services.lifecycle import campaign_send_now
from campaigns.services.quick_send import campaign_quick_send
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db
CAMPAIGNS = "/api/v1/campaigns/"


# --- Length, at save ---------------------------------------------------------------------------------


def test_a_1600_character_body_is_refused_once_the_opt_out_footer_makes_it_1622(staff_user):
    with pytest.raises(ApplicationError) as refused:
        campaign_create(name="Long", body="a" * 1600, actor=staff_user)
    assert refused.value.field == "body"
    assert "1,622 characters in GSM-7, and Plivo refuses a text longer than 1,600" in refused.value.message
    assert "with the opt-out footer added" in refused.value.message
    assert not Campaign.objects.exists()


def test_a_body_of_exactly_plivos_limit_with_its_own_opt_out_wording_is_accepted(staff_user, settings):
    settings.SMS_MAX_SEGMENTS = 11  # Plivo's own ceiling: the character limit decides
    body = "a" * (1600 - len(" STOP to opt out")) + " STOP to opt out"
    assert campaign_create(name="Longest", body=body, actor=staff_user).body == body
    with pytest.raises(ApplicationError, match="1,601 characters"):
        campaign_create(name="One more", body="b" + body, actor=staff_user)


def test_a_ucs2_body_is_held_to_plivos_737_character_limit(staff_user, settings):
    settings.SMS_MAX_SEGMENTS = 20
    assert PLIVO_MAX_CHARACTERS[UCS2] == 737
    campaign_create(name="Fits", body="ж" * 700 + " STOP", actor=staff_user)
    with pytest.raises(ApplicationError, match="738 characters in UCS-2, and Plivo refuses a text longer than 737"):
        campaign_create(name="Too long", body="ж" * 733 + " STOP", actor=staff_user)


def test_a_body_over_the_segment_ceiling_is_refused_naming_the_setting(staff_user, settings):
    settings.SMS_MAX_SEGMENTS = 2
    two_segments = "a" * 290 + " STOP to opt out"  # 306 characters: 2 segments of 153
    campaign_create(name="Two", body=two_segments, actor=staff_user)
    with pytest.raises(ApplicationError) as refused:
        campaign_create(name="Three", body="a" + two_segments, actor=staff_user)
    assert refused.value.field == "body"
    assert "3 segments (307 characters in GSM-7), more than the 2 a message may cost (SMS_MAX_SEGMENTS)" in (
        refused.value.message
    )


def test_a_personalised_body_is_measured_by_its_fixed_text_at_save(staff_user):
    # What a placeholder adds is known per recipient only (dispatch skips those it makes too long) ...
    campaign_create(name="Bio", body="{{ bio }} " + "a" * 1400 + " STOP", actor=staff_user)
    # ... but a fixed text already too long is too long for everyone.
    with pytest.raises(ApplicationError, match="counting its fixed text only, without the placeholders"):
        campaign_create(name="Fixed", body="Hi {{ first_name }} " + "a" * 1600 + " STOP", actor=staff_user)


def test_editing_a_draft_to_a_text_too_long_is_refused_and_changes_nothing(staff_user):
    campaign = campaign_create(name="Sale", body="Sale today. STOP to opt out", actor=staff_user)
    with pytest.raises(ApplicationError, match="too long"):
        campaign_update(campaign=campaign, body="a" * 1600, actor=staff_user)
    campaign.refresh_from_db()
    assert campaign.body == "Sale today. STOP to opt out"


def test_a_draft_saved_before_the_ceiling_was_lowered_is_refused_at_send(staff_user, settings):
    campaign = campaign_create(name="Sale", body="a" * 400 + " STOP", actor=staff_user)
    settings.SMS_MAX_SEGMENTS = 2
    with pytest.raises(ApplicationError, match="SMS_MAX_SEGMENTS"):
        campaign_send_now(campaign=campaign, actor=staff_user)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


# --- Template syntax, at save ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("{% load static %}Hi {{ first_name }}", "{% load %} on line 1 is not allowed"),
        ("Hi {{ first_name|safe }}", "Invalid filter: 'safe'; a message may use only the filters default,"),
        ("{% if first_name %}Hi{% endif %}", "{% if %} on line 1 is not allowed"),
        ('Hi {{ first_name|default:"a":"b" }}', "the message body is not a valid template"),
    ],
)
def test_a_body_the_message_engine_cannot_compile_is_refused_at_save_naming_the_problem(staff_user, body, named):
    with pytest.raises(ApplicationError) as refused:
        campaign_create(name="Broken", body=body, actor=staff_user)
    assert refused.value.field == "body"
    assert named in refused.value.message
    assert not Campaign.objects.exists()
    campaign = campaign_create(name="Fine", body="Hi {{ first_name }}", actor=staff_user)
    with pytest.raises(ApplicationError, match="not a valid template"):
        campaign_update(campaign=campaign, body=body, actor=staff_user)


def test_the_api_refuses_a_draft_with_a_load_tag_naming_the_field(api_client):
    client = api_client("campaigns.add_campaign", "campaigns.change_campaign", "campaigns.view_campaign")
    response = client.post(CAMPAIGNS, {"name": "Broken", "body": "{% load static %}Hi {{ first_name }}"}, format="json")
    assert response.status_code == 400, response.json()
    assert "{% load %} on line 1 is not allowed" in response.json()["errors"]["body"][0]
    assert not Campaign.objects.exists()
    draft = client.post(CAMPAIGNS, {"name": "Fine", "body": "Hi"}, format="json").json()
    response = client.patch(f"{CAMPAIGNS}{draft['id']}/", {"body": "Hi {{ first_name|urlize }}"}, format="json")
    assert response.status_code == 400
    assert "Invalid filter: 'urlize'" in response.json()["errors"]["body"][0]


def test_the_api_refuses_a_1600_character_body_that_the_footer_makes_too_long(api_client):
    client = api_client("campaigns.add_campaign", "campaigns.view_campaign")
    response = client.post(CAMPAIGNS, {"name": "Long", "body": "a" * 1600}, format="json")
    assert response.status_code == 400, response.json()
    assert "1,622 characters" in response.json()["errors"]["body"][0]
    assert not Campaign.objects.exists()


def test_a_quick_send_with_a_body_that_cannot_be_sent_creates_nothing(api_client):
    client = api_client(superuser=True)
    for body, named in [("{% load static %}Hi", "{% load %}"), ("a" * 1600, "1,622 characters")]:
        response = client.post(
            CAMPAIGNS,
            {"recipients": ["+14155550123"], "body": body, "consent_source": "checkout form", "send": True},
            format="json",
        )
        assert response.status_code == 400, response.json()
        assert named in response.json()["errors"]["body"][0]
    assert not Campaign.objects.exists()
    assert not Contact.objects.exists()


def test_quick_send_service_refuses_an_unknown_filter_saying_which_filters_there_are(staff_user):
    with pytest.raises(ApplicationError) as refused:
        campaign_quick_send(
            recipients=["+14155550123"], body="Hi {{ first_name|escape }}", consent_source="form", actor=staff_user
        )
    assert refused.value.field == "body"
    assert "Invalid filter: 'escape'; a message may use only the filters default, default_if_none" in (
        refused.value.message
    )
    assert not Contact.objects.exists()


@pytest.mark.usefixtures("staff_roles")
@pytest.mark.parametrize(
    ("body", "named"),
    [("{% load static %}Hi {{ first_name }}", "{% load %} on line 1 is not allowed"), ("a" * 1600, "1,622")],
)
def test_the_admin_form_refuses_a_body_that_cannot_be_sent_on_the_field(client, editor, body, named):
    client.force_login(editor)
    add = reverse("admin:campaigns_campaign_add")
    response = client.post(add, {"name": "Broken", "sender": "+14155550100", "body": body})
    assert response.status_code == 200  # the form again, with the error on the body field
    errors = response.context["adminform"].form.errors
    assert named in errors["body"][0]
    assert not Campaign.objects.exists()
    campaign = CampaignFactory(body="Hi STOP")
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    response = client.post(change, {"name": campaign.name, "sender": "+14155550100", "body": body})
    assert named in response.context["adminform"].form.errors["body"][0]
    campaign.refresh_from_db()
    assert campaign.body == "Hi STOP"


@pytest.mark.usefixtures("staff_roles")
def test_the_admin_counter_knows_the_segment_ceiling(admin_client, settings):
    settings.SMS_MAX_SEGMENTS = 4
    page = admin_client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert 'data-max-segments="4"' in page


# --- The preview -------------------------------------------------------------------------------------


def _audience_with_bios(*bios: str) -> Campaign:
    audience = ContactListFactory()
    for bio in bios:
        ContactFactory(attributes={"bio": bio}).lists.add(audience)
    campaign = CampaignFactory(body="{{ bio }} STOP")
    campaign.lists.add(audience)
    return campaign


def test_the_preview_counts_recipients_whose_own_text_is_too_long():
    # Two contacts share one long value (one group in the database): both count.
    campaign = _audience_with_bios("short", "x" * 5000, "x" * 5000, "y" * 200)
    preview = campaign_preview(campaign=campaign, now=timezone.now())
    assert preview.audience.eligible == 4
    assert preview.message_too_long == 2
    assert preview.will_be_texted == 2
    # Only the texts that would be sent count in segments and cost: "short" (1) and the 200-character one (2).
    assert (preview.segments_per_message, preview.segments_total) == (2, 3)
    assert [bool(sample.too_long) for sample in preview.samples] == [False, True, True]
    assert "5,005 characters in GSM-7, and Plivo refuses" in preview.samples[1].too_long


def test_the_preview_follows_the_segment_ceiling(settings):
    campaign = _audience_with_bios("short", "y" * 200)
    settings.SMS_MAX_SEGMENTS = 1
    assert campaign_preview(campaign=campaign, now=timezone.now()).message_too_long == 1


def test_the_api_preview_and_the_admin_preview_show_the_too_long_count(api_client, admin_client):
    campaign = _audience_with_bios("short", "x" * 5000)
    response = api_client("campaigns.view_campaign").get(f"{CAMPAIGNS}{campaign.pk}/preview/")
    assert response.status_code == 200
    assert response.json()["message_too_long"] == 1
    assert response.json()["audience"]["eligible"] == 2
    page = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk])).content.decode()
    assert '<td data-count="message-too-long">1</td>' in page
    assert '<td data-count="eligible"><strong>1</strong></td>' in page
