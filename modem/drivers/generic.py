"""A modem driven over AT: the 3GPP parts every module has, plus its TCP stack as its profile says.

    async with await Modem.open("virtual://quectel-bg96", profile="quectel-bg96") as modem:
        ident = await modem.network.identify()
        await modem.sms.send("+33612345678", "hello")      # checked against the DialPolicy
        ip = await modem.tcp.attach("orange.m2m.spec")      # quectel-qi stack, from the profile

Vendor differences come from the profile's `driver:` section (`modem.drivers.profile`); the TCP
stack class is chosen by name from `TCP_STACKS`, never by testing the vendor in code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from modem import safety
from modem.at import grammar
from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.errors import ModemError
from modem.drivers.calls import Calls
from modem.drivers.messaging import Messaging
from modem.drivers.network import Identity, Network, Operator, Registration, Signal
from modem.drivers.profile import DriverProfile, load_driver_profile
from modem.drivers.quectel import QuectelTcp
from modem.drivers.simcom import SimcomTcp
from modem.drivers.tcp import TcpStack
from modem.transport import Transport

log = logging.getLogger(__name__)

TCP_STACKS: dict[str, type[SimcomTcp] | type[QuectelTcp]] = {
    "simcom-cip": SimcomTcp,
    "quectel-qi": QuectelTcp,
}


@dataclass(frozen=True, slots=True)
class ProbeReport:
    identity: Identity
    pin: str | None
    registrations: dict[str, Registration]
    operator: Operator | None
    signal: Signal | None


class Modem:
    """The driver of one modem: `network`, `sms`, `calls` and (when the profile has one) `tcp`."""

    def __init__(
        self, client: ATClient, profile: DriverProfile | None = None, policy: safety.DialPolicy | None = None
    ) -> None:
        self.client = client
        # the last check before bytes go out: raw commands too (`modem.client.command`) meet the policy
        self.profile = profile or DriverProfile()
        client.restart_patterns.extend(grammar.restart_patterns(self.profile.restarts))
        client.guard = safety.CommandGuard(
            client.url,
            policy,
            (*self.profile.allow_commands, *safety.policy_commands(policy)),
            restarts=client.restarts_module,
            startup_profile=self.profile.startup_profile,
        )
        client.init_sequence = list(self.profile.init)
        client.timeouts.update(self.profile.timeouts)
        client.final_patterns.update(self.profile.no_ok)
        client.boot_notice = self.profile.boot_notice
        self.network = Network(client, self.profile)
        self.sms = Messaging(client, self.profile, policy, self.network)
        self.calls = Calls(client, policy, self.network)
        stack = TCP_STACKS.get(self.profile.tcp.stack)
        self._tcp: TcpStack | None = stack(client, self.profile) if stack is not None else None

    @property
    def tcp(self) -> TcpStack:
        if self._tcp is None:
            raise ModemError(f"profile {self.profile.name!r} has no TCP stack (driver.tcp.stack)")
        return self._tcp

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        profile: str | Path | DriverProfile | None = None,
        policy: safety.DialPolicy | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        watchdog: WatchdogPolicy | None = None,
        initialise: bool = True,
        **transport_options: Any,
    ) -> Modem:
        """Open the transport, start the client and (by default) run the profile's init sequence."""
        from modem.transports import open_transport

        transport = await open_transport(url, **transport_options)
        return await cls.on_transport(
            transport,
            profile=profile,
            policy=policy,
            timeout=timeout,
            retry=retry,
            watchdog=watchdog,
            initialise=initialise,
        )

    @classmethod
    async def on_transport(
        cls,
        transport: Transport,
        *,
        profile: str | Path | DriverProfile | None = None,
        policy: safety.DialPolicy | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        watchdog: WatchdogPolicy | None = None,
        initialise: bool = True,
    ) -> Modem:
        """Start the client on an open transport and (by default) run the profile's init sequence."""
        if profile is None or isinstance(profile, str | Path):
            profile = load_driver_profile(profile) if profile is not None else DriverProfile()
        client = ATClient(transport, timeout=timeout, retry=retry, watchdog=watchdog)
        client.start()
        modem = cls(client, profile, policy)
        if initialise:
            try:
                await client.initialise()
            except BaseException:
                await client.close()
                raise
        return modem

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Modem:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def probe(self) -> ProbeReport:
        """Who the modem is and where it stands: identity, PIN state, registration, operator, signal."""
        identity = await self.network.identify()
        pin: str | None
        try:
            pin = await self.network.pin_status()
        except ModemError as exc:
            pin = f"unknown ({exc})"
        registrations = await self.network.registration()
        try:
            operator: Operator | None = await self.network.operator()
        except ModemError:
            operator = None
        try:
            signal: Signal | None = await self.network.signal()
        except ModemError:
            signal = None
        return ProbeReport(identity, pin, registrations, operator, signal)
