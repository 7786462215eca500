"""Event webhooks end to end in this process: the cause (a delivery report, a STOP, a finished campaign) stores
the event in its own transaction, the deliverer POSTs it to a real HTTP receiver that checks the signature with
the README's snippet, and retries, ordering, giving up, disabling and replaying behave as documented."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, ContactListFactory
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.services.delivery import event_body, webhook_endpoint_deliver, webhook_endpoints_due
from integrations.services.endpoints import webhook_deliveries_replay, webhook_endpoints_enable
from integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from sends.models import CampaignSend
from sends.services.dispatch.housekeeping import campaign_complete_if_done
from sends.services.inbound import inbound_message_receive
from sends.tests.factories import sent_send
from sends.tests.plivo_callbacks import inbound_payload, record_and_drain, status_payload
from sends.tests.scripted_backend import PERMANENT
from smscampaigns.roles import MANAGER

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status
OUR_NUMBER = "+14155550100"


def deliver(endpoint: WebhookEndpoint) -> int:
    return webhook_endpoint_deliver(endpoint_id=endpoint.pk)


def report(send: CampaignSend, status: str, **fields) -> None:
    record_and_drain(
        status_payload(message_uuid=send.provider_message_uuid, status=status, to=send.to_number, **fields)
    )


def later(seconds: float):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=False)


def test_a_delivered_send_reaches_the_endpoint_signed_with_the_event_and_the_send(endpoint, receiver):
    send = sent_send()
    report(send, "delivered", units=2, rate="0.00550")
    assert deliver(endpoint) == 1
    [request] = receiver.requests
    assert request["signed"] and request["answered"] == 200
    body = request["body"]
    event = WebhookEvent.objects.get()
    assert body["id"] == str(event.event_id) == request["headers"]["X-SMSCampaigns-Event-Id"]
    assert body["type"] == "send.delivered" == request["headers"]["X-SMSCampaigns-Event-Type"]
    assert body["object"]["id"] == send.pk
    assert body["object"]["status"] == "delivered"
    assert body["object"]["cost"] == "0.01100"
    assert body["object"]["to"] == send.to_number
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (D.DELIVERED, 1)
    [attempt] = delivery.attempt_log.all()
    assert (attempt.response_status, attempt.response_excerpt) == (200, "ok")


def test_an_undelivered_send_is_a_send_failed_event_with_the_error(endpoint, receiver):
    send = sent_send()
    report(send, "undelivered", error_code="30")
    deliver(endpoint)
    [body] = receiver.bodies()
    assert body["type"] == "send.failed"
    assert (body["object"]["status"], body["object"]["error_code"]) == ("undelivered", "30")
    assert body["object"]["error_message"]


def test_a_wrong_secret_fails_the_receivers_check(endpoint, receiver):
    receiver.secret = "whsec_not-the-one"
    report(sent_send(), "delivered")
    deliver(endpoint)
    assert [r["signed"] for r in receiver.requests] == [False]
    assert WebhookDelivery.objects.get().status == D.PENDING


def test_the_signature_covers_the_timestamp(endpoint, receiver):
    report(sent_send(), "delivered")
    deliver(endpoint)
    [request] = receiver.requests
    assert request["headers"][SIGNATURE_HEADER].startswith("v1=")
    raw = event_body(WebhookEvent.objects.get())
    assert receiver.verify(endpoint.secret, raw, request["headers"])
    moved = {**request["headers"], TIMESTAMP_HEADER: str(int(request["headers"][TIMESTAMP_HEADER]) - 1)}
    assert not receiver.verify(endpoint.secret, raw, moved)
    assert not receiver.verify(endpoint.secret, raw.replace(b"delivered", b"failed"), request["headers"])


def test_a_request_signed_too_long_ago_is_refused_by_the_snippet(endpoint, receiver):
    report(sent_send(), "delivered")
    deliver(endpoint)
    [request] = receiver.requests
    raw = event_body(WebhookEvent.objects.get())
    with later(301):
        assert not receiver.verify(endpoint.secret, raw, request["headers"])


def test_only_the_event_types_an_endpoint_wants_are_stored_and_sent(endpoint, receiver):
    endpoint.events = ["send.failed"]
    endpoint.save()
    report(sent_send(), "delivered")
    assert not WebhookEvent.objects.exists()
    assert deliver(endpoint) == 0
    assert receiver.requests == []


def test_no_endpoint_no_event_rows():
    report(sent_send(), "delivered")
    assert not WebhookEvent.objects.exists()


def test_a_disabled_endpoint_gets_no_new_events(endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    report(sent_send(), "delivered")
    assert not WebhookDelivery.objects.exists()


def test_a_failed_attempt_is_retried_with_exponential_backoff_until_it_is_answered(endpoint, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    receiver.statuses = [500, 503]
    report(sent_send(), "delivered")
    assert deliver(endpoint) == 1
    delivery = WebhookDelivery.objects.get()
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert first_wait == timedelta(seconds=30)
    assert deliver(endpoint) == 0  # not due yet
    with later(31):
        assert webhook_endpoints_due() == [endpoint.pk]
        assert deliver(endpoint) == 1
        delivery.refresh_from_db()
        assert delivery.next_attempt_at - delivery.last_attempt_at == timedelta(seconds=60)
    with later(31 + 61):
        deliver(endpoint)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (D.DELIVERED, 3)
    assert [a.response_status for a in delivery.attempt_log.all()] == [500, 503, 200]
    assert [r["answered"] for r in receiver.requests] == [500, 503, 200]
    assert len({r["body"]["id"] for r in receiver.requests}) == 1  # one event, the same id each time


def test_no_answer_is_a_failed_attempt_with_the_reason(endpoint, receiver):
    receiver.stop()
    report(sent_send(), "delivered")
    deliver(endpoint)
    [attempt] = WebhookDelivery.objects.get().attempt_log.all()
    assert attempt.response_status is None
    assert "ConnectionError" in attempt.error


def test_events_of_one_object_keep_their_order_while_others_go_ahead(endpoint, receiver):
    receiver.statuses = [500]
    first, other = sent_send(), sent_send()
    report(first, "delivered")
    report(other, "delivered")
    deliver(endpoint)
    assert [b["object"]["id"] for b in receiver.bodies(answered=500)] == [first.pk]
    assert [b["object"]["id"] for b in receiver.bodies(answered=200) if b["type"] == "send.delivered"] == [other.pk]


def test_a_later_event_of_an_object_waits_for_the_earlier_one(endpoint, receiver, settings):
    receiver.statuses = [500]
    contact = ContactFactory()
    number = str(contact.phone_number)
    inbound_message_receive(payload=inbound_payload(sender=number, to=OUR_NUMBER, text="STOP", message_uuid="in-1"))
    inbound_message_receive(payload=inbound_payload(sender=number, to=OUR_NUMBER, text="START", message_uuid="in-2"))
    deliver(endpoint)
    assert [(b["type"], r) for b, r in [(r["body"], r["answered"]) for r in receiver.requests]] == [
        ("contact.opted_out", 500)
    ]
    with later(settings.WEBHOOK_RETRY_BASE_SECONDS + 1):
        deliver(endpoint)
    assert [b["type"] for b in receiver.bodies(answered=200)] == ["contact.opted_out", "contact.opted_in"]
    assert {b["object"]["phone_number"] for b in receiver.bodies()} == {number}
    assert receiver.bodies()[0]["object"]["contact_id"] == contact.pk


def test_a_delivery_failing_for_a_day_is_given_up(endpoint, receiver, settings):
    receiver.statuses = [500] * 100
    report(sent_send(), "delivered")
    with later(settings.WEBHOOK_RETRY_FOR_SECONDS + 1):
        deliver(endpoint)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (D.FAILED, 1)


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_managers_are_told(
    endpoint, receiver, settings, staff_roles, django_user_model, django_capture_on_commit_callbacks
):
    manager = django_user_model.objects.create_user("mgr", "mgr@example.com", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER))
    django_user_model.objects.create_user("other", "other@example.com", is_staff=True)
    receiver.statuses = [500] * 100
    report(sent_send(), "delivered")
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None
    report(sent_send(), "delivered")
    with later(settings.WEBHOOK_DISABLE_AFTER_SECONDS + 1), django_capture_on_commit_callbacks(execute=True):
        deliver(endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "failing since" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhook_endpoint.disabled", target_id=str(endpoint.pk)).exists()
    [message] = mail.outbox
    assert message.to == ["mgr@example.com"]
    assert endpoint.url in message.subject
    # The day-old delivery was given up; the newer one waits, and nothing more is attempted meanwhile.
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == [D.FAILED, D.PENDING]
    assert webhook_endpoints_due() == []
    report(sent_send(), "delivered")
    assert WebhookDelivery.objects.count() == 2  # no new event for a disabled endpoint
    # Enabled again: what waited goes out.
    receiver.statuses = []
    webhook_endpoints_enable(endpoints=[endpoint], actor=manager)
    deliver(endpoint)
    assert WebhookDelivery.objects.filter(status=D.DELIVERED).count() == 1


def test_a_success_clears_the_failing_day(endpoint, receiver):
    receiver.statuses = [500]
    report(sent_send(), "delivered")
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    report(sent_send(), "delivered")
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_replay_sends_the_same_event_again_as_a_new_delivery(endpoint, receiver, staff_user):
    report(sent_send(), "delivered")
    deliver(endpoint)
    original = WebhookDelivery.objects.get()
    assert webhook_deliveries_replay(deliveries=[original], actor=staff_user) == 1
    deliver(endpoint)
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    replay = WebhookDelivery.objects.exclude(pk=original.pk).get()
    assert (replay.replay_of, replay.status) == (original, D.DELIVERED)


def test_a_completed_campaign_is_a_campaign_completed_event(endpoint, receiver):
    send = sent_send()
    report(send, "delivered")
    assert campaign_complete_if_done(campaign_id=send.campaign_id)
    deliver(endpoint)
    body = receiver.bodies()[-1]
    assert body["type"] == "campaign.completed"
    assert body["object"]["id"] == send.campaign_id
    assert body["object"]["status"] == Campaign.Status.COMPLETED
    assert body["object"]["delivered"] == 1


def test_an_event_is_stored_only_if_its_cause_commits(endpoint):
    send = sent_send(campaign=CampaignFactory(status=Campaign.Status.SENDING))
    with pytest.raises(RuntimeError), transaction.atomic():
        report(send, "delivered")
        assert WebhookEvent.objects.count() == 1
        raise RuntimeError("the cause rolls back")
    assert not WebhookEvent.objects.exists()


@pytest.mark.usefixtures("daytime")
def test_a_send_refused_when_sent_is_a_send_failed_event(endpoint, receiver, staff_user, run_engine, scripted):
    contact = ContactFactory()
    audience = ContactListFactory()
    contact.lists.add(audience)
    campaign = CampaignFactory(body="Sale today. STOP to opt out")
    campaign.lists.add(audience)
    scripted[str(contact.phone_number)].append(PERMANENT)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_engine(ticks=2)
    deliver(endpoint)
    failed = [b for b in receiver.bodies() if b["type"] == "send.failed"]
    assert [(b["object"]["to"], b["object"]["status"], b["object"]["error_code"]) for b in failed] == [
        (str(contact.phone_number), "failed", "invalid_number")
    ]
    assert "campaign.completed" in [b["type"] for b in receiver.bodies()]
