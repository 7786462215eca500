"""The one error type that services raise when a request breaks a rule of the product, and the answers to
requests that break Django's own limits on their size."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent


class ApplicationError(Exception):
    """A rule of the product was broken; `message` is meant for the person who asked.

    `field` names the input at fault where there is one, so forms and the API can attach it there; `errors`
    ({"recipients.3": ["..."]}) names several at once, when one request has many faults to report together.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "invalid",
        errors: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.errors = errors


def request_limit_refusal(exc: Exception) -> tuple[int, str] | None:
    """(status, sentence) for a request over one of Django's size limits, else None.

    Django raises these when a body or query string is first read, wherever that happens (a middleware, a
    view, a parser); the API and the plain pages answer them with the same words.
    """
    if isinstance(exc, RequestDataTooBig):
        return 413, f"Request body too large: the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    if isinstance(exc, TooManyFieldsSent):
        return 400, f"Too many fields in the request: the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}."
    if isinstance(exc, TooManyFilesSent):
        return 400, f"Too many files in the request: the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FILES}."
    return None
