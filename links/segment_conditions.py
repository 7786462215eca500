"""The click conditions of segments: who clicked a tracked link, in the last N days or in given campaigns.
Registered into contacts' registry (contacts.segment_rules) by LinksConfig.ready, so contacts offers them
without importing links. A click counts when it is the recipient's own (their first human click), never a
link preview's or a scanner's."""

from datetime import timedelta

from django.db.models import OuterRef, Q

from campaigns.models import Campaign
from contacts.segment_rules import RuleProblem, SegmentCondition, related_exists_q, segment_condition_register
from links.models import Click

WINDOW_OPERATORS = {"in_last_days": "days", "not_in_last_days": "days", "ever": "none", "never": "none"}


def _clicks():
    return Click.objects.filter(kind=Click.Kind.CLICK, send__contact=OuterRef("pk"))


class ClickedCondition(SegmentCondition):
    """Clicked a link of any campaign within the last N days (or ever, or never)."""

    def q(self, condition: dict, *, now) -> Q:
        operator = condition["operator"]
        clicks = _clicks()
        if operator.endswith("_last_days"):
            clicks = clicks.filter(clicked_at__gte=now - timedelta(days=condition["value"]))
        return related_exists_q(clicks, operator in ("in_last_days", "ever"))


class ClickedCampaignCondition(SegmentCondition):
    """Clicked a link of any of the given campaigns (or of none of them)."""

    def clean(self, condition: dict) -> dict:
        cleaned = super().clean(condition)
        found = set(Campaign.objects.filter(pk__in=cleaned["value"]).values_list("pk", flat=True))
        missing = [str(pk) for pk in cleaned["value"] if pk not in found]
        if missing:
            raise RuleProblem(f"no campaign with id {', '.join(missing)}")
        return cleaned

    def q(self, condition: dict, *, now) -> Q:
        clicks = _clicks().filter(campaign_id__in=condition["value"])
        return related_exists_q(clicks, condition["operator"] == "in_any")


def register() -> None:
    segment_condition_register(
        ClickedCondition(field="clicked", label="Clicked a link", operators=WINDOW_OPERATORS, group="Engagement")
    )
    segment_condition_register(
        ClickedCampaignCondition(
            field="clicked_campaign",
            label="Clicked a link of campaigns",
            operators={"in_any": "ids", "in_none": "ids"},
            group="Engagement",
        )
    )
