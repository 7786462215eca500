"""Reads of campaigns. The audience rules live here once: the fan-out materialises them into sends, and a
preview counts them, so both always agree on who is eligible and why anyone is left out."""

from dataclasses import dataclass, field

from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from campaigns.models import Campaign
from contacts.models import Contact, ContactListMembership, Suppression


class ExclusionReason:
    """Why a contact in the audience gets no message. The values are CampaignSend skip reasons."""

    INVALID_NUMBER = "invalid_number"
    OPTED_OUT = "opted_out"
    SUPPRESSED = "suppressed"
    NO_CONSENT = "no_consent"

    ALL = (INVALID_NUMBER, OPTED_OUT, SUPPRESSED, NO_CONSENT)


ELIGIBLE = ""
# What a stored number must look like to be sent to (E.164). Contacts are normalised on the way in, so
# this only catches rows written around the services.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


def contacts_with_exclusion_reason(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """`contacts` annotated with `exclusion_reason`: "" when they may be texted, else the first reason that
    applies, in the order of ExclusionReason.ALL. The audience rules, and the re-check right before a send."""
    # One probe of the suppression index per contact, answering the reason directly; "opt-out" sorts after
    # "manual" and "do-not-call", so descending order returns it first when a number has several entries.
    suppression = (
        Suppression.objects.filter(phone_number=OuterRef("phone_number"))
        .order_by("-reason")
        .annotate(
            exclusion=Case(
                When(reason=Suppression.Reason.OPT_OUT, then=Value(ExclusionReason.OPTED_OUT)),
                default=Value(ExclusionReason.SUPPRESSED),
                output_field=CharField(),
            )
        )
        .values("exclusion")[:1]
    )
    return contacts.annotate(
        exclusion_reason=Case(
            When(~Q(phone_number__regex=E164_PATTERN), then=Value(ExclusionReason.INVALID_NUMBER)),
            When(
                Q(status=Contact.Status.UNSUBSCRIBED, opted_out_at__isnull=False),
                then=Value(ExclusionReason.OPTED_OUT),
            ),
            default=Coalesce(
                Subquery(suppression),
                Case(
                    When(
                        ~Q(status=Contact.Status.SUBSCRIBED) | Q(consented_at__isnull=True),
                        then=Value(ExclusionReason.NO_CONSENT),
                    ),
                    default=Value(ELIGIBLE),
                ),
            ),
            output_field=CharField(),
        )
    )


def campaign_audience(*, campaign: Campaign) -> QuerySet[Contact]:
    """Every contact on the campaign's lists, once, annotated with `exclusion_reason` ("" = eligible).

    Contact numbers are unique (E.164), so one row per contact is also one row per number: a person on
    two lists of the audience is one recipient.
    """
    list_ids = list(campaign.lists.values_list("pk", flat=True))
    in_lists = ContactListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id__in=list_ids)
    return contacts_with_exclusion_reason(Contact.objects.filter(Exists(in_lists)))


@dataclass(frozen=True)
class AudienceBreakdown:
    total: int
    eligible: int
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> contacts, only reasons that occur


def campaign_audience_breakdown(*, campaign: Campaign) -> AudienceBreakdown:
    """How many of the audience would be texted now, and how many are left out for each reason."""
    rows = campaign_audience(campaign=campaign).order_by().values("exclusion_reason").annotate(n=Count("pk"))
    counts = {row["exclusion_reason"]: row["n"] for row in rows}
    eligible = counts.pop(ELIGIBLE, 0)
    return AudienceBreakdown(total=eligible + sum(counts.values()), eligible=eligible, excluded=counts)


def campaigns_due(*, now) -> QuerySet[Campaign]:
    """Scheduled campaigns whose time has come, oldest first."""
    return Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now).order_by("scheduled_at")
