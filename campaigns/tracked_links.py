"""The links in a campaign's text that become short links, and the text as recipients get it.

A campaign that tracks links has each `http(s)://` URL of its body replaced, per recipient, by
`SHORT_LINK_BASE_URL` + a code of SHORT_LINK_CODE_LENGTH characters (the links app makes the codes at
fan-out and writes them in at send time). Everything that counts a text's length (the preview, its cost,
the draft's checks, the admin's live counter) counts that short link, not the long URL: a tracking URL can
double a message's segments, a short link of known length cannot.

The links app imports this module; it knows nothing of the links app.
"""

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

# 6 random bytes in URL-safe base64: 48 bits, 8 characters of [A-Za-z0-9_-], all GSM-7.
SHORT_LINK_CODE_BYTES = 6
SHORT_LINK_CODE_LENGTH = 8

# A URL ends at whitespace or a character that cannot be in one unescaped; punctuation closing a sentence
# ("see https://x.co/a.") is not part of it. The admin's live counter (segment-counter.js) uses the same rule.
_URL = re.compile(r"https?://[^\s<>\"'`|\\^]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]'\""
# Every character whose presence can decide where a URL is found or ends in a text: those of the scheme (either
# case), those that end a URL, and the punctuation a URL sheds. Two texts that differ only in other characters
# have their URLs in the same places (campaigns.value_shapes relies on it).
URL_DECIDING_CHARACTERS = frozenset("hHtTpPsS:/" + "<>\"'`|\\^" + _TRAILING)

# Public shorteners: carriers filter texts linking to them, because spammers hide behind them.
PUBLIC_SHORTENER_HOSTS = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
        "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "bl.ink", "t.ly", "s.id", "v.gd", "shorte.st",
        "adf.ly", "lnkd.in", "trib.al", "soo.gd", "clck.ru", "qr.net", "1url.com", "tiny.one",
    }
)  # fmt: skip


def _url_at(match: re.Match) -> str:
    return match.group(0).rstrip(_TRAILING)


def text_urls(text: str) -> list[str]:
    """The distinct URLs of a text, in order of appearance."""
    return list(dict.fromkeys(url for match in _URL.finditer(text) if (url := _url_at(match))))


def text_url_spans(text: str) -> list[tuple[int, int]]:
    """Where the URLs of a text are, as (start, end) of each match (before trailing punctuation is shed)."""
    return [match.span() for match in _URL.finditer(text)]


def text_urls_replace(text: str, replacement: Callable[[str], str | None]) -> str:
    """`text` with each URL swapped for `replacement(url)` (kept where it gives None)."""

    def swap(match: re.Match) -> str:
        whole = match.group(0)
        url = _url_at(match)
        new = replacement(url) if url else None
        return whole if new is None else new + whole[len(url) :]

    return _URL.sub(swap, text)


def short_link_base_url() -> str:
    """Where short links live, ending in "/": SHORT_LINK_BASE_URL."""
    return settings.SHORT_LINK_BASE_URL.rstrip("/") + "/"


def short_link_stand_in() -> str:
    """A short link exactly as long as a real one, for counting and previews before the codes exist."""
    return short_link_base_url() + "x" * SHORT_LINK_CODE_LENGTH


def trackable_urls(body: str) -> list[str]:
    """The URLs of a campaign body that become short links: those written out in full (a URL built from a
    placeholder differs per recipient, so it is sent as rendered)."""
    return [url for url in text_urls(body) if "{{" not in url and "{%" not in url]


def campaign_trackable_urls(campaign) -> list[str]:
    """The trackable URLs of the campaign's text and of its A/B variants' texts, each once, in order."""
    bodies = [campaign.body]
    if campaign.pk is not None:
        bodies += list(campaign.variants.values_list("body", flat=True))
    return list(dict.fromkeys(url for body in bodies for url in trackable_urls(body)))


def campaign_tracks_links(campaign) -> bool:
    """On when the campaign asks for it and its text (or a variant's) holds a URL to track."""
    return bool(campaign.track_links and campaign_trackable_urls(campaign))


def text_as_sent(*, campaign, text: str, body: str | None = None) -> str:
    """A text rendered from the campaign's body (or from `body`, an A/B variant's) with its tracked links as
    long as their short links."""
    if not campaign.track_links:
        return text
    return text_shortened(text, body=campaign.body if body is None else body)


def text_shortened(text: str, *, body: str) -> str:
    """`text` (rendered from `body`) with the body's trackable URLs as long as their short links."""
    tracked = frozenset(trackable_urls(body))
    if not tracked:
        return text
    stand_in = short_link_stand_in()
    return text_urls_replace(text, lambda url: stand_in if url in tracked else None)


def public_shorteners(text: str) -> list[str]:
    """The public shorteners a text links to (their hosts), in order of appearance."""
    hosts = (urlsplit(url).hostname or "" for url in text_urls(text))
    return list(dict.fromkeys(host for host in hosts if host.removeprefix("www.") in PUBLIC_SHORTENER_HOSTS))
