# The send engine's fixtures: the clock at a sending hour, the engine run in this process, a scripted provider.
from sends.tests.conftest import clean_engine_state, daytime, run_engine, scripted  # noqa: F401
