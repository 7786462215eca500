"""Test sends: a campaign's message, rendered as a recipient would get it, sent to a few given numbers so that
staff can see it on a real phone before launching. Nothing is counted on the campaign; each test is audited."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from audit.services import audit_record
from campaigns.models import Campaign, ExclusionReason
from campaigns.segments import message_length_problem, segment_info
from campaigns.selectors import campaign_audience
from campaigns.templating import body_render
from contacts.models import Contact, Suppression
from contacts.phones import normalize_phone
from contacts.selectors import ELIGIBLE, contacts_with_exclusion_reason
from sends.backends import get_connection
from sends.backends.base import OutboundMessage
from sends.models import StaffPhone
from sends.services.sender_pools import campaign_sender_for_number
from smscampaigns.errors import ApplicationError

MAX_TEST_NUMBERS = 10


@dataclass(frozen=True)
class TestSendResult:
    number: str  # as given
    to_number: str  # E.164
    rendered_for: str  # "contact": the number's own contact; "sample": an eligible audience contact; "blank"
    body: str
    segments: int
    message_uuid: str | None
    error_code: str
    error_message: str

    @property
    def ok(self) -> bool:
        return self.message_uuid is not None


def _destinations(numbers: list[str]) -> list[str]:
    """E.164 of each number, refusing the whole request (nothing sent) on the first that may not be texted.

    A number that is no contact may be texted (staff's own phones); a contact may only when a campaign could
    text them: with recorded consent, not opted out, not suppressed. A test carries the campaign's marketing
    text, and consent law asks for each person's express consent to that, test or not."""
    if not numbers:
        raise ApplicationError("give at least one number", field="numbers")
    if len(numbers) > MAX_TEST_NUMBERS:
        raise ApplicationError(f"at most {MAX_TEST_NUMBERS} numbers per test", field="numbers")
    e164s = []
    for index, raw in enumerate(numbers):
        try:
            e164s.append(normalize_phone(raw).e164)
        except ApplicationError as exc:
            raise ApplicationError(f"{raw!r}: {exc.message}", field=f"numbers.{index}", code="invalid") from None
    refused = {
        str(number): reason
        for number, reason in contacts_with_exclusion_reason(Contact.objects.filter(phone_number__in=e164s))
        .exclude(exclusion_reason=ELIGIBLE)
        .values_list("phone_number", "exclusion_reason")
    }
    for number, reason in Suppression.objects.filter(phone_number__in=e164s).values_list("phone_number", "reason"):
        refused.setdefault(str(number), reason)
    for index, e164 in enumerate(e164s):
        if e164 in refused:
            hint = _REFUSAL_HINTS.get(refused[e164], "")
            raise ApplicationError(
                f"{e164} may not be texted ({refused[e164]}){hint}", field=f"numbers.{index}", code="suppressed"
            )
    return e164s


_REFUSAL_HINTS = {
    ExclusionReason.NO_CONSENT: ": the contact has no recorded consent; opt them in with its evidence first",
}


_RENDERED_FOR = {"contact": "its own contact", "sample": "a sample recipient", "blank": "blank fields"}


def campaign_test_send(*, campaign: Campaign, numbers: list[str], actor) -> list[TestSendResult]:
    """Send the campaign's message to each number through the configured backend and answer each result.

    The text is rendered for the number's own contact when it has one, else for a sample eligible recipient
    of the audience (so that personalisation shows), else with blank fields. A text too long to send
    (message_length_problem) refuses the whole test, as any that cannot be rendered does."""
    if not campaign.may_test_send:
        raise ApplicationError(
            f"campaign {campaign.name!r} is {campaign.status}; a test send is for a draft or a scheduled campaign",
            code="illegal_transition",
        )
    e164s = _destinations(numbers)
    if not campaign.sender_pool_id and not campaign.effective_sender:
        raise ApplicationError("the campaign has no sender and PLIVO_SENDER is not set", field="sender")
    fields = ("phone_number", "first_name", "last_name", "attributes")
    own = {row[0]: row[1:] for row in Contact.objects.filter(phone_number__in=e164s).values_list(*fields)}
    sample = (
        campaign_audience(campaign=campaign).filter(exclusion_reason=ELIGIBLE).order_by("pk").values_list(*fields[1:])
    ).first()
    rewrite = import_string(settings.SENDS_TEST_BODY_REWRITER) if settings.SENDS_TEST_BODY_REWRITER else None
    renders = []  # all rendered before anything is sent: a body that cannot render refuses the whole test
    with transaction.atomic():  # and a refused test leaves no test short links behind
        for e164 in e164s:
            rendered_for, person = ("contact", own[e164]) if e164 in own else ("sample", sample)
            if person is None:
                rendered_for, person = "blank", ("", "", None)
            first_name, last_name, attributes = person
            body = body_render(campaign.body, first_name=first_name, last_name=last_name, attributes=attributes)
            if rewrite is not None:
                # Short links as recipients get them (counted nowhere), and the length they make is the one checked.
                body = rewrite(campaign=campaign, text=body)
            if problem := message_length_problem(segment_info(body)):
                # Refused here, as dispatch would skip it, rather than sent for Plivo to refuse or to bill.
                raise ApplicationError(
                    f"the message for {e164} (rendered for {_RENDERED_FOR[rendered_for]}) is too long: {problem}",
                    field="body",
                    code="message_too_long",
                )
            renders.append((rendered_for, body))
    results = []
    with get_connection() as backend:
        for raw, e164, (rendered_for, body) in zip(numbers, e164s, renders, strict=True):
            # From the number (or Powerpack) the campaign itself would text this person from.
            sender = campaign_sender_for_number(campaign=campaign, to_number=e164)
            message = OutboundMessage(
                sender=sender.number, powerpack_uuid=sender.powerpack_uuid, destinations=[e164], body=body
            )
            [sent] = backend.send_message(message)
            results.append(
                TestSendResult(
                    number=raw,
                    to_number=e164,
                    rendered_for=rendered_for,
                    body=body,
                    segments=segment_info(body).segments,
                    message_uuid=sent.message_uuid if sent.ok else None,
                    error_code="" if sent.ok else (sent.error.code if sent.error else "no_message_uuid"),
                    error_message="" if sent.ok else (sent.error.message if sent.error else "no message uuid"),
                )
            )
    audit_record(
        actor=actor,
        action="campaign.test_sent",
        target=campaign,
        data={
            "results": [{"to": r.to_number, "message_uuid": r.message_uuid, "error": r.error_code} for r in results],
            # Sent straight to the backend, never claimed: no frequency cap applies and none counts it.
            "transactional": True,
        },
    )
    return results


def campaign_test_send_to_staff(*, campaign: Campaign, phone_number: str, actor) -> TestSendResult:
    """ "Send test to my phone": the campaign's test send to the staff member's number, remembered for next time
    (only once it was accepted as a destination: a refused number is neither sent to nor kept)."""
    [result] = campaign_test_send(campaign=campaign, numbers=[phone_number], actor=actor)
    StaffPhone.objects.update_or_create(user=actor, defaults={"phone_number": result.to_number})
    return result
