"""Shapes of personalised values: what of a contact's value decides the size and price of their text.

A message's encoding and segments depend, character by character, only on whether each character is GSM-7
basic, GSM-7 extension (two septets) or outside GSM-7 (which one, for the UCS-2 note, and whether it takes two
UTF-16 units); where its URLs are found depends only on the characters that start, end or trim a URL. A
value's shape keeps those characters and every character outside GSM-7 as they are, and writes every other
GSM-7 character as one stand-in of its class ("a" basic, "~" extension). Two values of one shape render, in a
body of plain {{ variables }}, to texts of the same length, encoding, segments and UCS-2 characters, with
their URLs in the same places; so a preview prices each shape once instead of each of a million contacts.
Where a URL of the text runs into a value, the value's own characters matter (is it a tracked link?), and
the preview renders the real values instead (campaigns.selectors.campaign_preview).
"""

import re

from django.db.models import F, Func, TextField, Value
from django.db.models.expressions import RawSQL

from campaigns.segments import GSM7_BASIC, GSM7_EXTENSION
from campaigns.tracked_links import URL_DECIDING_CHARACTERS
from contacts.models import Contact

BASIC_STAND_IN = "a"
EXTENSION_STAND_IN = "~"


def _kept(ch: str) -> bool:
    return ch in URL_DECIDING_CHARACTERS or re.match(r"\s", ch) is not None


# translate()'s two alphabets: every GSM-7 character that is not kept, and its stand-in.
_REPLACED = "".join(sorted(ch for ch in GSM7_BASIC | GSM7_EXTENSION if not _kept(ch)))
_STAND_INS = "".join(BASIC_STAND_IN if ch in GSM7_BASIC else EXTENSION_STAND_IN for ch in _REPLACED)
_TABLE = str.maketrans(_REPLACED, _STAND_INS)
assert not _kept(BASIC_STAND_IN) and not _kept(EXTENSION_STAND_IN)
assert BASIC_STAND_IN in GSM7_BASIC and EXTENSION_STAND_IN in GSM7_EXTENSION


def value_shape(value: str) -> str:
    """The shape of a value, as the database computes it with value_shape_sql."""
    return value.translate(_TABLE)


def value_shape_sql(expression) -> Func:
    """The shape of a text column, computed by PostgreSQL (translate maps character for character)."""
    return Func(expression, Value(_REPLACED), Value(_STAND_INS), function="translate", output_field=TextField())


# The shape of one attribute of a contact, tagged with its JSON type: "s" and the shape of a string, or "j"
# and the JSON text of any other value (a number or a yes/no renders as itself); NULL when the contact has none.
_ATTRIBUTE_SHAPE = (
    "CASE WHEN jsonb_typeof({attributes} -> %s) = 'string' THEN 's' || translate({attributes} ->> %s, %s, %s) "
    "ELSE 'j' || ({attributes} -> %s)::text END"
)


def contact_value_shape_sql(name: str):
    """The shape of what a body's variable `name` reads of a contact (personalisation_context's precedence:
    the name fields win over attributes of the same name). PostgreSQL only."""
    if name in ("first_name", "last_name"):
        return value_shape_sql(F(name))
    attributes = f'"{Contact._meta.db_table}"."attributes"'
    return RawSQL(
        _ATTRIBUTE_SHAPE.format(attributes=attributes),
        [name, name, _REPLACED, _STAND_INS, name],
        output_field=TextField(),
    )
