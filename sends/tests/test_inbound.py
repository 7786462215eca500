import io
import threading
import time
import uuid
from datetime import timedelta
from functools import partial

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.services.contacts import contact_create
from contacts.services.imports import contact_import_run
from contacts.tests.factories import ContactFactory, SuppressionFactory
from sends.backends.base import BaseSmsBackend
from sends.models import CampaignSend, HelpReply, InboundMessage
from sends.services.counters import campaign_counters_rebuild
from sends.services.inbound import inbound_message_receive, inbound_text_action, text_normalize
from sends.tests.factories import CampaignSendFactory
from sends.tests.plivo_callbacks import (
    INBOUND_PATH,
    get_callback,
    inbound_payload,
    plivo_signing,  # noqa: F401 (fixture)
    post_callback,
)
from smscampaigns.tests.helpers import run_concurrently

Action = InboundMessage.Action
OUR_NUMBER = "+14155550100"
OPT_OUT_KEYWORDS = [
    *["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"],
    *["BAJA", "ALTO", "PARAR", "PARE", "CANCELAR", "ARRET", "ARRÊT", "DESABONNER", "DÉSABONNER", "DESINSCRIRE"],
]
OPT_IN_KEYWORDS = ["START", "UNSTOP", "YES", "RESUME"]
HELP_KEYWORDS = ["HELP", "INFO", "AYUDA", "AIDE"]

# --- The parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", OPT_OUT_KEYWORDS)
def test_each_opt_out_keyword_is_an_opt_out(keyword):
    assert inbound_text_action(keyword) == Action.OPT_OUT
    assert inbound_text_action(f"  {keyword.lower()}!! ") == Action.OPT_OUT


@pytest.mark.parametrize("keyword", OPT_IN_KEYWORDS)
def test_each_opt_in_keyword_is_an_opt_in(keyword):
    assert inbound_text_action(keyword.capitalize() + ".") == Action.OPT_IN


@pytest.mark.parametrize("keyword", HELP_KEYWORDS)
def test_each_help_keyword_is_help(keyword):
    assert inbound_text_action(f"{keyword.lower()}?") == Action.HELP


@pytest.mark.parametrize(
    "text",
    [
        "Leave me alone",
        "please REMOVE ME from this list!!!",
        "No more texts.",
        "Don't text me again",
        "don’t text me",  # curly apostrophe, as phones type it
        "DO NOT TEXT ME",
        "stop texting me please",
        "Opt-out",
        "opt me out",
        "wrong number, who is this?",
        "Stop messaging me",
    ],
)
def test_informal_opt_out_requests_are_honoured(text):
    assert inbound_text_action(text) == Action.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "When does the sale end?",  # a keyword inside a sentence is not the keyword
        "Yes I'd like to know more",
        "Can I cancel my order",
        "help me choose a size",
        "stopped by the store today",
        "",
        "👍",
    ],
)
def test_ordinary_messages_ask_for_nothing(text):
    assert inbound_text_action(text) == Action.NONE


def test_plivo_message_intent_counts_and_an_opt_out_wins_over_everything():
    assert inbound_text_action("arrêtez", intent="optout") == Action.OPT_OUT
    assert inbound_text_action("ok go", intent="optin") == Action.OPT_IN
    assert inbound_text_action("?", intent="help") == Action.HELP
    assert inbound_text_action("remove me", intent="optin") == Action.OPT_OUT


def test_the_vocabulary_is_configurable(settings):
    settings.SMS_OPT_OUT_PHRASES = ["basta"]
    assert inbound_text_action("Basta!") == Action.OPT_OUT
    assert inbound_text_action("leave me alone") == Action.NONE


_noise = st.text(alphabet=" \t\n.,!?;:-*\"'()", max_size=6)


def _random_case(draw, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(word, flips, strict=True))


@given(data=st.data(), keyword=st.sampled_from(OPT_OUT_KEYWORDS), before=_noise, after=_noise)
def test_opt_out_keywords_survive_any_case_whitespace_and_punctuation(data, keyword, before, after):
    cased = _random_case(data.draw, keyword)
    assert inbound_text_action(before + cased + after) == Action.OPT_OUT


