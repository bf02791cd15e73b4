"""The bench on a serial device: the virtual modem served on a pseudo-terminal stands in for a
physical modem (its URL is a device path, not `virtual://`), so the physical-modem rules apply."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from hil.allowlist import allow_list_from_numbers
from hil.bench import run_bench
from modem.safety import NoDialPolicy


@pytest.fixture
async def pty_modem() -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "m2msim", "modem", "serve", "--profile", "simcom-sim800", "--seed", "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            path = (await proc.stdout.readline()).decode().strip()
        assert path.startswith("/dev/"), path
        yield path
    finally:
        proc.terminate()
        await proc.wait()


async def test_bench_over_a_serial_device(pty_modem: str) -> None:
    result = await run_bench("register", pty_modem, profile="simcom-sim800")
    assert result.status == "passed", result.error
    assert result.details["model"] == "SIMCOM_SIM800"
    assert result.network_records is None  # a device: the harness sees no network records
    with pytest.raises(NoDialPolicy):
        await run_bench("sms_roundtrip", pty_modem, profile="simcom-sim800")
    allow = allow_list_from_numbers({"+33600000009": "far end"}, actions=("sms",))
    result = await run_bench("sms_roundtrip", pty_modem, profile="simcom-sim800", allow_list=allow)
    assert result.status == "passed", result.error
    [send] = [c for c in result.transcript.commands if c["command"].startswith("AT+CMGS")]
    assert send["final"] == "OK" and send["responses"][0].startswith("+CMGS:")
    assert result.details["waited_for_reply"] is False  # not the modem's own number
    refused = await run_bench(
        "sms_roundtrip", pty_modem, profile="simcom-sim800", allow_list=allow, params={"to": "+33611111111"}
    )
    assert refused.status == "refused"
    assert not [c for c in refused.transcript.commands if c["command"].startswith("AT+CMGS")]
