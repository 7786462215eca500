import uuid
from decimal import Decimal
from functools import partial

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from campaigns.models import Campaign, ExclusionReason
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend, DeliveryReport
from sends.services.counters import campaign_counters_add_or_rebuild, campaign_counters_rebuild, transition_deltas
from sends.services.delivery_reports import (
    ReportOutcome,
    delivery_report_record,
    delivery_reports_attach,
    delivery_reports_drain,
)
from sends.tests.factories import CampaignSendFactory, sent_send
from sends.tests.plivo_callbacks import (
    STATUS_PATH,
    plivo_signing,  # noqa: F401 (fixture)
    post_callback,
    record_and_drain,
    signed_headers,
    status_payload,
)
from smscampaigns.plivo_errors import PLIVO_ERROR_CODES, error_code_meaning
from smscampaigns.tests.helpers import run_concurrently

S = CampaignSend.Status


def report_for(send: CampaignSend, status: str, **fields) -> dict[str, str]:
    return status_payload(message_uuid=send.provider_message_uuid, status=status, to=send.to_number, **fields)


def counters(campaign_id: int) -> dict:
    return Campaign.objects.values(
        "queued_count",
        "sent_count",
        "delivered_count",
        "undelivered_count",
        "failed_count",
        "skipped_count",
        "segments_count",
        "cost",
        "skipped_by_reason",
    ).get(pk=campaign_id)


def assert_counters_match_the_sends(campaign_id: int) -> None:
    kept = counters(campaign_id)
    campaign_counters_rebuild(campaign_id=campaign_id)
    assert kept == counters(campaign_id)


@pytest.mark.django_db
class TestThroughTheEndpoint:
    pytestmark = pytest.mark.usefixtures("plivo_signing")

    def test_delivered_report_moves_the_send_forward_with_real_cost_and_counters(self, client):
        send = sent_send()
        response = post_callback(client, STATUS_PATH, report_for(send, "delivered", units=2, rate="0.00550"))
        assert response.status_code == 200
        assert response.json() == {"result": "accepted"}
        send.refresh_from_db()
        assert send.status == S.SENT  # stored only: the drainer applies it
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED]
        send.refresh_from_db()
        assert send.status == S.DELIVERED
        assert send.segments == 2
        assert send.cost == Decimal("0.01100")
        campaign = counters(send.campaign_id)
        assert (campaign["sent_count"], campaign["delivered_count"]) == (0, 1)
        assert campaign["cost"] == Decimal("0.01100")
        assert campaign["segments_count"] == 2
        assert_counters_match_the_sends(send.campaign_id)
        stored = DeliveryReport.objects.get(message_uuid=send.provider_message_uuid)
        assert stored.send == send
        assert (stored.status, stored.units, stored.total_amount) == ("delivered", 2, Decimal("0.01100"))
        assert stored.payload["MCC"] == "310"

    def test_unknown_message_uuid_is_stored_and_answered_200(self, client):
        params = status_payload(message_uuid=str(uuid.uuid4()), status="delivered", to="+14155550123")
        response = post_callback(client, STATUS_PATH, params)
        assert response.status_code == 200
        assert response.json() == {"result": "accepted"}
        assert list(delivery_reports_drain().values()) == [ReportOutcome.UNMATCHED]
        stored = DeliveryReport.objects.get(message_uuid=params["MessageUUID"])
        assert stored.send is None
        assert not stored.pending
        assert stored.payload == params

    def test_retried_callback_is_recorded_and_counted_once(self, client):
        send = sent_send()
        params = report_for(send, "delivered")
        results = [post_callback(client, STATUS_PATH, params).json()["result"] for _ in range(2)]
        delivery_reports_drain()
        # Retried after the first was applied, too.
        results.append(post_callback(client, STATUS_PATH, params).json()["result"])
        assert delivery_reports_drain() == {}
        assert results == ["accepted", "duplicate", "duplicate"]
        assert DeliveryReport.objects.filter(message_uuid=send.provider_message_uuid).count() == 1
        assert counters(send.campaign_id)["delivered_count"] == 1
        assert_counters_match_the_sends(send.campaign_id)

    @pytest.mark.parametrize(
        ("field", "value"), [("MessageUUID", ""), ("Status", ""), ("Units", "two"), ("TotalAmount", "1,50")]
    )
    def test_malformed_callback_is_400_naming_the_field_and_writes_nothing(self, client, field, value):
        send = sent_send()
        response = post_callback(client, STATUS_PATH, {**report_for(send, "delivered"), field: value})
        assert response.status_code == 400
        assert response.json()["field"] == field
        assert field in response.json()["error"]
        assert not DeliveryReport.objects.exists()
        send.refresh_from_db()
        assert send.status == S.SENT


