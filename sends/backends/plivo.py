"""The production backend: Plivo's Message API through the official `plivo` SDK, over one keep-alive session.

One body to many numbers goes in Plivo's bulk form: `dst` is the numbers joined with `<`, up to 1,000 per
request. Plivo answers 202 with one `message_uuid` per accepted destination and lists the rejected ones in
`invalid_number` (it also drops repeats, which we never send). Its documentation does not spell out the
order of the uuids; they follow the order of the accepted destinations, and the mapping relies on that
whenever the counts agree (the simulator answers the same way). When they do not, each uuid's recipient is
asked of Plivo (GET Message/{uuid}/), and a recipient still unaccounted for is failed without retry rather
than risk texting them twice.

Every failure is turned into a `SendError` in `classify_failure`, the one place that knows what an HTTP
status means for a campaign.
"""

import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from time import time

import plivo
import requests
from django.conf import settings
from plivo.exceptions import PlivoRestError
from plivo.resources.lookup import LOOKUP_API_ENDPOINT
from requests.adapters import HTTPAdapter

from sends.backends.base import (
    BackendError,
    BaseSmsBackend,
    ErrorClass,
    LineType,
    LookupResult,
    OutboundMessage,
    ProviderMessage,
    SendError,
    SendResult,
)
from sends.webhook_paths import status_callback_url

BULK_SEPARATOR = "<"


class PlivoClient(plivo.RestClient):
    """The SDK's client, talking to `api_url` instead of api.plivo.com.

    The SDK has no such option: before every request it resets `self.base_uri` to the module constant
    PLIVO_API_BASE_URI. Making `base_uri` a property that ignores those writes points this one instance
    elsewhere without touching the module (which other clients in the process share) and without a race
    between threads that share the client.
    """

    def __init__(self, *, api_url: str, auth_id: str, auth_token: str, timeout, lookup_url: str = ""):
        self._api_base_uri = f"{api_url.rstrip('/')}/v1/Account"
        self._lookup_endpoint = f"{lookup_url.rstrip('/')}/v1/Number" if lookup_url else LOOKUP_API_ENDPOINT
        super().__init__(auth_id=auth_id, auth_token=auth_token, timeout=timeout)

    def create_request(self, method, path=None, data=None, **kwargs):
        # The SDK's Lookup resource names its host by a module constant as the first part of the path; the
        # same redirection as base_uri, for the Lookup API's own host.
        if kwargs.get("is_lookup_request") and path and path[0] == LOOKUP_API_ENDPOINT:
            path = (self._lookup_endpoint, *path[1:])
        return super().create_request(method, path, data, **kwargs)

    @property
    def base_uri(self) -> str:
        return self._api_base_uri

    @base_uri.setter
    def base_uri(self, value: str) -> None:
        pass  # the SDK's reset to its module constant; see the class docstring


def _digits(number: str) -> str:
    """The key Plivo compares numbers by: it sanitises `+14155550123` and `14155550123` to the same number."""
    return re.sub(r"\D", "", number)


# Plivo's message list answers at most 20 records a page; one number rarely has more than a page in the
# minutes a lookup spans, and the offset cap bounds a pathological answer.
MESSAGE_LIST_PAGE = 20
MESSAGE_LIST_MAX_OFFSET = 1000


def _messages_list_page(client: plivo.RestClient, **filters):
    try:
        return client.messages.list(**filters)
    except TypeError as exc:
        # The SDK trips over a list request's error answer (it iterates the `objects` the answer lacks)
        # before it raises for the status; the status is read from the response all the same.
        raise PlivoRestError(f"the message list request failed: {exc}") from exc


def _plivo_filter_time(moment: datetime, *, round_up: bool) -> str:
    """Plivo's time filter format, YYYY-MM-DD HH:MM:SS in UTC, widened to whole seconds."""
    moment = moment.astimezone(UTC)
    if round_up and moment.microsecond:
        moment += timedelta(seconds=1)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _plivo_record_time(raw: str) -> datetime:
    """Plivo's message_time, e.g. 2026-11-23 11:08:30+00:00 (or with a fraction of a second)."""
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    raw = response.headers.get("Retry-After") if response is not None else None
    if not raw:
        return None
    if raw.strip().isdigit():
        return float(raw.strip())
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _provider_error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)[:200]


