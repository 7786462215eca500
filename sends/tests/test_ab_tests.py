"""A/B tests through the send engine (Celery eager, the locmem backend): the split, the hold, the decision
and the rest of the audience sent the winner, exactly once."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from campaigns.models import ABTest, Campaign
from campaigns.services.ab_tests import ABSettings, campaign_ab_test_set
from campaigns.services.lifecycle import campaign_cancel, campaign_send_now
from sends.models import CampaignSend, InboundMessage
from sends.services.ab_tests import ab_decide, ab_observed
from sends.tests.engine import run_in_process
from sends.tests.test_engine import make_campaign
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
BODIES = ["Sale: 20% off today. STOP to opt out", "Today only: 20% off everything. STOP to opt out"]


def per_destination(outbox, attribute: str) -> dict[str, list[str]]:
    """Each destination's `attribute` of every message it got (its texts, its senders), in order."""
    got: dict[str, list[str]] = {}
    for message in outbox:
        for destination in message.destinations:
            got.setdefault(destination, []).append(getattr(message, attribute))
    return got


def texts_by_number(outbox) -> dict[str, list[str]]:
    return per_destination(outbox, "body")


def ab_campaign(n: int, staff_user, **settings):
    campaign, contacts = make_campaign(n)
    campaign_ab_test_set(campaign=campaign, bodies=BODIES, settings=ABSettings(**settings), actor=staff_user)
    return campaign, contacts


def replies_from(sends, how_many: int) -> None:
    for send in sends[:how_many]:
        InboundMessage.objects.create(
            from_number=send.to_number, to_number="+14155550100", text="Is it in blue?", contact_id=send.contact_id
        )


def test_a_plain_split_sends_every_variant_to_an_even_random_half_each_once(staff_user, sms_outbox):
    campaign, _ = ab_campaign(40, staff_user)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    got = texts_by_number(sms_outbox)
    assert len(got) == 40 and all(len(texts) == 1 for texts in got.values())
    assert Counter(texts[0] for texts in got.values()) == {BODIES[0]: 20, BODIES[1]: 20}
    sends = CampaignSend.objects.filter(campaign=campaign).select_related("variant")
    assert all(send.body == send.variant.body for send in sends)  # the text each got is the variant stored
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_the_split_is_reproducible_from_the_seed(staff_user, sms_outbox):
    def split(seed: int) -> list[str]:
        campaign, _ = ab_campaign(30, staff_user)
        ABTest.objects.filter(campaign=campaign).update(seed=seed)
        campaign_send_now(campaign=campaign, actor=staff_user)
        run_in_process()
        return list(
            CampaignSend.objects.filter(campaign=campaign)
            .order_by("contact__phone_number")
            .values_list("variant__label", flat=True)
        )

    # The same seed over the same audience deals the same hands: contacts differ per campaign here, so the
    # positions in id order are compared.
    first, second = split(7), split(7)
    assert first == second and set(first) == {"A", "B"}


