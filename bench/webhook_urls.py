"""The project's URLs plus one trivial view: the same middleware on the same server, doing nothing.

Its requests/s is the ceiling that the delivery-report webhook is compared with.
"""

from django.http import HttpResponse
from django.urls import include, path


def noop(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("_bench/noop/", noop),
    path("", include("smscampaigns.urls")),
]
