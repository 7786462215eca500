"""Writing each recipient's short links into their rendered text, at send time (sends calls body_rewriter
through SENDS_BODY_REWRITER)."""

from collections import defaultdict
from collections.abc import Callable

from campaigns.models import Campaign
from campaigns.tracked_links import short_link_base_url, text_urls_replace
from links.models import ShortLink, TrackedLink


def body_rewriter(*, campaign: Campaign, send_ids: list[int]) -> Callable[[int, str], str] | None:
    """For a chunk of the campaign's sends: a function giving a send's text with its short links in place of
    the tracked URLs, or None when the campaign tracks none. Two queries per chunk, none per recipient."""
    urls = dict(TrackedLink.objects.filter(campaign=campaign).values_list("pk", "url"))
    if not urls:
        return None
    base = short_link_base_url()
    codes: dict[int, dict[str, str]] = defaultdict(dict)
    for send_id, link_id, code in ShortLink.objects.filter(send_id__in=send_ids).values_list(
        "send_id", "link_id", "code"
    ):
        codes[send_id][urls[link_id]] = base + code

    def rewrite(send_id: int, text: str) -> str:
        # A send without codes (written before the campaign tracked links) keeps its URLs as they are.
        own = codes.get(send_id)
        return text_urls_replace(text, own.get) if own else text

    return rewrite
