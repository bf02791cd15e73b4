"""Voice calls with DTMF, and circuit-switched data calls (V.250 D/A/H, 27.007 +VTS).

Every dial asks the bench's `DialPolicy` first: a physical modem never calls a number the bench
has not allowed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from modem import safety
from modem.at import grammar
from modem.at.client import ATClient
from modem.at.command import Command
from modem.at.errors import CallFailed, CommandError
from modem.drivers.network import Network

log = logging.getLogger(__name__)
DTMF_DIGITS = frozenset("0123456789*#ABCD")


def dial_string(number: str) -> str:
    """The number as dialled: separators removed; anything else than a phone number refused."""
    try:
        return safety.normalise_number(number)
    except ValueError:
        raise ValueError(f"cannot dial {number!r}: not a phone number") from None


async def home_network_check(
    network: Network | None, policy: safety.DialPolicy | None, number: str, action: safety.Action
) -> None:
    """Read the registration just before dialling or texting a number the policy allows only on
    the home network (a national spelling): the command guard then knows where the modem is."""
    if network is not None and safety.home_network_only(policy, number, action):
        await network.registration()


CALL_ENDS = frozenset({"BUSY", "NO ANSWER", "NO CARRIER", "NO DIALTONE"})
CALL_STATES = {0: "active", 1: "held", 2: "dialing", 3: "alerting", 4: "incoming", 5: "waiting"}


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One line of +CLCC: index, direction (0 outgoing), state, mode (0 voice, 1 data), number."""

    index: int
    direction: int
    stat: int
    mode: int
    number: str

    @property
    def active(self) -> bool:
        return self.stat == 0

    @property
    def voice(self) -> bool:
        return self.mode == 0

    @property
    def state(self) -> str:
        return CALL_STATES.get(self.stat, f"stat {self.stat}")


class DataCall:
    """A circuit-switched data call in data mode (after CONNECT)."""

    def __init__(self, client: ATClient, number: str, speed: str) -> None:
        self.client = client
        self.number = number
        self.speed = speed
        self.open = True

    async def read(self, timeout: float | None = None) -> bytes:
        """Next bytes from the remote end; b"" when the carrier dropped."""
        return await self.client.read_data(timeout)

    async def write(self, data: bytes) -> None:
        await self.client.write_data(data)

    async def hang_up(self) -> None:
        """Escape to command mode (+++) and hang up (ATH)."""
        if self.open:
            self.open = False
            await self.client.escape()
            await self.client.command("ATH")


class Calls:
    def __init__(
        self, client: ATClient, policy: safety.DialPolicy | None, network: Network | None = None
    ) -> None:
        self.client = client
        self.policy = policy
        self.network = network  # asked for the registration before a home-network-only number

    async def auto_answer_off(self) -> int | None:
        """Have the modem answer no call by itself: read S0 (`ATS0?`, the rings before it answers,
        0: never) and, unless it reads 0, set `ATS0=0` (not stored: the module's stored profile,
        AT&W, keeps its own).  `ATS0=0` is kept (`ATClient.keep`) to be set again after any ATZ or
        AT&F, which bring back the stored or factory S0.  Returns S0 as read (None: not answered
        with a number 0-255); raises `SafetyError` when the modem refuses `ATS0=0`."""
        try:
            reply = await self.client.command("ATS0?")
        except CommandError as exc:
            log.info("%s: ATS0? refused: %s", self.client.url, exc)
            value = None
        else:
            text = reply.lines[0].strip() if len(reply.lines) == 1 else ""
            value = int(text) if text.isascii() and text.isdigit() and int(text) <= 255 else None
        if value != 0:
            try:
                await self.client.command("ATS0=0")
            except CommandError as exc:
                raise safety.SafetyError(
                    f"{self.client.url}: the modem may answer incoming calls by itself (S0 "
                    f"{'not read' if value is None else f'is {value}'}) and refused ATS0=0: {exc}"
                ) from None
        self.client.keep("ATS0=0")
        return value

    async def dial(self, number: str, *, timeout: float = 60.0, poll: float = 0.5) -> None:
        """Place a voice call (`ATD<number>;`) and wait until it is active (+CLCC stat 0).

        Modules answer `ATD<n>;` with OK while dialling; the outcome then comes as a BUSY / NO
        ANSWER / NO CARRIER result (unsolicited by then) or as the call turning active in +CLCC.
        Raises `CallFailed`, or TimeoutError after `timeout` seconds.
        """
        safety.check(self.client.url, self.policy, number, "call")
        line = f"ATD{dial_string(number)};"
        async with self.client.urcs(CALL_ENDS) as ends:
            await home_network_check(self.network, self.policy, number, "call")
            await self.client.command(line)
            seen = False
            absent = 0
            async with asyncio.timeout(timeout):
                while True:
                    voice = [c for c in await self.list_calls() if c.voice]
                    if any(c.active for c in voice):
                        return
                    if voice:
                        seen = True
                    else:
                        # Gone from +CLCC without a final result: the network released it. Allow one
                        # poll before the call first shows, as modules list it once dialling starts.
                        absent += 1
                        if seen or absent > 1:
                            raise CallFailed(line, "call released")
                    try:
                        urc = await ends.get(timeout=poll)
                    except TimeoutError:
                        continue
                    raise CallFailed(line, urc.name)

    async def list_calls(self) -> list[CallInfo]:
        """Current calls (AT+CLCC, 27.007 §7.18)."""
        out = []
        for text in (await self.client.command("AT+CLCC")).lines:
            f = grammar.fields_of(text)
            if text.startswith("+CLCC") and len(f) >= 5 and all(x.isdigit() for x in f[:5]):
                number = grammar.unquote(f[5]) if len(f) > 5 else ""
                out.append(CallInfo(int(f[0]), int(f[1]), int(f[2]), int(f[3]), number))
        return out

    async def send_dtmf(self, digits: str) -> None:
        """Send DTMF tones one by one (`AT+VTS=<d>`, 27.007 §C.2.11) during a voice call."""
        bad = sorted(set(digits.upper()) - DTMF_DIGITS)
        if bad:
            raise ValueError(f"not DTMF digits: {''.join(bad)!r}")
        for digit in digits.upper():
            await self.client.command(f"AT+VTS={digit}")

    async def answer(self) -> None:
        await self.client.command("ATA")

    async def hang_up(self) -> None:
        await self.client.command("ATH")

    async def dial_data(self, number: str) -> DataCall:
        """Place a CSD call (`ATD<number>`, no `;`): CONNECT puts the link in data mode."""
        safety.check(self.client.url, self.policy, number, "csd")
        await home_network_check(self.network, self.policy, number, "csd")
        reply = await self.client.command(Command(f"ATD{dial_string(number)}", data_mode=True))
        return DataCall(self.client, number, reply.final.value)
