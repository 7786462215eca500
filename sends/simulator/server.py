"""The simulator's HTTP server: the subset of Plivo's Message API our backend uses, plus /_sim/ controls.

Plivo API (basic auth with the simulator's auth id and token, JSON or form bodies, Plivo's JSON shapes):
  POST /v1/Account/{auth_id}/Message/         202 {"api_id", "message": "message(s) queued",
                                                   "message_uuid": [...], "invalid_number": [...]}
                                              errors {"api_id", "error"}: 400, 401, 402, 403, 404, 429, 5xx
  GET  /v1/Account/{auth_id}/Message/{uuid}/  the message resource (message_state, to_number, units, ...)
  GET  /v1/Number/{number}?type=carrier       the Lookup API (lookup.plivo.com at Plivo; see simulator/numbers.py)
  A message may name `powerpack_uuid` instead of `src`: the Powerpack picks each destination's number.
Controls (no auth):
  GET    /_sim/messages   {"count", "messages": [{"uuid", "src", "dst", "text", "time", "status", "units", "url"}]}
  DELETE /_sim/messages   forget every message, count and pending callback
  POST   /_sim/inbound    {"from", "to", "text"}: a signed inbound-message webhook to <app-url>/webhooks/plivo/inbound/
  GET    /_sim/faults     the fault settings; POST replaces them (see state.Faults for every knob)
  GET    /_sim/stats      messages accepted per second, connections opened, API answers by status, callbacks
  POST   /_sim/clicks     {"share": 0..1 (default 1), "user_agent": "...", "src": "+1..."}: recipients of delivered
                          messages (only those sent from `src`, when given; each picked with probability `share`,
                          once) open the short links in them: {"clicking": n}
  GET    /_sim/stats      messages accepted per second (overall and the most from each sender in one
                          second), connections opened, API answers by status, callbacks
  GET    /_sim/powerpacks the account's Powerpacks; POST {"powerpacks": [...]} replaces them (emptied by
                          DELETE /_sim/messages, like the sticky senders they remember)

Like Plivo, numbers in callbacks and resources carry no "+" (To=14155550123).
"""

import base64
import binascii
import contextlib
import hmac
import json
import logging
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from campaigns.segments import plivo_length, segment_info
from campaigns.tracked_links import short_link_base_url, text_urls
from sends.simulator.callbacks import JobQueue, WebhookSender
from sends.simulator.numbers import INVALID_LOOKUP_ERROR_CODE, Powerpacks, lookup_answer, powerpacks_from_payload
from sends.simulator.state import (
    MAX_DESTINATIONS,
    MAX_MESSAGE_EXPIRY,
    MIN_MESSAGE_EXPIRY,
    FaultError,
    Faults,
    Rejected,
    SimMessage,
    SimulatorState,
    digits,
)
from sends.webhook_paths import INBOUND_WEBHOOK_PATH

logger = logging.getLogger(__name__)

_MESSAGE_LIST = re.compile(r"^/v1/Account/(?P<auth_id>[^/]+)/Message/?$")
_MESSAGE_DETAIL = re.compile(r"^/v1/Account/(?P<auth_id>[^/]+)/Message/(?P<uuid>[^/]+)/?$")
# What a simulated recipient's phone says when it opens a link.
PHONE_BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
_LOOKUP = re.compile(r"^/v1/Number/(?P<number>[^/]+)/?$")
# Plivo's message list answers at most 20 records a page.
MAX_LIST_LIMIT = 20
_TIME_FILTERS = ("message_time", "message_time__gt", "message_time__gte", "message_time__lt", "message_time__lte")


