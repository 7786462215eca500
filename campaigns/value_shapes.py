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

from django.db.models import TextField
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
# ASCII letters and digits written as the basic stand-in: a value made only of them (most names and codes) has
# the shape of its length, which a regular expression finds several times faster than translate() builds it.
_PLAIN = "".join(ch for ch in _REPLACED if ch.isascii() and ch.isalnum() and _TABLE[ord(ch)] == ord(BASIC_STAND_IN))
_PLAIN_PATTERN = f"^[{_PLAIN}]*$"
assert not _kept(BASIC_STAND_IN) and not _kept(EXTENSION_STAND_IN)
assert BASIC_STAND_IN in GSM7_BASIC and EXTENSION_STAND_IN in GSM7_EXTENSION


def value_shape(value: str) -> str:
    """The shape of a value, as the database computes it with contact_value_shape_sql."""
    return value.translate(_TABLE)


def _shape_sql(text: str, params: list) -> tuple[str, list]:
    """The shape of the SQL text expression `text` (with its `params`), as PostgreSQL computes it: translate()
    maps character for character, and NULL stays NULL."""
    sql = f"CASE WHEN {text} ~ %s THEN repeat(%s, length({text})) ELSE translate({text}, %s, %s) END"
    return sql, [*params, _PLAIN_PATTERN, BASIC_STAND_IN, *params, *params, _REPLACED, _STAND_INS]


def contact_value_shape_sql(name: str) -> RawSQL:
    """The shape of what a body's variable `name` reads of a contact (personalisation_context's precedence:
    the name fields win over attributes of the same name): for an attribute, tagged with its JSON type, "s" and
    the shape of a string or "j" and the JSON text of any other value (a number or a yes/no renders as itself);
    NULL when the contact has none. PostgreSQL only."""
    table = Contact._meta.db_table
    if name in ("first_name", "last_name"):
        sql, params = _shape_sql(f'"{table}"."{Contact._meta.get_field(name).column}"', [])
        return RawSQL(sql, params, output_field=TextField())
    attributes = f'"{table}"."attributes"'
    shape, shape_params = _shape_sql(f"({attributes} ->> %s)", [name])
    return RawSQL(
        f"CASE WHEN jsonb_typeof({attributes} -> %s) = 'string' THEN 's' || {shape} "
        f"ELSE 'j' || ({attributes} -> %s)::text END",
        [name, *shape_params, name],
        output_field=TextField(),
    )
