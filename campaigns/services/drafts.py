"""Drafts: creating, editing and deleting a campaign before it is scheduled, and the checks on what a draft
holds (the body, with its opt-out footer and its length; the sender; the name)."""

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record, user_or_none
from campaigns.models import Campaign, SenderPool
from campaigns.segments import message_length_problem, segment_info
from campaigns.templating import body_fixed_text, body_is_personalised, body_validate
from campaigns.tracked_links import text_shortened
from contacts.models import ContactList, Segment
from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError

Status = Campaign.Status

OPT_OUT_FOOTER = "Reply STOP to opt out"
# Wording that already tells the person how to opt out; carriers and the law want one such line per text.
_OPT_OUT_WORDING = re.compile(r"\b(stop|unsubscribe|opt[ -]?out)\b", re.IGNORECASE)


def campaign_body_has_opt_out(body: str) -> bool:
    return bool(_OPT_OUT_WORDING.search(body))


def campaign_body_check(body: str, *, footer_added: bool = False, track_links: bool = False) -> None:
    """Refuse (ApplicationError on `body`) a body the message engine cannot compile, or whose fixed text alone
    is longer than Plivo accepts or SMS_MAX_SEGMENTS allows: then every recipient's text would be. What the
    placeholders add is known per recipient only; dispatch skips a recipient whose text it makes too long.
    Tracked links count as long as their short links, which is what recipients get."""
    body_validate(body)
    fixed = body_fixed_text(body)
    if track_links:
        fixed = text_shortened(fixed, body=body)
    problem = message_length_problem(segment_info(fixed))
    if problem:
        notes = [
            *(["with the opt-out footer added"] if footer_added else []),
            *(["counting its fixed text only, without the placeholders"] if body_is_personalised(body) else []),
        ]
        raise ApplicationError(
            f"the message is too long{' (' + ', '.join(notes) + ')' if notes else ''}: {problem}", field="body"
        )


def campaign_body_as_saved(body: str, *, track_links: bool = False) -> str:
    """`body` as a draft saves it: the opt-out footer added on its own line when the text lacks one, then
    checked (campaign_body_check) as the text recipients would get."""
    if campaign_body_has_opt_out(body):
        campaign_body_check(body, track_links=track_links)
        return body
    with_footer = f"{body.rstrip()}\n{OPT_OUT_FOOTER}"
    campaign_body_check(with_footer, footer_added=True, track_links=track_links)
    return with_footer


@dataclass(frozen=True)
class DraftSaved:
    campaign: Campaign
    footer_added: bool


# What staff edit on a draft; status, counters and times belong to the services and the engine.
DRAFT_FIELDS = (
    *("name", "body", "sender", "sender_pool", "max_per_second"),
    *("track_links", "utm_source", "utm_medium", "utm_campaign"),
)
# When and to whom within the caps: edited on a draft too, each checked by campaign_sending_rules_check.
SENDING_RULE_FIELDS = ("schedule_mode", "local_send_time", "local_time_passed", "skip_recent_hours", "transactional")
EDITABLE_FIELDS = DRAFT_FIELDS + SENDING_RULE_FIELDS
# The longest "skip anyone texted in the last H hours": a month.
MAX_SKIP_RECENT_HOURS = 24 * 31


def campaign_sending_rules_check(campaign: Campaign) -> None:
    """Refuse (ApplicationError on the field) a local-time schedule without its time, or hours out of range."""
    if campaign.schedule_mode not in Campaign.ScheduleMode.values:
        raise ApplicationError(
            f"the schedule mode is one of {', '.join(Campaign.ScheduleMode.values)}", field="schedule_mode"
        )
    if campaign.local_time_passed not in Campaign.LocalTimePassed.values:
        raise ApplicationError(f"choose one of {', '.join(Campaign.LocalTimePassed.values)}", field="local_time_passed")
    if campaign.schedule_mode == Campaign.ScheduleMode.LOCAL_TIME and campaign.local_send_time is None:
        raise ApplicationError(
            "sending at each recipient's local time needs that time (e.g. 10:00)", field="local_send_time"
        )
    hours = campaign.skip_recent_hours
    if hours is not None and not 1 <= hours <= MAX_SKIP_RECENT_HOURS:
        raise ApplicationError(f"give 1 to {MAX_SKIP_RECENT_HOURS} hours, or none", field="skip_recent_hours")


