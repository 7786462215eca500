"""A segment's rules: their JSON shape, their strict validation, and their translation into one database
filter. The conditions come from a registry: contacts registers those over its own tables here, and an app
above (sends: delivered, replied, texted) registers its own from its AppConfig.ready, so that contacts never
imports it.

The rules, as stored on Segment.rules and given to the API:

    {"match": "all" | "any",                      how the groups combine
     "groups": [{"match": "all" | "any",          how a group's conditions combine
                 "conditions": [{"field": "country", "operator": "in", "value": ["US", "CA"]}, ...]}, ...]}

A condition may take more keys than field, operator and value when its type says so (`extra_keys`). A
segment is evaluated as one filter on Contact (EXISTS subqueries for what lives in other tables), so counting
it, previewing a campaign and fanning one out are a single query each, whatever the number of contacts.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, Q
from django.utils import timezone

from smscampaigns.errors import ApplicationError

MAX_GROUPS = 10
MAX_CONDITIONS_PER_GROUP = 20
MAX_VALUES = 200  # items of a list value (countries, lists, zones)
MAX_TEXT = 255
MAX_DAYS = 3650
MAX_RULES_CHARS = 50_000  # the rules as JSON text: nothing legitimate comes near
MATCHES = ("all", "any")


class RuleProblem(Exception):
    """One fault of a condition's value or key, said for a person; `key` is the key of the condition at fault."""

    def __init__(self, message: str, *, key: str = "value"):
        super().__init__(message)
        self.message = message
        self.key = key


# --- Values ------------------------------------------------------------------------------------------


def _text(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleProblem("must be non-empty text")
    if len(value) > MAX_TEXT:
        raise RuleProblem(f"must be at most {MAX_TEXT} characters")
    if "\x00" in value:
        raise RuleProblem("must not contain NUL characters")
    return value


def _list_of(item: Callable, what: str) -> Callable:
    def check(value) -> list:
        if not isinstance(value, list) or not value:
            raise RuleProblem(f"must be a non-empty list of {what}")
        if len(value) > MAX_VALUES:
            raise RuleProblem(f"must have at most {MAX_VALUES} items")
        cleaned = []
        for index, one in enumerate(value, start=1):
            try:
                cleaned.append(item(one))
            except RuleProblem as problem:
                raise RuleProblem(f"item {index}: {problem.message}") from None
        return list(dict.fromkeys(cleaned))

    return check


def _country(value) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value):
        raise RuleProblem(f"{str(value)[:20]!r} is not a two-letter country code (e.g. US)")
    return value.upper()


def _number(value) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e15:
        raise RuleProblem("must be a number")
    return value


def _whole_days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise RuleProblem(f"must be a whole number of days from 1 to {MAX_DAYS}")
    return value


def _id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise RuleProblem("must be an id (a positive whole number)")
    return value


def _date(value) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise RuleProblem(f"{str(value)[:20]!r} is not a date as YYYY-MM-DD")


def _range(bound: Callable, low: str, high: str) -> Callable:
    def check(value) -> dict:
        if not isinstance(value, dict) or set(value) - {low, high} or not value:
            raise RuleProblem(f"must be an object with {low!r} and/or {high!r}")
        cleaned = {key: bound(value[key]) for key in (low, high) if value.get(key) is not None}
        if not cleaned:
            raise RuleProblem(f"give {low!r}, {high!r} or both")
        if len(cleaned) == 2 and cleaned[low] > cleaned[high]:
            raise RuleProblem(f"{low!r} must not be after {high!r}")
        return cleaned

    return check


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise RuleProblem("must be true or false")
    return value


def _nothing(value) -> None:
    if value is not None:
        raise RuleProblem("takes no value (leave it out)")


# The kinds of value an operator takes: the check, and the input the admin's rule builder shows for it.
VALUE_KINDS: dict[str, Callable] = {
    "none": _nothing,
    "text": _text,
    "texts": _list_of(_text, "texts"),
    "countries": _list_of(_country, "country codes"),
    "number": _number,
    "number_range": _range(_number, "min", "max"),
    "date": _date,
    "date_range": _range(_date, "from", "to"),
    "days": _whole_days,
    "boolean": _boolean,
    "ids": _list_of(_id, "ids"),
}


# --- Conditions and their registry ----------------------------------------------------------------------


