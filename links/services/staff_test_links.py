"""Short links in staff test sends: the tester's phone gets the text as recipients will (a short link, the
same length, leading to the same destination), and their taps count in no campaign's figures."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tracked_links import short_link_base_url, text_urls_replace, trackable_urls
from links.models import ShortLink, StaffTestLink
from links.services.codes import link_destination, new_code


def staff_test_send_text(*, campaign: Campaign, text: str) -> str:
    """`text` (the campaign's body rendered for a test) with each URL the campaign tracks replaced by a new
    test short link; as it is when the campaign tracks none. Called by sends through
    SENDS_TEST_BODY_REWRITER."""
    if not campaign.track_links:
        return text
    tracked = frozenset(trackable_urls(campaign.body))
    if not tracked:
        return text
    expires_at = timezone.now() + timedelta(days=settings.SHORT_LINK_EXPIRY_DAYS)
    base = short_link_base_url()
    made: dict[str, str] = {}

    def shortened(url: str) -> str | None:
        if url not in tracked:
            return None
        if url not in made:
            made[url] = base + _test_link_create(campaign=campaign, url=url, expires_at=expires_at).code
        return made[url]

    return text_urls_replace(text, shortened)


def _test_link_create(*, campaign: Campaign, url: str, expires_at) -> StaffTestLink:
    while True:
        code = new_code()
        # A recipient's code is found first by the redirect: never give a test the same one (48 random bits
        # make this loop run once).
        if not ShortLink.objects.filter(code=code).exists() and not StaffTestLink.objects.filter(code=code).exists():
            return StaffTestLink.objects.create(
                code=code,
                campaign=campaign,
                url=url,
                destination=link_destination(url=url, campaign=campaign),
                expires_at=expires_at,
            )
