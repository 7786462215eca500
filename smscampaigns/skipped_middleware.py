"""For paths that an app's middleware answers early (the short link redirect, Plivo's webhooks)."""

from csp.constants import HEADER as CSP_HEADER
from csp.constants import HEADER_REPORT_ONLY as CSP_HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django_permissions_policy import PermissionsPolicyMiddleware


class SkippedMiddlewareHeaders:
    """What the middleware a lean path skips (django-csp, Permissions-Policy, CommonMiddleware,
    XFrameOptionsMiddleware) would have added to its response, computed once: django-csp builds its header
    anew on every response, a quarter of the CPU of the short link redirect.

    For a path answered early by its own middleware (placed after SecurityMiddleware, which still adds HSTS,
    nosniff and the opener policy), for machines and people who need nothing that serves staff."""

    def __init__(self, get_response):
        permissions = PermissionsPolicyMiddleware(get_response)
        headers = {
            CSP_HEADER: build_policy(),
            CSP_HEADER_REPORT_ONLY: build_policy(report_only=True),
            "Permissions-Policy": permissions.permissions_policy,
            "Permissions-Policy-Report-Only": permissions.permissions_policy_report_only,
            "X-Frame-Options": settings.X_FRAME_OPTIONS,
        }
        self.headers = {name: value for name, value in headers.items() if value}

    def finish(self, request, response):
        """The response as the skipped middleware would have left it (the caller checks the Host before it
        answers, with request.get_host(): a Host not in ALLOWED_HOSTS is the 400 any page gets)."""
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        if not response.streaming:
            response.headers["Content-Length"] = str(len(response.content))
        return response
