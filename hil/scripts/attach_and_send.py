"""`attach_and_send`: bring up a PDP context, open a TCP connection, send N bytes, read the echo,
close, and read the data counters.

With a vendor TCP stack in the driver profile (SIMCom AT+CIP*, Quectel AT+QI*), the stack does it
all.  A profile without one (generic 3GPP) can only activate and release the PDP context
(AT+CGDCONT / AT+CGACT / AT+CGPADDR): the data part is then skipped, with the reason.

The payload is `bytes` pseudo-random bytes drawn from `seed` (replayable).  `echo`: the far end
echoes (the virtual network's server does; on a physical bench point `host`/`port` at an echo
service) and the script reads the same number of bytes back.

The result's `link` section: the RTT (the `open` step) and the throughput (the echo) measured, and
the network conditions' preset they are compared with (`hil.linkcheck`); on the virtual modem a
measurement outside the documented tolerance is noted in the transcript.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from hil.errors import HilError, ScriptParamError, ScriptSkipped
from hil.linkcheck import LinkClock, compare, expected_conditions
from hil.scripts import BenchScript, Param
from hil.usage import DataUse, send_in_pieces, timed_exchange
from modem.at.errors import ModemError
from modem.drivers.tcp import TcpStack

if TYPE_CHECKING:
    from collections.abc import Callable

    from hil.bench import BenchContext


class EchoMismatch(HilError):
    """The bytes that came back are not the bytes sent."""


PRINTABLE = bytes(range(0x20, 0x7F))


def payload(n: int, seed: int, kind: str = "binary") -> bytes:
    """`n` replayable bytes: any byte value (`binary`) or printable ASCII only (`text`)."""
    rng = random.Random(f"attach_and_send/{seed}")
    if kind == "binary":
        return rng.randbytes(n)
    if kind == "text":
        return bytes(rng.choice(PRINTABLE) for _ in range(n))
    raise ScriptParamError(f"payload={kind!r}: expected binary or text")


async def _pdp_only(bench: BenchContext, apn: str) -> dict[str, Any]:
    network = bench.modem.network
    cid = 1
    zone = await bench.serving_zone()
    started, t0 = bench.now(), time.monotonic()
    with bench.step("pdp-activate") as info:
        await network.define_context(cid, apn)
        await network.activate(cid)
        address = await network.pdp_address(cid)
        info["address"] = address
    with bench.step("pdp-deactivate"):
        await network.activate(cid, False)
    bench.usage.data.append(DataUse(started, time.monotonic() - t0, zone=zone))
    reason = (
        f"profile {bench.modem.profile.name!r} has no TCP stack (driver.tcp.stack: none): "
        f"PDP context on {apn} activated ({address}) and released, no bytes sent"
    )
    bench.note(reason)
    raise ScriptSkipped(reason)


async def _read_echo(
    bench: BenchContext,
    tcp: TcpStack,
    conn: int,
    size: int,
    echoed: bytearray,
    wait: float,
    reads: Callable[[int], None],
) -> None:
    """Read until `size` bytes came back into `echoed`, telling `reads` each read's bytes as it returns."""
    with bench.step("receive") as info:
        try:
            async with asyncio.timeout(wait):
                while len(echoed) < size:
                    chunk = await tcp.receive(conn)
                    if not chunk:
                        break
                    echoed += chunk
                    reads(len(chunk))
        except TimeoutError:
            raise EchoMismatch(f"sent {size} bytes, {len(echoed)} came back within {wait:g} s") from None
        finally:
            info["bytes"] = len(echoed)


async def _clean_up(bench: BenchContext, tcp: TcpStack, conn: int | None) -> None:
    """Best effort after a failure: close the connection, release the context; note what failed."""
    with bench.step("clean-up") as info:
        if conn is not None:
            try:
                await tcp.close(conn)
            except (ModemError, TimeoutError) as exc:
                info["close"] = f"{type(exc).__name__}: {exc}"
        try:
            await tcp.detach()
        except (ModemError, TimeoutError) as exc:
            info["detach"] = f"{type(exc).__name__}: {exc}"


