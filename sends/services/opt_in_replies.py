"""Inbound texts that are about joining a list: a list's keyword (JOIN, SALE) or the reply confirming a
pending request (Y, YES). sends.services.inbound reads every text first for STOP and HELP, which always win;
only what is left (no action, or a START-family word) is looked at here."""

from django.db import transaction

from contacts.models import ContactList, SubscriptionRequest
from contacts.services.subscriptions import (
    Evidence,
    confirm_word_is,
    list_for_keyword,
    subscription_confirm,
    subscription_pending_exists,
    subscription_request_start,
    word_fold,
)
from sends.models import InboundMessage
from smscampaigns.errors import ApplicationError

Action = InboundMessage.Action


def opt_in_reading(*, e164: str, text: str, action: str) -> str:
    """The opt-in action a text asks for, or `action` unchanged: a confirming word from a number with a
    pending request confirms it (even YES, which is otherwise a START word); a list's keyword alone joins."""
    if action not in (Action.NONE, Action.OPT_IN):
        return action
    folded = word_fold(text)
    if confirm_word_is(folded) and subscription_pending_exists(e164=e164):
        return Action.CONFIRM
    if action == Action.NONE and folded and len(text.split()) == 1 and list_for_keyword(keyword_folded=folded):
        return Action.JOIN
    return action


def opt_in_act(*, message: InboundMessage) -> None:
    """Act on a JOIN or CONFIRM text, inside the webhook's transaction; the texts it causes go out after the
    commit (OPT_IN_TEXT_SENDER). A keyword from a number that may not be subscribed is recorded and ignored."""
    if message.action == Action.CONFIRM:
        subscription_confirm(
            e164=message.from_number,
            reply_text=message.text,
            reply_message_uuid=message.message_uuid or "",
            to_number=message.to_number,
        )
        return
    contact_list: ContactList | None = list_for_keyword(keyword_folded=word_fold(message.text))
    if contact_list is None:
        return
    try:
        with transaction.atomic():
            subscription_request_start(
                phone_number=message.from_number,
                contact_list=contact_list,
                single_opt_in=contact_list.opt_in_mode == ContactList.OptInMode.SINGLE,
                evidence=Evidence(
                    source=SubscriptionRequest.Source.KEYWORD,
                    detail=f"keyword {word_fold(message.text)} texted to {message.to_number}",
                    text=message.text,
                    our_number=message.to_number,
                ),
            )
    except ApplicationError:
        # A do-not-call or manual suppression: the text stays on record, nothing is sent or changed.
        message.action = Action.NONE
        message.save(update_fields=["action"])
