"""Bench script `sms_roundtrip`: an SMS to an allowed number, back through the network."""

from __future__ import annotations

import pytest

from accounting.records import Dest, UsageType
from hil.pytest_plugin import RunScript
from modem.safety import is_virtual

pytestmark = pytest.mark.hil


async def test_sms_roundtrip(run_script: RunScript, modem_url: str) -> None:
    result = await run_script("sms_roundtrip", text="m2msim bench ping 1")
    assert result.status == "passed", result.error
    d = result.details
    assert d["parts"] == 1
    summary = result.summary()
    assert summary["sms_sent"] == 1
    sent = [c for c in result.transcript.commands if c["command"].startswith("AT+CMGS")]
    assert len(sent) == 1 and sent[0]["final"] == "OK"
    [record] = [r for r in result.records if r.type is UsageType.SMS]
    assert record.dest is not None
    assert result.estimate is not None
    if is_virtual(modem_url):
        # to its own number: the SMSC delivers it back, +CMTI, read, deleted after the check
        assert d["waited_for_reply"] is True
        assert d["received"] == [
            {
                "sender": d["received"][0]["sender"],
                "text": "m2msim bench ping 1",
                "indexes": d["received"][0]["indexes"],
            }
        ]
        assert summary["sms_received"] == 1
        urcs = [u["line"] for u in result.transcript.of_kind("urc")]
        assert any(u.startswith("+CMTI") for u in urcs)
        deleted = [c for c in result.transcript.commands if c["command"].startswith("AT+CMGD")]
        assert len(deleted) == 1
        assert record.dest is Dest.FR_MOBILE
        # one SMS to a French mobile: the catalog's SMS price, and the network billed the same
        sms_items = [i for i in result.estimate.items if i["code"] == "sms"]
        assert [i["quantity"] for i in sms_items] == ["1"]
        assert result.network_estimate is not None
        assert result.network_estimate.usage_amount == result.estimate.usage_amount > 0


async def test_long_sms_is_sent_in_parts(run_script: RunScript, modem_url: str) -> None:
    text = "".join(f"part of a long bench message {i:03d}. " for i in range(6))  # > 160 characters
    result = await run_script("sms_roundtrip", text=text)
    assert result.status == "passed", result.error
    parts = result.details["parts"]
    assert parts == 2
    assert len([r for r in result.records if r.type is UsageType.SMS]) == parts
    if is_virtual(modem_url):
        received = result.details["received"]
        assert "".join(m["text"] for m in received) == text
        assert sum(len(m["indexes"]) for m in received) == parts
        assert result.summary()["sms_received"] == len(received)
