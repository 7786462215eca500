"""The short link redirect's own path through the middleware: a recipient tapping a link needs none of what
serves staff (sessions, CSRF, authentication, their timezone, messages, login lockouts, static files), and
going through it took most of the redirect's time."""

from links.urls import SHORT_LINK_PATH
from links.views import short_link_answer
from smscampaigns.skipped_middleware import SkippedMiddlewareHeaders


class ShortLinkMiddleware:
    """Answer GET and HEAD of a short link that leads somewhere, and pass every other request on.

    Placed after SecurityMiddleware (the HTTPS redirect; HSTS, nosniff, the opener policy on the response)
    and before the rest. What the middleware it skips would have done to this response is done here: the
    Host is checked and Content-Length set (CommonMiddleware), X-Frame-Options set (XFrameOptionsMiddleware),
    and the Content-Security-Policy and Permissions-Policy headers set, from values computed once
    (SkippedMiddlewareHeaders).
    Unknown and expired codes and other methods take the ordinary path to the view, which answers them as
    the rest of the site would: the 404 page, the 405."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.skipped = SkippedMiddlewareHeaders(get_response)

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and (match := SHORT_LINK_PATH.fullmatch(request.path_info)):
            request.get_host()  # DisallowedHost: the 400 any other page gets for a Host not in ALLOWED_HOSTS
            response = short_link_answer(request, match["code"])
            if response is not None:
                return self.skipped.finish(request, response)
        return self.get_response(request)
