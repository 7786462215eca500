"""List keywords and confirming replies, end to end: a handset texts the simulator's number (`/_sim/inbound`),
the simulator posts the signed inbound webhook to a live server of the app, and the texts the app sends back
go through the real plivo SDK to the simulator, where the test reads them."""

import pytest

from contacts.models import ConsentEvent, Contact, ContactList, ListKeyword, SubscriptionRequest
from contacts.tests.factories import ContactListFactory, SuppressionFactory
from sends.models import InboundMessage
from sends.services.inbound import inbound_message_receive
from sends.tests.plivo_callbacks import inbound_payload
from sends.tests.test_webhooks_simulator import eventually

OUR_NUMBER = "+14155550100"
PERSON = "+14155550177"


@pytest.fixture
def deals(db):
    contact_list = ContactListFactory(
        name="Deals", program_name="Acme Deals", message_frequency="Up to 4 msgs/month", welcome_message=""
    )
    ListKeyword.objects.create(contact_list=contact_list, keyword="JOIN")
    return contact_list


def texts_to(simulator, number: str) -> list[str]:
    return [m["text"] for m in simulator.messages() if m["dst"] == number]


def inbound_done(count: int):
    def recorded():
        return InboundMessage.objects.count() >= count

    return recorded


@pytest.mark.django_db(transaction=True)
def test_a_keyword_texted_starts_the_double_opt_in_and_y_subscribes_with_the_evidence(plivo_simulator_live, deals):
    sim = plivo_simulator_live
    deals.welcome_message = "Welcome to Acme Deals!"
    deals.save()
    sim.inbound(from_=PERSON, to=OUR_NUMBER, text="join")

    def confirmation_arrived():
        return texts_to(sim, PERSON)

    eventually(confirmation_arrived)
    [confirmation] = texts_to(sim, PERSON)
    assert "Acme Deals" in confirmation and "Msg & data rates may apply" in confirmation
    assert [m["src"] for m in sim.messages()] == [OUR_NUMBER]  # from the number the person texted
    assert Contact.objects.get(phone_number=PERSON).status == Contact.Status.PENDING
    assert InboundMessage.objects.get().action == InboundMessage.Action.JOIN

    sim.inbound(from_=PERSON, to=OUR_NUMBER, text="Y")

    def welcomed():
        return len(texts_to(sim, PERSON)) == 2

    eventually(welcomed)
    assert texts_to(sim, PERSON)[1] == "Welcome to Acme Deals!"
    contact = Contact.objects.get(phone_number=PERSON)
    assert contact.status == Contact.Status.SUBSCRIBED
    assert list(contact.lists.all()) == [deals]
    request = SubscriptionRequest.objects.get()
    assert request.source == SubscriptionRequest.Source.KEYWORD
    assert request.source_detail == f"keyword JOIN texted to {OUR_NUMBER}"
    assert (request.request_text, request.reply_text) == ("join", "Y")
    assert request.confirmation_message_uuid == sim.messages()[0]["uuid"]
    assert request.welcome_message_uuid == sim.messages()[1]["uuid"]
    assert request.reply_message_uuid == InboundMessage.objects.get(text="Y").message_uuid
    assert "texted: join" in contact.consent_text and confirmation in contact.consent_text
    assert InboundMessage.objects.get(text="Y").action == InboundMessage.Action.CONFIRM


@pytest.mark.django_db(transaction=True)
def test_stop_while_pending_ends_the_request_and_a_later_y_subscribes_nobody(plivo_simulator_live, deals):
    sim = plivo_simulator_live
    sim.inbound(from_=PERSON, to=OUR_NUMBER, text="JOIN")
    eventually(inbound_done(1))
    sim.inbound(from_=PERSON, to=OUR_NUMBER, text="STOP")
    eventually(inbound_done(2))
    sim.inbound(from_=PERSON, to=OUR_NUMBER, text="Y")
    eventually(inbound_done(3))
    sim.wait_for_callbacks()
    request = SubscriptionRequest.objects.get()
    assert request.status == SubscriptionRequest.Status.CANCELLED
    assert request.end_reason.startswith("opted out")
    contact = Contact.objects.get(phone_number=PERSON)
    assert contact.status == Contact.Status.UNSUBSCRIBED and contact.opted_out_at is not None
    assert InboundMessage.objects.get(text="Y").action == InboundMessage.Action.NONE
    # The confirmation, then the STOP's confirmation; nothing after.
    texts = texts_to(sim, PERSON)
    assert len(texts) == 2 and "unsubscribed" in texts[1].lower()


@pytest.mark.django_db(transaction=True)
def test_single_opt_in_list_subscribes_on_the_keyword(plivo_simulator_live, deals):
    deals.opt_in_mode = ContactList.OptInMode.SINGLE
    deals.welcome_message = "You're in: Acme Deals. Up to 4 msgs/month. Msg & data rates may apply. STOP to end."
    deals.save()
    plivo_simulator_live.inbound(from_=PERSON, to=OUR_NUMBER, text="JOIN")

    def welcomed():
        return texts_to(plivo_simulator_live, PERSON)

    eventually(welcomed)
    assert texts_to(plivo_simulator_live, PERSON) == [deals.welcome_message]
    contact = Contact.objects.get(phone_number=PERSON)
    assert contact.status == Contact.Status.SUBSCRIBED
    assert contact.consent_source == "single opt-in: Texted a keyword for list Deals"
    assert ConsentEvent.objects.filter(contact=contact, kind=ConsentEvent.Kind.CONSENT_GIVEN).exists()


@pytest.mark.django_db
def test_an_unknown_single_word_gets_no_reply(deals, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="PIZZA"))
    assert result.reply == "" and sms_outbox == []
    assert result.message.action == InboundMessage.Action.NONE
    assert not Contact.objects.filter(phone_number=PERSON).exists()


@pytest.mark.django_db
def test_yes_without_a_pending_request_is_still_start(deals, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="YES"))
    assert result.message.action == InboundMessage.Action.OPT_IN


@pytest.mark.django_db
def test_yes_with_a_pending_request_confirms_it(deals, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        inbound_message_receive(payload=inbound_payload(sender=PERSON, text="Join"))
    with django_capture_on_commit_callbacks(execute=True):
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="yes."))
    assert result.message.action == InboundMessage.Action.CONFIRM
    assert Contact.objects.get(phone_number=PERSON).status == Contact.Status.SUBSCRIBED
    assert len(sms_outbox) == 1  # the confirmation; this list has no welcome message


@pytest.mark.django_db
def test_a_keyword_inside_a_sentence_is_not_a_request(deals, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="how do I join"))
    assert result.message.action == InboundMessage.Action.NONE
    assert not SubscriptionRequest.objects.exists()


@pytest.mark.django_db
def test_a_keyword_from_a_do_not_call_number_changes_nothing(deals, sms_outbox, django_capture_on_commit_callbacks):
    SuppressionFactory(phone_number=PERSON, reason="do-not-call", origin="staff")
    with django_capture_on_commit_callbacks(execute=True):
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="JOIN"))
    assert result.message.action == InboundMessage.Action.NONE
    assert sms_outbox == [] and not SubscriptionRequest.objects.exists()


@pytest.mark.django_db
def test_help_keeps_answering_while_pending(deals, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        inbound_message_receive(payload=inbound_payload(sender=PERSON, text="JOIN"))
        result = inbound_message_receive(payload=inbound_payload(sender=PERSON, text="HELP"))
    assert result.message.action == InboundMessage.Action.HELP and result.reply
    assert SubscriptionRequest.objects.get().status == SubscriptionRequest.Status.PENDING
