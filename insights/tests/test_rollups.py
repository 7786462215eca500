"""The dashboard's daily rollups follow what the engine, Plivo's reports and people's texts do, as it happens,
and agree with the campaigns' own counters."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.services.consent import contact_opt_in, contact_opt_out
from contacts.services.imports import contact_import_run
from contacts.tests.factories import ContactFactory, ContactListFactory
from insights.models import DailyAudience, DailyCampaignStats, DailyFailures
from insights.selectors import dashboard
from insights.services import daily_campaign_stats_add
from sends.models import CampaignSend
from sends.services.inbound import inbound_message_receive
from sends.tests.plivo_callbacks import inbound_payload, record_and_drain, status_payload
from sends.tests.scripted_backend import PERMANENT
from smscampaigns.domain_events import link_clicked_emit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]


def launched_campaign(n: int, staff_user, run_engine):
    audience = ContactListFactory()
    contacts = [ContactFactory() for _ in range(n)]
    for contact in contacts:
        contact.lists.add(audience)
    campaign = CampaignFactory(body="Sale today. STOP to opt out")
    campaign.lists.add(audience)
    campaign_send_now(campaign=campaign, actor=staff_user)
    return campaign, contacts


def report(send: CampaignSend, status: str, **fields) -> None:
    record_and_drain(
        status_payload(message_uuid=send.provider_message_uuid, status=status, to=send.to_number, **fields)
    )


def today_row(campaign: Campaign) -> DailyCampaignStats:
    return DailyCampaignStats.objects.get(day=timezone.localdate(), campaign=campaign)


def test_sending_reports_and_opt_outs_are_counted_on_the_day_they_happen(staff_user, run_engine, scripted):
    campaign, contacts = launched_campaign(4, staff_user, run_engine)
    scripted[str(contacts[3].phone_number)].append(PERMANENT)
    run_engine(ticks=2)
    row = today_row(campaign)
    assert (row.sent, row.delivered, row.failed) == (3, 0, 1)

    sends = {s.contact_id: s for s in CampaignSend.objects.filter(campaign=campaign)}
    report(sends[contacts[0].pk], "delivered", units=1, rate="0.00500")
    report(sends[contacts[1].pk], "delivered", units=2, rate="0.00500")
    report(sends[contacts[2].pk], "undelivered", error_code="30", rate="0.00500")
    report(sends[contacts[0].pk], "delivered")  # Plivo retrying: counted once
    inbound_message_receive(
        payload=inbound_payload(sender=str(contacts[0].phone_number), to="+14155550100", text="STOP")
    )

    row = today_row(campaign)
    assert (row.sent, row.delivered, row.failed, row.opt_outs) == (3, 2, 2, 1)
    assert row.cost == Decimal("0.02000")
    campaign.refresh_from_db()
    assert row.cost == campaign.cost
    assert row.segments == campaign.segments_count
    assert dict(DailyFailures.objects.values_list("error_code", "count")) == {"invalid_number": 1, "30": 1}
    assert DailyAudience.objects.get(day=timezone.localdate()).lost == 1


def test_subscribers_gained_and_lost_per_day(staff_user):
    contact = ContactFactory()
    contact_opt_out(contact=contact, source="asked by phone", actor=staff_user)
    contact_opt_in(contact=contact, consent_source="signed the form again", actor=staff_user)
    inbound_message_receive(payload=inbound_payload(sender=str(contact.phone_number), to="+14155550100", text="STOP"))
    inbound_message_receive(payload=inbound_payload(sender=str(contact.phone_number), to="+14155550100", text="START"))
    day = DailyAudience.objects.get(day=timezone.localdate())
    assert (day.gained, day.lost) == (2, 2)


def test_a_click_counts_on_its_campaigns_day():
    campaign = CampaignFactory()
    link_clicked_emit(
        click_id=1, link_id=7, url="https://shop.example/sale", campaign_id=campaign.pk, send_id=None,
        contact_id=None, clicked_at=timezone.now(),
    )  # fmt: skip
    assert today_row(campaign).clicks == 1


def test_the_dashboard_sums_the_period_and_leaves_older_days_out():
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, started_at=timezone.now())
    today = timezone.localdate()
    for days_ago, sent in ((0, 10), (6, 20), (7, 40), (29, 80), (30, 160)):
        daily_campaign_stats_add(
            campaign_id=campaign.pk,
            deltas={"sent_count": sent, "delivered_count": sent // 2},
            cost=Decimal("0.5"),
            opt_outs=1,
            day=today - timedelta(days=days_ago),
        )
    week, month = dashboard(days=7), dashboard(days=30)
    assert (week.totals.sent, month.totals.sent) == (30, 150)
    assert len(week.series) == 7 and week.series[-1].day == today and week.series[-1].sent == 10
    assert week.delivery_rate == 50.0
    assert week.opt_out_rate == round(100 * 2 / 15, 1)
    assert month.totals.cost == Decimal("2.0")
    assert [c.campaign for c in week.latest_campaigns] == [campaign]


def test_an_empty_period_has_no_rates():
    board = dashboard(days=90)
    assert (board.totals.sent, board.delivery_rate, board.opt_out_rate, board.failures) == (0, None, None, [])
    assert len(board.series) == 90


def test_contacts_a_csv_import_subscribes_count_as_gained():
    csv_file = io.BytesIO(b"phone_number,first_name\n+14155550181,Ann\n+14155550182,Bob\n+14155550183,Cy\n")
    contact_import_run(file=csv_file, source_name="a.csv", default_region="US", consent_source="checkout form")
    # Without consent evidence they are added unsubscribed: nobody gained.
    contact_import_run(
        file=io.BytesIO(b"phone_number\n+14155550184\n"), source_name="b.csv", default_region="US", consent_source=""
    )
    assert DailyAudience.objects.get(day=timezone.localdate()).gained == 3
