from django.urls import path

from smscampaigns.urls import urlpatterns


def fail(request):
    raise RuntimeError(f"could not text {request.GET.get('to')}")


urlpatterns = [*urlpatterns, path("sentry-test-failure/", fail)]
