"""How many attributes a contact may hold, and how large: the one rule that the importer, the API and the
admin all apply (through contacts.services), so no path can store what another would refuse.

Attributes are the personalisation values beyond names. Every campaign page lists their names, and each
send carries them: a file with 100,000 columns must not become 100,000 attributes.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from smscampaigns.errors import ApplicationError

# A name is a header of the file it came from and a placeholder in a message ({{ loyalty_tier }}).
ATTRIBUTE_NAME_MAX_CHARS = 100


@dataclass(frozen=True, slots=True)
class AttributeProblem:
    """What is wrong with a set of attributes; `name` is the attribute at fault, blank when the count is."""

    name: str
    message: str


def attribute_name_problem(name: str) -> str | None:
    if len(name) > ATTRIBUTE_NAME_MAX_CHARS:
        return f"an attribute name is at most {ATTRIBUTE_NAME_MAX_CHARS} characters (this one has {len(name):,})"
    return None


def attribute_problem(attributes: Mapping) -> AttributeProblem | None:
    """The first way `attributes` break the limits (CONTACT_MAX_ATTRIBUTES, CONTACT_ATTRIBUTE_MAX_CHARS), if any."""
    most = settings.CONTACT_MAX_ATTRIBUTES
    if len(attributes) > most:
        return AttributeProblem(
            "", f"{len(attributes):,} attributes; a contact holds at most {most:,} (CONTACT_MAX_ATTRIBUTES)"
        )
    longest = settings.CONTACT_ATTRIBUTE_MAX_CHARS
    for name, value in attributes.items():
        if problem := attribute_name_problem(str(name)):
            return AttributeProblem(str(name)[:40] + "...", problem)
        size = len(value) if isinstance(value, str) else len(json.dumps(value))
        if size > longest:
            return AttributeProblem(
                str(name),
                f"{size:,} characters; an attribute value holds at most {longest:,} (CONTACT_ATTRIBUTE_MAX_CHARS)",
            )
    return None


def attributes_validate(attributes: Mapping) -> None:
    """Raise an ApplicationError naming the attribute at fault (field `attributes.<name>`) if any limit is broken."""
    problem = attribute_problem(attributes)
    if problem is not None:
        field = f"attributes.{problem.name}" if problem.name else "attributes"
        where = f"attribute {problem.name!r}: " if problem.name else ""
        raise ApplicationError(f"{where}{problem.message}", field=field)