@pytest.mark.django_db
class TestStatusOrder:
    @pytest.mark.parametrize(
        ("plivo_status", "expected"),
        [
            ("queued", S.SENT),  # Plivo's "queued" is behind our "sent" (handed to Plivo): no change
            ("sent", S.SENT),
            ("delivered", S.DELIVERED),
            ("undelivered", S.UNDELIVERED),
            ("failed", S.FAILED),
            ("rejected", S.FAILED),
        ],
    )
    def test_each_plivo_status_lands_on_the_matching_send_status(self, plivo_status, expected):
        send = sent_send()
        record_and_drain(report_for(send, plivo_status))
        send.refresh_from_db()
        assert send.status == expected
        assert_counters_match_the_sends(send.campaign_id)

    def test_late_sent_after_delivered_changes_nothing(self):
        send = sent_send()
        assert record_and_drain(report_for(send, "delivered")) is ReportOutcome.APPLIED
        assert record_and_drain(report_for(send, "sent")) is ReportOutcome.RECORDED
        assert record_and_drain(report_for(send, "queued")) is ReportOutcome.RECORDED
        send.refresh_from_db()
        assert send.status == S.DELIVERED
        assert DeliveryReport.objects.filter(send=send).count() == 3
        assert counters(send.campaign_id)["delivered_count"] == 1
        assert_counters_match_the_sends(send.campaign_id)

    def test_a_second_final_state_does_not_overwrite_the_first(self):
        send = sent_send()
        record_and_drain(report_for(send, "undelivered", error_code="30"))
        record_and_drain(report_for(send, "delivered"))
        send.refresh_from_db()
        assert (send.status, send.error_code) == (S.UNDELIVERED, "30")
        assert_counters_match_the_sends(send.campaign_id)

    def test_in_order_callbacks_walk_queued_sent_delivered(self):
        send = sent_send()
        send.status = S.SENDING
        send.save()
        campaign_counters_rebuild(campaign_id=send.campaign_id)
        outcomes = [record_and_drain(report_for(send, s)) for s in ("queued", "sent", "delivered")]
        assert outcomes == [ReportOutcome.RECORDED, ReportOutcome.APPLIED, ReportOutcome.APPLIED]
        send.refresh_from_db()
        assert send.status == S.DELIVERED
        assert_counters_match_the_sends(send.campaign_id)

    def test_a_skipped_send_never_moves(self):
        send = sent_send()
        send.status, send.skip_reason = S.SKIPPED, ExclusionReason.OPTED_OUT
        send.save()
        assert record_and_drain(report_for(send, "delivered")) is ReportOutcome.RECORDED
        send.refresh_from_db()
        assert send.status == S.SKIPPED

    def test_unknown_plivo_status_is_kept_without_moving_the_send(self):
        send = sent_send()
        assert record_and_drain(report_for(send, "read")) is ReportOutcome.RECORDED
        send.refresh_from_db()
        assert send.status == S.SENT
        assert DeliveryReport.objects.filter(send=send, status="read").exists()

    def test_cost_is_not_counted_twice_when_several_reports_carry_it(self):
        send = sent_send()
        record_and_drain(report_for(send, "sent", units=3))
        record_and_drain(report_for(send, "delivered", units=3))
        send.refresh_from_db()
        assert send.cost == Decimal("0.01650")
        assert counters(send.campaign_id)["cost"] == Decimal("0.01650")
        assert counters(send.campaign_id)["segments_count"] == 3
        assert_counters_match_the_sends(send.campaign_id)


