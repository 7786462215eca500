from django.contrib import admin
from django.urls import include, path

admin.site.index_title = "SMS campaigns back office"

# A request over Django's size limits is answered 413/400 with what the limit is, never a 500.
handler400 = "smscampaigns.error_views.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("smscampaigns.api_urls")),
    path("", include("contacts.urls")),
    path("", include("sends.urls")),
]
