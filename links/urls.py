"""The short links' route, under the path of SHORT_LINK_BASE_URL (/l/ by default; / on a short domain)."""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import re_path

from links import views

_prefix = re.escape(urlsplit(settings.SHORT_LINK_BASE_URL).path.lstrip("/"))
_code = r"(?P<code>[A-Za-z0-9_-]{1,16})"

# The same route as a request's path_info, for links.middleware.ShortLinkMiddleware.
SHORT_LINK_PATH = re.compile(rf"/{_prefix}{_code}")

urlpatterns = [
    re_path(rf"^{_prefix}{_code}$", views.short_link_redirect, name="short-link"),
]
