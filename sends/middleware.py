"""Plivo's webhooks on their own path through the middleware: Plivo needs none of what serves staff
(sessions, CSRF, authentication, their timezone, messages, login lockouts, static files), and going through
it cost a delivery report as much CPU as the rest of its request path did."""

from sends import webhooks
from sends.webhook_paths import INBOUND_WEBHOOK_PATH, STATUS_WEBHOOK_PATH
from smscampaigns.skipped_middleware import SkippedMiddlewareHeaders

WEBHOOK_VIEWS = {STATUS_WEBHOOK_PATH: webhooks.plivo_status, INBOUND_WEBHOOK_PATH: webhooks.plivo_inbound}


class PlivoWebhookMiddleware:
    """Answer GET and POST on the webhook paths with their views; pass every other request on.

    Placed after SecurityMiddleware, as links.middleware.ShortLinkMiddleware is: the Host is checked and
    the skipped middleware's headers added (SkippedMiddlewareHeaders). Other methods take the ordinary path
    to the same views, which answer them 405 as before."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.skipped = SkippedMiddlewareHeaders(get_response)

    def __call__(self, request):
        view = WEBHOOK_VIEWS.get(request.path_info)
        if view is not None and request.method in ("GET", "POST"):
            request.get_host()  # DisallowedHost: the 400 any other page gets for a Host not in ALLOWED_HOSTS
            return self.skipped.finish(request, view(request))
        return self.get_response(request)