@dataclass
class SegmentCondition:
    """A kind of condition (`field` in the rules): its operators, each with the kind of value it takes, and
    the filter on Contact it stands for. Subclasses (or instances given `to_q`) say how to filter."""

    field: str
    label: str
    operators: dict[str, str]  # operator -> a key of VALUE_KINDS
    group: str = "Contact"  # the heading the rule builder shows it under
    to_q: Callable | None = None  # (operator, value, now) -> Q, for conditions that need no more
    extra_keys: tuple[str, ...] = ()
    choices: list[tuple[str, str]] = field(default_factory=list)  # for "texts" of a fixed set, shown as options

    def clean(self, condition: dict) -> dict:
        """The condition with its value checked (RuleProblem naming the key at fault)."""
        return self.clean_operator_and_value(condition, operators=self.operators, choices=self.choices)

    def clean_operator_and_value(self, condition: dict, *, operators: dict[str, str], choices: list) -> dict:
        """{"field", "operator", "value"} of `condition`, its operator one of `operators` and its value of the
        operator's kind (and among `choices`, when there are some)."""
        operator = condition.get("operator")
        if operator not in operators:
            raise RuleProblem(f"must be one of {', '.join(operators)} for {self.field}", key="operator")
        value = VALUE_KINDS[operators[operator]](condition.get("value"))
        if choices and isinstance(value, list):
            allowed = {choice for choice, _ in choices}
            wrong = [item for item in value if item not in allowed]
            if wrong:
                raise RuleProblem(f"{str(wrong[0])[:40]!r} is not one of {', '.join(sorted(allowed))}")
        cleaned = {"field": self.field, "operator": operator}
        if value is not None:
            cleaned["value"] = value
        return cleaned

    def q(self, condition: dict, *, now: datetime) -> Q:
        """The filter on Contact that a cleaned `condition` stands for."""
        assert self.to_q is not None, f"{type(self).__name__} must define q()"
        return self.to_q(condition["operator"], condition.get("value"), now)

    def describe(self) -> dict:
        """What the admin's rule builder needs to offer this condition."""
        return {
            "field": self.field,
            "label": self.label,
            "group": self.group,
            "operators": self.operators,
            "choices": self.choices,
        }


_REGISTRY: dict[str, SegmentCondition] = {}


def segment_condition_register(condition: SegmentCondition) -> None:
    """Offer a kind of condition to segments. Apps above contacts call this from their AppConfig.ready."""
    if condition.field in _REGISTRY and _REGISTRY[condition.field] is not condition:
        raise ValueError(f"a segment condition named {condition.field!r} is already registered")
    _REGISTRY[condition.field] = condition


def segment_conditions() -> dict[str, SegmentCondition]:
    return dict(_REGISTRY)


# --- Validation --------------------------------------------------------------------------------------


def _where(group: int | None = None, condition: int | None = None, key: str | None = None) -> str:
    parts = []
    if group is not None:
        parts.append(f"group {group}")
    if condition is not None:
        parts.append(f"condition {condition}")
    if key is not None:
        parts.append(f"field `{key}`")
    return ", ".join(parts) or "the rules"


def segment_rules_clean(rules) -> dict:
    """The rules checked against their schema, sizes and each condition's operators and values; raises one
    ApplicationError (field "rules") listing every fault with where it is: "group 2, condition 3, field
    `value`: must be a whole number of days from 1 to 3650"."""
    problems: list[str] = []

    def fault(where: str, message: str) -> None:
        problems.append(f"{where}: {message}")

    if not isinstance(rules, dict):
        raise _invalid(["the rules: must be an object with match and groups"])
    try:
        size = len(json.dumps(rules))
    except (TypeError, ValueError):
        raise _invalid(["the rules: must be plain JSON"]) from None
    if size > MAX_RULES_CHARS:
        raise _invalid([f"the rules: too large ({size} characters as JSON; at most {MAX_RULES_CHARS})"])
    for key in sorted(set(rules) - {"match", "groups"}):
        fault(_where(key=str(key)[:40]), "unknown key")
    match = rules.get("match", "all")
    if match not in MATCHES:
        fault(_where(key="match"), "must be all or any")
    groups = rules.get("groups")
    if not isinstance(groups, list) or not groups:
        fault(_where(key="groups"), "must be a non-empty list of groups")
        raise _invalid(problems)
    if len(groups) > MAX_GROUPS:
        fault(_where(key="groups"), f"at most {MAX_GROUPS} groups")
        raise _invalid(problems)
    cleaned_groups = []
    for g, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            fault(_where(g), "must be an object with match and conditions")
            continue
        for key in sorted(set(group) - {"match", "conditions"}):
            fault(_where(g, key=str(key)[:40]), "unknown key")
        group_match = group.get("match", "all")
        if group_match not in MATCHES:
            fault(_where(g, key="match"), "must be all or any")
        conditions = group.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            fault(_where(g, key="conditions"), "must be a non-empty list of conditions")
            continue
        if len(conditions) > MAX_CONDITIONS_PER_GROUP:
            fault(_where(g, key="conditions"), f"at most {MAX_CONDITIONS_PER_GROUP} conditions in a group")
            continue
        cleaned_conditions = []
        for c, condition in enumerate(conditions, start=1):
            if not isinstance(condition, dict):
                fault(_where(g, c), "must be an object with field, operator and value")
                continue
            kind = _REGISTRY.get(condition.get("field")) if isinstance(condition.get("field"), str) else None
            if kind is None:
                known = ", ".join(sorted(_REGISTRY))
                fault(_where(g, c, "field"), f"{str(condition.get('field'))[:40]!r} is not a condition ({known})")
                continue
            allowed = {"field", "operator", "value", *kind.extra_keys}
            unknown = sorted(str(key)[:40] for key in set(condition) - allowed)
            if unknown:
                fault(_where(g, c, unknown[0]), "unknown key")
                continue
            try:
                cleaned_conditions.append(kind.clean(condition))
            except RuleProblem as problem:
                fault(_where(g, c, problem.key), problem.message)
        cleaned_groups.append({"match": group_match, "conditions": cleaned_conditions})
    if problems:
        raise _invalid(problems)
    return {"match": match, "groups": cleaned_groups}


