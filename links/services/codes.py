"""Short link codes, made at fan-out: one per queued send and tracked URL, set-based inside the database.

On PostgreSQL one `INSERT ... SELECT` writes every code of the campaign: 6 random bytes of
`gen_random_uuid()` (its first six bytes are random) in URL-safe base64, 8 characters, 48 bits. Codes are
unique by key; the rare code drawn twice is dropped by ON CONFLICT and the statement runs again for the sends
still without a code; a send's code per link is unique too, so a repeated fan-out adds nothing. SQLite (the
embedded default) has neither function, and gets its codes from Python in batches.
"""

import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tracked_links import SHORT_LINK_CODE_BYTES, campaign_trackable_urls
from links.models import ShortLink, TrackedLink
from sends.models import CampaignSend

# A fan-out never loops for ever: each round keeps all but the few codes drawn twice.
MAX_ROUNDS = 8
SQLITE_BATCH = 5000

_INSERT = """
INSERT INTO {short_links} (code, link_id, send_id)
SELECT translate(encode(substring(uuid_send(gen_random_uuid()) from 1 for {code_bytes}), 'base64'), '+/', '-_')
       COLLATE "C",
       link.id, send.id
FROM {sends} AS send CROSS JOIN {links} AS link
WHERE send.campaign_id = %s AND send.status = %s AND link.campaign_id = %s
ORDER BY 1
ON CONFLICT DO NOTHING
"""


def link_destination(*, url: str, campaign: Campaign) -> str:
    """`url` with the campaign's UTM parameters added (a parameter the URL already has is kept as written)."""
    utm = {
        "utm_source": campaign.utm_source.strip(),
        "utm_medium": campaign.utm_medium.strip(),
        "utm_campaign": campaign.utm_campaign.strip(),
    }
    utm = {key: value for key, value in utm.items() if value}
    if not utm:
        return url
    parts = urlsplit(url)
    present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = urlencode({key: value for key, value in utm.items() if key not in present})
    query = "&".join(part for part in (parts.query, added) if part)
    return urlunsplit(parts._replace(query=query))


def tracked_links_create(*, campaign: Campaign) -> list[TrackedLink]:
    """The campaign's tracked links (made once: a repeated fan-out finds them)."""
    existing = list(TrackedLink.objects.filter(campaign=campaign).order_by("position"))
    if existing or not campaign.track_links:
        return existing
    expires_at = timezone.now() + timedelta(days=settings.SHORT_LINK_EXPIRY_DAYS)
    return TrackedLink.objects.bulk_create(
        TrackedLink(
            campaign=campaign,
            position=position,
            url=url,
            destination=link_destination(url=url, campaign=campaign),
            expires_at=expires_at,
        )
        # The URLs of every A/B variant's text too: each recipient's text is rewritten by URL.
        for position, url in enumerate(campaign_trackable_urls(campaign))
    )


def short_links_create(*, campaign: Campaign) -> int:
    """A code for each queued send of the campaign and each of its tracked links; returns how many were
    made. Called by the fan-out, in its transaction, once the sends and their counters are written."""
    with transaction.atomic():
        links = tracked_links_create(campaign=campaign)
        if not links:
            return 0
        if connection.vendor == "postgresql":
            return _create_in_database(campaign=campaign, links=len(links))
        return _create_in_batches(campaign=campaign, links=links)


def _create_in_database(*, campaign: Campaign, links: int) -> int:
    sql = _INSERT.format(
        short_links=ShortLink._meta.db_table,
        sends=CampaignSend._meta.db_table,
        links=TrackedLink._meta.db_table,
        code_bytes=SHORT_LINK_CODE_BYTES,
    )
    # Every queued send needs a code per link; a round that makes fewer lost some to codes drawn twice, and
    # the next round makes only those (the others conflict on (send, link)). A repeated fan-out makes none
    # and stops at once.
    expected = links * campaign.queued_count
    made = 0
    with connection.cursor() as cursor:
        # Random codes inserted in code order fill the key's index page after page instead of touching a
        # random page per row: half the time for a million. The sort gets the memory to stay off disk, and
        # sorts bytewise, in the order of the key ("C", links 0004), which is quicker than any locale's.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        for _ in range(MAX_ROUNDS):
            cursor.execute(sql, [campaign.pk, CampaignSend.Status.QUEUED.value, campaign.pk])
            made += cursor.rowcount
            if made >= expected or cursor.rowcount == 0:
                break
    return made


def _create_in_batches(*, campaign: Campaign, links: list[TrackedLink]) -> int:
    made = 0
    send_ids = CampaignSend.objects.filter(campaign=campaign, status=CampaignSend.Status.QUEUED).values_list(
        "pk", flat=True
    )
    for _ in range(MAX_ROUNDS):
        taken = set(ShortLink.objects.filter(link__campaign=campaign).values_list("send_id", "link_id"))
        batch = [
            ShortLink(code=new_code(), link_id=link.pk, send_id=send_id)
            for send_id in send_ids.order_by("pk").iterator(chunk_size=SQLITE_BATCH)
            for link in links
            if (send_id, link.pk) not in taken
        ]
        if not batch:
            break
        # A code drawn twice is dropped here and made again in the next round.
        ShortLink.objects.bulk_create(batch, batch_size=SQLITE_BATCH, ignore_conflicts=True)
        made += ShortLink.objects.filter(link__campaign=campaign).count() - len(taken)
    return made


def new_code() -> str:
    """A fresh code of SHORT_LINK_CODE_LENGTH URL-safe characters."""
    return secrets.token_urlsafe(SHORT_LINK_CODE_BYTES)
