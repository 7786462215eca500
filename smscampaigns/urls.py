from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "smscampaigns"
admin.site.site_title = "smscampaigns"
admin.site.index_title = "SMS campaigns back office"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("smscampaigns.api_urls")),
    path("", include("sends.urls")),
]