def test_a_test_share_goes_first_the_rest_waits_then_gets_the_winner(staff_user, sms_outbox, daytime):
    campaign, _ = ab_campaign(200, staff_user, test_percent=50, metric=ABTest.Metric.REPLY_RATE, wait_minutes=120)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    sends = CampaignSend.objects.filter(campaign=campaign)
    assert sends.filter(status=S.HELD).count() == 100
    assert Counter(sends.exclude(status=S.HELD).values_list("variant__label", flat=True)) == {"A": 50, "B": 50}
    assert len(sms_outbox) == 2  # one bulk request per variant text
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING and campaign.queued_count == 100  # held counts as waiting
    ab_test = ABTest.objects.get(campaign=campaign)
    assert ab_test.test_sent_at is not None and ab_test.winner is None
    replies_from(list(sends.filter(variant__label="A")), 5)
    replies_from(list(sends.filter(variant__label="B")), 30)
    daytime.shift(timedelta(minutes=119))
    run_in_process()
    assert ABTest.objects.get(campaign=campaign).winner is None  # still waiting
    daytime.shift(timedelta(minutes=2))
    sms_outbox.clear()
    run_in_process(ticks=2)
    ab_test.refresh_from_db()
    assert (ab_test.winner.label, ab_test.decided_by) == ("B", ABTest.DecidedBy.STATISTICS)
    assert ab_test.decision["significant"] and ab_test.decision["p_value"] < 0.05
    assert [v["successes"] for v in ab_test.decision["variants"]] == [5, 30]
    got = texts_by_number(sms_outbox)
    assert len(got) == 100 and {texts[0] for texts in got.values()} == {BODIES[1]}
    everyone = Counter(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert everyone == {S.SENT: 200}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert AuditEvent.objects.filter(action="campaign.ab_winner", target_id=str(campaign.pk)).count() == 1


@pytest.mark.parametrize(
    ("fallback", "winner"), [(ABTest.Fallback.VARIANT_A, "A"), (ABTest.Fallback.BEST_ESTIMATE, "B")]
)
def test_without_significance_the_fallback_applies_and_says_so(staff_user, sms_outbox, fallback, winner):
    campaign, _ = ab_campaign(100, staff_user, test_percent=40, metric=ABTest.Metric.REPLY_RATE, fallback=fallback)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    sends = CampaignSend.objects.filter(campaign=campaign)
    replies_from(list(sends.filter(variant__label="A")), 2)
    replies_from(list(sends.filter(variant__label="B")), 3)
    assert ab_decide(campaign=campaign, actor=staff_user).label == winner  # "decide now"
    ab_test = ABTest.objects.get(campaign=campaign)
    assert (ab_test.decided_by, ab_test.decision["significant"]) == (ABTest.DecidedBy.FALLBACK, False)


def test_staff_may_pick_the_winner_by_hand_once(staff_user, sms_outbox):
    campaign, _ = ab_campaign(20, staff_user, test_percent=50)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    variant_b = campaign.variants.get(label="B")
    assert ab_decide(campaign=campaign, actor=staff_user, variant=variant_b) == variant_b
    assert ab_decide(campaign=campaign, actor=staff_user, variant=campaign.variants.get(label="A")) == variant_b
    ab_test = ABTest.objects.get(campaign=campaign)
    assert ab_test.decided_by == ABTest.DecidedBy.STAFF
    event = AuditEvent.objects.get(action="campaign.ab_winner", target_id=str(campaign.pk))
    assert (event.actor, event.data["variant"]) == (staff_user, "B")
    run_in_process()
    assert set(CampaignSend.objects.filter(campaign=campaign).values_list("variant__label", flat=True)) == {"A", "B"}
    assert not CampaignSend.objects.filter(campaign=campaign, status=S.HELD).exists()


def test_the_results_stay_the_test_shares_once_the_rest_got_the_winner(staff_user, sms_outbox, api_client):
    campaign, _ = ab_campaign(40, staff_user, test_percent=50, metric=ABTest.Metric.REPLY_RATE)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    replies_from(list(CampaignSend.objects.filter(campaign=campaign, variant__label="B")), 8)
    before = [(o.label, o.trials, o.successes) for o in ab_observed(campaign=campaign)]
    assert before == [("A", 10, 0), ("B", 10, 8)]
    ab_decide(campaign=campaign, actor=staff_user)
    run_in_process()
    assert CampaignSend.objects.filter(campaign=campaign, variant__label="B", status=S.SENT).count() == 30
    # The rest's 20 sends of B are the winner at work, not the test: B's rate stays 8 of 10, not 8 of 30.
    assert [(o.label, o.trials, o.successes) for o in ab_observed(campaign=campaign)] == before
    report = api_client(*CRUD).get(f"{CAMPAIGNS}{campaign.pk}/variants/").json()
    assert [(v["label"], v["trials"], v["rate"]) for v in report["variants"]] == [("A", 10, 0.0), ("B", 10, 0.8)]


def test_cancelling_skips_the_held_rest(staff_user, sms_outbox):
    campaign, _ = ab_campaign(20, staff_user, test_percent=50)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    campaign_cancel(campaign=campaign, actor=staff_user, reason="wrong price")
    run_in_process()
    sends = CampaignSend.objects.filter(campaign=campaign)
    assert sends.filter(status=S.SKIPPED, skip_reason="cancelled").count() == 10
    assert not sends.filter(status=S.HELD).exists()


def test_replies_count_only_within_the_attribution_window_and_opt_outs_apart(staff_user, sms_outbox, daytime):
    campaign, _ = ab_campaign(10, staff_user, metric=ABTest.Metric.OPT_OUT_RATE)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    [a_send, *_] = CampaignSend.objects.filter(campaign=campaign, variant__label="A")
    [b_send, *_] = CampaignSend.objects.filter(campaign=campaign, variant__label="B")
    InboundMessage.objects.create(
        from_number=a_send.to_number, to_number="+1", text="STOP", action="opt-out", contact_id=a_send.contact_id
    )
    InboundMessage.objects.create(  # four days later: not this campaign's doing
        from_number=b_send.to_number,
        to_number="+1",
        text="STOP",
        action="opt-out",
        contact_id=b_send.contact_id,
        received_at=timezone.now() + timedelta(days=4),
    )
    observed = {o.label: (o.trials, o.successes) for o in ab_observed(campaign=campaign)}
    assert observed == {"A": (5, 1), "B": (5, 0)}


def test_variants_are_checked_like_a_campaign_body(staff_user):
    campaign, _ = make_campaign(1)
    with pytest.raises(ApplicationError, match="2 to 5 variants"):
        campaign_ab_test_set(campaign=campaign, bodies=["only one"], settings=ABSettings())
    with pytest.raises(ApplicationError, match="variant B"):
        campaign_ab_test_set(campaign=campaign, bodies=["fine", "x" * 2000], settings=ABSettings())
    with pytest.raises(ApplicationError, match="test share"):
        campaign_ab_test_set(campaign=campaign, bodies=["a", "b"], settings=ABSettings(test_percent=100))
    ab_test = campaign_ab_test_set(campaign=campaign, bodies=["Hi", "Hello"], settings=ABSettings(test_percent=20))
    campaign.refresh_from_db()
    assert campaign.body == "Hi\nReply STOP to opt out"  # variant A's text, saved as a body is
    assert [v.body for v in campaign.variants.all()] == ["Hi\nReply STOP to opt out", "Hello\nReply STOP to opt out"]
    assert ab_test.seed


CAMPAIGNS = "/api/v1/campaigns/"
CRUD = ("campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.delete_campaign")


def test_the_api_creates_an_ab_test_reports_the_variants_and_decides(api_client, sms_outbox):
    client = api_client(*CRUD, "campaigns.send_campaign")
    campaign, _ = make_campaign(40)
    ab_test = {"variants": BODIES, "test_percent": 50, "metric": "reply_rate", "wait_minutes": 60}
    response = client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"ab_test": ab_test}, format="json")
    assert response.status_code == 200, response.json()
    configured = response.json()["ab_test"]
    assert (configured["variants"], configured["test_percent"], configured["metric"]) == (BODIES, 50, "reply_rate")
    assert response.json()["body"] == BODIES[0]
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/send/").status_code in (200, 202)
    run_in_process()
    report = client.get(f"{CAMPAIGNS}{campaign.pk}/variants/").json()
    assert report["phase"] == "waiting" and report["winner"] is None
    assert [(v["label"], v["trials"]) for v in report["variants"]] == [("A", 10), ("B", 10)]
    assert all(0 <= v["low"] <= v["rate"] <= v["high"] <= 1 for v in report["variants"])
    refused = client.post(f"{CAMPAIGNS}{campaign.pk}/variants/decide/", {"variant": "Z"}, format="json")
    assert refused.status_code == 400 and "variant" in refused.json()["errors"]
    decided = client.post(f"{CAMPAIGNS}{campaign.pk}/variants/decide/", {"variant": "b"}, format="json")
    assert decided.status_code == 200, decided.json()
    assert (decided.json()["winner"], decided.json()["decided_by"], decided.json()["phase"]) == (
        "B",
        "staff",
        "decided",
    )
    run_in_process()
    assert CampaignSend.objects.filter(campaign=campaign, variant__label="B").count() == 30


def test_the_api_refuses_bad_variants_and_answers_404_without_a_test(api_client):
    client = api_client(*CRUD)
    campaign, _ = make_campaign(1)
    one = client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"ab_test": {"variants": ["only"]}}, format="json")
    assert one.status_code == 400 and "ab_test" in str(one.json()["errors"])
    share = client.patch(
        f"{CAMPAIGNS}{campaign.pk}/", {"ab_test": {"variants": ["a", "b"], "test_percent": 100}}, format="json"
    )
    assert share.status_code == 400
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/variants/").status_code == 404
    created = client.post(
        CAMPAIGNS, {"name": "Split", "body": "x", "ab_test": {"variants": ["one", "two", "three"]}}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert len(created.json()["ab_test"]["variants"]) == 3
    removed = client.patch(f"{CAMPAIGNS}{created.json()['id']}/", {"ab_test": None}, format="json")
    assert removed.status_code == 200 and removed.json()["ab_test"] is None
    viewer = api_client("campaigns.view_campaign")
    assert viewer.post(f"{CAMPAIGNS}{campaign.pk}/variants/decide/", {}, format="json").status_code == 403
