import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from smscampaigns.middleware import StaffTimezoneMiddleware


def zone_seen(cookie: str | None) -> str:
    request = RequestFactory().get("/admin/")
    if cookie is not None:
        request.COOKIES["staff_tz"] = cookie
    return StaffTimezoneMiddleware(lambda r: HttpResponse(timezone.get_current_timezone_name()))(
        request
    ).content.decode()


@pytest.mark.parametrize(
    ("cookie", "zone"),
    [
        ("Europe%2FParis", "Europe/Paris"),  # as the browser script writes it
        ("Asia/Tokyo", "Asia/Tokyo"),
        (None, "UTC"),
        ("Not/AZone", "UTC"),
        ("../../etc/passwd", "UTC"),
        ("America", "UTC"),  # a folder of zones, not a zone
    ],
)
def test_times_are_shown_in_the_staff_members_zone_or_the_servers(settings, cookie, zone):
    settings.TIME_ZONE = "UTC"
    assert zone_seen(cookie) == zone
