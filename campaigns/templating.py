"""Personalisation of a campaign body: `{{ first_name }}`, `{{ last_name|default:"there" }}`, attributes.

The body is a Django template compiled by an engine that knows no tags at all and a handful of text
filters, and that renders against a context of plain strings built from one contact's fields. So a body
can reach nothing but those fields: no `{% debug %}`, `{% include %}` or `{% load %}`, no objects whose
attributes or methods a template could walk.
"""

import re
from functools import lru_cache

from django.template import Context, Engine, Library, TemplateSyntaxError, Variable
from django.template import defaultfilters as filters
from django.template.base import TextNode

from smscampaigns.errors import ApplicationError

register = Library()
FILTERS = ("default", "default_if_none", "upper", "lower", "title", "capfirst", "truncatechars")
for _name in FILTERS:
    register.filter(_name, getattr(filters, _name))

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MARKUP = ("{{", "{%", "{#")


class _MessageEngine(Engine):
    # Not Django's default tags and filters: only the library above.
    default_builtins = []


_engine = _MessageEngine(loaders=[], builtins=["campaigns.templating"], autoescape=False)


@lru_cache(maxsize=64)
def _compile(body: str):
    return _engine.from_string(body)


def _template(body: str):
    try:
        return _compile(body)
    except TemplateSyntaxError as exc:
        raise ApplicationError(
            f"the message body is not a valid template: {_syntax_problem(str(exc))}", field="body"
        ) from None


_UNKNOWN_TAG = re.compile(r"^Invalid block tag on line (\d+): '([^']*)'")


def _syntax_problem(message: str) -> str:
    """Django's complaint in the terms of a message body: its hint to load a tag library cannot apply here."""
    if tag := _UNKNOWN_TAG.match(message):
        return (
            f"{{% {tag[2]} %}} on line {tag[1]} is not allowed: a message has no tags, only {{{{ placeholders }}}} "
            f"and the filters {', '.join(FILTERS)}"
        )
    if message.startswith("Invalid filter:"):
        return f"{message}; a message may use only the filters {', '.join(FILTERS)}"
    return message


def body_validate(body: str) -> None:
    """Raise ApplicationError naming the problem when `body` is not a template we can render."""
    _template(body)


def body_is_personalised(body: str) -> bool:
    return any(marker in body for marker in _MARKUP)


@lru_cache(maxsize=64)
def body_variables(body: str) -> tuple[str, ...]:
    """The names of the context values `body` reads (`first_name`, an attribute's key), sorted: two contacts
    with the same values under these names receive the same text."""
    template = _template(body)
    names = set()
    # The engine knows no tags, so a body is text and {{ variables }}: a variable node reads its variable and
    # the variables given as filter arguments ({{ nickname|default:first_name }}), nothing else.
    for node in template.nodelist:
        expression = getattr(node, "filter_expression", None)
        if expression is None:
            continue
        variables = [expression.var] + [
            arg for _, args in expression.filters for is_variable, arg in args if is_variable
        ]
        names.update(var.lookups[0] for var in variables if isinstance(var, Variable) and var.lookups)
    return tuple(sorted(names))


def body_plain_parts(body: str) -> tuple[tuple[bool, str], ...] | None:
    """`body` as (False, text) and (True, variable name) in order when it is only text and plain {{ name }}
    variables (no filters, no dotted lookups, no literals), which render as the value itself; else None."""
    parts = []
    for node in _template(body).nodelist:
        if isinstance(node, TextNode):
            parts.append((False, node.s))
            continue
        expression = getattr(node, "filter_expression", None)
        var = getattr(expression, "var", None)
        if not isinstance(var, Variable) or expression.filters or var.translate or len(var.lookups or ()) != 1:
            return None
        parts.append((True, var.lookups[0]))
    return tuple(parts)


def body_fixed_text(body: str) -> str:
    """The text every recipient receives whatever their values: `body` without its {{ variables }}. A contact's
    values only add to it, so it is the shortest text (and fewest segments) the body can render to."""
    if not body_is_personalised(body):
        return body
    return "".join(node.s for node in _template(body).nodelist if isinstance(node, TextNode))


def personalisation_context(*, first_name: str, last_name: str, attributes: dict | None) -> dict[str, str]:
    """The only values a body can see: names and the contact's attributes, as text."""
    context: dict[str, str] = {}
    for key, value in (attributes or {}).items():
        if isinstance(key, str) and _IDENTIFIER.match(key) and isinstance(value, str | int | float | bool):
            context[key] = str(value)
    context["first_name"] = first_name or ""
    context["last_name"] = last_name or ""
    return context


def body_render(body: str, *, first_name: str = "", last_name: str = "", attributes: dict | None = None) -> str:
    """The text one contact receives; a body without template markup is returned as it is."""
    if not body_is_personalised(body):
        return body
    template = _template(body)
    # Every value the body reads exists, blank when the contact has none: a missing {{ nickname }} renders
    # blank by itself, but Django resolves a filter's argument strictly ({{ x|default:nickname }} would raise).
    context = dict.fromkeys(body_variables(body), "")
    context.update(personalisation_context(first_name=first_name, last_name=last_name, attributes=attributes))
    rendered = template.render(Context(context, autoescape=False))
    # Template.render marks its result safe (a SafeString), which would let a page print a contact's
    # "<script>" as markup. The message is plain text: hand it on as a plain str, so every template that
    # shows it escapes it. str.__str__ copies the characters; str(rendered) would return the SafeString.
    return str.__str__(rendered)
