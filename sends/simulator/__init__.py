"""A Plivo look-alike for offline runs and tests: `python manage.py plivo_simulator`, or `PlivoSimulator`."""

from sends.simulator.server import PlivoSimulator

# Demo credentials `make run` and the tests share with the simulator: the shape Plivo's SDK accepts
# (20 characters starting MA), and obviously not a real account.
DEMO_AUTH_ID = "MADEMOSIMULATOR00001"
DEMO_AUTH_TOKEN = "demo-simulator-auth-token-not-a-secret"

__all__ = ["DEMO_AUTH_ID", "DEMO_AUTH_TOKEN", "PlivoSimulator"]
