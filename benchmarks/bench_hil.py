"""The bench harness's own cost: recording every AT command must not slow a bench run.

Prints AT round trips per second on the in-process virtual modem with the plain AT client and with
the harness's recording client (ratio = the transcript's overhead), transcript JSON-lines writing
speed, and how long a cost estimate takes (two ratings and an offer comparison by the accounting API).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from accounting.records import Dest
from hil.recording import RecordingClient
from hil.report import estimate_cost
from hil.transcript import Transcript
from hil.usage import BenchUsage, DataUse, SmsUse, usage_records
from modem.at.client import ATClient
from modem.transports import open_transport

URL = "virtual://generic?seed=1"


async def _round_trips(n: int, recording: bool) -> float:
    transport = await open_transport(URL)
    client = RecordingClient(transport, Transcript()) if recording else ATClient(transport)
    async with client:
        await client.command("ATE0")
        t0 = time.perf_counter()
        for _ in range(n):
            await client.command("AT+CSQ")
        return n / (time.perf_counter() - t0)


def main(quick: bool) -> None:
    n = 500 if quick else 5000
    plain = asyncio.run(_round_trips(n, False))
    recorded = asyncio.run(_round_trips(n, True))
    print(f"AT+CSQ round trips, in-process virtual modem: plain {plain:,.0f}/s, recorded {recorded:,.0f}/s")
    print(f"  transcript overhead: recorded / plain = {recorded / plain:.2f}")

    t = Transcript()
    events = 20_000 if quick else 200_000
    t0 = time.perf_counter()
    for _ in range(events):
        t.record("command", command="AT+CSQ", responses=["+CSQ: 20,0"], final="OK", duration_s=0.0004)
    record_rate = events / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        t.write(Path(tmp) / "t.jsonl")
        write_rate = events / (time.perf_counter() - t0)
    print(
        f"transcript: {record_rate:,.0f} events/s recorded, {write_rate:,.0f} events/s written as JSON lines"
    )

    usage = BenchUsage()
    now = datetime.now(UTC)
    usage.data.append(DataUse(now, 5.0, 100_000, 100_000, 1))
    usage.sms.append(SmsUse(now, "+33612345678", Dest.FR_MOBILE, 3))
    records = usage_records(usage, "bench")
    runs = 3 if quick else 10
    t0 = time.perf_counter()
    for _ in range(runs):
        estimate_cost(records)
    per = (time.perf_counter() - t0) / runs
    print(f"cost estimate (2 ratings + offer comparison, {len(records)} records): {per * 1000:.1f} ms each")
