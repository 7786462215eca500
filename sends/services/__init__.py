"""Writes of the sends app, one module per concern: counters, fan-out and dispatch, delivery reports,
inbound texts. Import the functions from their module, e.g. `from sends.services.counters import ...`."""
