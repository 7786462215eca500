from decimal import Decimal

import pytest

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from sends.models import CampaignSend
from sends.services.counters import campaign_counters_add, campaign_counters_rebuild, transition_deltas
from sends.tests.factories import CampaignSendFactory

pytestmark = pytest.mark.django_db
S = CampaignSend.Status


def test_transition_deltas_move_a_count_between_statuses():
    assert transition_deltas(from_status=S.QUEUED, to_status=S.SENT) == {"queued_count": -1, "sent_count": 1}
    assert transition_deltas(from_status=S.QUEUED, to_status=S.SENDING) == {}
    assert transition_deltas(from_status=None, to_status=S.SKIPPED, count=3) == {"skipped_count": 3}


def test_counters_add_accumulates_and_merges_skip_reasons():
    campaign = CampaignFactory()
    campaign_counters_add(
        campaign_id=campaign.pk,
        deltas={"queued_count": 5},
        skipped_by_reason={"opted_out": 2},
        recipients=7,
    )
    campaign_counters_add(
        campaign_id=campaign.pk,
        deltas={"queued_count": -1, "sent_count": 1},
        segments=2,
        cost=Decimal("0.011"),
        skipped_by_reason={"opted_out": 1, "suppressed": 1},
    )
    campaign.refresh_from_db()
    assert (campaign.queued_count, campaign.sent_count, campaign.recipients_count) == (4, 1, 7)
    assert campaign.skipped_by_reason == {"opted_out": 3, "suppressed": 1}
    assert (campaign.segments_count, campaign.cost) == (2, Decimal("0.011"))


def test_failures_by_error_code_accumulate_beside_the_status_counters():
    campaign = CampaignFactory()
    campaign_counters_add(
        campaign_id=campaign.pk,
        deltas=transition_deltas(from_status=None, to_status=S.UNDELIVERED, count=2),
        failed_by_error_code={"30": 2},
    )
    campaign_counters_add(campaign_id=campaign.pk, failed_by_error_code={"30": 1, "invalid_number": 1, "50": 0})
    campaign.refresh_from_db()
    assert campaign.failed_by_error_code == {"30": 3, "invalid_number": 1}
    assert campaign.undelivered_count == 2


def test_rebuild_recounts_failures_by_error_code_from_failed_and_undelivered_sends():
    campaign = CampaignFactory()
    CampaignSendFactory(campaign=campaign, status=S.FAILED, error_code="invalid_number")
    CampaignSendFactory(campaign=campaign, status=S.UNDELIVERED, error_code="30")
    CampaignSendFactory(campaign=campaign, status=S.UNDELIVERED, error_code="")
    CampaignSendFactory(campaign=campaign, status=S.QUEUED, error_code="http_503")  # retrying: not a failure yet
    Campaign.objects.filter(pk=campaign.pk).update(failed_by_error_code={"bogus": 9})
    campaign_counters_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.failed_by_error_code == {"invalid_number": 1, "30": 1, "": 1}


def test_rebuild_recounts_from_the_sends():
    campaign = CampaignFactory()
    CampaignSendFactory(campaign=campaign, status=S.QUEUED, segments=1)
    CampaignSendFactory(campaign=campaign, status=S.SENDING, segments=1)
    CampaignSendFactory(
        campaign=campaign, status=S.DELIVERED, segments=2, cost=Decimal("0.011"), sent_at="2026-01-01T00:00Z"
    )
    CampaignSendFactory(campaign=campaign, status=S.SKIPPED, skip_reason="suppressed")
    Campaign.objects.filter(pk=campaign.pk).update(queued_count=99, skipped_by_reason={"bogus": 1})
    campaign_counters_rebuild(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert (campaign.queued_count, campaign.delivered_count, campaign.skipped_count) == (2, 1, 1)
    assert campaign.skipped_by_reason == {"suppressed": 1}
    assert (campaign.recipients_count, campaign.segments_count, campaign.cost) == (4, 2, Decimal("0.011"))
