"""What a browser would post back from an admin change form, and the same with every field made invalid."""

from html.parser import HTMLParser

from django import forms


class _FormFields(HTMLParser):
    """The successful controls of the form with id `form_id`, as a browser submits them: {name: [values]}."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select is not None and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the one newline that follows <textarea>; Django writes it there.
            self.data.setdefault(self._textarea, []).append("".join(self._text).removeprefix("\n"))
            self._textarea = None


def posted_back(response) -> dict[str, list[str]]:
    """The admin change (or add) page's form as a browser would submit it unchanged, inlines included."""
    opts = response.context["opts"]
    parser = _FormFields(f"{opts.model_name}_form")
    parser.feed(response.content.decode())
    return parser.data


def _invalid_value(field: forms.Field) -> str | None:
    """A value the field itself refuses, or None where every value is acceptable (a checkbox)."""
    if isinstance(field, forms.ModelChoiceField):  # ModelMultipleChoiceField included
        return "999999999"
    if isinstance(field, forms.ChoiceField):
        return "no-such-choice"
    if isinstance(field, forms.JSONField):
        return "{not json"
    if isinstance(field, (forms.IntegerField, forms.DecimalField, forms.FloatField)):
        return "not a number"
    if isinstance(field, (forms.DateTimeField, forms.DateField, forms.TimeField, forms.SplitDateTimeField)):
        return "not a time"
    if isinstance(field, forms.CharField):
        # Every form CharField refuses NUL (PostgreSQL cannot store it); beyond max_length also fails.
        return "\x00" if field.max_length is None else "x" * (field.max_length + 1)
    return None


def made_invalid(data: dict[str, list[str]], form: forms.BaseForm) -> tuple[dict[str, list[str]], list[str]]:
    """`data` with each field of `form` that can be refused given a value it refuses; and those fields' names."""
    invalid = dict(data)
    spoiled = []
    for name, field in form.fields.items():
        value = _invalid_value(field)
        if value is None:
            continue
        key = form.add_prefix(name)
        if isinstance(field, forms.MultiValueField):  # a split date and time posts name_0, name_1
            invalid.update({f"{key}_{i}": [value] for i in range(len(field.fields))})
        else:
            invalid[key] = [value]
        spoiled.append(name)
    return invalid, spoiled