def _bounded_int(query: dict, name: str, *, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Rejected(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise Rejected(400, f"{name} must be between {low} and {high}")
    return value


def _plivo_filter_time(query: dict, name: str) -> float | None:
    """A time filter in Plivo's format, YYYY-MM-DD HH:MM[:ss[.uuuuuu]] (UTC), as epoch seconds."""
    raw = query.get(name)
    if raw in (None, ""):
        return None
    for layout in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise Rejected(400, f"{name} must look like YYYY-MM-DD HH:MM[:ss[.uuuuuu]]")


_ACCOUNT_ERRORS = {
    401: "authentication failed",
    402: "insufficient credit in your account to send this message",
    403: "geo permission: sending messages to this destination country is disabled for your account",
}


def _message_expiry(raw) -> int | None:
    """message_expiry as Plivo takes it: whole seconds, 5 to 10,799; absent means Plivo's three hours."""
    if raw is None or raw == "":
        return None
    try:
        seconds = int(raw)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or isinstance(raw, bool) or not MIN_MESSAGE_EXPIRY <= seconds <= MAX_MESSAGE_EXPIRY:
        raise Rejected(
            400, f"message_expiry must be whole seconds from {MIN_MESSAGE_EXPIRY} to {MAX_MESSAGE_EXPIRY}, got {raw!r}"
        )
    return seconds


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send every request on one connection
    # Headers and body are two writes; with Nagle on, the body waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.server.sim.state.count("connections_opened")

    def log_message(self, format: str, *args) -> None:
        logger.debug("plivo simulator: " + format, *args)

    # --- plumbing -----------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        # Read before anything can fail, so that an error answer leaves the kept-alive connection in step.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _params(self) -> dict:
        raw = self._raw_body
        if not raw:
            return {}
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                payload = json.loads(raw)
            except ValueError as exc:
                raise Rejected(400, f"body is not valid JSON: {exc}") from None
            if not isinstance(payload, dict):
                raise Rejected(400, "body must be a JSON object")
            return payload
        return {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}

    def _send_json(self, status: int, payload, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # The headers and the body in one write (end_headers would write the headers alone): one system
        # call per answer instead of two.
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()
        self.server.sim.state.count(f"answers_{status}")

    def _send_error(self, rejected: Rejected) -> None:
        headers = {"Retry-After": str(rejected.retry_after)} if rejected.retry_after is not None else None
        self._send_json(rejected.status, {"api_id": str(uuid.uuid1()), "error": rejected.error}, headers)

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        self._generation = self.server.sim.state.generation
        self._raw_body = self._read_body()
        try:
            if path.startswith("/_sim/"):
                self._control(method, path)
            else:
                self._api(method, path)
        except Rejected as rejected:
            self._send_error(rejected)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- Plivo's API --------------------------------------------------------------------------------

    def _check_auth(self, path_auth_id: str | None) -> None:
        sim = self.server.sim
        header = self.headers.get("Authorization") or ""
        auth_id = auth_token = ""
        if header.startswith("Basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                auth_id, _, auth_token = base64.b64decode(header[6:]).decode().partition(":")
        ok = hmac.compare_digest(auth_id.encode(), sim.auth_id.encode()) & hmac.compare_digest(
            auth_token.encode(), sim.auth_token.encode()
        )
        if not ok or (path_auth_id is not None and path_auth_id != sim.auth_id):
            raise Rejected(401, "authentication failed")

    def _api(self, method: str, path: str) -> None:
        sim = self.server.sim
        if match := _MESSAGE_LIST.match(path):
            if method not in ("GET", "POST"):
                raise Rejected(405, f"method {method} not allowed on the Message resource")
            self._check_auth(match["auth_id"])
            self._delay()
            if method == "GET":
                self._list_messages(match["auth_id"])
            else:
                self._send_message(self._params())
        elif match := _MESSAGE_DETAIL.match(path):
            if method != "GET":
                raise Rejected(405, f"method {method} not allowed on a Message")
            self._check_auth(match["auth_id"])
            self._delay()
            message = sim.state.get(match["uuid"])
            if message is None:
                raise Rejected(404, f"message {match['uuid']} not found")
            self._send_json(200, message.plivo_resource(sim.auth_id))
        elif match := _LOOKUP.match(path):
            if method != "GET":
                raise Rejected(405, f"method {method} not allowed on a Number lookup")
            self._lookup(match["number"])
        else:
            raise Rejected(404, f"no such resource: {path}")

    def _delay(self) -> None:
        latency = self.server.sim.state.faults.latency_ms
        if latency:
            time.sleep(latency / 1000)

    def _lookup(self, number: str) -> None:
        """Plivo's Lookup API: its errors are {"api_id", "error_code", "message"}, not the Message API's."""
        sim = self.server.sim
        query = parse_qs(urlsplit(self.path).query)
        try:
            self._check_auth(None)
            self._delay()
            faults = sim.state.faults
            if faults.account_error is not None:
                raise Rejected(faults.account_error, _ACCOUNT_ERRORS[faults.account_error])
            if failure := sim.state.random_failure():
                raise failure
            if query.get("type", [""])[-1] != "carrier":
                raise Rejected(400, "type must be carrier")
            answer = lookup_answer(number, faults.lookup_line_types)
            if answer is None or digits(number) in faults.invalid_numbers:
                raise Rejected(404, "the phone number is invalid")
        except Rejected as rejected:
            code = INVALID_LOOKUP_ERROR_CODE if rejected.status == 404 else rejected.status
            headers = {"Retry-After": str(rejected.retry_after)} if rejected.retry_after is not None else None
            body = {"api_id": str(uuid.uuid1()), "error_code": code, "message": rejected.error}
            self._send_json(rejected.status, body, headers)
            return
        sim.state.count("lookups")
        self._send_json(200, answer)

    def _send_message(self, params: dict) -> None:
        sim = self.server.sim
        faults = sim.state.faults
        if faults.account_error is not None:
            raise Rejected(faults.account_error, _ACCOUNT_ERRORS[faults.account_error])
        if failure := sim.state.random_failure():
            raise failure
        src, dst, text = params.get("src"), params.get("dst"), params.get("text")
        powerpack_uuid = params.get("powerpack_uuid") or ""
        if src and powerpack_uuid:
            raise Rejected(400, "specify either powerpack_uuid or src, not both")
        if powerpack_uuid:
            if not isinstance(powerpack_uuid, str) or not sim.powerpacks.known(powerpack_uuid):
                raise Rejected(400, f"powerpack_uuid {powerpack_uuid!r} is not a Powerpack of this account")
            src = powerpack_uuid  # checked below as present; each message gets its number from the Powerpack
        missing = [name for name, value in (("src", src), ("dst", dst), ("text", text)) if not value]
        if missing:
            raise Rejected(400, f"missing required parameter(s): {', '.join(missing)}")
        if not all(isinstance(value, str) for value in (src, dst, text)):
            raise Rejected(400, "src, dst and text must be strings (several destinations are joined with '<')")
        if len(dst.split("<")) > MAX_DESTINATIONS:
            raise Rejected(400, f"dst has more than {MAX_DESTINATIONS} destination numbers")
        length, limit = plivo_length(segment_info(text))
        if length > limit:
            raise Rejected(400, f"text parameter length exceeds {limit} characters")
        url, callback_method = params.get("url") or None, str(params.get("method") or "POST").upper()
        expiry = _message_expiry(params.get("message_expiry"))
        messages, invalid = sim.state.accept(
            src=src,
            dst=dst,
            text=text,
            url=url,
            method=callback_method,
            generation=self._generation,
            expiry=expiry,
            pick_sender=(lambda key: sim.powerpacks.pick(powerpack_uuid, key)) if powerpack_uuid else None,
            powerpack_uuid=powerpack_uuid,
        )
        try:
            self._send_json(
                202,
                {
                    "api_id": str(uuid.uuid1()),
                    "message": "message(s) queued",
                    "message_uuid": [m.uuid for m in messages],
                    "invalid_number": invalid,
                },
            )
        finally:  # accepted is accepted, even if the client hung up before reading the answer
            sim.progress(messages, 0)
            sim.state.handed_to_carrier(len(messages))

    def _list_messages(self, auth_id: str) -> None:
        """Plivo's "List all messages": filters by number and time, `limit` at most 20, paged by `offset`,
        the most recent first. The simulator only keeps outbound messages."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        limit = _bounded_int(query, "limit", default=20, low=1, high=MAX_LIST_LIMIT)
        offset = _bounded_int(query, "offset", default=0, low=0, high=10**9)
        bounds = {name: _plivo_filter_time(query, name) for name in _TIME_FILTERS}
        since = max((t for t in (bounds["message_time__gte"], bounds["message_time"]) if t is not None), default=None)
        until = min((t for t in (bounds["message_time__lte"], bounds["message_time"]) if t is not None), default=None)
        if bounds["message_time__gt"] is not None:
            since = max(since or 0.0, bounds["message_time__gt"] + 1e-6)
        if bounds["message_time__lt"] is not None:
            until = min(until if until is not None else float("inf"), bounds["message_time__lt"] - 1e-6)
        direction = query.get("message_direction")
        found = []
        if direction in (None, "", "outbound"):
            found = self.server.sim.state.find(
                to_number=query.get("to_number"), from_number=query.get("from_number"), since=since, until=until
            )
            if state := query.get("message_state"):
                found = [m for m in found if m.status == state]
        page = found[offset : offset + limit]
        base = f"/v1/Account/{auth_id}/Message/"

        def link(at: int) -> str:
            return base + "?" + urlencode({**query, "limit": limit, "offset": at})

        self._send_json(
            200,
            {
                "api_id": str(uuid.uuid1()),
                "meta": {
                    "limit": limit,
                    "offset": offset,
                    "next": link(offset + limit) if offset + limit < len(found) else None,
                    "previous": link(max(0, offset - limit)) if offset else None,
                },
                "objects": [m.plivo_resource(auth_id) for m in page],
            },
        )

    # --- controls -----------------------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        sim = self.server.sim
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_sim/messages"):
            records = sim.state.records()
            self._send_json(200, {"count": len(records), "messages": records})
        elif route == ("DELETE", "/_sim/messages"):
            sim.state.reset()
            sim.powerpacks.replace([])
            self._send_json(200, {"count": 0, "messages": []})
        elif route == ("GET", "/_sim/faults"):
            self._send_json(200, sim.state.faults.to_payload())
        elif route == ("POST", "/_sim/faults"):
            try:
                faults = Faults.from_payload(self._params())
            except FaultError as exc:
                raise Rejected(400, str(exc)) from None
            sim.state.set_faults(faults)
            self._send_json(200, faults.to_payload())
        elif route == ("GET", "/_sim/powerpacks"):
            self._send_json(200, {"powerpacks": sim.powerpacks.payload()})
        elif route == ("POST", "/_sim/powerpacks"):
            try:
                packs = powerpacks_from_payload(self._params())
            except FaultError as exc:
                raise Rejected(400, str(exc)) from None
            sim.powerpacks.replace(packs)
            self._send_json(200, {"powerpacks": sim.powerpacks.payload()})
        elif route == ("GET", "/_sim/stats"):
            self._send_json(200, {**sim.state.stats(), "callbacks_pending": sim.pending})
        elif route == ("POST", "/_sim/inbound"):
            self._send_json(202, sim.inbound(self._params()))
        elif route == ("POST", "/_sim/clicks"):
            self._send_json(202, sim.clicks(self._params()))
        else:
            raise Rejected(404, f"no such control route: {method} {path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sim: "PlivoSimulator"

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up waiting (a timeout test, a killed worker) is not our fault
        super().handle_error(request, client_address)


class PlivoSimulator:
    """A Plivo look-alike on host:port (port 0 picks a free one). `start()` serves from a background thread."""

    STATUS_STEPS = ("queued", "sent")  # then the message's outcome: delivered, undelivered or failed

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        app_url: str,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_workers: int = 8,
    ):
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.app_url = app_url.rstrip("/")
        self.state = SimulatorState()
        self.powerpacks = Powerpacks()
        # One thread runs the carrier's clock (status changes, cheap); webhooks get workers of their own so
        # that a slow or unreachable app never holds a message's status back.
        self.carrier = JobQueue(name="plivo-sim-carrier", workers=1)
        self.webhooks = WebhookSender(state=self.state, auth_token=auth_token, workers=callback_workers)
        self._server = _Server((host, port), _Handler)
        self._server.sim = self
        self._thread: threading.Thread | None = None
        self._callback_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pending(self) -> int:
        """Status changes and webhooks still to happen (including webhooks waiting to be retried)."""
        return self.state.awaiting_carrier + self.carrier.pending + self.webhooks.queue.pending

    def _start_workers(self) -> None:
        self.carrier.start()
        self.webhooks.queue.start()

    def _stop_workers(self) -> None:
        self.carrier.stop()
        self.webhooks.queue.stop()

    def start(self) -> "PlivoSimulator":
        self._start_workers()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="plivo-sim-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._start_workers()
        try:
            self._server.serve_forever()
        finally:
            self._stop_workers()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._stop_workers()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def progress(self, messages: list[SimMessage], step: int, delay: float = 0.0) -> None:
        """Move each of `messages` (accepted together) to its next status after `delay` seconds, like a
        carrier would, and report it.

        Statuses move on their own clock (`delivery_delay_ms` apart) whether or not the app takes the
        callbacks, as at Plivo; the callbacks of one message still go out one at a time, in order. The
        messages of one request move together, as one job of the carrier's clock rather than one each.
        """
        generation = self.state.generation

        def job(_session) -> None:
            if generation != self.state.generation:
                return
            for message in messages:
                self._step(message, step, generation)
            if step < len(self.STATUS_STEPS):  # the outcome is the last status
                self.progress(messages, step + 1, self.state.faults.delivery_delay_ms / 1000)

        self.carrier.schedule(job, delay)

    def _step(self, message: SimMessage, step: int, generation: int) -> None:
        statuses = (*self.STATUS_STEPS, message.outcome)
        if step == 1 and self.state.expire_at_dequeue(message):
            # Expired in the queue: failed without reaching the carrier (no "sent"), and not charged.
            self.state.advance(message, message.outcome)
            if message.url:
                self._queue_callback(message, message.status_callback(sequence=step + 1), generation)
            return
        if message.expired_in_queue:
            return  # its outcome is final: the later steps pass it by
        if step:  # "queued" was set when the message was accepted
            self.state.advance(message, statuses[step])
        if statuses[step] == "delivered" and self.state.roll() < self.state.faults.click_share:
            message.clicked = True
            self.click(message, delay=self.state.faults.click_delay_ms / 1000)
        if message.url:
            self._queue_callback(message, message.status_callback(sequence=step + 1), generation)

    def _queue_callback(self, message: SimMessage, params: dict, generation: int) -> None:
        if not self.state.faults.status_callbacks:
            return
        with self._callback_lock:
            message.callback_queue.append(params)
            if message.callback_busy:
                return  # the callback before it will send this one when it is done
            message.callback_busy = True
        self._send_next_callback(message, generation)

    def _send_next_callback(self, message: SimMessage, generation: int) -> None:
        with self._callback_lock:
            if not message.callback_queue:
                message.callback_busy = False
                return
            params = message.callback_queue.popleft()
        self.webhooks.deliver(
            url=message.url,
            method=message.method,
            params=params,
            generation=generation,
            then=lambda: self._send_next_callback(message, generation),
        )

    def clicks(self, payload: dict) -> dict:
        """POST /_sim/clicks: recipients of delivered messages open their short links now."""
        share = payload.get("share", 1.0)
        user_agent = payload.get("user_agent", PHONE_BROWSER)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise Rejected(400, f"`share` must be a number between 0 and 1, got {share!r}")
        if not isinstance(user_agent, str) or len(user_agent) > 512:
            raise Rejected(400, "`user_agent` must be a string of at most 512 characters")
        src = payload.get("src", "")
        if not isinstance(src, str) or len(src) > 64:
            raise Rejected(400, "`src` must be a sender number of at most 64 characters")
        picked = self.state.to_click(float(share), src=src)
        for message in picked:
            self.click(message, user_agent=user_agent)
        return {"clicking": len(picked)}

    def click(self, message: SimMessage, *, delay: float = 0.0, user_agent: str = "") -> None:
        """The recipient opens each short link in the message: a GET of its path on the app (at --app-url, the
        handset's way in), not following the redirect to the destination."""
        base = short_link_base_url()
        paths = [urlsplit(url).path for url in text_urls(message.text) if url.startswith(base)]
        generation = self.state.generation

        def job(session) -> None:
            if generation != self.state.generation:
                return
            for path in paths:
                try:
                    response = session.get(
                        f"{self.app_url}{path}",
                        headers={"User-Agent": user_agent or PHONE_BROWSER},
                        allow_redirects=False,
                        timeout=5,
                    )
                    self.state.count(f"clicks_{response.status_code}")
                except requests.RequestException:
                    self.state.count("clicks_unreachable")

        if paths:
            self.webhooks.queue.schedule(job, delay)

    def inbound(self, payload: dict) -> dict:
        """Deliver a text from a handset to the app, as Plivo posts it to the number's message URL."""
        problems = [
            f"`{name}` is required (a phone number)" if name != "text" else "`text` is required"
            for name in ("from", "to", "text")
            if not isinstance(payload.get(name), str) or not payload.get(name)
        ]
        if problems:
            raise Rejected(400, "; ".join(problems))
        message_uuid = str(uuid.uuid4())
        fields = {
            "From": digits(payload["from"]),
            "To": digits(payload["to"]),
            "Text": payload["text"],
            "Type": "sms",
            "MessageUUID": message_uuid,
            "Units": str(max(segment_info(payload["text"]).segments, 1)),
            "TotalRate": "0.00000",
            "TotalAmount": "0.00000",
            "MessageIntent": "",
            "PowerpackUUID": "",
        }
        url = f"{self.app_url}{INBOUND_WEBHOOK_PATH}"
        self.webhooks.deliver(url=url, method="POST", params=fields, generation=self.state.generation)
        self.state.count("inbound_queued")
        return {"message_uuid": message_uuid, "url": url}
