"""The one error type that services raise when a request breaks a rule of the product."""


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
