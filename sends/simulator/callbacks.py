"""Background work of the simulator: the carrier's clock, and signed webhooks to the app.

Both run on worker threads so that an API answer is never delayed by them. Like Plivo, a webhook that
fails (no connection, timeout, non-2xx answer) is retried after each of `callback_retry_delays_ms` in
turn, then given up.
"""

import heapq
import http.client
import itertools
import logging
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from sends.simulator.signatures import signature_v2, signature_v3
from sends.simulator.state import SimulatorState

logger = logging.getLogger(__name__)

CALLBACK_TIMEOUT = (2.0, 10.0)  # connect, read: seconds
# What `requests` says it is; callbacks sent with http.client say the same.
USER_AGENT = requests.utils.default_user_agent()
HOST_LOOKUP_TTL = 5.0  # seconds a host's name lookup (found or not) is trusted
NONCE_DIGITS = 20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _nonce() -> str:
    """Twenty random decimal digits, as Plivo's nonces are (one draw, not twenty)."""
    return f"{secrets.randbelow(10**NONCE_DIGITS):0{NONCE_DIGITS}d}"


def signed_headers(*, auth_token: str, method: str, url: str, params: dict) -> dict[str, str]:
    """The four X-Plivo-Signature headers Plivo adds to every webhook."""
    nonce_v2, nonce_v3 = _nonce(), _nonce()
    return {
        "X-Plivo-Signature-V2": signature_v2(auth_token=auth_token, url=url, nonce=nonce_v2),
        "X-Plivo-Signature-V2-Nonce": nonce_v2,
        "X-Plivo-Signature-V3": signature_v3(
            auth_token=auth_token, method=method, url=url, params=params, nonce=nonce_v3
        ),
        "X-Plivo-Signature-V3-Nonce": nonce_v3,
    }


class JobQueue:
    """Jobs run at a given time by a few worker threads; each worker hands its job its own HTTP session."""

    def __init__(self, *, name: str, workers: int):
        self._heap: list = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    def schedule(self, job: Callable[[requests.Session], None], delay: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), job))
            self._cond.notify()

    def _work(self) -> None:
        session = requests.Session()
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    self._cond.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                if self._stopping:
                    session.close()
                    return
                _, _, job = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                job(session)
            except Exception:
                logger.exception("plivo simulator background job failed")
            finally:
                with self._cond:
                    self._in_flight -= 1


