"""Short links: the URLs of a campaign's text (TrackedLink), one code per recipient and URL (ShortLink), and
every fetch of a code (Click), people apart from link previews and scanners."""

from django.db import models

from campaigns.models import Campaign
from sends.models import CampaignSend


class TrackedLink(models.Model):
    """One URL of a campaign's text whose recipients each get a short link to it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tracked_links")
    position = models.PositiveSmallIntegerField(help_text="Order of the URL in the text, from 0")
    url = models.TextField(help_text="As written in the text")
    destination = models.TextField(help_text="Where its short links redirect: the URL with the UTM parameters")
    expires_at = models.DateTimeField(help_text="After this, its short links lead to SHORT_LINK_EXPIRED_URL")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "position"], name="tracked_link_position_uniq")]

    def __str__(self) -> str:
        return self.url


class ShortLink(models.Model):
    """One recipient's code for one tracked link: a click on it is theirs.

    A million recipients make a million rows, written set-based at fan-out, so the row is kept narrow: the
    code is the key, and the destination is read from its TrackedLink."""

    # Looked up by the whole code only: PostgreSQL's second index on it for LIKE prefixes, which Django adds
    # to every text key, is dropped (links 0003); it cost each of the fan-out's codes a third index entry.
    # Compared bytewise on PostgreSQL (COLLATE "C", links 0004, not declared here: SQLite has no such collation);
    # the fan-out's sort of new codes relies on it.
    code = models.CharField(max_length=16, primary_key=True)
    # No index of their own: (send, link) below serves lookups by send, and nothing looks a link's codes up.
    # No foreign key constraints in the database either: checking a million of them at the fan-out's commit
    # doubled what the codes cost it, and the one writer (links.services.codes) copies ids it has just read
    # from those tables in the same statement. Deleting a campaign or a send still deletes its codes: Django's
    # on_delete does that, not the database.
    link = models.ForeignKey(
        TrackedLink, on_delete=models.CASCADE, related_name="short_links", db_index=False, db_constraint=False
    )
    send = models.ForeignKey(
        CampaignSend, on_delete=models.CASCADE, related_name="short_links", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["send", "link"], name="short_link_send_link_uniq")]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    """One fetch of a short link. Only a person's first click counts as the recipient's click."""

    class Kind(models.TextChoices):
        CLICK = "click", "Click (the recipient's first)"
        REPEAT = "repeat", "Repeat click"
        PREVIEW = "preview", "Link preview (messaging app, social network)"
        SCANNER = "scanner", "Security scanner or bot"
        HEAD = "head", "HEAD request"

    HUMAN = (Kind.CLICK, Kind.REPEAT)

    # The queue's id for the event: writing a batch twice (a flush that died before trimming) adds nothing.
    event_id = models.CharField(max_length=64, unique=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="clicks")
    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="clicks")
    short_link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="clicks")
    send = models.ForeignKey(CampaignSend, on_delete=models.CASCADE, related_name="clicks")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    clicked_at = models.DateTimeField()
    user_agent = models.CharField(max_length=512, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True, help_text="Keyed hash of the address, not the address")

    class Meta:
        ordering = ["-clicked_at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "kind"], name="click_campaign_kind_idx"),
            models.Index(fields=["link", "kind"], name="click_link_kind_idx"),
        ]
        constraints = [
            # One first click per recipient, whoever writes it.
            models.UniqueConstraint(fields=["send"], condition=models.Q(kind="click"), name="click_first_per_send")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.short_link_id} at {self.clicked_at:%Y-%m-%d %H:%M:%S}"


class StaffTestLink(models.Model):
    """A short link of a staff test send: it leads where the campaign's link will lead its recipients (the
    same destination, UTM parameters and expiry), so the tester sees what they will, and counts nothing."""

    # Compared bytewise on PostgreSQL (COLLATE "C", links 0004, not declared here: SQLite has no such collation);
    # the fan-out's sort of new codes relies on it.
    code = models.CharField(max_length=16, primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="test_links")
    url = models.TextField(help_text="As written in the text")
    destination = models.TextField(help_text="The URL with the campaign's UTM parameters")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code
