from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

STAFF_TIMEZONE_COOKIE = "staff_tz"


class StaffTimezoneMiddleware:
    """Show and read times in the staff member's own timezone (set by static/smscampaigns/staff-timezone.js).

    An unknown or missing zone leaves the server's TIME_ZONE in force.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = unquote(request.COOKIES.get(STAFF_TIMEZONE_COOKIE, ""))  # the script URL-encodes the "/"
        zone = None
        if name and len(name) < 64:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                zone = None
        if zone is None:
            timezone.deactivate()
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
