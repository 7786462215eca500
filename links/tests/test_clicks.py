"""GET /l/<code>: the redirect, the plain 404, expiry, and clicks sorted into people, previews and scanners."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from links import bots
from links.models import Click, ShortLink, TrackedLink
from links.services.clicks import clicks_apply, link_clicks_flush

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36"
)


def fetch(code: str, *, ua: str = IPHONE, method: str = "get", address: str = "203.0.113.9"):
    client = Client(HTTP_USER_AGENT=ua, REMOTE_ADDR=address) if ua is not None else Client(REMOTE_ADDR=address)
    return getattr(client, method)(f"/l/{code}")


def flushed() -> None:
    link_clicks_flush()


def codes_of(campaign: Campaign) -> list[ShortLink]:
    return list(ShortLink.objects.filter(link__campaign=campaign, link__position=0).order_by("send_id"))


def test_a_short_link_redirects_to_its_destination_and_counts_the_click(sent_campaign):
    campaign, _ = sent_campaign(2, utm_source="sms")
    first = codes_of(campaign)[0]
    response = fetch(first.code)
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/sale?ref=sms&utm_source=sms"
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert not Click.objects.exists()  # written by the flush, not by the redirect
    flushed()
    click = Click.objects.get()
    assert (click.send_id, click.kind, click.user_agent) == (first.send_id, Click.Kind.CLICK, IPHONE)
    assert click.ip_hash and "203.0.113.9" not in click.ip_hash
    campaign.refresh_from_db()
    assert campaign.clicked_count == 1


def test_the_first_human_click_per_recipient_counts_later_ones_are_repeats(sent_campaign):
    campaign, _ = sent_campaign(2)
    ann_sale, bob_sale = codes_of(campaign)
    ann_faq = ShortLink.objects.get(send_id=ann_sale.send_id, link__position=1)
    fetch(ann_sale.code)
    fetch(ann_sale.code, ua=ANDROID)
    fetch(ann_faq.code)  # the same recipient on the other link: still one recipient who clicked
    flushed()
    fetch(ann_sale.code)  # and in a later batch
    fetch(bob_sale.code)
    flushed()
    kinds = list(Click.objects.filter(send_id=ann_sale.send_id).order_by("clicked_at").values_list("kind", flat=True))
    assert kinds == ["click", "repeat", "repeat", "repeat"]
    campaign.refresh_from_db()
    assert campaign.clicked_count == 2


@pytest.mark.parametrize(
    ("ua", "method", "kind"),
    [
        ("WhatsApp/2.24.6.77 A", "get", Click.Kind.PREVIEW),
        ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", "get", Click.Kind.PREVIEW),  # Apple Messages' preview
        ("TelegramBot (like TwitterBot)", "get", Click.Kind.PREVIEW),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", "get", Click.Kind.PREVIEW),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "get", Click.Kind.PREVIEW),
        ("Mozilla/5.0 (compatible; urlscan.io)", "get", Click.Kind.SCANNER),
        ("python-requests/2.31.0", "get", Click.Kind.SCANNER),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "get", Click.Kind.SCANNER),
        ("", "get", Click.Kind.SCANNER),
        (IPHONE, "head", Click.Kind.HEAD),
    ],
)
def test_previews_scanners_and_head_requests_are_counted_apart(sent_campaign, ua, method, kind):
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    assert fetch(code, ua=ua, method=method).status_code == 302  # they get the redirect like anyone
    flushed()
    assert list(Click.objects.values_list("kind", flat=True)) == [kind]
    campaign.refresh_from_db()
    assert campaign.clicked_count == 0
    # The person's own tap afterwards is still their first click.
    fetch(code)
    flushed()
    assert Click.objects.filter(kind=Click.Kind.CLICK).count() == 1


def test_people_are_not_taken_for_bots():
    for ua in (IPHONE, ANDROID, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"):
        assert bots.click_source(method="GET", user_agent=ua) == bots.HUMAN


def test_an_unknown_code_answers_a_plain_404_that_reveals_nothing(sent_campaign):
    sent_campaign(1)
    for code in ("AAAAAAAA", "x", "a" * 16):
        response = fetch(code)
        assert response.status_code == 404
        text = response.content.decode()
        assert "Link not found" in text
        for telling in ("admin", "campaign", "shop.example.com", "smscampaigns", "Django"):
            assert telling not in text
    assert fetch("a" * 17).status_code == 404  # longer than any code: not even looked up
    link_clicks_flush()
    assert not Click.objects.exists()


def test_an_expired_link_leads_to_the_expired_page_or_a_404(sent_campaign, settings):
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    TrackedLink.objects.filter(campaign=campaign).update(expires_at=timezone.now() - timedelta(seconds=1))
    settings.SHORT_LINK_EXPIRED_URL = ""
    assert fetch(code).status_code == 404
    settings.SHORT_LINK_EXPIRED_URL = "https://shop.example.com/expired"
    response = fetch(code)
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/expired")
    flushed()
    assert not Click.objects.exists()  # an expired link counts nothing


def test_links_expire_after_short_link_expiry_days(sent_campaign, settings):
    settings.SHORT_LINK_EXPIRY_DAYS = 30
    campaign, _ = sent_campaign(1)
    link = TrackedLink.objects.filter(campaign=campaign).first()
    assert timedelta(days=29, hours=23) < link.expires_at - timezone.now() <= timedelta(days=30)


def test_post_to_a_short_link_is_refused(sent_campaign):
    campaign, _ = sent_campaign(1)
    assert fetch(codes_of(campaign)[0].code, method="post").status_code == 405


def test_a_batch_written_twice_adds_nothing(sent_campaign):
    from links.services.clicks import ClickEvent

    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    event = ClickEvent(event_id="1-0", code=code, at=timezone.now(), method="GET", user_agent=IPHONE, ip_hash="x")
    assert clicks_apply(events=[event]) == 1
    clicks_apply(events=[event])
    assert Click.objects.count() == 1
    campaign.refresh_from_db()
    assert campaign.clicked_count == 1
