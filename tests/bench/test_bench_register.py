"""Bench script `register` on each modem: SIM ready, registered, operator and signal read."""

from __future__ import annotations

import pytest

from hil.pytest_plugin import RunScript
from modem.drivers.generic import Modem
from modem.drivers.network import REGISTRATION_STATES
from modem.safety import is_virtual

pytestmark = pytest.mark.hil


async def test_register_script(run_script: RunScript, modem_url: str) -> None:
    result = await run_script("register", timeout=60.0)
    assert result.status == "passed", result.error
    d = result.details
    assert d["sim"] == "READY"
    assert d["registration"]["stat"] in (1, 5)
    assert d["registration"]["state"] == REGISTRATION_STATES[d["registration"]["stat"]]
    assert d["operator"]
    assert -113 <= d["signal"]["dbm"] <= -51
    assert len(d["imei"]) == 15 and d["imei"].isdigit()
    steps = result.summary()["steps"]
    assert {"sim", "identity", "registration", "operator", "signal"} <= set(steps)
    commands = [c["command"] for c in result.transcript.commands]
    assert {"AT+CPIN?", "AT+COPS?", "AT+CSQ"} <= set(commands)
    assert all(c["duration_s"] >= 0 for c in result.transcript.commands)
    # nothing billable happened: the usage costs nothing on top of the subscription
    assert result.records == []
    assert result.estimate is not None and result.estimate.usage_amount == 0
    if is_virtual(modem_url):
        # the virtual modem's identity is seeded: the same URL gives the same IMEI and IMSI
        again = await run_script("register", timeout=60.0)
        assert (again.details["imei"], again.details["imsi"]) == (d["imei"], d["imsi"])


async def test_modem_fixture_records_commands(modem: Modem, transcript: object) -> None:
    signal = await modem.network.signal()
    assert signal.rssi == 99 or signal.dbm is not None
    from hil.transcript import Transcript

    assert isinstance(transcript, Transcript)
    last = transcript.commands[-1]
    assert last["command"] == "AT+CSQ" and last["final"] == "OK"
    assert last["responses"][0].startswith("+CSQ:")
