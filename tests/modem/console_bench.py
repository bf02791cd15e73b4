"""In-process served modems and their console, on the test's event loop (simulated time runs fast).

Each modem's output is collected; `expect` waits on the output's arrival (an event), never on a sleep.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from accounting.records import UsageRecord
from gateway.api import CallOutcome
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.control import Console, RecordTee, Served, answer
from modem.virtual.core import VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.transport import ModemRunner

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ANSWERING = "0140000000"  # the far end that answers the modem's calls


class Kept:
    """A record sink that keeps the records."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


class Out:
    """One modem's output so far, and an event for each arrival."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.arrived = asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.data += data
        self.arrived.set()


class ConsoleBench:
    def __init__(
        self, count: int = 2, profile: str = "simcom-sim800", speed: float = 50.0, seed: int = 1
    ) -> None:
        loop = asyncio.get_running_loop()
        self.clock = LoopClock(loop, 0.0, speed)
        self.kept = Kept()
        tee = RecordTee(self.kept)
        self.network = Network(
            NetworkConfig(
                epoch=EPOCH, seed=seed, calls=SwitchConfig(forced={ANSWERING: CallOutcome.ANSWERED})
            ),
            tee,
        )
        self.outs: list[Out] = []
        served: list[Served] = []
        for i in range(count):
            modem = VirtualModem(
                load_profile(profile),
                network=self.network,
                seed=seed,
                index=i,
                now=self.clock.now(),
                epoch=EPOCH,
            )
            provision(self.network, modem, ServeScenario())
            out = Out()
            self.outs.append(out)
            served.append(Served(i, f"/dev/pts/test{i}", ModemRunner(modem, self.clock, out)))
        self.served = served
        self.console = Console(served, self.network, self.clock, EPOCH, tee=tee, header={"seed": seed})

    def modem(self, i: int) -> VirtualModem:
        return self.served[i].modem

    async def ctl(self, line: str) -> Any:
        """A console request line: its result; AssertionError with the error line when refused."""
        reply = await answer(self.console, line)
        assert reply["ok"], reply["error"]
        return reply["result"]

    async def refused(self, line: str) -> str:
        reply = await answer(self.console, line)
        assert not reply["ok"], reply
        error = reply["error"]
        assert isinstance(error, str) and "\n" not in error
        return error

    async def expect(self, i: int, text: str, timeout: float = 10.0) -> str:
        """Wait until modem `i`'s output holds `text`; the output up to it, taken out."""
        out = self.outs[i]
        needle = text.encode()

        async def arrival() -> None:
            while needle not in out.data:
                out.arrived.clear()
                await out.arrived.wait()

        await asyncio.wait_for(arrival(), timeout)
        end = out.data.index(needle) + len(needle)
        got = bytes(out.data[:end]).decode("latin-1")
        del out.data[:end]
        return got

    async def at(self, i: int, command: str, final: str = "OK") -> str:
        """Send an AT command line to modem `i`; its answer up to `final`."""
        self.served[i].runner.feed(command.encode() + b"\r")
        return await self.expect(i, final)

    async def registered(self) -> None:
        await self.ctl("wait all registered 10")

    def close(self) -> None:
        for s in self.served:
            s.runner.close()