def campaign_draft_save(
    *,
    campaign: Campaign,
    actor,
    changed_fields: list[str] | None = None,
    created: bool = False,
    lists: list[ContactList] | None = None,
    audience: dict | None = None,
) -> DraftSaved:
    """Save a draft's edits (and its `lists` and the other `audience` parts, when given), adding the opt-out
    footer when the body lacks one and refusing a body that could not be sent (campaign_body_as_saved);
    audited with the fields changed."""
    campaign_sender_choice_check(campaign)
    body = campaign_body_as_saved(campaign.body, track_links=campaign.track_links)
    campaign_sending_rules_check(campaign)
    footer_added = body != campaign.body
    campaign.body = body
    with transaction.atomic():
        if created:
            campaign.status = Status.DRAFT
            campaign.created_by = user_or_none(actor)
            campaign.save()
        else:
            # Conditional UPDATE of the draft fields only: a campaign the engine has just claimed keeps its
            # status and counters, and the edit is refused instead of silently applied to a sending campaign.
            changed = Campaign.objects.filter(pk=campaign.pk, status__in=Campaign.EDITABLE_STATUSES).update(
                updated_at=timezone.now(), **{field: getattr(campaign, field) for field in EDITABLE_FIELDS}
            )
            if not changed:
                raise ApplicationError(
                    f"campaign {campaign.name!r} is no longer a draft and cannot be edited", code="not_editable"
                )
        # After the conditional UPDATE, which holds the row until commit: the lists change with the draft or
        # not at all.
        if lists is not None:
            campaign.lists.set(lists)
        # The other parts of the audience (AUDIENCE_PARTS), with the draft too.
        for part, rows in (audience or {}).items():
            getattr(campaign, part).set(rows)
        audit_record(
            actor=actor,
            action="campaign.created" if created else "campaign.edited",
            target=campaign,
            data={
                "fields": sorted(changed_fields or []),
                **({"footer_added": True} if footer_added else {}),
                # Bypassing the frequency caps is a decision someone answers for: the trail says it was made.
                **({"transactional": campaign.transactional} if "transactional" in (changed_fields or []) else {}),
            },
        )
    return DraftSaved(campaign=campaign, footer_added=footer_added)


