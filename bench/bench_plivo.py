"""Messages per second through the plivo backend (real SDK, real HTTP) into the Plivo simulator.

Figure: bulk requests of 1,000 destinations. Baseline: the same messages one request each, on the same
kept-alive connection. Medians of three runs; status callbacks go to a closed port, so this
measures the API path only.
"""

import statistics
import time

from sends.backends.base import OutboundMessage
from sends.backends.plivo import SmsBackend
from sends.simulator import DEMO_AUTH_ID, DEMO_AUTH_TOKEN, PlivoSimulator
from sends.simulator.state import Faults

BULK_MESSAGES = 5000
SINGLE_MESSAGES = 500
RUNS = 3
# Port 9 (discard) has no listener here: callbacks fail at once instead of reaching a server someone runs.
NOWHERE = "http://127.0.0.1:9/webhooks/plivo/status/"


def _rate(backend: SmsBackend, destinations: list[str], per_request: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(destinations), per_request):
        chunk = destinations[start : start + per_request]
        results = backend.send_message(
            OutboundMessage(sender="+14155550100", destinations=chunk, body="Bench", status_callback_url=NOWHERE)
        )
        assert all(r.ok for r in results), results[0]
    return len(destinations) / (time.perf_counter() - started)


def run(ctx) -> dict:
    simulator = PlivoSimulator(auth_id=DEMO_AUTH_ID, auth_token=DEMO_AUTH_TOKEN, app_url="http://127.0.0.1:9").start()
    simulator.state.set_faults(Faults(callback_retry_delays_ms=[]))
    backend = SmsBackend(api_url=simulator.url, auth_id=DEMO_AUTH_ID, auth_token=DEMO_AUTH_TOKEN)
    destinations = [f"+1415555{n:04d}" for n in range(200, 200 + BULK_MESSAGES)]
    try:
        bulk, single = [], []
        for _ in range(RUNS):
            bulk.append(_rate(backend, destinations, 1000))
            single.append(_rate(backend, destinations[:SINGLE_MESSAGES], 1))
            simulator.state.reset()
    finally:
        backend.close()
        simulator.stop()
    return {
        "plivo_bulk_send_rate": {
            "value": statistics.median(bulk),
            "unit": "messages/s",
            "baseline": "one message per request",
            "baseline_value": statistics.median(single),
        }
    }
