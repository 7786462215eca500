"""The one interface through which every SMS leaves the system.

A backend sends one body from one sender to one or more destinations and answers one `SendResult` per
destination, in order: the provider's message id, or a `SendError` classified once, here, as
transient (retry later), permanent (this recipient will never succeed) or account (stop the campaign).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ErrorClass(StrEnum):
    TRANSIENT = "transient"  # connection error, timeout, HTTP 429, 5xx: retry with backoff
    PERMANENT = "permanent"  # invalid number and the like: fail this recipient, never retry
    ACCOUNT = "account"  # auth, credit, geo permission: pause the campaign with the reason


@dataclass(frozen=True)
class SendError:
    error_class: ErrorClass
    code: str  # short and stable, e.g. "http_429", "invalid_number", "insufficient_credit"
    message: str  # for staff
    retry_after: float | None = None  # seconds, when the provider said so

    @property
    def is_retryable(self) -> bool:
        return self.error_class is ErrorClass.TRANSIENT


class BackendError(Exception):
    """A call that has no per-recipient result (e.g. a status lookup) failed; `error` says how."""

    def __init__(self, error: SendError):
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class SendResult:
    destination: str
    message_uuid: str | None = None
    error: SendError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.message_uuid is not None


@dataclass(frozen=True)
class OutboundMessage:
    sender: str
    destinations: Sequence[str]  # E.164
    body: str
    status_callback_url: str | None = None
    # Seconds the provider may hold the message before it must give up on it (Plivo's message_expiry); the
    # end of the recipients' quiet-hours window, so a message queued late cannot arrive at night.
    expiry_seconds: int | None = None
    # A Plivo Powerpack sends instead of `sender`: the provider picks each destination's number from it.
    powerpack_uuid: str = ""
    extra: dict = field(default_factory=dict)


class LineType(StrEnum):
    """What a number is, as a carrier lookup tells (Plivo's carrier.type values)."""

    MOBILE = "mobile"
    FIXED = "fixed"
    VOIP = "voip"
    TOLL_FREE = "toll-free"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LookupResult:
    """What a carrier lookup said of one number."""

    number: str  # E.164
    line_type: LineType
    carrier: str
    ported: bool | None  # None: the provider does not know (outside the US and Canada)
    country: str  # ISO 3166-1 alpha-2, "" when unknown


@dataclass(frozen=True)
class ProviderMessage:
    """An outbound message as the provider lists it (no text: Plivo's message list does not return it)."""

    message_uuid: str
    to_number: str  # digits, as the provider stores it
    state: str
    time: datetime
    units: int = 0  # segments billed


class BaseSmsBackend:
    """Subclass and implement `send_message`. Backends are context managers, like Django's mail backends."""

    # How many destinations one request may carry (Plivo's bulk form takes up to 1,000).
    max_destinations_per_request: int = 1
    # Whether threads may call send_message on one instance at once: dispatch then keeps up to
    # DISPATCH_CONNECTIONS requests in flight through it; otherwise it sends one request at a time.
    thread_safe: bool = False

    def __init__(self, *, fail_silently: bool = False, **kwargs):
        self.fail_silently = fail_silently

    def open(self) -> None:
        """Open any long-lived connection; safe to call twice."""

    def close(self) -> None:
        """Release what `open` took."""

    def __enter__(self) -> "BaseSmsBackend":
        self.open()
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.close()

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        """Send one body to every destination; one result per destination, in the same order."""
        raise NotImplementedError("subclasses of BaseSmsBackend must implement send_message()")

    def fetch_message_status(self, message_uuid: str) -> str | None:
        """The provider's current status of a message ("queued", "sent", "delivered", ...), None if unknown.

        Used to reconcile a send whose process died between the API call and the commit.
        """
        raise NotImplementedError("subclasses of BaseSmsBackend must implement fetch_message_status()")

    def lookup(self, number: str) -> LookupResult:
        """The carrier's view of `number` (E.164): line type, carrier, ported, country. Raises BackendError
        when the provider could not answer (its class says whether a retry may help)."""
        raise BackendError(
            SendError(ErrorClass.ACCOUNT, "lookup_unsupported", f"{type(self).__module__} cannot look numbers up")
        )

    def find_messages(self, *, to_number: str, since: datetime, until: datetime) -> list[ProviderMessage]:
        """Every outbound message the provider accepted for `to_number` between `since` and `until`
        (inclusive, to the second). Raises BackendError when the provider could not be asked just now.

        Used to settle a send whose process died before any message id was recorded: found means it went
        out, none means the provider never had it and it may be sent again.
        """
        raise NotImplementedError("subclasses of BaseSmsBackend must implement find_messages()")
