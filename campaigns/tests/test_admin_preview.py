"""The preview page before launch: what it counts, and the confirmation without which the admin neither sends
nor schedules."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.selectors import campaign_preview
from campaigns.services.drafts import campaign_update
from campaigns.tests.admin_pages import action_url, change_url, confirm_through_preview, hidden_inputs, preview_url
from campaigns.tests.factories import CampaignFactory
from campaigns.tests.test_selectors import audience_with_every_exclusion
from contacts.models import Contact
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]
Status = Campaign.Status


def counted(page: str, name: str) -> str:
    """The figure of one row of the preview (each cell carries data-count="<row>")."""
    start = page.index(f'data-count="{name}">') + len(f'data-count="{name}">')
    return page[start : page.index("</td>", start)].replace("<strong>", "").replace("</strong>", "").strip()


def campaign_for(*people: Contact, body: str = "Hi {{ first_name }}, sale today. Reply STOP to opt out") -> Campaign:
    audience = ContactListFactory()
    for person in people:
        contact_lists_add(contact=person, contact_lists=[audience])
    campaign = CampaignFactory(body=body)
    campaign.lists.set([audience])
    return campaign


def test_preview_shows_the_audience_and_every_exclusion_with_its_count(client, manager):
    campaign, people = audience_with_every_exclusion()
    client.force_login(manager)

    page = client.get(preview_url(campaign), {"action": "send_now"}).content.decode()

    figures = {
        name: counted(page, name)
        for name in ["audience", "opted-out", "suppressed", "no-consent", "invalid-number", "duplicate", "eligible"]
    }
    assert figures == {
        "audience": "7",
        "opted-out": "2",
        "suppressed": "1",
        "no-consent": "1",
        "invalid-number": "1",
        "duplicate": "1",
        "eligible": "2",
    }
    for person in [people["eligible"], people["on_both_lists"]]:
        assert f"Hi {person.first_name}, our sale starts today." in page
    assert (counted(page, "segments-total"), counted(page, "encoding")) == ("2", "GSM-7")
    estimated = campaign_preview(campaign=campaign, now=timezone.now()).estimated_cost
    assert estimated > 0 and counted(page, "estimated-cost").startswith(
        f"${estimated:.4f} "
    )  # US dollars, as Plivo bills


def test_preview_renders_the_message_of_three_real_recipients(client, manager):
    people = [ContactFactory(first_name=name) for name in ["Ann", "Łukasz", "Cem", "Dora"]]
    campaign = campaign_for(*people)
    client.force_login(manager)
    page = client.get(preview_url(campaign)).content.decode()
    assert page.count('class="sample"') == 3
    for person in people[:3]:  # the first three by id
        assert f"Hi {person.first_name}, sale today." in page and str(person.phone_number) in page
    assert "Hi Dora" not in page
    assert counted(page, "encoding") == "UCS-2 (forced by Ł)"  # Łukasz's text


def test_schedule_preview_counts_quiet_hours_at_the_scheduled_time(client, manager, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time(8), time(21)
    campaign = campaign_for(ContactFactory(timezone="America/Los_Angeles"))
    client.force_login(manager)
    client.cookies["staff_tz"] = "America/Los_Angeles"
    tomorrow = timezone.localdate() + timedelta(days=1)
    night = client.get(preview_url(campaign), {"action": "schedule", "scheduled_at": f"{tomorrow}T03:00"})
    noon = client.get(preview_url(campaign), {"action": "schedule", "scheduled_at": f"{tomorrow}T12:00"})
    assert counted(night.content.decode(), "deferred") == "1"
    assert counted(noon.content.decode(), "deferred") == "0"
    assert f"Send at {tomorrow} 12:00 (America/Los_Angeles)" in noon.content.decode()


def test_send_now_through_the_preview_schedules_it_at_once_and_audits_the_user(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    response = confirm_through_preview(client, campaign)
    assert response.redirect_chain[-1][0] == change_url(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED and campaign.scheduled_at <= timezone.now()
    assert AuditEvent.objects.get(action="campaign.send_now").actor == manager


def test_the_campaign_pages_send_and_schedule_buttons_open_the_preview(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    page = client.get(change_url(campaign)).content.decode()
    for name in ["send_now", "schedule"]:
        assert (
            f'<form method="get" action="{preview_url(campaign)}" class="campaign-action" data-action="{name}">' in page
        )


def test_send_now_without_a_preview_is_refused_and_leads_to_the_preview(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    response = client.post(action_url(campaign, "send_now"), follow=True)
    assert response.redirect_chain[-1][0] == f"{preview_url(campaign)}?action=send_now"
    assert "look at the preview first" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT and not AuditEvent.objects.filter(action="campaign.send_now").exists()


def test_confirm_is_refused_when_the_draft_changed_after_the_preview(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    campaign_update(campaign=campaign, body="Something else entirely. Reply STOP to opt out", actor=manager)

    response = client.post(action_url(campaign, "send_now"), fields, follow=True)

    page = response.content.decode()
    assert "the campaign changed since you previewed it: the message text. Check the new preview" in page
    assert "Something else entirely." in page  # back on the preview, showing the campaign as it is now
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_confirm_is_refused_when_the_audience_changed_after_the_preview(client, manager):
    campaign = campaign_for(ContactFactory(), ContactFactory())
    client.force_login(manager)
    fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    contact_lists_add(contact=ContactFactory(), contact_lists=list(campaign.lists.all()))

    response = client.post(action_url(campaign, "send_now"), fields, follow=True)

    assert "the audience (2 of 2 eligible when previewed, 3 of 3 now)" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_confirm_is_refused_once_the_preview_is_half_an_hour_old(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        response = client.post(action_url(campaign, "send_now"), fields, follow=True)
    assert "the preview is more than 30 minutes old" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_a_confirmation_is_valid_only_for_its_campaign_person_action_and_time(client, manager, staff_member):
    campaign, other = campaign_for(ContactFactory()), campaign_for(ContactFactory())
    client.force_login(manager)
    fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for target, name, extra in [(other, "send_now", {}), (campaign, "schedule", {"scheduled_at": later})]:
        page = client.post(action_url(target, name), {**fields, **extra}, follow=True).content.decode()
        assert "this confirmation is for another campaign, person, action or time" in page
    schedule_fields = hidden_inputs(
        client.get(preview_url(campaign), {"action": "schedule", "scheduled_at": later}).content.decode()
    )
    an_hour_later = (timezone.localtime() + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = client.post(
        action_url(campaign, "schedule"), {**schedule_fields, "scheduled_at": an_hour_later}, follow=True
    ).content.decode()
    assert "for another campaign, person, action or time" in page

    colleague = staff_member("Marketing manager", "colleague")
    client.force_login(colleague)
    page = client.post(action_url(campaign, "send_now"), fields, follow=True).content.decode()
    assert "for another campaign, person, action or time" in page
    page = client.post(action_url(campaign, "send_now"), {"preview_token": "forged"}, follow=True).content.decode()
    assert "this confirmation does not come from a preview" in page
    campaign.refresh_from_db()
    other.refresh_from_db()
    assert campaign.status == other.status == Status.DRAFT


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_viewers_and_editors_see_the_preview_but_cannot_confirm_it(client, manager, request, role):
    campaign = campaign_for(ContactFactory(first_name="Ann"))
    client.force_login(manager)
    managers_fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    client.force_login(request.getfixturevalue(role))

    page = client.get(preview_url(campaign)).content.decode()

    assert "Hi Ann, sale today." in page
    assert "preview_token" not in page and "Confirm and send now" not in page
    assert "sending and scheduling are for marketing managers" in page
    assert client.post(action_url(campaign, "send_now"), managers_fields).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_a_campaign_that_is_no_longer_a_draft_offers_no_confirmation(client, manager):
    campaign = CampaignFactory(status=Status.SENDING, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    client.force_login(manager)
    page = client.get(preview_url(campaign)).content.decode()
    assert "preview_token" not in page and "This campaign is sending: it cannot be sent now." in page


def test_the_list_action_send_now_previews_each_draft_and_sends_only_once_confirmed(client, manager):
    drafts = [campaign_for(ContactFactory(first_name=name)) for name in ["Ann", "Bea"]]
    done = CampaignFactory(status=Status.COMPLETED)
    client.force_login(manager)
    changelist = reverse("admin:campaigns_campaign_changelist")
    selected = [c.pk for c in [*drafts, done]]

    page = client.post(changelist, {"action": "send_now_selected", "_selected_action": selected}).content.decode()

    assert "Hi Ann, sale today." in page and "Hi Bea, sale today." in page
    assert f"{done} will not be sent: it is completed, not a draft." in page
    assert {c.status for c in Campaign.objects.filter(pk__in=[d.pk for d in drafts])} == {Status.DRAFT}
    fields = hidden_inputs(page)
    assert fields["confirm"] == "yes" and set(fields) >= {f"preview_token_{d.pk}" for d in drafts}

    # Without the preview's tokens the confirmation changes nothing.
    bare = {"action": "send_now_selected", "_selected_action": selected, "confirm": "yes"}
    assert "look at the preview first" in client.post(changelist, bare, follow=True).content.decode()
    assert {c.status for c in Campaign.objects.filter(pk__in=[d.pk for d in drafts])} == {Status.DRAFT}

    client.post(changelist, {**fields, "_selected_action": selected})
    assert {c.status for c in Campaign.objects.filter(pk__in=[d.pk for d in drafts])} == {Status.SCHEDULED}
    assert AuditEvent.objects.filter(action="campaign.send_now", actor=manager).count() == 2


def test_a_schedule_preview_without_a_valid_time_says_so_and_offers_no_confirmation(client, manager):
    campaign = campaign_for(ContactFactory())
    client.force_login(manager)
    page = client.get(preview_url(campaign), {"action": "schedule", "scheduled_at": "next tuesday"}).content.decode()
    assert "Enter a valid date/time." in page and 'name="scheduled_at"' in page
    assert "preview_token" not in page


def test_preview_says_how_many_recipients_have_an_uncertain_zone_and_wait_for_a_common_window(client, manager):
    """An Australian mobile without a zone given, at 21:15 in Sydney and 19:15 in Perth."""
    campaign = campaign_for(ContactFactory(phone_number="+61412345678", country="AU", timezone=""))
    client.force_login(manager)
    with time_machine.travel(datetime(2026, 6, 1, 11, 15, tzinfo=UTC), tick=False):
        page = client.get(preview_url(campaign), {"action": "send_now"}).content.decode()
    assert counted(page, "uncertain-zone") == "1"
    assert counted(page, "waiting-for-common-window") == "1"
    assert counted(page, "no-common-quiet-window") == "0"
    assert counted(page, "deferred") == "1"
