"""pytest fixtures that put the Plivo simulator behind the real plivo backend (loaded by the root conftest.py).

`plivo_simulator`
    One simulator per test session, in this process, on an ephemeral port of 127.0.0.1, emptied and with
    its faults reset before each test. While the fixture is active the settings point the app at it:
    SMS_BACKEND = "sends.backends.plivo.SmsBackend", PLIVO_API_URL and PLIVO_LOOKUP_API_URL = its URL, PLIVO_AUTH_ID /
    PLIVO_AUTH_TOKEN = the demo credentials. So `get_connection()` is the production backend, the real
    `plivo` SDK, talking HTTP to the simulator. The fixture's value is a `SimulatorHandle`:

        def test_campaign_texts_each_contact_once(plivo_simulator):
            ...                                              # run the code under test
            sent = plivo_simulator.messages()                # every accepted message: uuid, src, dst, text, ...
            plivo_simulator.set_faults(share_429=0.5, seed=1)  # any /_sim/faults knob, see state.Faults
            plivo_simulator.stats()["max_accepted_in_one_second"]
            plivo_simulator.inbound(from_="+14155550123", to="+14155550100", text="STOP")
            plivo_simulator.clicks(share=0.5)                # recipients open the short links they were sent
            plivo_simulator.wait_for_callbacks()             # until no webhook is pending or being retried
            plivo_simulator.wait_for_status(uuid, "delivered")

    Status callbacks go to each message's `url` (by default PUBLIC_BASE_URL + /webhooks/plivo/status/,
    http://testserver in tests, which no socket reaches: the callbacks fail quietly and are dropped at the
    next reset). Inbound texts go to `plivo_simulator.app_url` (PUBLIC_BASE_URL by default).
    For a process of its own (a Celery worker), pass `plivo_simulator.env()` into its environment.

`plivo_simulator_live`
    The same, plus pytest-django's `live_server` (so the database is transactional): PUBLIC_BASE_URL and
    the simulator's app URL are the live server's, so status callbacks and inbound texts reach the app's
    real webhook views, signed with the demo auth token.
"""

import time

import pytest
import requests

from sends.simulator import DEMO_AUTH_ID, DEMO_AUTH_TOKEN, PlivoSimulator

PLIVO_BACKEND = "sends.backends.plivo.SmsBackend"
# In tests a failed webhook is not retried unless the test asks (set_faults(callback_retry_delays_ms=[...])):
# a test that never looks at webhooks should not spend the machine retrying them.
TEST_FAULTS = {"callback_retry_delays_ms": []}


class SimulatorHandle:
    """A test's view of the simulator, over its HTTP control routes (/_sim/...)."""

    def __init__(self, server: PlivoSimulator):
        self.server = server
        self.url = server.url
        self.auth_id = server.auth_id
        self.auth_token = server.auth_token
        self._http = requests.Session()

    @property
    def app_url(self) -> str:
        return self.server.app_url

    @app_url.setter
    def app_url(self, value: str) -> None:
        self.server.app_url = value.rstrip("/")

    def _call(self, method: str, route: str, **kwargs) -> dict:
        response = self._http.request(method, f"{self.url}/_sim/{route}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def messages(self) -> list[dict]:
        """Every message accepted since the last reset, in order: uuid, src, dst (E.164), text, time, status."""
        return self._call("GET", "messages")["messages"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def set_faults(self, **faults) -> dict:
        """Replace the fault settings: these knobs, the rest at the test defaults."""
        return self._call("POST", "faults", json={**TEST_FAULTS, **faults})

    def set_powerpacks(self, *powerpacks: dict) -> list[dict]:
        """The account's Powerpacks: each {"uuid", "numbers", "sticky_sender"?, "local_connect"?}."""
        return self._call("POST", "powerpacks", json={"powerpacks": list(powerpacks)})["powerpacks"]

    def inbound(self, *, from_: str, to: str, text: str) -> dict:
        """A handset texts `to`: the simulator posts a signed inbound webhook to the app (in the background)."""
        return self._call("POST", "inbound", json={"from": from_, "to": to, "text": text})

    def clicks(self, *, share: float = 1.0, user_agent: str | None = None, src: str | None = None) -> dict:
        """Recipients of delivered messages (from `src` only, when given) open their short links (each picked
        with probability `share`)."""
        payload = {"share": share, **({"user_agent": user_agent} if user_agent else {})}
        if src:
            payload["src"] = src
        return self._call("POST", "clicks", json=payload)

    def wait_for_callbacks(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.server.pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.server.pending} simulator webhooks still pending after {timeout}s")
            time.sleep(0.01)

    def wait_for_status(self, message_uuid: str, status: str, timeout: float = 10.0) -> None:
        """Until the simulator's carrier has moved the message to `status` (callbacks may still be under way)."""
        deadline = time.monotonic() + timeout
        while (message := self.server.state.get(message_uuid)) is None or message.status != status:
            if time.monotonic() > deadline:
                found = message.status if message else "no such message"
                raise AssertionError(f"message {message_uuid} is {found}, not {status}, after {timeout}s")
            time.sleep(0.01)

    def reset(self) -> None:
        self._call("DELETE", "messages")
        self.set_faults()

    def env(self) -> dict[str, str]:
        """Environment variables that point another process's settings at this simulator."""
        return {
            "SMS_BACKEND": PLIVO_BACKEND,
            "PLIVO_API_URL": self.url,
            "PLIVO_LOOKUP_API_URL": self.url,
            "PLIVO_AUTH_ID": self.auth_id,
            "PLIVO_AUTH_TOKEN": self.auth_token,
            "PUBLIC_BASE_URL": self.app_url,  # so that its status callbacks go where the test's would
        }


@pytest.fixture(scope="session")
def plivo_simulator_server():
    server = PlivoSimulator(auth_id=DEMO_AUTH_ID, auth_token=DEMO_AUTH_TOKEN, app_url="http://testserver").start()
    yield server
    server.stop()


@pytest.fixture
def plivo_simulator(plivo_simulator_server, settings):
    handle = SimulatorHandle(plivo_simulator_server)
    handle.reset()
    handle.app_url = settings.PUBLIC_BASE_URL
    settings.SMS_BACKEND = PLIVO_BACKEND
    settings.PLIVO_API_URL = handle.url
    settings.PLIVO_LOOKUP_API_URL = handle.url
    settings.PLIVO_AUTH_ID = handle.auth_id
    settings.PLIVO_AUTH_TOKEN = handle.auth_token
    yield handle
    handle.reset()


@pytest.fixture
def plivo_simulator_live(plivo_simulator, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    plivo_simulator.app_url = live_server.url
    return plivo_simulator
