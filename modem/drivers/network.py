"""Identity, SIM, registration, operator, signal and PDP contexts: 3GPP TS 27.007, any vendor.

Registration is tracked from URCs (`+CREG` / `+CGREG` / `+CEREG` with <n>=2) as well as read on
demand; what each module supports comes from its profile's `driver.registration` list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from modem.at import grammar
from modem.at.client import ATClient, Reply
from modem.at.errors import CommandError, ModemError
from modem.at.parser import Urc
from modem.drivers.profile import DriverProfile
from modem.transport import settled, time_scale

log = logging.getLogger(__name__)

# 27.007 §7.2 <stat>
REGISTRATION_STATES: dict[int, str] = {
    0: "not registered, not searching",
    1: "registered, home network",
    2: "not registered, searching",
    3: "registration denied",
    4: "unknown",
    5: "registered, roaming",
    6: "registered for SMS only, home network",
    7: "registered for SMS only, roaming",
    8: "attached for emergency bearer services only",
    9: "registered for CSFB not preferred, home network",
    10: "registered for CSFB not preferred, roaming",
    11: "attached for access to RLOS",
}
# 27.007 §7.3 <AcT>
ACCESS_TECHNOLOGIES: dict[int, str] = {
    0: "GSM",
    1: "GSM Compact",
    2: "UTRAN",
    3: "GSM w/EGPRS",
    4: "UTRAN w/HSDPA",
    5: "UTRAN w/HSUPA",
    6: "UTRAN w/HSDPA and HSUPA",
    7: "E-UTRAN",
    8: "E-UTRAN (LTE-M)",
    9: "E-UTRAN (NB-S1)",
    13: "NG-RAN",
}


@dataclass(frozen=True, slots=True)
class Identity:
    manufacturer: str
    model: str
    revision: str
    imei: str
    imsi: str | None
    iccid: str | None


@dataclass(frozen=True, slots=True)
class Registration:
    kind: str  # +CREG (CS), +CGREG (GPRS), +CEREG (EPS)
    stat: int
    lac: str | None = None
    ci: str | None = None
    act: int | None = None

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5, 6, 7, 9, 10)

    @property
    def roaming(self) -> bool:
        return self.stat in (5, 7, 10)

    @property
    def state(self) -> str:
        return REGISTRATION_STATES.get(self.stat, f"stat {self.stat}")


@dataclass(frozen=True, slots=True)
class Signal:
    rssi: int  # 27.007 §8.5 <rssi> 0..31, 99 unknown
    ber: int  # <ber> 0..7, 99 unknown
    dbm: int | None  # -113 .. -51 dBm; None when unknown

    @property
    def known(self) -> bool:
        return self.dbm is not None


@dataclass(frozen=True, slots=True)
class Operator:
    mode: int
    format: int | None
    name: str | None
    act: int | None

    @property
    def technology(self) -> str | None:
        return ACCESS_TECHNOLOGIES.get(self.act) if self.act is not None else None


def csq_to_dbm(rssi: int) -> int | None:
    """27.007 §8.5: 0 is -113 dBm or less, 1 is -111, 2..30 are -109..-53 in 2 dB steps, 31 is -51 or more."""
    if rssi == 99 or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def parse_registration(kind: str, fields: list[str], *, has_n: bool) -> Registration:
    """Fields of a read answer (`<n>,<stat>,...`, has_n) or of a URC (`<stat>,...`)."""
    values = fields[1:] if has_n else fields
    if not values or not values[0].isdigit():
        raise ModemError(f"{kind}: cannot read a registration state from {fields!r}")
    stat = int(values[0])
    lac = grammar.unquote(values[1]) or None if len(values) > 1 else None
    ci = grammar.unquote(values[2]) or None if len(values) > 2 else None
    act = int(values[3]) if len(values) > 3 and values[3].isdigit() else None
    return Registration(kind, stat, lac, ci, act)


def quote(value: str, what: str) -> str:
    """A double-quoted AT string parameter; refuses characters that would break the command line."""
    if any(c in value for c in '"\r\n\x1a\x1b'):
        raise ValueError(f"{what} {value!r} contains a quote or a control character")
    return f'"{value}"'


def _value(reply: Reply) -> str:
    """The single value of an answer such as AT+CGSN: bare, or after a `+NAME:` prefix, unquoted."""
    for line in reply.lines:
        prefix = grammar.prefix_of(line)
        text = line[line.index(":") + 1 :].strip() if prefix else line.strip()
        if text:
            return grammar.unquote(text)
    raise ModemError(f"{reply.command!r}: empty answer")


class Network:
    """The 27.007 side of a modem: who it is, where it is registered, how well it hears."""

    def __init__(self, client: ATClient, profile: DriverProfile) -> None:
        self.client = client
        self.profile = profile
        self.registrations: dict[str, Registration] = {}
        self._registered = asyncio.Event()
        self._settled = asyncio.Event()  # registered, or refused by the network (stat 3)
        self._sub = client.subscribe(self._on_urc, profile.registration)

    def _on_urc(self, urc: Urc) -> None:
        try:
            reg = parse_registration(urc.name, urc.fields, has_n=False)
        except ModemError as exc:
            log.warning("%s: %s", self.client.url, exc)
            return
        self._store(reg)

    def _store(self, reg: Registration) -> None:
        self.registrations[reg.kind] = reg
        if self.registered:
            self._registered.set()
        else:
            self._registered.clear()
        if self.registered or self.refused:
            self._settled.set()
        else:
            self._settled.clear()

    async def identify(self) -> Identity:
        """Manufacturer, model, revision (AT+CGMI/CGMM/CGMR), IMEI (AT+CGSN), IMSI, ICCID."""
        manufacturer = _value(await self.client.command("AT+CGMI"))
        model = _value(await self.client.command("AT+CGMM"))
        revision = _value(await self.client.command("AT+CGMR"))
        imei = _value(await self.client.command("AT+CGSN"))
        try:
            imsi: str | None = await self.imsi()
        except CommandError as exc:
            log.info("%s: no IMSI: %s", self.client.url, exc)
            imsi = None
        return Identity(manufacturer, model, revision, imei, imsi, await self.iccid())

    async def imsi(self) -> str:
        return _value(await self.client.command("AT+CIMI"))

    async def iccid(self) -> str | None:
        """The SIM's ICCID with the first of the profile's commands the module accepts."""
        for line in self.profile.iccid:
            try:
                return _value(await self.client.command(line))
            except CommandError as exc:
                log.debug("%s: %s failed: %s", self.client.url, line, exc)
        return None

    async def pin_status(self) -> str:
        """`READY`, `SIM PIN`, `SIM PUK`, ... (AT+CPIN?)."""
        return _value(await self.client.command("AT+CPIN?"))

    async def enter_pin(self, pin: str) -> None:
        if not pin.isdigit() or not 4 <= len(pin) <= 8:
            raise ValueError("a PIN is 4 to 8 digits")
        await self.client.command(f'AT+CPIN="{pin}"')

    async def enable_registration_urcs(self) -> None:
        """`AT+CREG=2` (and the others the profile lists): URCs with location, tracked here."""
        for kind in self.profile.registration:
            try:
                await self.client.command(f"AT{kind}=2")
            except CommandError as exc:
                log.info("%s: AT%s=2 refused: %s", self.client.url, kind, exc)
            else:
                self.client.keep(f"AT{kind}=2")  # set again after a reset (ATZ, AT&F)

    async def registration(self) -> dict[str, Registration]:
        """Read every registration kind the profile lists (AT+CREG? ...); unsupported ones are skipped."""
        out: dict[str, Registration] = {}
        for kind in self.profile.registration:
            try:
                reply = await self.client.command(f"AT{kind}?")
            except CommandError as exc:
                log.debug("%s: AT%s? failed: %s", self.client.url, kind, exc)
                continue
            reg = parse_registration(kind, reply.fields(kind), has_n=True)
            out[kind] = reg
            self._store(reg)
        return out

    @property
    def registered(self) -> bool:
        return any(r.registered for r in self.registrations.values())

    @property
    def refused(self) -> bool:
        """Not registered, and the network refused the registration (stat 3) on some domain."""
        return not self.registered and any(r.stat == 3 for r in self.registrations.values())

    async def wait_registered(
        self, timeout: float, poll: float = 2.0, *, until_refused: bool = False
    ) -> Registration:
        """Wait until a URC or a read shows registration (home or roaming); TimeoutError otherwise.

        Registration URCs end the wait at once; the state is also read every `poll` seconds, for
        modules whose URCs are off (AT+CREG=0).  `until_refused`: a refusal by the network
        (stat 3, registration denied) ends the wait too, and that registration is returned.

        `poll` and `timeout` are seconds of the modem's clock, which the transport may scale
        (`modem.transport.time_scale`): a virtual modem at `speed=10` is read every 0.2 s, a
        replay at `scale=0` at once, with no wait on the bench's clock (it used to wait 2 s of
        real time for each poll the recording made); the wait ends once `timeout` of the modem's
        seconds have passed in polls, or of the bench's.  A physical modem's time is the bench's.
        """
        event = self._settled if until_refused else self._registered
        scale = time_scale(self.client.transport)
        polled = 0.0  # the modem's seconds spent waiting between reads

        def done() -> bool:
            return self.registered or (until_refused and self.refused)

        async with asyncio.timeout(timeout):
            while not done():
                await self.registration()
                if done():
                    break
                if scale != 1.0 and polled >= timeout:
                    raise TimeoutError  # the modem's clock is past the timeout
                polled += poll
                if scale != 0.0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(poll * scale):
                            await event.wait()
                if scale != 1.0 and not done():
                    # a replay's URCs recorded before the next read come first, as recorded
                    await settled(self.client.transport)
                    await asyncio.sleep(0)  # (read by the client before the next read is sent)
        regs = self.registrations.values()
        return next((r for r in regs if r.registered), None) or next(r for r in regs if r.stat == 3)

    async def operator(self) -> Operator:
        """AT+COPS? -> mode, format, operator name, access technology."""
        f = (await self.client.command("AT+COPS?")).fields("+COPS")
        mode = int(f[0])
        fmt = int(f[1]) if len(f) > 1 and f[1].isdigit() else None
        name = grammar.unquote(f[2]) if len(f) > 2 else None
        act = int(f[3]) if len(f) > 3 and f[3].isdigit() else None
        return Operator(mode, fmt, name, act)

    async def serving_plmn(self) -> str | None:
        """The network the modem is registered on, MCC+MNC (AT+COPS? in numeric format), or None when
        it is on none.  A modem answering in another format is set to numeric (`AT+COPS=3,2`: the
        format only, no network selection) for the read, then back to its format."""
        op = await self.operator()
        if op.format is not None and op.format != 2:
            was = op.format
            await self.client.command("AT+COPS=3,2")
            try:
                op = await self.operator()
            finally:
                await self.client.command(f"AT+COPS=3,{was}")
        name = op.name.strip() if op.name is not None else ""
        return name if name.isdigit() and len(name) in (5, 6) else None

    async def signal(self) -> Signal:
        """AT+CSQ, with the RSSI in dBm."""
        f = (await self.client.command("AT+CSQ")).fields("+CSQ")
        rssi, ber = int(f[0]), int(f[1])
        return Signal(rssi, ber, csq_to_dbm(rssi))

    # -- packet data -----------------------------------------------------------------------------
    async def attach(self, attached: bool = True) -> None:
        await self.client.command(f"AT+CGATT={int(attached)}")

    async def define_context(self, cid: int, apn: str, pdp_type: str = "IP") -> None:
        await self.client.command(f"AT+CGDCONT={cid},{quote(pdp_type, 'PDP type')},{quote(apn, 'APN')}")

    async def activate(self, cid: int, active: bool = True) -> None:
        await self.client.command(f"AT+CGACT={int(active)},{cid}")

    async def pdp_address(self, cid: int) -> str | None:
        """AT+CGPADDR=<cid> -> the context's address, None when it has none."""
        f = (await self.client.command(f"AT+CGPADDR={cid}")).fields("+CGPADDR")
        return grammar.unquote(f[1]) or None if len(f) > 1 else None
