"""How deeply JSON from outside may nest, for the API's parser and the admin's JSON fields alike.

Python's json module recurses once per level: input nested a few thousand deep raises RecursionError (a
500), and input just under that reaches the limit again when validated, stored or rendered back. No
request of this product needs more than a few levels.
"""

from django import forms
from django.core.exceptions import ValidationError

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."


def json_depth_exceeds(data, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests objects and arrays deeper than `limit` (walked without recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False


class BoundedJSONFormField(forms.JSONField):
    """The admin's JSON input, refusing JSON nested deeper than MAX_JSON_DEPTH with a form error."""

    def to_python(self, value):
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise ValidationError(TOO_DEEP, code="invalid") from None
        if json_depth_exceeds(converted):
            raise ValidationError(TOO_DEEP, code="invalid")
        return converted

    def bound_data(self, data, initial):
        # The form shown again with its error parses the input once more: keep it as the text it was.
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)