def classify_failure(exc: Exception, response: requests.Response | None) -> SendError:
    """What a failed API call means for the recipients of that request.

    The SDK raises the same PlivoRestError for 429, 503 and others, so the status is read from `response`,
    the HTTP response the session received (None when no response came back at all).
    """
    if response is None:
        if isinstance(exc, requests.Timeout):
            return SendError(ErrorClass.TRANSIENT, "timeout", f"Plivo did not answer in time: {exc}")
        if isinstance(exc, requests.RequestException):
            return SendError(ErrorClass.TRANSIENT, "connection_error", f"Could not reach Plivo: {exc}")
        # The SDK checks some arguments before any HTTP request (e.g. a sender equal to a destination).
        return SendError(ErrorClass.PERMANENT, "invalid_request", f"Plivo SDK refused the request: {exc}")

    status = response.status_code
    text = _provider_error_text(response)
    if status == 429 or status >= 500:
        return SendError(
            ErrorClass.TRANSIENT, f"http_{status}", f"Plivo answered {status}: {text}", _retry_after_seconds(response)
        )
    if status == 402 or "insufficient credit" in text.lower():
        return SendError(ErrorClass.ACCOUNT, "insufficient_credit", f"Plivo account is out of credit: {text}")
    if status == 401:
        return SendError(
            ErrorClass.ACCOUNT, "auth_failed", f"Plivo rejected PLIVO_AUTH_ID/PLIVO_AUTH_TOKEN (401): {text}"
        )
    if status == 403:
        return SendError(
            ErrorClass.ACCOUNT,
            "geo_permission",
            f"Plivo refused: sending to this destination is not permitted for the account (403): {text}",
        )
    if status == 404:
        # The Message resource lives under the auth id: a 404 there means the account is misconfigured.
        return SendError(ErrorClass.ACCOUNT, "http_404", f"Plivo has no such account resource (404): {text}")
    return SendError(ErrorClass.PERMANENT, f"http_{status}", f"Plivo rejected the message ({status}): {text}")


