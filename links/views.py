"""GET /l/<code>: the short link redirect, a hot path. One indexed read, one append to the click queue, a 302.

Answered by links.middleware.ShortLinkMiddleware ahead of the middleware that serves staff (sessions, CSRF,
authentication, messages); this view answers what the middleware leaves to the ordinary path: unknown codes,
expired ones without SHORT_LINK_EXPIRED_URL, and methods other than GET and HEAD."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from links.selectors import short_link_target
from links.services.clicks import click_enqueue
from smscampaigns.client_address import client_address


@csrf_exempt
@require_safe
def short_link_redirect(request, code: str):
    """302 to the link's destination, the fetch noted for the click counts; an unknown code answers a plain 404
    that says nothing of the campaign or the product, and an expired one goes to SHORT_LINK_EXPIRED_URL."""
    return short_link_answer(request, code) or short_link_not_found()


def short_link_answer(request: HttpRequest, code: str) -> HttpResponseRedirect | None:
    """The redirect for a code that leads somewhere (its destination, or the expired page), the fetch noted
    when it counts; None for a code that leads nowhere (unknown, or expired with no page to go to)."""
    target = short_link_target(code=code)
    if target is None:
        return None
    if target.expires_at <= timezone.now():
        return _redirect(settings.SHORT_LINK_EXPIRED_URL) if settings.SHORT_LINK_EXPIRED_URL else None
    if target.counted:
        click_enqueue(
            code=code,
            method=request.method,
            user_agent=request.headers.get("User-Agent", ""),
            address=client_address(request),
        )
    return _redirect(target.destination)


def _redirect(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    # Each fetch must reach us to be counted, and the code (the recipient's) must not reach the destination.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def short_link_not_found() -> HttpResponse:
    response = HttpResponse(render_to_string("links/not_found.html"), status=404)
    response["Cache-Control"] = "no-store"
    return response