def campaign_create(
    *,
    name: str,
    body: str,
    sender: str = "",
    sender_pool: SenderPool | None = None,
    lists: list[ContactList] | None = None,
    max_per_second: int | None = None,
    segments: list[Segment] | None = None,
    excluded_lists: list[ContactList] | None = None,
    excluded_segments: list[Segment] | None = None,
    track_links: bool = True,
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
    actor=None,
    **sending_rules,
) -> Campaign:
    """Create a draft for the given lists and segments (minus the excluded ones), saved as the admin saves one
    (opt-out footer added when missing); `sending_rules`: any of SENDING_RULE_FIELDS."""
    _validate_name(name)
    unknown = set(sending_rules) - set(SENDING_RULE_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be set here: {', '.join(sorted(unknown))}")
    campaign = Campaign(
        name=name,
        body=body,
        sender=campaign_sender_clean(sender=sender),
        sender_pool=sender_pool,
        max_per_second=max_per_second,
        track_links=track_links,
        utm_source=utm_source,
        utm_medium=utm_medium,
        utm_campaign=utm_campaign,
        **sending_rules,
    )
    audience = {
        "segments": segments or [],
        "excluded_lists": excluded_lists or [],
        "excluded_segments": excluded_segments or [],
    }
    campaign_audience_check(lists=lists or [], **audience)
    changed = [*DRAFT_FIELDS, *(name for name in SENDING_RULE_FIELDS if name in sending_rules)]
    campaign_draft_save(
        campaign=campaign,
        actor=actor,
        changed_fields=changed,
        created=True,
        lists=lists or None,
        audience={part: rows for part, rows in audience.items() if rows},
    )
    return campaign


# The parts of a campaign's audience besides its lists, as campaign_draft_save takes them.
AUDIENCE_PARTS = ("segments", "excluded_lists", "excluded_segments")


def campaign_audience_check(*, lists, segments, excluded_lists, excluded_segments) -> None:
    """Refuse a list or segment that is both included and excluded: staff meant one or the other."""
    for included, excluded, what, field in (
        (lists, excluded_lists, "list", "excluded_lists"),
        (segments, excluded_segments, "segment", "excluded_segments"),
    ):
        both = sorted({row.pk: row.name for row in included if row in set(excluded)}.values())
        if both:
            raise ApplicationError(
                f"the {what}s {', '.join(repr(name) for name in both)} are both included and excluded", field=field
            )


def campaign_update(
    *,
    campaign: Campaign,
    lists: list[ContactList] | None = None,
    segments: list[Segment] | None = None,
    excluded_lists: list[ContactList] | None = None,
    excluded_segments: list[Segment] | None = None,
    actor=None,
    **fields,
) -> Campaign:
    """Edit a draft as the admin does; once scheduled or sent, its text and audience are what was approved."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    campaign_require_draft(campaign, "edited")
    _validate_name(fields.get("name"))
    if "sender" in fields:
        fields["sender"] = campaign_sender_clean(sender=fields["sender"])
    for name, value in fields.items():
        setattr(campaign, name, value)
    given = {"segments": segments, "excluded_lists": excluded_lists, "excluded_segments": excluded_segments}
    audience = {part: list(rows) for part, rows in given.items() if rows is not None}
    campaign_audience_check(
        lists=campaign.lists.all() if lists is None else lists,
        **{part: audience.get(part, getattr(campaign, part).all()) for part in AUDIENCE_PARTS},
    )
    changed = sorted([*fields, *(["lists"] if lists is not None else []), *audience])
    campaign_draft_save(campaign=campaign, actor=actor, changed_fields=changed, lists=lists, audience=audience)
    return campaign


def campaign_delete(*, campaign: Campaign, actor=None) -> None:
    """Delete a draft; a campaign that was ever scheduled stays, as the record of what was sent."""
    with transaction.atomic():
        campaign_require_draft(Campaign.objects.select_for_update().get(pk=campaign.pk), "deleted")
        audit_record(actor=actor, action="campaign.deleted", target=campaign)
        campaign.delete()


def campaign_require_draft(campaign: Campaign, verb: str) -> None:
    if not campaign.is_editable:
        raise ApplicationError(
            f"campaign {campaign.name!r} is {campaign.status}; only a draft can be {verb}", code="illegal_transition"
        )


def campaign_sender_choice_check(campaign: Campaign) -> None:
    """A campaign sends from one number, or from a pool (of numbers, or a Powerpack): never both."""
    if campaign.sender and campaign.sender_pool_id:
        raise ApplicationError(SENDER_OR_POOL, field="sender_pool")


SENDER_OR_POOL = "choose either a sender or a sender pool, not both (a pool picks the number for each recipient)"


# An alphanumeric sender id: 1 to 11 letters, digits or spaces, with at least one letter (carrier rules).
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def _validate_name(name: str | None) -> None:
    if name is not None and not name.strip():
        raise ApplicationError("a campaign needs a name", field="name")


def campaign_sender_clean(*, sender: str) -> str:
    """The sender as Plivo wants it: E.164 for a number, unchanged for an alphanumeric id, "" for the default."""
    if not sender or _ALPHANUMERIC_SENDER.match(sender):
        return sender
    try:
        return normalize_phone(sender).e164
    except ApplicationError as exc:
        raise ApplicationError(
            f"the sender must be a phone number or an alphanumeric id of up to 11 characters ({exc.message})",
            field="sender",
        ) from None
