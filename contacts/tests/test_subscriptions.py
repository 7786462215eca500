"""Requests to join a list: pending until confirmed, the confirmation text, confirming, expiring, STOP while
pending, keywords that collide with STOP or HELP. Texts go through the locmem backend (sms_outbox)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import ExclusionReason
from campaigns.selectors import campaign_audience_breakdown
from campaigns.tests.factories import CampaignFactory
from contacts.models import ConsentEvent, Contact, ContactListMembership, SubscriptionRequest
from contacts.selectors import contacts_textable
from contacts.services.consent import person_opt_out_record
from contacts.services.subscriptions import (
    CONFIRMATION,
    Evidence,
    contact_list_opt_in_update,
    list_keywords_validate,
    subscription_confirm,
    subscription_request_start,
    subscription_requests_expire,
    subscription_text_claim,
)
from contacts.tests.factories import ContactFactory, ContactListFactory, SuppressionFactory, list_opt_in
from smscampaigns.errors import ApplicationError

NUMBER = "+14155550142"
FORM = Evidence(
    source=SubscriptionRequest.Source.FORM,
    detail="sign-up page /join/deals/",
    text="I agree to texts",
    disclosure_version=3,
    page_url="https://shop.example/join/deals/",
    ip="203.0.113.9",
    user_agent="Mozilla/5.0 test",
)


@pytest.fixture
def deals(db):
    return ContactListFactory(name="Deals", program_name="Acme Deals", message_frequency="Up to 4 msgs/month")


def start(contact_list, *, evidence=FORM, number=NUMBER, **kwargs):
    return subscription_request_start(phone_number=number, contact_list=contact_list, evidence=evidence, **kwargs)


@pytest.mark.django_db
def test_a_request_makes_a_pending_contact_and_texts_the_ctia_confirmation(
    deals, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        started = start(deals, number="(415) 555-0142", region="US")
    assert started.created
    contact = Contact.objects.get(phone_number=NUMBER)
    assert contact.status == Contact.Status.PENDING
    assert ContactListMembership.objects.filter(contact=contact, contact_list=deals).exists()
    [message] = sms_outbox
    assert message.destinations == [NUMBER]
    for words in ("Acme Deals", "Up to 4 msgs/month", "Msg & data rates may apply", "HELP", "STOP", "reply Y"):
        assert words in message.body
    request = SubscriptionRequest.objects.get()
    assert request.status == SubscriptionRequest.Status.PENDING
    assert request.confirmation_text == message.body
    assert request.confirmation_sent_at is not None and request.confirmation_message_uuid
    assert (request.ip, request.user_agent, request.disclosure_version) == ("203.0.113.9", "Mozilla/5.0 test", 3)
    assert request.expires_at - request.created_at == timedelta(days=7)
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.OPT_IN_REQUESTED)
    assert (event.method, event.ip) == (ConsentEvent.Method.SIGNUP_FORM, "203.0.113.9")


@pytest.mark.django_db
def test_asking_again_while_pending_is_the_same_request_and_texts_nothing_more(
    deals, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = start(deals)
        again = start(deals, number="+1 415 555 0142")
    assert not again.created and again.request.pk == first.request.pk
    assert len(sms_outbox) == 1
    assert SubscriptionRequest.objects.count() == 1


@pytest.mark.django_db
def test_each_text_of_a_request_is_claimed_once(deals, django_capture_on_commit_callbacks):
    started = start(deals)
    assert subscription_text_claim(request_id=started.request.pk, kind=CONFIRMATION) is not None
    assert subscription_text_claim(request_id=started.request.pk, kind=CONFIRMATION) is None


@pytest.mark.django_db
def test_a_pending_contact_is_never_in_a_campaign_audience_and_the_preview_says_why(deals):
    start(deals)
    subscribed = ContactFactory(phone_number="+14155550143")
    ContactListMembership.objects.create(contact=subscribed, contact_list=deals)
    campaign = CampaignFactory()
    campaign.lists.add(deals)
    breakdown = campaign_audience_breakdown(campaign=campaign)
    assert breakdown.eligible == 1
    assert breakdown.excluded == {ExclusionReason.PENDING: 1}
    assert ExclusionReason.PENDING in ExclusionReason.ALL
    assert list(contacts_textable(Contact.objects.all())) == [subscribed]


@pytest.mark.django_db
def test_the_confirming_reply_subscribes_with_the_whole_evidence_and_sends_the_welcome(
    deals, sms_outbox, django_capture_on_commit_callbacks
):
    deals.welcome_message = "Welcome to Acme Deals! Your first code: HELLO10"
    deals.save()
    with django_capture_on_commit_callbacks(execute=True):
        start(deals)
    with django_capture_on_commit_callbacks(execute=True):
        [request] = subscription_confirm(e164=NUMBER, reply_text="Yes!", reply_message_uuid="u-1", to_number="+1415")
    contact = Contact.objects.get(phone_number=NUMBER)
    assert contact.status == Contact.Status.SUBSCRIBED and contact.consented_at
    assert contact.consent_source == "double opt-in: Sign-up page for list Deals"
    for evidence in ("https://shop.example/join/deals/", "203.0.113.9", "Mozilla/5.0 test", "disclosure v3"):
        assert evidence in contact.consent_text
    assert "reply Y" in contact.consent_text and "they replied at" in contact.consent_text
    assert "Yes!" in contact.consent_text
    request.refresh_from_db()
    assert request.status == SubscriptionRequest.Status.CONFIRMED
    assert (request.reply_text, request.reply_message_uuid) == ("Yes!", "u-1")
    assert [m.body for m in sms_outbox][1] == "Welcome to Acme Deals! Your first code: HELLO10"
    assert request.welcome_sent_at is not None and request.welcome_segments == 1
    assert list(contacts_textable(Contact.objects.all())) == [contact]
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONSENT_GIVEN, contact=contact).exists()


@pytest.mark.django_db
def test_an_already_subscribed_contact_joins_the_list_only_when_they_confirm(deals, django_capture_on_commit_callbacks):
    contact = ContactFactory(phone_number=NUMBER)
    start(deals)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert not ContactListMembership.objects.filter(contact=contact, contact_list=deals).exists()
    subscription_confirm(e164=NUMBER, reply_text="Y")
    assert ContactListMembership.objects.filter(contact=contact, contact_list=deals).exists()


@pytest.mark.django_db
def test_an_unconfirmed_request_expires_with_its_reason(deals, sms_outbox):
    started = start(deals)
    assert subscription_requests_expire() == 0
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert subscription_requests_expire() == 1
    request = SubscriptionRequest.objects.get(pk=started.request.pk)
    assert request.status == SubscriptionRequest.Status.EXPIRED
    assert request.end_reason == "not confirmed within 7 days"
    contact = Contact.objects.get(phone_number=NUMBER)
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert not ContactListMembership.objects.filter(contact=contact).exists()
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.REQUEST_ENDED, text=request.end_reason).exists()
    # A late Y confirms nothing: the request is over.
    assert subscription_confirm(e164=NUMBER, reply_text="Y") == []


@pytest.mark.django_db
def test_the_pending_days_are_a_setting(deals, settings):
    settings.OPT_IN_PENDING_DAYS = 2
    request = start(deals).request
    assert request.expires_at - request.created_at == timedelta(days=2)
    with time_machine.travel(timezone.now() + timedelta(days=2, minutes=1)):
        assert subscription_requests_expire() == 1
    assert SubscriptionRequest.objects.get().end_reason == "not confirmed within 2 days"


@pytest.mark.django_db
def test_stop_while_pending_ends_the_request_and_no_confirmation_follows(deals):
    started = start(deals)
    person_opt_out_record(e164=NUMBER, method=ConsentEvent.Method.INBOUND_KEYWORD, source="inbound STOP", text="STOP")
    request = SubscriptionRequest.objects.get(pk=started.request.pk)
    assert request.status == SubscriptionRequest.Status.CANCELLED
    assert request.end_reason == "opted out (inbound STOP)"
    assert subscription_text_claim(request_id=request.pk, kind=CONFIRMATION) is None
    assert subscription_confirm(e164=NUMBER, reply_text="Y") == []
    assert Contact.objects.get(phone_number=NUMBER).status == Contact.Status.UNSUBSCRIBED


@pytest.mark.django_db
def test_the_form_and_api_cannot_lift_a_persons_opt_out_but_their_own_keyword_can(deals):
    SuppressionFactory(phone_number=NUMBER, reason="opt-out")
    with pytest.raises(ApplicationError) as refused:
        start(deals)
    assert refused.value.code == "opted_out_by_person"
    keyword = Evidence(source=SubscriptionRequest.Source.KEYWORD, detail="keyword JOIN", text="JOIN")
    start(deals, evidence=keyword)
    subscription_confirm(e164=NUMBER, reply_text="Y")
    assert Contact.objects.get(phone_number=NUMBER).status == Contact.Status.SUBSCRIBED
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPTED_IN).exists()


@pytest.mark.django_db
def test_a_do_not_call_number_is_refused_on_every_path(deals):
    SuppressionFactory(phone_number=NUMBER, reason="do-not-call", origin="staff")
    for evidence in (FORM, Evidence(source=SubscriptionRequest.Source.KEYWORD, text="JOIN")):
        with pytest.raises(ApplicationError) as refused:
            start(deals, evidence=evidence)
        assert refused.value.code == "suppressed"
    assert not SubscriptionRequest.objects.exists()


@pytest.mark.django_db
def test_single_opt_in_subscribes_at_once_with_the_keyword_as_evidence(deals, sms_outbox):
    keyword = Evidence(
        source=SubscriptionRequest.Source.KEYWORD, detail="keyword JOIN texted to +14155550100", text="join"
    )
    start(deals, evidence=keyword, single_opt_in=True)
    contact = Contact.objects.get(phone_number=NUMBER)
    assert contact.status == Contact.Status.SUBSCRIBED
    assert contact.consent_source == "single opt-in: Texted a keyword for list Deals"
    assert "texted: join" in contact.consent_text
    assert SubscriptionRequest.objects.get().status == SubscriptionRequest.Status.CONFIRMED
    assert sms_outbox == []  # no welcome message set


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["STOP", "stop", "Help", "INFO", "START", "Y", "yes", "unsubscribe"])
def test_a_keyword_that_is_a_stop_help_start_or_confirming_word_is_refused(deals, word):
    with pytest.raises(ApplicationError) as refused:
        list_keywords_validate(keywords=[word])
    assert refused.value.field == "keywords"


@pytest.mark.django_db
def test_keywords_are_one_word_and_belong_to_one_list(deals):
    other = ContactListFactory(name="Other")
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(keywords=["join", " Sale "]))
    assert sorted(deals.keywords.values_list("keyword", flat=True)) == ["JOIN", "SALE"]
    with pytest.raises(ApplicationError, match="belongs to list 'Deals'"):
        list_keywords_validate(keywords=["JOIN"], contact_list=other)
    with pytest.raises(ApplicationError, match="one word"):
        list_keywords_validate(keywords=["JOIN NOW"])


@pytest.mark.django_db
def test_changing_the_disclosure_raises_its_version(deals):
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(disclosure_text="v-a"))
    version = deals.disclosure_version
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(disclosure_text="v-a"))
    assert deals.disclosure_version == version
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(disclosure_text="v-b"))
    assert deals.disclosure_version == version + 1


def test_unconfirmed_requests_expire_from_beat(settings):
    from celery import current_app

    from contacts.tasks import subscription_requests_expire as task

    entry = settings.CELERY_BEAT_SCHEDULE["subscription-requests-expire"]
    assert entry["task"] == task.name == "contacts.tasks.subscription_requests_expire"
    assert entry["schedule"] <= 3600
    assert task.name in current_app.tasks


@pytest.mark.django_db
def test_the_expiry_task_calls_the_service(deals):
    from contacts.tasks import subscription_requests_expire as task

    start(deals)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert task.apply().get() == 1
    assert SubscriptionRequest.objects.get().status == SubscriptionRequest.Status.EXPIRED


@pytest.mark.django_db
def test_deleting_a_list_ends_its_pending_requests_and_keeps_their_evidence(deals):
    from contacts.services.lists import contact_list_delete

    started = start(deals)
    contact_list_delete(contact_list=deals)
    request = SubscriptionRequest.objects.get(pk=started.request.pk)
    assert request.contact_list is None
    assert (request.status, request.end_reason) == (SubscriptionRequest.Status.CANCELLED, "list deleted")
    assert request.ip == "203.0.113.9"
    assert Contact.objects.get(phone_number=NUMBER).status == Contact.Status.UNSUBSCRIBED
    assert subscription_confirm(e164=NUMBER, reply_text="Y") == []


@pytest.mark.django_db
def test_the_default_disclosure_changes_version_with_the_program_it_names(deals):
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(disclosure_text=""))
    version = deals.disclosure_version
    contact_list_opt_in_update(contact_list=deals, values=list_opt_in(disclosure_text="", program_name="Acme VIP"))
    assert deals.disclosure_version == version + 1
