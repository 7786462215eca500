"""Who fetched a short link: a person, or a machine a person never sees (a messaging app or social network
building a link preview, a security scanner checking the link before the person taps it).

Preview fetchers and scanners are named here because they are the ones that fetch texted links (the
CrawlerDetect list knows them only as "bots"); any other crawler CrawlerDetect recognises counts as a scanner.
"""

import re
from functools import lru_cache

from crawlerdetect import CrawlerDetect

# Link previews: Apple's Messages fetches as facebookexternalhit/Twitterbot; Teams/Skype as SkypeUriPreview.
PREVIEW_FETCHERS = re.compile(
    r"facebookexternalhit|facebot|facebookcatalog|whatsapp|twitterbot|slackbot|slack-imgproxy|telegrambot|"
    r"discordbot|linkedinbot|skypeuripreview|microsoftpreview|iframely|embedly|redditbot|pinterest|"
    r"snapchat|viber|kakaotalk-scrap|vkshare|linespider|mastodon|bluesky|cardyb|mattermost|"
    r"google-pagerenderer|googlebot|google-safety|bingbot|bingpreview|applebot|yahoo.*slurp|duckduckbot",
    re.IGNORECASE,
)
# Scanners of mail and message security gateways, and HTTP libraries no person browses with.
SCANNERS = re.compile(
    r"barracuda|proofpoint|mimecast|urlscan|symantec|trend ?micro|zscaler|forcepoint|sophos|cisco|paloalto|"
    r"palo alto|fortinet|fortiguard|netcraft|virustotal|safelinks|bitdefender|kaspersky|mcafee|checkpoint|"
    r"python-requests|python-urllib|aiohttp|httpx|curl/|wget|go-http-client|okhttp|java/|libwww|"
    r"headlesschrome|phantomjs|scrapy|nmap|masscan|zgrab|nuclei",
    re.IGNORECASE,
)

HUMAN, PREVIEW, SCANNER, HEAD = "human", "preview", "scanner", "head"


@lru_cache(maxsize=1)
def _crawlers() -> CrawlerDetect:
    return CrawlerDetect()


def click_source(*, method: str, user_agent: str) -> str:
    """HUMAN, PREVIEW, SCANNER or HEAD for a fetch with this method and User-Agent."""
    if method.upper() == "HEAD":
        return HEAD  # browsers GET; a HEAD checks the link without following it
    if not user_agent.strip():
        return SCANNER  # every browser sends one
    if PREVIEW_FETCHERS.search(user_agent):
        return PREVIEW
    if SCANNERS.search(user_agent) or _crawlers().isCrawler(user_agent):
        return SCANNER
    return HUMAN
