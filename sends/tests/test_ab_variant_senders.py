"""A/B variants with a sender of their own: each variant's share goes from its sender (a number, or a pool),
the rest of the audience from the winner's; checked as a campaign's sender is, in the service, the admin, the
API, the previews and the launch confirmation."""

from collections import Counter

import pytest

from audit.models import AuditEvent
from campaigns.models import CampaignVariant, PoolNumber, SenderPool
from campaigns.selectors import campaign_variants_preview
from campaigns.services.ab_tests import ABSettings, VariantSender, campaign_ab_test_set
from campaigns.services.lifecycle import campaign_ready_check, campaign_send_now
from campaigns.services.sender_pools import sender_pool_delete
from campaigns.tests.admin_pages import action_url, hidden_inputs, preview_url
from conversations.selectors import reply_sender
from sends.models import CampaignSend, SenderAssignment
from sends.services.ab_tests import ab_decide
from sends.services.staff_test_sends import campaign_test_send
from sends.tests.engine import run_in_process
from sends.tests.test_ab_tests import BODIES, per_destination
from sends.tests.test_engine import make_campaign
from smscampaigns.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
CAMPAIGN_SENDER = "+14155550100"  # CampaignFactory's
B_SENDER = "+12125550177"
POOL_NUMBERS = ["+13125550181", "+13125550182"]


def senders_by_number(outbox) -> dict[str, list[str]]:
    return per_destination(outbox, "sender")


def sends_of(campaign, label: str) -> set[str]:
    return set(CampaignSend.objects.filter(campaign=campaign, variant__label=label).values_list("to_number", flat=True))


def numbers_pool(name: str = "Chicago") -> SenderPool:
    pool = SenderPool.objects.create(name=name, rate_per_number=100, local_match=False)
    for number in POOL_NUMBERS:
        PoolNumber.objects.create(pool=pool, number=number)
    return pool


