"""Background work of the simulator: the carrier's clock, and signed webhooks to the app.

Both run on worker threads so that an API answer is never delayed by them. Like Plivo, a webhook that
fails (no connection, timeout, non-2xx answer) is retried after each of `callback_retry_delays_ms` in
turn, then given up.
"""

import heapq
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from sends.simulator.signatures import signature_v2, signature_v3
from sends.simulator.state import SimulatorState

logger = logging.getLogger(__name__)

CALLBACK_TIMEOUT = (2.0, 10.0)  # connect, read: seconds
HOST_LOOKUP_TTL = 5.0  # seconds a host's name lookup (found or not) is trusted


def signed_headers(*, auth_token: str, method: str, url: str, params: dict) -> dict[str, str]:
    """The four X-Plivo-Signature headers Plivo adds to every webhook."""
    nonce_v2 = "".join(secrets.choice("0123456789") for _ in range(20))
    nonce_v3 = "".join(secrets.choice("0123456789") for _ in range(20))
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
        host = urlsplit(url).hostname or ""
        if not self._host_resolves(host):
            logger.debug("plivo simulator callback to %s failed: %s does not resolve", url, host)
            return False
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