async def run(bench: BenchContext) -> dict[str, Any]:
    p = bench.params
    apn, host, port = str(p["apn"]), str(p["host"]), int(p["port"])
    size, seed = int(p["bytes"]), int(p["seed"])
    await bench.registered(float(p["timeout"]))
    if bench.modem.profile.tcp.stack == "none":
        return await _pdp_only(bench, apn)
    tcp = bench.modem.tcp
    data = payload(size, seed, str(p["payload"]))
    zone = await bench.serving_zone()
    started, t0 = bench.now(), time.monotonic()
    use = DataUse(started, zone=zone)
    bench.usage.data.append(use)
    conn: int | None = None
    attached = False
    echoed = bytearray()
    clock = LinkClock(bench)
    rtt_s, echo_s = 0.0, None
    times: dict[str, float] = {}  # the connection's, on the network's clock, for the TCP/IP model
    writes: list[tuple[float, int]] = []  # each AT send's (time, bytes), on the same clock
    reads: list[tuple[float, int]] = []  # each read's
    try:
        with bench.step("attach", apn=apn) as info:
            address = await tcp.attach(apn)
            attached = True
            info["address"] = address
        with bench.step("open", host=host, port=port):
            t0_open, asked = clock.now(), bench.since(t0)
            conn = opened = await tcp.open(host, port)
            rtt_s = clock.now() - t0_open
        use.connections += 1
        times["open"] = bench.since(t0)
        times["one way"] = (times["open"] - asked) / 2  # the far end answers a write about then
        t0_send = clock.now()
        with bench.step("send", bytes=size):
            await send_in_pieces(
                lambda piece: tcp.send(opened, piece),
                data,
                bench.modem.profile.tcp.max_send,
                lambda: bench.since(t0),
                writes,
                use,
            )
        if p["echo"] and size:
            await _read_echo(
                bench,
                tcp,
                conn,
                size,
                echoed,
                float(p["echo_timeout"]),
                lambda n: reads.append((bench.since(t0), n)),
            )
            echo_s = clock.now() - t0_send
        with bench.step("counters") as info:
            counters = await tcp.counters()
            info.update(sent=counters.sent, received=counters.received, module_sent=counters.module_sent)
        use.module_sent, use.module_received = counters.module_sent, counters.module_received
        times["closed"] = bench.since(t0)
        with bench.step("close"):
            await tcp.close(conn)
            conn = None
        with bench.step("detach"):
            await tcp.detach()
            attached = False
    finally:
        use.received = len(echoed)
        use.seconds = time.monotonic() - t0
        if use.connections:
            if conn is not None:  # not closed: open up to the clean-up
                times["closed"] = bench.since(t0)
            use.exchanges.append(
                timed_exchange(
                    times["open"],
                    writes,
                    reads,
                    times.get("closed"),
                    times.get("one way", 0.0),
                    bench.modem.profile.tcp.send_waits_ack,
                )
            )
        if attached:  # a failed run leaves no connection or PDP context behind on the module
            await _clean_up(bench, tcp, conn)
    if p["echo"] and bytes(echoed) != data:
        raise EchoMismatch(
            f"sent {size} bytes, {len(echoed)} came back" + (" (different)" if len(echoed) == size else "")
        )
    chunk = bench.modem.profile.tcp.max_send
    link = compare(expected_conditions(bench), size, chunk, rtt_s, echo_s, clock.scale)
    if bench.virtual and link.get("within_tolerance") is False:
        bench.note(f"link measured outside the tolerance of {link['conditions']}", link=link)
    return {
        "apn": apn,
        "address": address,
        "host": host,
        "port": port,
        "bytes_sent": size,
        "bytes_received": len(echoed),
        "counters": {
            "sent": counters.sent,
            "received": counters.received,
            "module_sent": counters.module_sent,
            "module_received": counters.module_received,
        },
        "link": link,
    }


SCRIPT = BenchScript(
    name="attach_and_send",
    description="PDP context / vendor TCP open, send N bytes, read the echo, close, read the data counters",
    run=run,
    params={
        "apn": Param("orange.m2m.spec", "access point name"),
        "host": Param("tcpbin.com", "TCP echo server host"),
        "port": Param(
            4242, "TCP echo server port", check=lambda v: None if 0 < v < 65536 else "not a TCP port"
        ),
        "bytes": Param(1000, "bytes to send", check=lambda v: None if v >= 0 else "must be 0 or more"),
        "seed": Param(1, "seed of the payload bytes"),
        "payload": Param(
            "binary", "payload bytes: binary (any byte value) or text (printable ASCII)", ("binary", "text")
        ),
        "echo": Param(True, "read the echo back and compare it"),
        "echo_timeout": Param(10.0, "seconds to wait for the whole echo"),
        "timeout": Param(60.0, "seconds to wait for registration"),
    },
)