class WebhookSender:
    """Signs and posts webhooks from its own workers, retrying failures like Plivo."""

    def __init__(self, *, state: SimulatorState, auth_token: str, workers: int = 8):
        self.state = state
        self.auth_token = auth_token
        self.queue = JobQueue(name="plivo-sim-webhooks", workers=workers)
        self._hosts: dict[str, tuple[bool, float]] = {}
        self._hosts_lock = threading.Lock()
        self._addresses: dict[tuple[str, int], tuple[list, float]] = {}
        self._local = threading.local()  # each worker thread's kept-alive connection to the app

    def deliver(
        self,
        *,
        url: str,
        method: str,
        params: dict,
        generation: int,
        then: Callable[[], None] | None = None,
        attempt: int = 0,
        delay: float = 0.0,
    ) -> None:
        """Send one webhook from a worker, retrying it on failure; `then` runs once it succeeded or was given up."""

        def job(session: requests.Session) -> None:
            if generation != self.state.generation:
                return  # the simulator was reset: this belongs to a finished test or drill
            if self._send(session, url=url, method=method, params=params):
                self.state.count("callbacks_delivered")
            else:
                self.state.count("callbacks_failed_attempts")
                delays = self.state.faults.callback_retry_delays_ms
                if attempt < len(delays):
                    self.deliver(
                        url=url,
                        method=method,
                        params=params,
                        generation=generation,
                        then=then,
                        attempt=attempt + 1,
                        delay=delays[attempt] / 1000,
                    )
                    return
                self.state.count("callbacks_given_up")
                logger.info("plivo simulator gave up on %s %s after %d attempts", method, url, attempt + 1)
            if then is not None:
                then()

        self.queue.schedule(job, delay)

    def _host_resolves(self, host: str) -> bool:
        """Whether `host` has an address, remembered for a few seconds.

        A name that does not resolve (http://testserver, the tests' PUBLIC_BASE_URL) can take seconds per
        lookup when many are made at once; asking once and remembering keeps the workers free.
        """
        now = time.monotonic()
        with self._hosts_lock:
            known = self._hosts.get(host)
            if known is not None and known[1] > now:
                return known[0]
            try:
                socket.getaddrinfo(host, None)
                found = True
            except OSError:
                found = False
            self._hosts[host] = (found, now + HOST_LOOKUP_TTL)
            return found

    def _send(self, session: requests.Session, *, url: str, method: str, params: dict) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not self._host_resolves(host):
            logger.debug("plivo simulator callback to %s failed: %s does not resolve", url, host)
            return False
        if parts.scheme != "http":
            return self._send_with_requests(session, url=url, method=method, params=params)
        # A plain-http callback goes over this worker's own kept-alive connection with http.client: the same
        # request `requests` would make, for a tenth of its CPU, so that callbacks keep up with thousands of
        # messages a second. Signed once connected: a refused connection costs no signature.
        try:
            connection = self._connection(host, parts.port or 80)
            headers = signed_headers(auth_token=self.auth_token, method=method, url=url, params=params)
            status, location = _http_request(connection, url=parts, method=method, params=params, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self._forget_connection()
            logger.debug("plivo simulator callback to %s failed: %s", url, exc)
            return False
        if status in REDIRECT_STATUSES and location:
            return _redirect_follow(
                session, status=status, location=urljoin(url, location), method=method, params=params, headers=headers
            )
        return 200 <= status < 300

    def _send_with_requests(self, session: requests.Session, *, url: str, method: str, params: dict) -> bool:
        headers = signed_headers(auth_token=self.auth_token, method=method, url=url, params=params)
        try:
            if method.upper() == "GET":
                response = session.get(url, params=params, headers=headers, timeout=CALLBACK_TIMEOUT)
            else:
                response = session.post(url, data=params, headers=headers, timeout=CALLBACK_TIMEOUT)
        except requests.RequestException as exc:
            logger.debug("plivo simulator callback to %s failed: %s", url, exc)
            return False
        return 200 <= response.status_code < 300

    def _connection(self, host: str, port: int) -> http.client.HTTPConnection:
        """This worker thread's connection to host:port, connected (connect timeout, then read timeout)."""
        held = getattr(self._local, "connection", None)
        # Before reuse, as urllib3 checks its pooled connections: one the app closed while idle reads as ready
        # (at its end), and is replaced rather than failing the callback.
        reusable = held is not None and (held.host, held.port) == (host, port) and held.sock is not None
        if reusable and not select.select([held.sock], [], [], 0)[0]:
            return held
        self._forget_connection()
        connection = http.client.HTTPConnection(host, port, timeout=CALLBACK_TIMEOUT[0])
        connection.sock = self._connected_socket(host, port)
        self._local.connection = connection
        return connection

    def _connected_socket(self, host: str, port: int) -> socket.socket:
        """A socket connected to host:port within the connect timeout, then holding the read timeout; the
        address from a lookup remembered like `_host_resolves` remembers names (one lookup per connection
        costs more than the connection itself when the app is down and each callback connects anew)."""
        now = time.monotonic()
        with self._hosts_lock:
            known = self._addresses.get((host, port))
        if known is None or known[1] <= now:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            known = (found, now + HOST_LOOKUP_TTL)
            with self._hosts_lock:
                self._addresses[host, port] = known
        error: OSError | None = None
        for family, kind, proto, _name, address in known[0]:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(CALLBACK_TIMEOUT[0])
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sock.settimeout(CALLBACK_TIMEOUT[1])
            return sock
        raise error or OSError(f"no address for {host}:{port}")

    def _forget_connection(self) -> None:
        held = getattr(self._local, "connection", None)
        if held is not None:
            held.close()
            self._local.connection = None


def _http_request(
    connection: http.client.HTTPConnection, *, url, method: str, params: dict, headers: dict[str, str]
) -> tuple[int, str | None]:
    """One webhook over `connection`, as `requests` sends it (a form body, or the fields in the query of a
    GET); the answer's status and Location, its body read so that the connection can carry the next one."""
    target = url.path or "/"
    body: bytes | None = None
    headers = {
        **headers,
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "gzip, deflate",
        "Accept": "*/*",
        "Connection": "keep-alive",
    }
    if method.upper() == "GET":
        query = "&".join(part for part in (url.query, urlencode(params)) if part)
        target += f"?{query}" if query else ""
    else:
        body = urlencode(params).encode()
        target += f"?{url.query}" if url.query else ""
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method.upper(), target, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.will_close:
        connection.close()
    return response.status, response.getheader("Location")


def _redirect_follow(
    session: requests.Session, *, status: int, location: str, method: str, params: dict, headers: dict[str, str]
) -> bool:
    """A webhook the app redirected, followed as `requests` follows it (rare: the app answers its webhooks
    itself): 301 (of a POST), 302 and 303 become a GET without the form, 307 and 308 repeat the request."""
    method = method.upper()
    redirected = "GET" if status in (302, 303) or (status == 301 and method == "POST") else method
    keep_form = redirected == method == "POST"
    try:
        response = session.request(
            redirected, location, data=params if keep_form else None, headers=headers, timeout=CALLBACK_TIMEOUT
        )
    except requests.RequestException as exc:
        logger.debug("plivo simulator callback to %s failed: %s", location, exc)
        return False
    return 200 <= response.status_code < 300