def _invalid(problems: list[str]) -> ApplicationError:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ApplicationError(f"the rules are not valid: {problems[0]}{more}", field="rules", errors={"rules": problems})


# --- Evaluation --------------------------------------------------------------------------------------


def segment_rules_q(rules: dict, *, now: datetime | None = None) -> Q:
    """The filter on Contact the (stored, hence cleaned) rules stand for, with engagement windows ending `now`.
    Cleaned again first: a stored rule naming a condition no longer offered is refused, never read as
    "everyone" or "nobody" (an excluded segment that matched nobody would text those it should protect)."""
    rules = segment_rules_clean(rules)
    now = now or timezone.now()
    group_qs = []
    for group in rules["groups"]:
        parts = [_REGISTRY[condition["field"]].q(condition, now=now) for condition in group["conditions"]]
        group_qs.append(_combine(parts, group["match"]))
    return _combine(group_qs, rules["match"])


def _combine(parts: list[Q], match: str) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if match == "all" else (combined | part)
    return combined


def segment_rules_describe() -> list[dict]:
    """Every registered condition as the rule builder offers it, grouped in registration order."""
    return [condition.describe() for condition in _REGISTRY.values()]


# --- Helpers for conditions ----------------------------------------------------------------------


def day_start(day: str) -> datetime:
    """The first moment of a YYYY-MM-DD day in the project's time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(date.fromisoformat(day), time.min), timezone.get_default_timezone())


def moment_q(column: str, operator: str, value, now: datetime) -> Q:
    """A filter on a date-time column for the date operators (DATE_OPERATORS)."""
    if operator == "is_empty":
        return Q(**{f"{column}__isnull": True})
    if operator == "is_not_empty":
        return Q(**{f"{column}__isnull": False})
    if operator == "in_last_days":
        return Q(**{f"{column}__gte": now - timedelta(days=value)})
    if operator == "more_than_days_ago":
        return Q(**{f"{column}__lt": now - timedelta(days=value)})
    if operator == "before":
        return Q(**{f"{column}__lt": day_start(value)})
    if operator == "after":
        return Q(**{f"{column}__gte": day_start(value) + timedelta(days=1)})
    bounds = Q()
    if "from" in value:
        bounds &= Q(**{f"{column}__gte": day_start(value["from"])})
    if "to" in value:
        bounds &= Q(**{f"{column}__lt": day_start(value["to"]) + timedelta(days=1)})
    return bounds


DATE_OPERATORS = {
    "in_last_days": "days",
    "more_than_days_ago": "days",
    "before": "date",
    "after": "date",
    "between": "date_range",
    "is_empty": "none",
    "is_not_empty": "none",
}

TEXT_OPERATORS = {
    "equals": "text",
    "not_equals": "text",
    "contains": "text",
    "not_contains": "text",
    "starts_with": "text",
    "is_empty": "none",
    "is_not_empty": "none",
}


def text_q(column: str, operator: str, value) -> Q:
    """A filter on a text column for TEXT_OPERATORS; comparisons ignore case, as people type them."""
    if operator == "is_empty":
        return Q(**{column: ""}) | Q(**{f"{column}__isnull": True})
    if operator == "is_not_empty":
        return ~Q(**{column: ""}) & Q(**{f"{column}__isnull": False})
    lookup = {
        "equals": "iexact",
        "not_equals": "iexact",
        "contains": "icontains",
        "not_contains": "icontains",
        "starts_with": "istartswith",
    }[operator]
    matching = Q(**{f"{column}__{lookup}": value})
    return ~matching if operator.startswith("not_") else matching


def related_exists_q(queryset, operator_is_positive: bool = True) -> Q:
    """Q(EXISTS(queryset)) or its negation: `queryset` is filtered on contact=OuterRef("pk") by the caller."""
    exists = Exists(queryset)
    return Q(exists) if operator_is_positive else ~Q(exists)