@given(
    phrase=st.sampled_from(["leave me alone", "remove me", "no more texts", "dont text me", "do not contact me"]),
    prefix=st.lists(st.sampled_from(["please", "ok", "seriously", "hey", "you"]), max_size=3),
    suffix=st.lists(st.sampled_from(["now", "thanks", "please", "ok"]), max_size=3),
    punctuation=_noise,
)
def test_informal_phrases_are_found_anywhere_in_a_message(phrase, prefix, suffix, punctuation):
    text = " ".join([*prefix, phrase.upper(), *suffix]) + punctuation
    assert inbound_text_action(text) == Action.OPT_OUT


@given(st.text(max_size=60))
def test_normalizing_twice_changes_nothing(text):
    once = text_normalize(text)
    assert text_normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(st.text(alphabet=st.characters(categories=["Ll", "Lu", "Nd", "Zs", "Po"]), max_size=40))
def test_a_message_that_is_not_a_keyword_is_never_an_opt_in(text):
    if text_normalize(text).upper() not in OPT_IN_KEYWORDS:
        assert inbound_text_action(text) != Action.OPT_IN


# --- Opt-out ---------------------------------------------------------------------------------------


def stop(sender: str, text: str = "STOP", **fields):
    return inbound_message_receive(payload=inbound_payload(sender=sender, to=OUR_NUMBER, text=text, **fields))


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Replies go out after the commit; inside a test transaction, run them as the commit would."""

    def receive(payload):
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_message_receive(payload=payload)

    return receive


def queued_send(contact, campaign=None) -> CampaignSend:
    send = CampaignSendFactory(contact=contact, campaign=campaign or CampaignFactory(status=Campaign.Status.SENDING))
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    return send


@pytest.mark.django_db
class TestOptOut:
    def test_stop_unsubscribes_suppresses_skips_queued_sends_and_confirms_once(self, run_on_commit, sms_outbox):
        contact = ContactFactory()
        number = str(contact.phone_number)
        texted = CampaignSendFactory(contact=contact, status=CampaignSend.Status.DELIVERED, sent_at=timezone.now())
        pending = queued_send(contact)
        other_number = queued_send(ContactFactory())

        result = run_on_commit(inbound_payload(sender=number, to=OUR_NUMBER, text="Stop"))

        message = InboundMessage.objects.get()
        assert (message.action, message.from_number, message.to_number) == (Action.OPT_OUT, number, OUR_NUMBER)
        assert message.contact == contact
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED
        assert contact.opted_out_at is not None
        assert "STOP" in contact.opt_out_source
        assert Suppression.objects.filter(phone_number=number, reason=Suppression.Reason.OPT_OUT).exists()
        pending.refresh_from_db()
        assert (pending.status, pending.skip_reason) == (CampaignSend.Status.SKIPPED, "opted_out")
        pending_campaign = Campaign.objects.get(pk=pending.campaign_id)
        assert (pending_campaign.queued_count, pending_campaign.skipped_count) == (0, 1)
        assert pending_campaign.skipped_by_reason == {"opted_out": 1}
        other_number.refresh_from_db()
        assert other_number.status == CampaignSend.Status.QUEUED
        # Attributed to the campaign that last texted them, not to the one that had not yet.
        assert Campaign.objects.get(pk=texted.campaign_id).opt_out_count == 1
        assert pending_campaign.opt_out_count == 0
        assert [(m.sender, list(m.destinations)) for m in sms_outbox] == [(OUR_NUMBER, [number])]
        assert sms_outbox[0].body == result.reply
        assert sms_outbox[0].body.startswith("You are unsubscribed from smscampaigns. No more messages.")
        assert "START" in sms_outbox[0].body

    def test_repeated_stops_get_one_confirmation_and_count_one_opt_out(self, run_on_commit, sms_outbox):
        contact = ContactFactory()
        number = str(contact.phone_number)
        texted = CampaignSendFactory(contact=contact, status=CampaignSend.Status.SENT, sent_at=timezone.now())
        first_opt_out_at = None
        for text in ("STOP", "stop", "STOP ALL", "unsubscribe"):
            run_on_commit(inbound_payload(sender=number, text=text))
            contact.refresh_from_db()
            first_opt_out_at = first_opt_out_at or contact.opted_out_at
        assert len(sms_outbox) == 1
        assert InboundMessage.objects.filter(action=Action.OPT_OUT).count() == 4
        assert Campaign.objects.get(pk=texted.campaign_id).opt_out_count == 1
        assert contact.opted_out_at == first_opt_out_at  # the time they first asked

    def test_stop_again_after_the_window_gets_a_new_confirmation(self, run_on_commit, sms_outbox, settings):
        number = str(ContactFactory().phone_number)
        run_on_commit(inbound_payload(sender=number, text="STOP"))
        later = timezone.now() + timedelta(seconds=settings.SMS_CONFIRMATION_WINDOW_SECONDS + 5)
        with time_machine.travel(later, tick=False):
            run_on_commit(inbound_payload(sender=number, text="STOP"))
        assert len(sms_outbox) == 2

    def test_stop_start_stop_confirms_each_change(self, run_on_commit, sms_outbox):
        number = str(ContactFactory().phone_number)
        for text in ("STOP", "START", "STOP"):
            run_on_commit(inbound_payload(sender=number, text=text))
        assert [m.body.split()[2] for m in sms_outbox] == ["unsubscribed", "subscribed", "unsubscribed"]

    def test_a_retried_inbound_callback_is_a_no_op(self, run_on_commit, sms_outbox):
        contact = ContactFactory()
        CampaignSendFactory(contact=contact, status=CampaignSend.Status.SENT, sent_at=timezone.now())
        payload = inbound_payload(sender=str(contact.phone_number), text="STOP")
        first = run_on_commit(payload)
        again = run_on_commit(payload)
        assert not first.duplicate and again.duplicate
        assert InboundMessage.objects.count() == 1
        assert len(sms_outbox) == 1
        assert Campaign.objects.get().opt_out_count == 1

    def test_plivo_opt_out_intent_is_honoured_whatever_the_text(self, run_on_commit):
        contact = ContactFactory()
        run_on_commit(inbound_payload(sender=str(contact.phone_number), text="Arrêt", intent="optout"))
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED
        assert InboundMessage.objects.get().intent == "optout"

    def test_informal_opt_out_has_the_same_effect(self, run_on_commit, sms_outbox):
        contact = ContactFactory()
        run_on_commit(inbound_payload(sender=str(contact.phone_number), text="Please leave me alone!"))
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED
        assert len(sms_outbox) == 1

    def test_stop_from_an_unknown_number_suppresses_it_so_a_later_contact_stays_unsubscribed(self, run_on_commit):
        number = "+14155550166"
        run_on_commit(inbound_payload(sender=number, text="STOP"))
        assert InboundMessage.objects.get().contact is None
        assert Suppression.objects.filter(phone_number=number, reason=Suppression.Reason.OPT_OUT).exists()
        created = contact_create(phone_number=number, consent_source="import: spring-list.csv")
        assert created.status == Contact.Status.UNSUBSCRIBED

    def test_stop_from_an_unknown_number_then_a_csv_import_of_it_stays_unsubscribed(self, run_on_commit):
        number = "+14155550167"
        run_on_commit(inbound_payload(sender=number, text="stop"))
        csv_file = io.BytesIO(b"phone,first_name\n(415) 555-0167,Ann\n(415) 555-0169,Bob\n")
        summary = contact_import_run(file=csv_file, consent_source="spring-list.csv signup")
        assert summary.suppressed == 1
        assert summary.created == 1  # the other row is imported all the same
        assert not Contact.objects.filter(phone_number=number).exclude(status=Contact.Status.UNSUBSCRIBED).exists()
        assert Contact.objects.get(phone_number="+14155550169").status == Contact.Status.SUBSCRIBED

    def test_keyword_from_a_short_code_is_kept_without_effect(self, run_on_commit, sms_outbox):
        run_on_commit({**inbound_payload(sender="+14155550168", text="STOP"), "From": "72345"})
        message = InboundMessage.objects.get()
        assert (message.from_number, message.action) == ("72345", Action.NONE)
        assert not Suppression.objects.exists()
        assert sms_outbox == []


# --- Opt-in and help -------------------------------------------------------------------------------


@pytest.mark.django_db
class TestOptInAndHelp:
    @pytest.mark.parametrize("keyword", OPT_IN_KEYWORDS)
    def test_opt_in_resubscribes_with_the_keyword_as_consent_and_lifts_the_opt_out(
        self, keyword, run_on_commit, sms_outbox
    ):
        contact = ContactFactory()
        number = str(contact.phone_number)
        run_on_commit(inbound_payload(sender=number, text="STOP"))
        run_on_commit(inbound_payload(sender=number, text=keyword.lower()))
        contact.refresh_from_db()
        assert contact.status == Contact.Status.SUBSCRIBED
        assert keyword in contact.consent_source
        assert not Suppression.objects.filter(phone_number=number).exists()
        assert len(sms_outbox) == 2
        assert sms_outbox[1].body.startswith("You are subscribed to smscampaigns messages again.")
        assert InboundMessage.objects.filter(action=Action.OPT_IN).count() == 1

    def test_repeated_starts_get_one_confirmation(self, run_on_commit, sms_outbox):
        number = str(ContactFactory().phone_number)
        for _ in range(3):
            run_on_commit(inbound_payload(sender=number, text="START"))
        assert len(sms_outbox) == 1

    def test_opt_in_never_lifts_a_do_not_call_suppression(self, run_on_commit, sms_outbox):
        contact = ContactFactory(status=Contact.Status.UNSUBSCRIBED, opted_out_at=timezone.now())
        number = str(contact.phone_number)
        SuppressionFactory(phone_number=number, reason=Suppression.Reason.DO_NOT_CALL)
        run_on_commit(inbound_payload(sender=number, text="START"))
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED
        assert Suppression.objects.filter(phone_number=number, reason=Suppression.Reason.DO_NOT_CALL).exists()
        assert InboundMessage.objects.get().action == Action.NONE  # kept for staff to look at
        assert sms_outbox == []

    def test_opt_in_from_an_unknown_number_lifts_its_opt_out_so_an_import_may_subscribe_it(self, run_on_commit):
        number = "+14155550169"
        run_on_commit(inbound_payload(sender=number, text="STOP"))
        run_on_commit(inbound_payload(sender=number, text="UNSTOP"))
        assert not Suppression.objects.filter(phone_number=number).exists()
        assert AuditEvent.objects.filter(action="suppression.lifted").exists()
        assert contact_create(phone_number=number, consent_source="web form").status == Contact.Status.SUBSCRIBED

    @pytest.mark.parametrize("keyword", ["HELP", "INFO"])
    def test_help_replies_with_the_configured_help_text(self, keyword, run_on_commit, sms_outbox, settings):
        settings.SMS_BRAND_NAME = "Acme Shoes"
        settings.SMS_SUPPORT_CONTACT = "help@acme.example"
        settings.SMS_HELP_TEXT = "{brand}: deals by text. Help: {support}. Reply STOP to stop."
        number = str(ContactFactory().phone_number)
        run_on_commit(inbound_payload(sender=number, to="+14155550111", text=keyword))
        assert [m.body for m in sms_outbox] == [
            "Acme Shoes: deals by text. Help: help@acme.example. Reply STOP to stop."
        ]
        assert {m.sender for m in sms_outbox} == {"+14155550111"}
        assert InboundMessage.objects.filter(action=Action.HELP).count() == 1

    def test_help_is_answered_once_per_number_per_interval(self, run_on_commit, sms_outbox, settings):
        settings.SMS_HELP_REPLY_INTERVAL_SECONDS = 3600
        number, other = str(ContactFactory().phone_number), str(ContactFactory().phone_number)
        run_on_commit(inbound_payload(sender=number, text="HELP"))
        run_on_commit(inbound_payload(sender=number, text="help!"))
        run_on_commit(inbound_payload(sender=other, text="INFO"))
        assert [m.destinations for m in sms_outbox] == [[number], [other]]
        # Every HELP is still recorded for staff; only the reply is held back.
        assert InboundMessage.objects.filter(from_number=number, action=Action.HELP).count() == 2
        # Once the interval has passed (the last answer is older than it), the number is answered again.
        HelpReply.objects.filter(phone_number=number).update(replied_at=timezone.now() - timedelta(seconds=3601))
        run_on_commit(inbound_payload(sender=number, text="HELP"))
        assert [m.destinations for m in sms_outbox] == [[number], [other], [number]]

    @pytest.mark.parametrize(
        ("text", "reply"),
        [
            ("BAJA", "Te diste de baja de smscampaigns."),
            ("Arrêt", "Vous êtes désabonné de smscampaigns."),
            ("alto!", "Te diste de baja de smscampaigns."),
            ("STOP", "You are unsubscribed from smscampaigns."),
            ("AYUDA", "smscampaigns: mensajes de marketing."),
            ("aide", "smscampaigns : messages marketing."),
            ("HELP", "smscampaigns: marketing texts."),
        ],
    )
    def test_the_reply_is_in_the_language_of_the_keyword(self, text, reply, run_on_commit, sms_outbox):
        run_on_commit(inbound_payload(sender=str(ContactFactory().phone_number), text=text))
        assert [m.body.startswith(reply) for m in sms_outbox] == [True]

    def test_a_language_without_a_template_gets_the_default_reply(self, run_on_commit, sms_outbox, settings):
        settings.SMS_OPT_OUT_KEYWORDS = [*settings.SMS_OPT_OUT_KEYWORDS, "HALT"]
        settings.SMS_KEYWORD_LANGUAGES = {"HALT": "de"}
        run_on_commit(inbound_payload(sender=str(ContactFactory().phone_number), text="halt"))
        assert sms_outbox[0].body.startswith("You are unsubscribed from smscampaigns.")

    def test_help_interval_zero_answers_every_help(self, run_on_commit, sms_outbox, settings):
        settings.SMS_HELP_REPLY_INTERVAL_SECONDS = 0
        number = str(ContactFactory().phone_number)
        run_on_commit(inbound_payload(sender=number, text="HELP"))
        run_on_commit(inbound_payload(sender=number, text="HELP"))
        assert len(sms_outbox) == 2

    def test_other_texts_are_kept_for_staff_without_reply(self, run_on_commit, sms_outbox):
        contact = ContactFactory()
        run_on_commit(inbound_payload(sender=str(contact.phone_number), text="Do you ship to Canada?"))
        message = InboundMessage.objects.get()
        assert (message.action, message.text, message.contact) == (Action.NONE, "Do you ship to Canada?", contact)
        assert sms_outbox == []
        contact.refresh_from_db()
        assert contact.status == Contact.Status.SUBSCRIBED


class ExplodingBackend(BaseSmsBackend):
    """The outside world failing: the provider refuses the connection."""

    def send_message(self, message):
        raise ConnectionError("provider unreachable")


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
def test_stop_is_committed_even_when_the_confirmation_cannot_be_sent(
    client, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = f"{__name__}.ExplodingBackend"
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_callback(client, INBOUND_PATH, inbound_payload(sender=str(contact.phone_number), text="STOP"))
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
def test_signed_inbound_webhook_answers_empty_message_xml_and_records_the_text(client, sms_outbox):
    payload = inbound_payload(sender="+14155550170", text="hello there", message_uuid=str(uuid.uuid4()))
    response = post_callback(client, INBOUND_PATH, payload)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert b"<Response></Response>" in response.content
    message = InboundMessage.objects.get(message_uuid=payload["MessageUUID"])
    assert message.payload == payload
    assert message.from_number == "+14155550170"


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
def test_inbound_without_a_sender_is_400(client):
    payload = {**inbound_payload(sender="+14155550170", text="STOP"), "From": ""}
    response = post_callback(client, INBOUND_PATH, payload)
    assert response.status_code == 400
    assert response.json()["field"] == "From"
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_yes_from_a_subscribed_contact_keeps_the_consent_evidence_on_file(run_on_commit):
    contact = ContactFactory(consent_source="web form /signup", consent_text="I agree to receive texts")
    consented_at = contact.consented_at
    run_on_commit(inbound_payload(sender=str(contact.phone_number), text="Yes!"))
    contact.refresh_from_db()
    assert (contact.consent_source, contact.consent_text) == ("web form /signup", "I agree to receive texts")
    assert contact.consented_at == consented_at
    assert InboundMessage.objects.get().action == Action.OPT_IN


@pytest.mark.django_db(transaction=True)
def test_simultaneous_stops_from_one_number_send_one_confirmation_and_count_one_opt_out(sms_outbox):
    contact = ContactFactory()
    number = str(contact.phone_number)
    texted = CampaignSendFactory(contact=contact, status=CampaignSend.Status.SENT, sent_at=timezone.now())
    run_concurrently(
        *(
            partial(inbound_message_receive, payload=inbound_payload(sender=number, text=word))
            for word in ("STOP", "stop", "Stop.", "STOP ALL")
        ),
        together=True,
    )
    assert InboundMessage.objects.filter(action=Action.OPT_OUT).count() == 4
    assert len(sms_outbox) == 1
    assert Campaign.objects.get(pk=texted.campaign_id).opt_out_count == 1
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED


@pytest.mark.django_db(transaction=True)
def test_simultaneous_stops_from_an_already_opted_out_number_send_one_confirmation(sms_outbox):
    # The opt-out suppression exists already, so no unique-index wait orders these transactions.
    contact = ContactFactory(status=Contact.Status.UNSUBSCRIBED, opted_out_at=timezone.now() - timedelta(days=3))
    number = str(contact.phone_number)
    SuppressionFactory(phone_number=number, reason=Suppression.Reason.OPT_OUT)
    stop = partial(inbound_message_receive, payload=inbound_payload(sender=number, text="STOP"))
    run_concurrently(stop, stop, stop, stop, together=True)
    assert len(sms_outbox) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
def test_inbound_by_get_with_the_fields_in_the_query_string_is_handled(client, sms_outbox):
    contact = ContactFactory()
    payload = inbound_payload(sender=str(contact.phone_number), text="STOP")
    response = get_callback(client, INBOUND_PATH, payload)
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert InboundMessage.objects.get().message_uuid == payload["MessageUUID"]


@pytest.mark.django_db(transaction=True)
def test_stop_is_answered_only_once_a_message_already_on_its_way_has_left(sms_outbox):
    # A worker claimed a send to this number just before the STOP: it cannot be stopped, but the STOP's
    # answer must come after it, so that nobody is texted after their STOP was answered.
    contact = ContactFactory()
    in_flight = CampaignSendFactory(contact=contact, status=CampaignSend.Status.SENDING)
    recorded_at, confirmations_by_then = [], []

    def worker_records_the_answer():
        time.sleep(0.5)
        CampaignSend.objects.filter(pk=in_flight.pk).update(status=CampaignSend.Status.SENT, sent_at=timezone.now())
        recorded_at.append(time.monotonic())
        confirmations_by_then.append(len(sms_outbox))
        connection.close()

    worker = threading.Thread(target=worker_records_the_answer)
    worker.start()
    result = inbound_message_receive(payload=inbound_payload(sender=str(contact.phone_number), text="STOP"))
    answered_at = time.monotonic()
    worker.join()
    assert recorded_at and recorded_at[0] <= answered_at
    # The confirmation text too: none had been sent while the campaign's message was still on its way.
    assert result.reply and confirmations_by_then == [0]
    assert [message.body for message in sms_outbox] == [result.reply]


@pytest.mark.django_db
def test_a_send_stuck_in_flight_holds_a_stop_answer_only_briefly():
    # A worker that died mid-call leaves its send `sending` until reconciled; the STOP is not held for that.
    from sends.services.opt_outs import sends_in_flight_wait

    stuck = CampaignSendFactory(status=CampaignSend.Status.SENDING)
    started = time.monotonic()
    assert sends_in_flight_wait(e164=stuck.to_number, timeout=0.3) is False
    assert 0.3 <= time.monotonic() - started < 1.5
    assert sends_in_flight_wait(e164="+14155550199", timeout=0.3) is True
