"""SMS_MESSAGE_LISTENERS: what sends tells the apps above it, and that a listener's failure after an automatic
reply was sent never turns the webhook into an error."""

import pytest

from contacts.tests.factories import ContactFactory
from sends.listeners import MessageListener
from sends.models import InboundMessage
from sends.services.delivery_reports import ReportOutcome
from sends.services.inbound import inbound_message_receive
from sends.tests.plivo_callbacks import inbound_payload, record_and_drain, status_payload

pytestmark = pytest.mark.django_db

heard: list[tuple] = []


class RecordingListener(MessageListener):
    def inbound_received(self, *, message) -> None:
        heard.append(("inbound", message.text))

    def auto_reply_sent(self, *, message, body: str, result) -> None:
        heard.append(("auto_reply", body[:4], result.ok))
        raise RuntimeError("a listener that breaks")

    def delivery_report_unmatched(self, *, report) -> bool:
        heard.append(("report", report.status))
        return report.message_uuid == "ours"


@pytest.fixture(autouse=True)
def recording(settings):
    settings.SMS_MESSAGE_LISTENERS = [f"{__name__}.RecordingListener"]
    heard.clear()
    yield
    heard.clear()


def test_listeners_hear_texts_automatic_replies_and_unmatched_reports(django_capture_on_commit_callbacks, sms_outbox):
    number = str(ContactFactory().phone_number)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_message_receive(payload=inbound_payload(sender=number, text="HELP"))
    # The listener raised after the reply went out: the reply stands, and so does the text.
    assert len(sms_outbox) == 1 and InboundMessage.objects.count() == 1
    assert heard == [("inbound", "HELP"), ("auto_reply", sms_outbox[0].body[:4], True)]

    assert record_and_drain(status_payload(message_uuid="ours", status="delivered", to=number)) == (
        ReportOutcome.APPLIED
    )
    assert record_and_drain(status_payload(message_uuid="other", status="sent", to=number)) == (ReportOutcome.UNMATCHED)
    assert heard[-2:] == [("report", "delivered"), ("report", "sent")]


class FailingReportListener(MessageListener):
    def delivery_report_unmatched(self, *, report) -> bool:
        if report.message_uuid == "poison":
            raise RuntimeError("a listener that breaks on one report")
        return False


def test_a_listener_failing_on_one_report_holds_back_no_other(settings):
    from sends.models import CampaignSend, DeliveryReport
    from sends.services.delivery_reports import delivery_report_record, delivery_reports_drain
    from sends.tests.factories import sent_send

    settings.SMS_MESSAGE_LISTENERS = [f"{__name__}.FailingReportListener"]
    send = sent_send()
    delivery_report_record(payload=status_payload(message_uuid="poison", status="delivered", to=send.to_number))
    delivery_report_record(
        payload=status_payload(message_uuid=send.provider_message_uuid, status="delivered", to=send.to_number)
    )
    assert sorted(delivery_reports_drain().values()) == [ReportOutcome.APPLIED, ReportOutcome.UNMATCHED]
    assert not DeliveryReport.objects.filter(pending=True).exists()
    assert DeliveryReport.objects.filter(message_uuid="poison").exists()  # kept, unmatched
    send.refresh_from_db()
    assert send.status == CampaignSend.Status.DELIVERED