class SmsBackend(BaseSmsBackend):
    """Sends through Plivo's REST API with the official SDK.

    Thread-safe: threads may share one instance (the HTTP session is shared, with a kept-alive connection
    for each of up to DISPATCH_CONNECTIONS threads; the last response is kept per thread). `api_url`,
    `auth_id`, `auth_token` default to PLIVO_API_URL, PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN.
    """

    max_destinations_per_request = 1000
    thread_safe = True

    def __init__(
        self,
        *,
        api_url: str | None = None,
        lookup_url: str | None = None,
        auth_id: str | None = None,
        auth_token: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.api_url = api_url or settings.PLIVO_API_URL
        self.lookup_url = lookup_url or settings.PLIVO_LOOKUP_API_URL
        self.auth_id = auth_id if auth_id is not None else settings.PLIVO_AUTH_ID
        self.auth_token = auth_token if auth_token is not None else settings.PLIVO_AUTH_TOKEN
        self.timeout = (connect_timeout, read_timeout)
        self._client: PlivoClient | None = None
        self._config_error: SendError | None = None
        self._client_lock = threading.Lock()
        self._local = threading.local()

    # --- connection ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Build the SDK client and its session; bad credentials surface as an account error on each send."""
        with self._client_lock:
            if self._client is not None or self._config_error is not None:
                return
            try:
                client = PlivoClient(
                    api_url=self.api_url,
                    lookup_url=self.lookup_url,
                    auth_id=self.auth_id,
                    auth_token=self.auth_token,
                    timeout=self.timeout,
                )
            except PlivoRestError as exc:  # the SDK checks the auth id's shape before any request
                self._config_error = SendError(
                    ErrorClass.ACCOUNT,
                    "auth_config",
                    f"PLIVO_AUTH_ID/PLIVO_AUTH_TOKEN are not usable Plivo credentials "
                    f"(an auth id is 20 characters starting MA or SA): {exc}",
                )
                return
            client.session.hooks["response"].append(self._remember_response)
            # requests keeps 10 connections per host: more threads than that would each open a new one.
            adapter = HTTPAdapter(pool_maxsize=max(10, settings.DISPATCH_CONNECTIONS))
            client.session.mount("https://", adapter)
            client.session.mount("http://", adapter)
            self._client = client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.session.close()
                self._client.multipart_session.close()
                self._client = None

    def _remember_response(self, response: requests.Response, *args, **kwargs) -> None:
        self._local.response = response

    def _call(self, operation):
        """Run one SDK call; (result, None) or (None, SendError)."""
        self.open()
        if self._config_error is not None:
            return None, self._config_error
        self._local.response = None
        try:
            return operation(self._client), None
        except (PlivoRestError, requests.RequestException) as exc:
            return None, classify_failure(exc, self._local.response)

    # --- sending ------------------------------------------------------------------------------------

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(message.destinations)
        first_index: dict[str, int] = {}
        sender_key = "" if message.powerpack_uuid else _digits(message.sender)
        for index, destination in enumerate(message.destinations):
            key = _digits(destination)
            if key in first_index:
                # Plivo would silently drop the repeat, leaving one recipient without a message id.
                error = SendError(
                    ErrorClass.PERMANENT, "duplicate_destination", f"{destination} appears twice in the same send"
                )
                results[index] = SendResult(destination, error=error)
            elif sender_key and key == sender_key:
                # The SDK refuses a whole request that includes its own sender.
                error = SendError(
                    ErrorClass.PERMANENT, "destination_is_sender", f"{destination} is the sender's own number"
                )
                results[index] = SendResult(destination, error=error)
            else:
                first_index[key] = index
        unique = [message.destinations[i] for i in first_index.values()]
        size = self.max_destinations_per_request
        for start in range(0, len(unique), size):
            for result in self._send_chunk(message, unique[start : start + size]):
                results[first_index[_digits(result.destination)]] = result
        return results

    def _send_chunk(self, message: OutboundMessage, destinations: list[str]) -> list[SendResult]:
        response, error = self._call(
            lambda client: client.messages.create(
                # A Powerpack picks the number itself; Plivo refuses a request naming both.
                src=None if message.powerpack_uuid else message.sender,
                powerpack_uuid=message.powerpack_uuid or None,
                dst=BULK_SEPARATOR.join(destinations),  # the SDK would send a Python list as its repr
                text=message.body,
                url=message.status_callback_url or status_callback_url(),
                method="POST",
                message_expiry=message.expiry_seconds,  # None: left out, Plivo's default applies
            )
        )
        if error is not None:
            return [SendResult(destination, error=error) for destination in destinations]

        invalid = {_digits(number) for number in (getattr(response, "invalid_number", None) or [])}
        uuids = list(getattr(response, "message_uuid", None) or [])
        accepted = [d for d in destinations if _digits(d) not in invalid]
        if len(uuids) == len(accepted):
            uuid_by_key = {_digits(d): uuid for d, uuid in zip(accepted, uuids, strict=True)}
        else:
            uuid_by_key = self._uuids_by_recipient(uuids)

        results = []
        for destination in destinations:
            key = _digits(destination)
            if key in invalid:
                error = SendError(
                    ErrorClass.PERMANENT, "invalid_number", f"Plivo rejected {destination} as an invalid number"
                )
                results.append(SendResult(destination, error=error))
            elif key in uuid_by_key:
                results.append(SendResult(destination, message_uuid=uuid_by_key[key]))
            else:
                # Never retried: Plivo may have accepted it, and a retry could text the person twice.
                error = SendError(
                    ErrorClass.PERMANENT,
                    "unmapped_response",
                    f"Plivo's answer named no message for {destination}; not retried to avoid a double send",
                )
                results.append(SendResult(destination, error=error))
        return results

    def _uuids_by_recipient(self, uuids: list[str]) -> dict[str, str]:
        """Ask Plivo who each message went to, when the answer cannot be matched to the request by order."""
        by_key = {}
        for uuid in uuids:
            record, error = self._call(lambda client, uuid=uuid: client.messages.get(uuid))
            if error is None:
                by_key[_digits(record.to_number)] = uuid
        return by_key

    def find_messages(self, *, to_number: str, since: datetime, until: datetime) -> list[ProviderMessage]:
        found, offset = [], 0
        while True:
            page, error = self._call(
                lambda client, offset=offset: _messages_list_page(
                    client,
                    to_number=_digits(to_number),
                    message_direction="outbound",
                    message_time__gte=_plivo_filter_time(since, round_up=False),
                    message_time__lte=_plivo_filter_time(until, round_up=True),
                    limit=MESSAGE_LIST_PAGE,
                    offset=offset,
                )
            )
            if error is not None:
                raise BackendError(error)
            records = list(page)
            found.extend(
                ProviderMessage(
                    message_uuid=record.message_uuid,
                    to_number=_digits(record.to_number),
                    state=record.message_state,
                    time=_plivo_record_time(record.message_time),
                    units=int(getattr(record, "units", 0) or 0),
                )
                for record in records
            )
            if len(records) < MESSAGE_LIST_PAGE or offset >= MESSAGE_LIST_MAX_OFFSET:
                return found
            offset += MESSAGE_LIST_PAGE

    def fetch_message_status(self, message_uuid: str) -> str | None:
        record, error = self._call(lambda client: client.messages.get(message_uuid))
        if error is None:
            return record.message_state
        if self._local.response is not None and self._local.response.status_code == 404:
            return None
        raise BackendError(error)

    # --- lookup -------------------------------------------------------------------------------------

    def lookup(self, number: str) -> LookupResult:
        """Plivo's Lookup API (type=carrier) through the SDK's `lookup.get`."""
        record, error = self._call(lambda client: client.lookup.get(number, info_type="carrier"))
        if error is not None:
            response = self._local.response
            if response is not None and response.status_code == 404:
                # The Lookup API answers 404 for a number that is no phone number, not for a wrong account.
                error = SendError(ErrorClass.PERMANENT, "invalid_number", f"Plivo found no such number: {number}")
            raise BackendError(error)
        carrier = _part(record, "carrier")
        country = _part(record, "country")
        raw_type = str(carrier.get("type") or "unknown")
        ported = str(carrier.get("ported") or "unknown").lower()
        return LookupResult(
            number=str(getattr(record, "phone_number", "") or number),
            line_type=LineType(raw_type) if raw_type in LineType._value2member_map_ else LineType.UNKNOWN,
            carrier=str(carrier.get("name") or "")[:100],
            ported={"yes": True, "true": True, "no": False, "false": False}.get(ported),
            country=str(country.get("iso2") or "")[:2].upper(),
        )


def _part(record, name: str) -> dict:
    """A nested object of an SDK response as a dict (the SDK hands nested JSON objects over as either)."""
    value = getattr(record, name, None)
    if value is None:
        return {}
    return value if isinstance(value, dict) else dict(getattr(value, "__dict__", {}))
