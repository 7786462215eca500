"""The Lookup API and Powerpacks in the simulator, through the production backend (the SDK over HTTP)."""

import pytest

from sends.backends import get_connection
from sends.backends.base import BackendError, ErrorClass, LineType, OutboundMessage


def test_lookup_answers_plivo_shape_deterministically(plivo_simulator):
    with get_connection() as backend:
        mobile = backend.lookup("+14155550123")
        fixed = backend.lookup("+14155550127")
        voip = backend.lookup("+14155550129")
        toll_free = backend.lookup("+18005550100")
        again = backend.lookup("+14155550123")
    assert (mobile.line_type, fixed.line_type, voip.line_type) == (LineType.MOBILE, LineType.FIXED, LineType.VOIP)
    assert toll_free.line_type == LineType.TOLL_FREE
    assert mobile.country == "US" and mobile.carrier and mobile.ported in (True, False)
    assert again == mobile
    assert plivo_simulator.stats()["lookups"] == 5


def test_lookup_outside_the_plus_one_plan_uses_the_number_plan(plivo_simulator):
    with get_connection() as backend:
        assert backend.lookup("+447911123456").line_type == LineType.MOBILE
        uk_fixed = backend.lookup("+442079460123")
    assert uk_fixed.line_type == LineType.FIXED and uk_fixed.ported is None and uk_fixed.country == "GB"


def test_lookup_override_and_faults(plivo_simulator):
    plivo_simulator.set_faults(lookup_line_types={"+14155550123": "fixed"}, invalid_numbers=["+14155550124"])
    with get_connection() as backend:
        assert backend.lookup("+14155550123").line_type == LineType.FIXED
        with pytest.raises(BackendError) as invalid:
            backend.lookup("+14155550124")
        assert invalid.value.error.error_class is ErrorClass.PERMANENT
        plivo_simulator.set_faults(share_429=1.0)
        with pytest.raises(BackendError) as busy:
            backend.lookup("+14155550125")
        assert busy.value.error.error_class is ErrorClass.TRANSIENT
        plivo_simulator.set_faults(account_error=401)
        with pytest.raises(BackendError) as denied:
            backend.lookup("+14155550125")
        assert denied.value.error.error_class is ErrorClass.ACCOUNT


def test_powerpack_picks_sticky_local_numbers(plivo_simulator):
    plivo_simulator.set_powerpacks(
        {"uuid": "pp-1", "numbers": ["+14155550100", "+12125550100", "+13125550100"]},
    )
    destinations = ["+12125550111", "+16175550111", "+16175550112"]
    with get_connection() as backend:
        for _ in range(2):
            results = backend.send_message(
                OutboundMessage(sender="", powerpack_uuid="pp-1", destinations=destinations, body="hi")
            )
            assert all(r.ok for r in results)
    messages = plivo_simulator.messages()
    by_destination: dict[str, set] = {}
    for message in messages:
        by_destination.setdefault(message["dst"], set()).add(message["src"])
        assert message["powerpack_uuid"] == "pp-1"
    assert by_destination["+12125550111"] == {"+12125550100"}  # local connect: same area code
    assert all(len(senders) == 1 for senders in by_destination.values())  # sticky sender


def test_unknown_powerpack_is_refused(plivo_simulator):
    with get_connection() as backend:
        [result] = backend.send_message(
            OutboundMessage(sender="", powerpack_uuid="nope", destinations=["+14155550123"], body="hi")
        )
    assert not result.ok and "powerpack" in result.error.message
