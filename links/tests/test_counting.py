"""A tracked link counts as long as its short link wherever a text's length is counted: the draft's checks, the
preview's segments and cost, the admin's live counter; and public shorteners are warned about."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.selectors import campaign_preview
from campaigns.services.drafts import campaign_body_check
from campaigns.tests.factories import CampaignFactory
from campaigns.tracked_links import public_shorteners, short_link_stand_in, text_as_sent, trackable_urls
from contacts.services.contacts import contact_lists_add
from contacts.tests.factories import ContactFactory, ContactListFactory
from smscampaigns.errors import ApplicationError

pytestmark = pytest.mark.django_db

# 150 characters of tracking URL: with it the text is 2 segments; with a 29-character short link, 1.
LONG_URL = "https://shop.example.com/spring/sale?utm_source=sms&utm_medium=text&ref=" + "x" * 78
BODY = f"Spring sale! {LONG_URL} Reply STOP to opt out"


def preview_of(body: str, **fields):
    audience = ContactListFactory()
    contact_lists_add(contact=ContactFactory(), contact_lists=[audience])
    campaign = CampaignFactory(body=body, **fields)
    campaign.lists.set([audience])
    from django.utils import timezone

    return campaign_preview(campaign=campaign, now=timezone.now())


def test_the_stand_in_is_as_long_as_a_real_short_link():
    assert short_link_stand_in() == "http://testserver/l/xxxxxxxx"
    assert len(BODY) > 160


def test_the_preview_counts_the_short_link_not_the_long_url():
    tracked = preview_of(BODY)
    assert (tracked.segments_per_message, tracked.tracked_links) == (1, 1)
    assert short_link_stand_in() in tracked.samples[0].body
    untracked = preview_of(BODY, track_links=False)
    assert (untracked.segments_per_message, untracked.tracked_links) == (2, 0)
    assert untracked.estimated_cost == 2 * tracked.estimated_cost


def test_a_draft_is_measured_with_its_short_links():
    long_text = f"{LONG_URL} " * 10 + "Reply STOP to opt out"  # 10 tracking URLs: over 10 segments written out
    with pytest.raises(ApplicationError, match="too long"):
        campaign_body_check(long_text)
    campaign_body_check(long_text, track_links=True)


def test_urls_end_before_sentence_punctuation_and_placeholders_are_not_tracked():
    text = "See https://a.example/x. Or (https://b.example/y), https://c.example/{{ code }} and http://d.example"
    assert trackable_urls(text) == ["https://a.example/x", "https://b.example/y", "http://d.example"]
    campaign = Campaign(body=text, track_links=True)
    assert text_as_sent(campaign=campaign, text=text) == (
        "See http://testserver/l/xxxxxxxx. Or (http://testserver/l/xxxxxxxx), https://c.example/{{ code }} and "
        "http://testserver/l/xxxxxxxx"
    )


def test_public_shorteners_are_named_in_the_preview(client, admin_user):
    assert public_shorteners("Go to https://bit.ly/abc or https://www.tinyurl.com/x or https://shop.example") == [
        "bit.ly",
        "www.tinyurl.com",
    ]
    preview = preview_of("Sale: https://bit.ly/3abc Reply STOP to opt out")
    assert preview.public_shorteners == ("bit.ly",)
    campaign = Campaign.objects.get()
    client.force_login(admin_user)
    page = client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk])).content.decode()
    assert "public shortener (bit.ly)" in page
    assert "Carriers filter texts with such links" in page


NODE = shutil.which("node")
COUNTER_JS = Path(__file__).resolve().parents[2] / "campaigns" / "static" / "campaigns" / "segment-counter.js"


@pytest.mark.skipif(NODE is None, reason="node is not installed: the JS counter cannot be run")
def test_the_live_counter_shortens_links_like_the_server():
    cases = [
        BODY,
        "See https://a.example/x. Or (https://b.example/y), https://c.example/{{ code }} and http://d.example",
        "no link at all",
        "https://only.example/path?q=1#frag",
    ]
    script = (
        "const c = require(process.argv[1]); const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(cases.map(t => c.withShortLinks(t, process.argv[2]))));"
    )
    run = subprocess.run(
        [NODE, "-e", script, str(COUNTER_JS), short_link_stand_in()],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [text_as_sent(campaign=Campaign(body=text, track_links=True), text=text) for text in cases]
    assert json.loads(run.stdout) == expected