@pytest.mark.django_db
class TestErrorCodes:
    @pytest.mark.parametrize("code", ["10", "20", "30", "40", "50", "200", "420", "450", "900"])
    def test_error_code_is_stored_on_the_send_with_its_meaning(self, code):
        send = sent_send()
        record_and_drain(report_for(send, "undelivered" if code != "900" else "failed", error_code=code))
        send.refresh_from_db()
        assert send.error_code == code
        assert send.error_message == PLIVO_ERROR_CODES[code]
        assert DeliveryReport.objects.get(send=send).error_code == code

    @pytest.mark.parametrize(
        ("code", "words"),
        [
            ("10", "Invalid message"),
            ("20", "Network error"),
            ("30", "Spam"),
            ("40", "Invalid source"),
            ("50", "Invalid destination"),
            ("200", "opted out"),
            ("420", "expired"),
            ("450", "barred"),
            ("900", "Insufficient credit"),
        ],
    )
    def test_meaning_of_each_code_the_issue_names(self, code, words):
        assert words.lower() in error_code_meaning(code).lower()

    def test_unknown_code_still_gets_a_meaning_and_success_codes_none(self):
        assert error_code_meaning("4242") == "Plivo error 4242"
        assert error_code_meaning("000") == ""
        assert error_code_meaning("") == ""

    def test_error_200_suppresses_the_number_unsubscribes_the_contact_and_skips_its_queued_sends(self):
        contact = ContactFactory()
        send = sent_send(contact=contact)
        later = CampaignSendFactory(contact=contact, campaign=CampaignFactory(status=Campaign.Status.SENDING))
        campaign_counters_rebuild(campaign_id=later.campaign_id)
        # A carrier opt-out is honoured by the webhook itself, before any drain.
        assert delivery_report_record(payload=report_for(send, "undelivered", error_code="200")) is (
            ReportOutcome.ACCEPTED
        )
        suppression = Suppression.objects.get(phone_number=send.to_number)
        assert suppression.reason == Suppression.Reason.OPT_OUT
        assert "200" in suppression.source
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED
        assert contact.opted_out_at is not None
        later.refresh_from_db()
        assert (later.status, later.skip_reason) == (S.SKIPPED, ExclusionReason.OPTED_OUT)
        assert counters(later.campaign_id)["skipped_by_reason"] == {"opted_out": 1}
        assert_counters_match_the_sends(later.campaign_id)
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED]
        assert_counters_match_the_sends(send.campaign_id)

    def test_error_200_for_an_unknown_message_still_suppresses_the_number(self):
        params = status_payload(
            message_uuid=str(uuid.uuid4()), status="undelivered", to="+14155550177", error_code="200"
        )
        assert delivery_report_record(payload=params) is ReportOutcome.ACCEPTED
        assert Suppression.objects.filter(phone_number="+14155550177", reason=Suppression.Reason.OPT_OUT).exists()
        assert list(delivery_reports_drain().values()) == [ReportOutcome.UNMATCHED]
        # A retried callback opts nobody out a second time.
        assert delivery_report_record(payload=params) is ReportOutcome.DUPLICATE
        assert Suppression.objects.filter(phone_number="+14155550177").count() == 1


@pytest.mark.django_db
def test_report_that_beat_the_uuid_commit_is_applied_when_dispatch_attaches_it():
    send = sent_send()
    message_uuid, send.provider_message_uuid = send.provider_message_uuid, None
    send.status = S.SENDING
    send.save()
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    params = status_payload(message_uuid=message_uuid, status="delivered", to=send.to_number)
    assert record_and_drain(params) is ReportOutcome.UNMATCHED
    # What dispatch does once Plivo answered: store the uuid, then pick up reports that came first.
    CampaignSend.objects.filter(pk=send.pk).update(provider_message_uuid=message_uuid, status=S.SENT)
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    assert delivery_reports_attach(send_id=send.pk) == 1
    send.refresh_from_db()
    assert send.status == S.DELIVERED
    assert DeliveryReport.objects.get(message_uuid=message_uuid).send == send
    assert_counters_match_the_sends(send.campaign_id)
    assert delivery_reports_attach(send_id=send.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_out_of_order_reports_for_many_sends_leave_true_counters():
    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    sends = [sent_send(campaign=campaign) for _ in range(12)]
    payloads = []
    for send in sends:
        payloads += [report_for(send, s) for s in ("delivered", "sent", "queued", "delivered")]

    def record_each(chunk):
        for payload in chunk:
            delivery_report_record(payload=payload)

    # Reports stored while several drainers run, as several workers may: each report applied by one of them.
    drained: list[dict] = []
    run_concurrently(
        *(partial(record_each, payloads[i::4]) for i in range(4)),
        *(lambda: drained.append(delivery_reports_drain(batch_size=5)) for _ in range(3)),
    )
    drained.append(delivery_reports_drain())
    applied_ids = [pk for outcomes in drained for pk in outcomes]
    assert sorted(applied_ids) == sorted(DeliveryReport.objects.values_list("pk", flat=True))
    assert not DeliveryReport.objects.filter(pending=True).exists()
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.DELIVERED}
    assert counters(campaign.pk)["delivered_count"] == 12
    assert counters(campaign.pk)["sent_count"] == 0
    assert DeliveryReport.objects.count() == 12 * 3
    assert_counters_match_the_sends(campaign.pk)


