"""The preview page before launch, and the confirmation it hands out.

In the admin a campaign is sent or scheduled (its page's buttons, the list's "Send the selected drafts now")
only by confirming a preview: the audience and every exclusion, three real recipients' messages, segments,
cost and what quiet hours would defer. The confirm button carries a signed token of what was shown
(campaign_launch_facts, for this user, this action and this time); the confirmation is refused when it is
missing, older than PREVIEW_VALID_FOR, or no longer matches the campaign. The API's send/ and schedule/ are
a separate contract for integrations and do not need it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.utils import timezone

from campaigns.models import Campaign, ExclusionReason
from campaigns.selectors import CampaignPreview, campaign_launch_facts, campaign_preview
from smscampaigns.errors import ApplicationError

PREVIEW_VALID_FOR = timedelta(minutes=30)
_SALT = "campaigns.admin_preview"
PREVIEW_REQUIRED = "preview_required"
PREVIEW_STALE = "preview_stale"

# Every exclusion, in the order the audience rules apply them; shown even when nobody is left out for it.
EXCLUSION_LABELS = [
    (ExclusionReason.OPTED_OUT, "Opted out"),
    (ExclusionReason.SUPPRESSED, "Suppressed"),
    (ExclusionReason.PENDING, "Awaiting opt-in confirmation"),
    (ExclusionReason.NO_CONSENT, "No consent"),
    (ExclusionReason.INVALID_NUMBER, "Invalid number"),
    (ExclusionReason.LINE_TYPE, "Line cannot receive SMS"),
]
_FACT_LABELS = {
    "text": "the message text",
    "sender": "the sender",
    "sender_pool": "the sender pool",
    "variant_senders": "an A/B variant's sender",
    "lists": "the audience lists",
    "segments": "the audience segments or exclusions",
    "rules": "the local-time schedule or the frequency caps",
}


@dataclass(frozen=True)
class PreviewShown:
    """A campaign's preview as one staff member sees it, with the token its confirm button posts."""

    campaign: Campaign
    preview: CampaignPreview
    action: str  # "send_now" or "schedule": quiet hours are judged at the moment sending would start
    scheduled_at: datetime | None
    token: str  # "" when the staff member may not launch it

    @property
    def exclusions(self) -> list[tuple[str, int]]:
        excluded = self.preview.audience.excluded
        return [(label, excluded.get(reason, 0)) for reason, label in EXCLUSION_LABELS]


def _claims(*, campaign: Campaign, user, action: str, scheduled_at: datetime | None) -> dict:
    return {
        "campaign": campaign.pk,
        "user": user.pk,
        "action": action,
        "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
    }


def preview_show(
    *, campaign: Campaign, user, action: str, scheduled_at: datetime | None = None, may_launch: bool
) -> PreviewShown:
    """The preview of sending `campaign` now (or at `scheduled_at`), and the confirmation token for it."""
    now = timezone.now()
    preview = campaign_preview(campaign=campaign, now=max(scheduled_at or now, now))
    token = ""
    if may_launch:
        facts = campaign_launch_facts(campaign=campaign, audience=preview.audience)
        claims = _claims(campaign=campaign, user=user, action=action, scheduled_at=scheduled_at)
        token = signing.dumps({**claims, "facts": facts}, salt=_SALT)
    return PreviewShown(campaign=campaign, preview=preview, action=action, scheduled_at=scheduled_at, token=token)


def preview_confirmation_check(
    *, campaign: Campaign, user, action: str, scheduled_at: datetime | None, token: str
) -> None:
    """Raise ApplicationError saying why, unless `token` confirms this very preview of the campaign as it is."""
    if not token:
        raise ApplicationError(
            "look at the preview first: sending and scheduling are confirmed there", code=PREVIEW_REQUIRED
        )
    minutes = int(PREVIEW_VALID_FOR.total_seconds() // 60)
    try:
        shown = signing.loads(token, salt=_SALT, max_age=PREVIEW_VALID_FOR)
    except signing.SignatureExpired:
        raise ApplicationError(
            f"the preview is more than {minutes} minutes old; look at it again and confirm", code=PREVIEW_STALE
        ) from None
    except signing.BadSignature:
        raise ApplicationError(
            "this confirmation does not come from a preview; open it again", code=PREVIEW_REQUIRED
        ) from None
    wanted = _claims(campaign=campaign, user=user, action=action, scheduled_at=scheduled_at)
    if {key: shown.get(key) for key in wanted} != wanted:
        raise ApplicationError(
            "this confirmation is for another campaign, person, action or time; open the preview again",
            code=PREVIEW_REQUIRED,
        )
    then, now = shown["facts"], campaign_launch_facts(campaign=campaign)
    changed = [label for fact, label in _FACT_LABELS.items() if then.get(fact) != now[fact]]
    if (then.get("audience"), then.get("eligible")) != (now["audience"], now["eligible"]):
        changed.append(
            f"the audience ({then.get('eligible')} of {then.get('audience')} eligible when previewed, "
            f"{now['eligible']} of {now['audience']} now)"
        )
    if changed:
        raise ApplicationError(
            f"the campaign changed since you previewed it: {', '.join(changed)}. Check the new preview and "
            "confirm again",
            code=PREVIEW_STALE,
        )
