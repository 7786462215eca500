"""The answer to a bad request outside the API views: handler400 in smscampaigns/urls.py."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from smscampaigns.errors import request_limit_refusal


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400, or 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE; the API's error format under /api/.

    Django sends here what it raises while reading a request too large for its limits, wherever that was
    first read: the CSRF middleware reading an admin form, a webhook reading Plivo's fields.
    """
    refusal = request_limit_refusal(exception)
    if request.path.startswith("/api/"):
        code, detail = refusal or (400, "Bad request.")
        return JsonResponse({"detail": detail, "errors": {}}, status=code)
    if refusal is None:
        return defaults.bad_request(request, exception)
    code, detail = refusal
    return HttpResponse(detail, status=code, content_type="text/plain; charset=utf-8")