@pytest.mark.django_db
def test_report_still_lands_when_the_campaign_counters_had_drifted():
    send = sent_send()
    # Counters left wrong by some crash: a "sent -> delivered" delta would take sent_count below zero.
    Campaign.objects.filter(pk=send.campaign_id).update(sent_count=0, delivered_count=0)
    assert record_and_drain(report_for(send, "delivered")) is ReportOutcome.APPLIED
    send.refresh_from_db()
    assert send.status == S.DELIVERED
    campaign = counters(send.campaign_id)
    assert (campaign["sent_count"], campaign["delivered_count"]) == (0, 1)


@pytest.mark.django_db
def test_report_with_fewer_segments_than_counted_when_the_segment_counter_had_drifted_is_recounted():
    send = sent_send()
    CampaignSend.objects.filter(pk=send.pk).update(segments=3)  # dispatch's estimate; Plivo then bills 1
    Campaign.objects.filter(pk=send.campaign_id).update(segments_count=1)  # so 1 - 3 would go below zero
    assert record_and_drain(report_for(send, "delivered", units=1)) is ReportOutcome.APPLIED
    assert (counters(send.campaign_id)["segments_count"], counters(send.campaign_id)["delivered_count"]) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_reports_racing_dispatch_storing_the_uuid_all_end_on_their_send():
    """Plivo can call back before dispatch has committed the uuid: every report must still reach its send."""
    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    sends = [CampaignSendFactory(campaign=campaign, status=S.SENDING, segments=1) for _ in range(30)]
    campaign_counters_rebuild(campaign_id=campaign.pk)
    uuids = {send.pk: str(uuid.uuid4()) for send in sends}

    def dispatch(send):
        with transaction.atomic():  # as dispatch stores a send's outcome: the row and its counters together
            CampaignSend.objects.filter(pk=send.pk).update(
                provider_message_uuid=uuids[send.pk], status=S.SENT, sent_at=timezone.now()
            )
            campaign_counters_add_or_rebuild(
                campaign_id=campaign.pk,
                deltas=transition_deltas(from_status=S.SENDING, to_status=S.SENT),
                segments=1,
            )
        delivery_reports_attach(send_id=send.pk)

    def plivo(send):
        delivery_report_record(
            payload=status_payload(message_uuid=uuids[send.pk], status="delivered", to=send.to_number)
        )

    def drainer(send):
        delivery_reports_drain(batch_size=3)

    run_concurrently(*(partial(step, send) for send in sends for step in (dispatch, plivo, drainer)))
    delivery_reports_drain()
    assert list(CampaignSend.objects.filter(campaign=campaign).exclude(status=S.DELIVERED)) == []
    assert DeliveryReport.objects.filter(send__isnull=True).count() == 0
    assert_counters_match_the_sends(campaign.pk)


