"""Bench script `dtmf_call`: a voice call to an allowed number, DTMF by AT+VTS, hang-up."""

from __future__ import annotations

import pytest

from accounting.records import UsageType
from hil.pytest_plugin import RunScript
from modem.safety import is_virtual

pytestmark = pytest.mark.hil


async def test_dtmf_call(run_script: RunScript, modem_url: str) -> None:
    result = await run_script("dtmf_call", digits="12*#", hold=1.0)
    assert result.status == "passed", result.error
    commands = [c["command"] for c in result.transcript.commands]
    dials = [c for c in commands if c.startswith("ATD")]
    assert len(dials) == 1 and dials[0].endswith(";")
    assert [c for c in commands if c.startswith("AT+VTS")] == ["AT+VTS=1", "AT+VTS=2", "AT+VTS=*", "AT+VTS=#"]
    assert commands.index(dials[0]) < commands.index("AT+VTS=1") < commands.index("ATH")
    seconds = result.details["call_seconds"]
    assert seconds >= 1.0
    [record] = [r for r in result.records if r.type is UsageType.VOICE]
    assert record.duration_s >= 1
    assert result.estimate is not None
    # the default offer (business-m2m) has no voice: the estimate says so instead of pricing it
    assert any("voice" in r for r in result.estimate.rejects)
    if is_virtual(modem_url):
        assert result.network_records is not None
        [call] = [r for r in result.network_records if r.type is UsageType.VOICE]
        assert call.duration_s >= 1
