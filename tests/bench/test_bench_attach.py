"""Bench script `attach_and_send`: PDP context / vendor TCP open, N bytes out and back, counters."""

from __future__ import annotations

import math

import pytest

from accounting.records import UsageType
from hil.pytest_plugin import RunScript
from hil.scripts.attach_and_send import payload
from modem.safety import is_virtual

pytestmark = pytest.mark.hil


def _skip_without_tcp(result: object) -> None:
    from hil.result import BenchResult

    assert isinstance(result, BenchResult)
    if result.status == "skipped":
        # what the modem can do without a TCP stack was done: a PDP context up and down
        steps = {e["name"]: e for e in result.transcript.of_kind("step")}
        assert steps["pdp-activate"]["ok"] and steps["pdp-activate"]["info"]["address"]
        assert steps["pdp-deactivate"]["ok"]
        print(f"\n{result.url}: attach_and_send skipped: {result.error}")
        pytest.skip(result.error or "skipped")


async def test_attach_and_send_text(run_script: RunScript, modem_url: str) -> None:
    result = await run_script("attach_and_send", bytes=1000, payload="text", seed=7)
    _skip_without_tcp(result)
    assert result.status == "passed", result.error
    d = result.details
    assert d["bytes_sent"] == 1000 and d["bytes_received"] == 1000
    assert d["counters"]["sent"] == 1000 and d["counters"]["received"] == 1000
    summary = result.summary()
    assert summary["bytes_sent"] == 1000 and summary["data_sessions"] == 1
    # the estimate adds TCP/IP headers on top of the payload
    assert summary["ip_bytes_up"] > 1000 and summary["ip_bytes_down"] > 1000
    sends = [c for c in result.transcript.commands if c.get("data_bytes")]
    assert sum(c["data_bytes"] for c in sends) == 1000
    [record] = [r for r in result.records if r.type is UsageType.DATA]
    assert (record.bytes_up, record.bytes_down) == (summary["ip_bytes_up"], summary["ip_bytes_down"])
    assert result.estimate is not None
    bundle = [i for i in result.estimate.items if i["code"].startswith("data-fr")]
    assert sum(int(i["quantity"]) for i in bundle) == math.ceil((record.bytes_up + record.bytes_down) / 1024)
    if is_virtual(modem_url):
        assert result.network_records is not None
        data = [r for r in result.network_records if r.type is UsageType.DATA]
        assert len(data) == 1
        # the network counted the same payload plus its own header model: same order as the estimate
        assert 1000 < data[0].bytes_up < 1000 + 400 and 1000 < data[0].bytes_down < 1000 + 400
        assert data[0].apn == "orange.m2m.spec"


async def test_attach_and_send_binary_payload(run_script: RunScript, modem_url: str) -> None:
    if not is_virtual(modem_url):
        pytest.skip("checks the virtual modem's data entry")
    data = payload(1000, 1)
    assert 0x08 in data  # backspace (S5) must reach the far end as data, not edit the payload
    result = await run_script("attach_and_send", bytes=1000, payload="binary", seed=1, echo_timeout=2.0)
    _skip_without_tcp(result)
    assert result.status == "passed", result.error


def test_payload_is_replayable() -> None:
    assert payload(64, 3) == payload(64, 3)
    assert payload(64, 3) != payload(64, 4)
    assert all(0x20 <= b < 0x7F for b in payload(500, 3, "text"))
