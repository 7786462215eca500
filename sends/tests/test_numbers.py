"""Number lookups (the cache, landline exclusion, bulk runs, import) and sender pools (sticky, local,
Powerpack, replies), against the Plivo simulator through the production backend."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import ExclusionReason, PoolNumber, SenderPool
from campaigns.selectors import campaign_preview
from campaigns.services.lifecycle import campaign_send_now
from campaigns.tests.factories import CampaignFactory
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, fictional_number
from sends.models import CampaignSend, InboundMessage, LookupRun, SenderAssignment
from sends.services.lookups import contact_lookup, lookup_estimate, lookup_run_execute, lookup_run_start
from sends.services.staff_test_sends import campaign_test_send
from sends.tests.engine import run_in_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]
S = CampaignSend.Status
# The simulator's rule: on the +1 plan a number ending in 7 or 8 is a landline, 9 VoIP, others mobile.
MOBILE, LANDLINE, VOIP = fictional_number(2001), fictional_number(2007), fictional_number(2009)


def audience(*numbers: str):
    contact_list = ContactListFactory()
    contacts = [ContactFactory(phone_number=n) for n in numbers]
    for contact in contacts:
        contact.lists.add(contact_list)
    return contact_list, contacts


# --- lookups ---------------------------------------------------------------------------------------------


def test_a_lookup_is_stored_and_never_repeated_within_its_age(plivo_simulator, settings):
    settings.NUMBER_LOOKUP_MAX_AGE_DAYS = 30
    contact = ContactFactory(phone_number=LANDLINE)
    assert contact_lookup(contact=contact) is True
    assert (contact.line_type, contact.lookup_country) == ("fixed", "US")
    assert contact.carrier and contact.looked_up_at is not None
    assert contact_lookup(contact=contact) is False  # cached: no second paid request
    assert plivo_simulator.stats()["lookups"] == 1
    Contact.objects.filter(pk=contact.pk).update(looked_up_at=timezone.now() - timedelta(days=31))
    contact.refresh_from_db()
    assert contact_lookup(contact=contact) is True
    assert plivo_simulator.stats()["lookups"] == 2


def test_landlines_are_excluded_with_their_own_reason_in_preview_and_fan_out(plivo_simulator, staff_user):
    contact_list, contacts = audience(MOBILE, LANDLINE, VOIP)
    for contact in contacts:
        contact_lookup(contact=contact)
    campaign = CampaignFactory(body="Sale today. STOP to opt out")
    campaign.lists.add(contact_list)
    preview = campaign_preview(campaign=campaign, now=timezone.now())
    assert preview.audience.excluded == {ExclusionReason.LINE_TYPE: 1}
    assert preview.audience.eligible == 2
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    skipped = CampaignSend.objects.get(campaign=campaign, status=S.SKIPPED)
    assert (skipped.to_number, skipped.skip_reason) == (LANDLINE, ExclusionReason.LINE_TYPE)
    campaign.refresh_from_db()
    assert campaign.skipped_by_reason == {ExclusionReason.LINE_TYPE: 1}
    assert sorted(m["dst"] for m in plivo_simulator.messages()) == [MOBILE, VOIP]


def test_excluded_line_types_are_a_setting(plivo_simulator, settings):
    contact_list, contacts = audience(LANDLINE, VOIP)
    for contact in contacts:
        contact_lookup(contact=contact)
    campaign = CampaignFactory()
    campaign.lists.add(contact_list)
    settings.NUMBER_LOOKUP_EXCLUDED_LINE_TYPES = ["voip"]
    assert campaign_preview(campaign=campaign, now=timezone.now()).audience.excluded == {"line_type": 1}
    settings.NUMBER_LOOKUP_EXCLUDED_LINE_TYPES = []
    assert campaign_preview(campaign=campaign, now=timezone.now()).audience.excluded == {}


def test_a_list_lookup_estimates_then_runs_with_progress(
    plivo_simulator, staff_user, settings, django_capture_on_commit_callbacks
):
    settings.NUMBER_LOOKUP_PRICE = Decimal("0.004")
    contact_list, contacts = audience(MOBILE, LANDLINE, VOIP, fictional_number(2011))
    contact_lookup(contact=contacts[0])  # fresh: neither counted nor paid again
    scope = Contact.objects.filter(lists=contact_list)
    estimate = lookup_estimate(contacts=scope)
    assert (estimate.due, estimate.fresh, str(estimate.cost)) == (3, 1, "0.012")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = lookup_run_start(scope="list", scope_id=contact_list.pk, actor=staff_user)
    assert len(callbacks) == 1  # the task, enqueued once the run is committed
    assert (run.total, run.status, str(run.estimated_cost)) == (3, LookupRun.Status.PENDING, "0.012")
    lookup_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.looked_up, run.failed, run.percent_done) == (LookupRun.Status.DONE, 3, 0, 100)
    assert str(run.cost) == "0.01200"
    assert plivo_simulator.stats()["lookups"] == 4
    assert set(scope.values_list("line_type", flat=True)) == {"mobile", "fixed", "voip"}


def test_a_list_lookup_stops_on_an_account_error_and_says_why(plivo_simulator, staff_user):
    contact_list, _ = audience(MOBILE, LANDLINE)
    plivo_simulator.set_faults(account_error=401)
    run = lookup_run_start(scope="list", scope_id=contact_list.pk, actor=staff_user)
    lookup_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == LookupRun.Status.FAILED and "authentication" in run.error


def test_import_contacts_with_lookup(plivo_simulator, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text(f"phone\n{MOBILE}\n{LANDLINE}\n")
    out = StringIO()
    call_command("import_contacts", str(csv), "--list", "Imported", "--consent-source", "web form", "--lookup",
                 stdout=out)  # fmt: skip
    assert "Looked up 2 numbers" in out.getvalue()
    assert dict(Contact.objects.values_list("phone_number", "line_type")) == {MOBILE: "mobile", LANDLINE: "fixed"}


# --- sender pools ----------------------------------------------------------------------------------------

POOL_NUMBERS = ["+14155550190", "+12125550190", "+13125550190"]


def numbers_pool(**kwargs) -> SenderPool:
    pool = SenderPool.objects.create(name="US pool", rate_per_number=1000, **kwargs)
    for number in POOL_NUMBERS:
        PoolNumber.objects.create(pool=pool, number=number)
    return pool


def send_campaign(pool, contact_list, staff_user):
    campaign = CampaignFactory(body="Sale today. STOP to opt out", sender="", sender_pool=pool)
    campaign.lists.add(contact_list)
    campaign_send_now(campaign=campaign, actor=staff_user)
    run_in_process()
    return campaign


def test_a_contact_hears_from_the_same_pool_number_across_campaigns(plivo_simulator, staff_user):
    pool = numbers_pool(local_match=False)
    contact_list, _contacts = audience(*[fictional_number(2100 + i) for i in range(12)])
    send_campaign(pool, contact_list, staff_user)
    first = {m["dst"]: m["src"] for m in plivo_simulator.messages()}
    assert len(first) == 12 and set(first.values()) <= set(POOL_NUMBERS)
    assert len(set(first.values())) > 1  # spread over the pool
    # The pool's numbers change order and a number joins: nobody moves.
    PoolNumber.objects.create(pool=pool, number="+16175550190")
    plivo_simulator.reset()
    send_campaign(pool, contact_list, staff_user)
    second = {m["dst"]: m["src"] for m in plivo_simulator.messages()}
    assert second == first
    assert SenderAssignment.objects.filter(pool=pool).count() == 12


def test_a_pool_number_with_the_recipients_area_code_is_chosen(plivo_simulator, staff_user):
    pool = numbers_pool()
    contact_list, _ = audience("+12125550111", "+13125550111", "+16175550111")
    send_campaign(pool, contact_list, staff_user)
    by_destination = {m["dst"]: m["src"] for m in plivo_simulator.messages()}
    assert by_destination["+12125550111"] == "+12125550190"
    assert by_destination["+13125550111"] == "+13125550190"
    assert by_destination["+16175550111"] in POOL_NUMBERS


def test_a_powerpack_campaign_is_sent_with_powerpack_uuid(plivo_simulator, staff_user):
    plivo_simulator.set_powerpacks({"uuid": "pp-42", "numbers": POOL_NUMBERS})
    pool = SenderPool.objects.create(name="PP", kind=SenderPool.Kind.POWERPACK, powerpack_uuid="pp-42")
    contact_list, _ = audience("+12125550111", fictional_number(2101))
    campaign = send_campaign(pool, contact_list, staff_user)
    messages = plivo_simulator.messages()
    assert {m["powerpack_uuid"] for m in messages} == {"pp-42"}
    assert {m["dst"]: m["src"] for m in messages}["+12125550111"] == "+12125550190"
    assert CampaignSend.objects.filter(campaign=campaign, status=S.SENT).count() == 2


def test_a_reply_to_any_pool_number_is_attributed_to_the_campaign(plivo_simulator_live, staff_user):
    pool = numbers_pool(local_match=False)
    contact_list, [contact] = audience(fictional_number(2121))
    campaign = send_campaign(pool, contact_list, staff_user)
    [message] = plivo_simulator_live.messages()
    plivo_simulator_live.inbound(from_=contact.phone_number.as_e164, to=message["src"], text="STOP")
    plivo_simulator_live.wait_for_callbacks()
    inbound = InboundMessage.objects.get()
    assert inbound.to_number.lstrip("+") == message["src"].lstrip("+")
    campaign.refresh_from_db()
    assert campaign.opt_out_count == 1
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED


def test_a_test_send_of_a_pool_campaign_goes_from_the_number_the_contact_hears_from(plivo_simulator, staff_user):
    pool = numbers_pool(local_match=False)
    contact_list, [contact] = audience(fictional_number(2131))
    send_campaign(pool, contact_list, staff_user)
    [sent] = plivo_simulator.messages()
    draft = CampaignFactory(body="Next sale. STOP to opt out", sender="", sender_pool=pool)
    plivo_simulator.reset()
    [result] = campaign_test_send(campaign=draft, numbers=[contact.phone_number.as_e164], actor=staff_user)
    assert result.message_uuid
    assert [m["src"] for m in plivo_simulator.messages()] == [sent["src"]]
    powerpack = SenderPool.objects.create(name="PP", kind=SenderPool.Kind.POWERPACK, powerpack_uuid="pp-7")
    draft.sender_pool = powerpack
    draft.save()
    plivo_simulator.reset()
    plivo_simulator.set_powerpacks({"uuid": "pp-7", "numbers": ["+12125550190"]})
    campaign_test_send(campaign=draft, numbers=["+14155550142"], actor=staff_user)
    [message] = plivo_simulator.messages()
    assert (message["src"], message["powerpack_uuid"]) == ("+12125550190", "pp-7")


def test_a_list_lookup_retries_transient_failures_and_counts_what_never_answered(plivo_simulator, staff_user):
    contact_list, _ = audience(*[fictional_number(2140 + i) for i in range(6)])
    plivo_simulator.set_faults(share_5xx=0.4, seed=7)
    run = lookup_run_start(scope="list", scope_id=contact_list.pk, actor=staff_user)
    lookup_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.looked_up, run.failed) == (LookupRun.Status.DONE, 6, 0)
    assert plivo_simulator.stats().get("answers_500", 0) > 0  # some were answered 500 and asked again
    plivo_simulator.set_faults(share_5xx=1.0)
    unlucky_list, unlucky = audience(fictional_number(2150), fictional_number(2151))
    run = lookup_run_start(scope="list", scope_id=unlucky_list.pk, actor=staff_user)
    lookup_run_execute(run_id=run.pk)
    run.refresh_from_db()
    # A provider that keeps failing fails those numbers, not the run; they stay due for the next one.
    assert (run.status, run.looked_up, run.failed) == (LookupRun.Status.DONE, 0, 2)
    assert not Contact.objects.filter(pk__in=[c.pk for c in unlucky], looked_up_at__isnull=False).exists()


def test_a_segment_lookup_reaches_whoever_the_segment_matches(plivo_simulator, staff_user, admin_client):
    from contacts.models import Segment
    from contacts.tests.factories import condition_dict

    _, contacts = audience(MOBILE, LANDLINE, VOIP)
    ContactFactory(phone_number=fictional_number(2011), first_name="Zed")
    rules = {
        "match": "all",
        "groups": [{"match": "all", "conditions": [condition_dict("first_name", "equals", "Ann")]}],
    }
    Contact.objects.filter(pk__in=[contacts[0].pk, contacts[1].pk]).update(first_name="Ann")
    segment = Segment.objects.create(name="Anns", rules=rules)
    run = lookup_run_start(scope="segment", scope_id=segment.pk, actor=staff_user)
    assert (run.total, run.scope_label) == (2, "segment Anns")
    lookup_run_execute(run_id=run.pk)
    assert sorted(Contact.objects.exclude(line_type="").values_list("line_type", flat=True)) == ["fixed", "mobile"]

    # The admin: a segment chosen instead of a list, the estimate first, then the run.
    client = admin_client
    add = "/admin/sends/lookuprun/add/"
    neither = client.post(add, {"estimate": "1"})
    assert "Choose a list or a segment" in neither.content.decode()
    Contact.objects.update(looked_up_at=None, line_type="")
    shown = client.post(add, {"segment": segment.pk, "estimate": "1"})
    assert shown.context["estimated_for"] == f"segment:{segment.pk}" and shown.context["estimate"].due == 2
    started = client.post(add, {"segment": segment.pk, "confirm": "1", "estimated_for": f"segment:{segment.pk}"})
    assert started.status_code == 302
    assert LookupRun.objects.filter(scope="segment", scope_id=segment.pk).count() == 2