@pytest.mark.parametrize(("winner", "rest_from"), [("B", B_SENDER), ("A", CAMPAIGN_SENDER)])
def test_each_variant_goes_from_its_sender_and_the_rest_from_the_winners(staff_user, sms_outbox, winner, rest_from):
    campaign, _ = make_campaign(40)
    campaign_ab_test_set(
        campaign=campaign,
        bodies=BODIES,
        senders=[VariantSender(), VariantSender(sender="+1 (212) 555-0177")],
        settings=ABSettings(test_percent=50),
        actor=staff_user,
    )
    assert campaign.variants.get(label="B").sender == B_SENDER  # cleaned to E.164 as a campaign's sender is
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process(ticks=2)
    first = senders_by_number(sms_outbox)
    assert {number: senders for number, senders in first.items() if number in sends_of(campaign, "A")} == {
        number: [CAMPAIGN_SENDER] for number in sends_of(campaign, "A")
    }
    assert {first[number][0] for number in sends_of(campaign, "B")} == {B_SENDER}
    assert len(first) == 20

    sms_outbox.clear()
    ab_decide(campaign=campaign, actor=staff_user, variant=campaign.variants.get(label=winner))
    run_in_process()
    rest = senders_by_number(sms_outbox)
    assert len(rest) == 20 and not set(rest) & set(first)  # the test share's recipients get nothing more
    assert Counter(senders[0] for senders in rest.values()) == {rest_from: 20}
    assert Counter(CampaignSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {S.SENT: 40}


def test_a_variant_may_send_from_a_pool_and_another_from_one_number_beside_a_pooled_campaign(staff_user, sms_outbox):
    campaign, _ = make_campaign(24)
    campaign_pool = SenderPool.objects.create(name="Campaign pool", rate_per_number=100, local_match=False)
    PoolNumber.objects.create(pool=campaign_pool, number="+16175550101")
    campaign.sender, campaign.sender_pool = "", campaign_pool
    campaign.save()
    b_pool = numbers_pool()
    campaign_ab_test_set(
        campaign=campaign,
        bodies=[*BODIES, "Last chance: 20% off. STOP to opt out"],
        senders=[VariantSender(), VariantSender(sender_pool=b_pool), VariantSender(sender="Shop")],
        settings=ABSettings(),
        actor=staff_user,
    )
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    got = senders_by_number(sms_outbox)
    assert len(got) == 24 and all(len(senders) == 1 for senders in got.values())
    assert {got[n][0] for n in sends_of(campaign, "A")} == {"+16175550101"}
    b_senders = Counter(got[n][0] for n in sends_of(campaign, "B"))
    assert set(b_senders) == set(POOL_NUMBERS) and sum(b_senders.values()) == 8  # spread over B's pool
    assert {got[n][0] for n in sends_of(campaign, "C")} == {"Shop"}  # an alphanumeric id, as campaigns may
    # B's pool is sticky: its recipients keep the number they heard from, in that pool.
    kept = dict(SenderAssignment.objects.filter(pool=b_pool).values_list("contact_id", "number"))
    b_sends = CampaignSend.objects.filter(campaign=campaign, variant__label="B")
    assert kept == {contact_id: got[number][0] for contact_id, number in b_sends.values_list("contact_id", "to_number")}


def test_a_variants_sender_is_checked_like_a_campaigns(staff_user):
    campaign, _ = make_campaign(1)
    pool = numbers_pool()

    def refused(*senders: VariantSender) -> str:
        with pytest.raises(ApplicationError) as caught:
            campaign_ab_test_set(campaign=campaign, bodies=BODIES, senders=list(senders), settings=ABSettings())
        assert caught.value.field == "variants"
        return caught.value.message

    assert "variant B: choose either a sender or a sender pool, not both" in refused(
        VariantSender(), VariantSender(sender=B_SENDER, sender_pool=pool)
    )
    assert "variant B: the sender must be a phone number or an alphanumeric id" in refused(
        VariantSender(), VariantSender(sender="not a number!")
    )
    assert "3 senders for 2 variants" in refused(VariantSender(), VariantSender(), VariantSender())
    assert not CampaignVariant.objects.filter(campaign=campaign).exists()

    campaign_ab_test_set(
        campaign=campaign, bodies=BODIES, senders=[VariantSender(sender_pool=pool)], settings=ABSettings()
    )
    assert [(v.label, v.sender, v.sender_pool) for v in campaign.variants.all()] == [("A", "", pool), ("B", "", None)]
    event = AuditEvent.objects.get(action="campaign.ab_test_set")
    assert event.data["senders"] == {"A": f"pool {pool.pk}"}
    # A pool a variant sends from is part of its record: it cannot be deleted, and one gone empty stops launch.
    with pytest.raises(ApplicationError, match="is the sender of campaigns"):
        sender_pool_delete(pool=pool, actor=staff_user)
    pool.numbers.all().delete()
    with pytest.raises(ApplicationError, match="variant A: the sender pool 'Chicago' has no numbers"):
        campaign_ready_check(campaign)


def test_each_variants_preview_says_where_it_goes_from(staff_user, settings):
    campaign, _ = make_campaign(2)
    pool = numbers_pool()
    campaign_ab_test_set(
        campaign=campaign,
        bodies=[*BODIES, "Third text. STOP to opt out"],
        senders=[VariantSender(), VariantSender(sender=B_SENDER), VariantSender(sender_pool=pool)],
        settings=ABSettings(),
    )
    previews = campaign_variants_preview(campaign=campaign, now=campaign.created_at)
    assert [(p.label, p.sender, p.own_sender) for p in previews] == [
        ("A", f"the campaign's: {CAMPAIGN_SENDER}", False),
        ("B", B_SENDER, True),
        ("C", "Numbers managed here 'Chicago'", True),
    ]
    assert all(p.preview.segments_per_message == 1 and p.preview.will_be_texted == 2 for p in previews)


def test_a_test_send_of_variant_a_goes_from_its_own_sender(staff_user, sms_outbox):
    campaign, _ = make_campaign(1)
    campaign_ab_test_set(
        campaign=campaign, bodies=BODIES, senders=[VariantSender(sender=B_SENDER)], settings=ABSettings()
    )
    campaign.refresh_from_db()
    campaign_test_send(campaign=campaign, numbers=["+14155550142"], actor=staff_user)
    [message] = sms_outbox
    assert (message.sender, message.body) == (B_SENDER, BODIES[0])


def test_a_reply_goes_from_the_sender_of_the_variant_the_contact_got(staff_user, sms_outbox):
    campaign, _ = make_campaign(6)
    campaign_ab_test_set(
        campaign=campaign,
        bodies=BODIES,
        senders=[VariantSender(), VariantSender(sender=B_SENDER)],
        settings=ABSettings(),
    )
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    for send in CampaignSend.objects.filter(campaign=campaign).select_related("variant", "contact"):
        assert reply_sender(contact=send.contact) == (B_SENDER if send.variant.label == "B" else CAMPAIGN_SENDER)


# --- The admin: the A/B page's form and previews, and the launch confirmation ---------------------------------


def ab_page(campaign) -> str:
    return f"/admin/campaigns/campaign/{campaign.pk}/ab-test/"


def ab_form(**fields) -> dict:
    return {
        "variant_a": BODIES[0],
        "variant_b": BODIES[1],
        "metric": "click_rate",
        "wait_minutes": 60,
        "confidence_percent": 95,
        "fallback": "variant_a",
        **fields,
    }


@pytest.mark.usefixtures("staff_roles")
def test_the_ab_page_sets_each_variants_sender_and_shows_it_in_the_previews(client, manager):
    campaign, _ = make_campaign(2)
    pool = numbers_pool()
    client.force_login(manager)
    page = client.get(ab_page(campaign)).content.decode()
    assert 'name="sender_b"' in page and 'name="sender_pool_b"' in page
    response = client.post(ab_page(campaign), ab_form(sender_b="+1 212 555 0177", sender_pool_a=pool.pk))
    assert response.status_code == 302, response.content.decode()
    assert [(v.label, v.sender, v.sender_pool_id) for v in campaign.variants.all()] == [
        ("A", "", pool.pk),
        ("B", B_SENDER, None),
    ]
    page = client.get(ab_page(campaign)).content.decode()
    assert f'value="{B_SENDER}"' in page  # the form shows what was saved
    assert f'<td data-count="sender" class="ab-own-sender">{B_SENDER}</td>' in page
    assert "Numbers managed here &#x27;Chicago&#x27;" in page

    refused = client.post(ab_page(campaign), ab_form(sender_b=B_SENDER, sender_pool_b=pool.pk))
    assert refused.status_code == 200
    assert "variant B: choose either a sender or a sender pool, not both" in refused.content.decode()
    assert campaign.variants.get(label="B").sender_pool is None


@pytest.mark.usefixtures("staff_roles")
def test_without_pools_the_ab_page_offers_a_sender_per_variant_only(client, manager):
    campaign, _ = make_campaign(1)
    client.force_login(manager)
    page = client.get(ab_page(campaign)).content.decode()
    assert 'name="sender_a"' in page and "sender_pool_a" not in page


@pytest.mark.usefixtures("staff_roles")
@pytest.mark.parametrize("change", ["variant_sender", "campaign_pool"])
def test_confirm_is_refused_when_a_sender_changed_after_the_preview(client, manager, change):
    campaign, _ = make_campaign(2)
    campaign.sender, campaign.sender_pool = "", numbers_pool()
    campaign.save()
    campaign_ab_test_set(campaign=campaign, bodies=BODIES, settings=ABSettings())
    client.force_login(manager)
    fields = hidden_inputs(client.get(preview_url(campaign)).content.decode())
    if change == "variant_sender":
        CampaignVariant.objects.filter(campaign=campaign, label="B").update(sender=B_SENDER)
        said = "an A/B variant&#x27;s sender"
    else:  # another pool, the sender unchanged
        campaign.sender_pool = numbers_pool("Boston")
        campaign.save()
        said = "the sender pool"

    page = client.post(action_url(campaign, "send_now"), fields, follow=True).content.decode()

    assert "the campaign changed since you previewed it" in page and said in page
    campaign.refresh_from_db()
    assert campaign.status == campaign.Status.DRAFT


# --- The API ---------------------------------------------------------------------------------------------------

CAMPAIGNS = "/api/v1/campaigns/"
CRUD = ("campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.delete_campaign")


def test_the_api_gives_variants_their_own_senders_and_reports_them(api_client, sms_outbox):
    client = api_client(*CRUD, "campaigns.send_campaign")
    pool = numbers_pool()
    campaign, _ = make_campaign(8)
    variants = [
        BODIES[0],
        {"body": BODIES[1], "sender": "+1 212 555 0177"},
        {"body": "Third. STOP", "sender_pool": pool.pk},
    ]
    response = client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"ab_test": {"variants": variants}}, format="json")
    assert response.status_code == 200, response.json()
    configured = response.json()["ab_test"]
    assert configured["variants"] == [BODIES[0], BODIES[1], "Third. STOP"]
    assert configured["variant_senders"] == [
        {"label": "A", "sender": "", "sender_pool": None},
        {"label": "B", "sender": B_SENDER, "sender_pool": None},
        {"label": "C", "sender": "", "sender_pool": pool.pk},
    ]
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/send/").status_code in (200, 202)
    run_in_process()
    report = client.get(f"{CAMPAIGNS}{campaign.pk}/variants/").json()
    assert [(v["label"], v["sender"], v["sender_pool"]) for v in report["variants"]] == [
        ("A", "", None),
        ("B", B_SENDER, None),
        ("C", "", pool.pk),
    ]
    assert {message.sender for message in sms_outbox if message.body == BODIES[1]} == {B_SENDER}


@pytest.mark.parametrize(
    ("variant_b", "error"),
    [
        ({"body": "x", "sender": "+12125550177", "sender_pool": "__pool__"}, "not both"),
        ({"body": "x", "sender": "not a number!"}, "alphanumeric id"),
        ({"body": "x", "sender_pool": 999_999}, "Invalid pk"),
        ({"sender": "+12125550177"}, "required"),
        (42, "a text, or an object with body"),
    ],
)
def test_the_api_refuses_a_bad_variant_sender(api_client, variant_b, error):
    client = api_client(*CRUD)
    pool = numbers_pool()
    if isinstance(variant_b, dict) and variant_b.get("sender_pool") == "__pool__":
        variant_b = {**variant_b, "sender_pool": pool.pk}
    campaign, _ = make_campaign(1)
    response = client.patch(f"{CAMPAIGNS}{campaign.pk}/", {"ab_test": {"variants": ["a", variant_b]}}, format="json")
    assert response.status_code == 400 and error in str(response.json()), response.json()
    assert not CampaignVariant.objects.filter(campaign=campaign).exists()
