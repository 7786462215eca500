from django import template

register = template.Library()


@register.filter
def grouped(value) -> str:
    """A whole number with thousands separators: 1234567 -> "1,234,567" (the admin's language is English)."""
    return f"{int(value):,}"