@pytest.mark.django_db
class TestDrainer:
    """The webhook stores, the drainer applies: exactly once, forward only, batch after batch."""

    def test_duplicates_stored_before_a_drain_are_applied_once(self):
        send = sent_send()
        payload = report_for(send, "delivered")
        outcomes = [delivery_report_record(payload=payload) for _ in range(3)]
        assert outcomes == [ReportOutcome.ACCEPTED, ReportOutcome.DUPLICATE, ReportOutcome.DUPLICATE]
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED]
        assert delivery_reports_drain() == {}
        assert (counters(send.campaign_id)["sent_count"], counters(send.campaign_id)["delivered_count"]) == (0, 1)
        assert_counters_match_the_sends(send.campaign_id)

    def test_a_late_sent_in_a_later_batch_never_overwrites_delivered(self):
        send = sent_send()
        for status in ("delivered", "sent", "queued"):
            delivery_report_record(payload=report_for(send, status))
        # One report per transaction: each later batch finds the send already delivered.
        assert list(delivery_reports_drain(batch_size=1).values()) == [
            ReportOutcome.APPLIED,
            ReportOutcome.RECORDED,
            ReportOutcome.RECORDED,
        ]
        delivery_report_record(payload=report_for(send, "undelivered", error_code="30"))
        assert list(delivery_reports_drain().values()) == [ReportOutcome.RECORDED]
        send.refresh_from_db()
        assert (send.status, send.error_code) == (S.DELIVERED, "")
        assert counters(send.campaign_id)["delivered_count"] == 1
        assert_counters_match_the_sends(send.campaign_id)

    def test_sent_then_delivered_in_one_batch_count_once_in_the_end_status(self):
        send = sent_send()
        send.status = S.SENDING
        send.save()
        campaign_counters_rebuild(campaign_id=send.campaign_id)
        for status in ("sent", "delivered"):
            delivery_report_record(payload=report_for(send, status, units=2))
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED, ReportOutcome.APPLIED]
        send.refresh_from_db()
        assert send.status == S.DELIVERED
        campaign = counters(send.campaign_id)
        assert (campaign["queued_count"], campaign["sent_count"], campaign["delivered_count"]) == (0, 0, 1)
        assert campaign["segments_count"] == 2
        assert_counters_match_the_sends(send.campaign_id)

    def test_reports_of_many_campaigns_in_one_batch_update_each_campaigns_counters(self):
        sends = [sent_send() for _ in range(3)] + [sent_send(campaign=CampaignFactory(status=Campaign.Status.SENDING))]
        for send, status in zip(sends, ("delivered", "undelivered", "failed", "delivered"), strict=True):
            delivery_report_record(payload=report_for(send, status, error_code="30" if status != "delivered" else ""))
        assert set(delivery_reports_drain().values()) == {ReportOutcome.APPLIED}
        for send in sends:
            assert_counters_match_the_sends(send.campaign_id)
        assert counters(sends[1].campaign_id)["undelivered_count"] == 1
        assert Campaign.objects.get(pk=sends[2].campaign_id).failed_by_error_code == {"30": 1}

    @pytest.mark.usefixtures("plivo_signing")
    def test_a_forged_report_is_refused_and_leaves_nothing_to_drain(self, client):
        send = sent_send()
        forged = signed_headers(
            url="http://testserver" + STATUS_PATH,
            params=report_for(send, "delivered"),
            auth_token="Zm9yZ2VkLXRva2VuLW5vdC1wbGl2by1ub3QtdGhlLWFwcA",
        )
        response = post_callback(client, STATUS_PATH, report_for(send, "delivered"), headers=forged)
        assert response.status_code == 403
        assert not DeliveryReport.objects.exists()
        assert delivery_reports_drain() == {}
        send.refresh_from_db()
        assert send.status == S.SENT

    def test_a_drainer_failing_mid_batch_applies_nothing_and_the_next_applies_each_report_once(self):
        if connection.vendor != "postgresql":
            pytest.skip("the failure is a PostgreSQL trigger")
        first, second = sent_send(), sent_send(campaign=CampaignFactory(status=Campaign.Status.SENDING))
        kept = counters(first.campaign_id)
        for send in (first, second):
            delivery_report_record(payload=report_for(send, "delivered"))
        # The database refuses the second campaign's counter update, after the sends and the first campaign's
        # counters were written in the batch: the failure a crash would cause at that point.
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION drill_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused mid-batch'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER drill_refuse BEFORE UPDATE ON campaigns_campaign FOR EACH ROW "
                f"WHEN (NEW.id = {int(second.campaign_id)}) EXECUTE FUNCTION drill_refuse()"
            )
        with pytest.raises(DatabaseError, match="refused mid-batch"):
            delivery_reports_drain()
        assert DeliveryReport.objects.filter(pending=True).count() == 2
        first.refresh_from_db()
        assert first.status == S.SENT
        assert counters(first.campaign_id) == kept
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER drill_refuse ON campaigns_campaign")
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED, ReportOutcome.APPLIED]
        assert delivery_reports_drain() == {}
        for send in (first, second):
            assert counters(send.campaign_id)["delivered_count"] == 1
            assert_counters_match_the_sends(send.campaign_id)

    def test_a_report_still_pending_is_left_to_the_drainer_when_dispatch_attaches(self):
        send = sent_send()
        message_uuid, send.provider_message_uuid = send.provider_message_uuid, None
        send.status = S.SENDING
        send.save()
        campaign_counters_rebuild(campaign_id=send.campaign_id)
        delivery_report_record(payload=status_payload(message_uuid=message_uuid, status="delivered", to=send.to_number))
        CampaignSend.objects.filter(pk=send.pk).update(provider_message_uuid=message_uuid, status=S.SENT)
        campaign_counters_rebuild(campaign_id=send.campaign_id)
        assert delivery_reports_attach(send_id=send.pk) == 0
        assert list(delivery_reports_drain().values()) == [ReportOutcome.APPLIED]
        assert delivery_reports_attach(send_id=send.pk) == 0
        assert DeliveryReport.objects.get(message_uuid=message_uuid).send_id == send.pk
        assert counters(send.campaign_id)["delivered_count"] == 1
        assert_counters_match_the_sends(send.campaign_id)
