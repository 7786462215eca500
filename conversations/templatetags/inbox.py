"""The inbox's unread count for the admin's frame (templates/admin/base_site.html)."""

from django import template
from django.conf import settings

from conversations.selectors import inbox_unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread(context) -> dict | None:
    """The unread count for staff who may read the inbox, else None (no query)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("conversations.view_conversation"):
        return None
    unread = inbox_unread_count()
    return {
        "messages": unread.messages,
        "conversations": unread.conversations,
        "poll_seconds": settings.INBOX_POLL_SECONDS,
    }
