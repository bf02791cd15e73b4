"""IPCP (RFC 1332) with the DNS server options of RFC 1877, for either side of the link.

The network side gives the device the PDP context's address (a Configure-Request for 0.0.0.0 or any
other address is Naked with it) and the DNS servers (options 129 and 131), asks for its own address,
and rejects what it does not do: Van Jacobson compression (2), the old IP-Addresses option (1), the
NBNS servers (130, 132).  The device side asks for 0.0.0.0 and the DNS servers, and takes what the
Naks give.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from modem.virtual.ppp.cp import CONF_ACK, CONF_NAK, CONF_REJ, Options

IP_ADDRESSES, IP_COMPRESSION, IP_ADDRESS, PRIMARY_DNS, SECONDARY_DNS = 1, 2, 3, 129, 131
ZERO = bytes(4)


def addr(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def text(value: bytes) -> str:
    return str(ipaddress.IPv4Address(value))


@dataclass(slots=True)
class NetworkIpcp:
    own: bytes  # the network side's address (the peer address the device sees)
    device: bytes  # the address given to the device (the PDP context's)
    dns: tuple[bytes, bytes]
    want: set[int] = field(default_factory=lambda: {IP_ADDRESS})

    def request(self) -> Options:
        return [(IP_ADDRESS, self.own)] if IP_ADDRESS in self.want else []

    def check(self, options: Options) -> tuple[int, Options]:
        rej: Options = []
        nak: Options = []
        for kind, value in options:
            expected = {IP_ADDRESS: self.device, PRIMARY_DNS: self.dns[0], SECONDARY_DNS: self.dns[1]}.get(
                kind
            )
            if expected is None or len(value) != 4:
                rej.append((kind, value))
            elif value != expected:
                nak.append((kind, expected))
        if rej:
            return CONF_REJ, rej
        if nak:
            return CONF_NAK, nak
        if not any(kind == IP_ADDRESS for kind, _ in options):
            return CONF_NAK, [(IP_ADDRESS, self.device)]  # the device must take its address
        return CONF_ACK, options

    def naked(self, options: Options) -> None:
        pass  # the network's own address is not the device's to change

    def rejected(self, options: Options) -> None:
        for kind, _ in options:
            self.want.discard(kind)


@dataclass(slots=True)
class DeviceIpcp:
    address: bytes = ZERO
    dns: dict[int, bytes] = field(default_factory=lambda: {PRIMARY_DNS: ZERO, SECONDARY_DNS: ZERO})
    peer: bytes = ZERO
    extra: Options = field(default_factory=list)  # more options to ask for (tests of the network's Reject)

    def request(self) -> Options:
        return [(IP_ADDRESS, self.address), *self.dns.items(), *self.extra]

    def check(self, options: Options) -> tuple[int, Options]:
        rej = [(k, v) for k, v in options if k != IP_ADDRESS or len(v) != 4]
        if rej:
            return CONF_REJ, rej
        for _, v in options:
            self.peer = v
        return CONF_ACK, options

    def naked(self, options: Options) -> None:
        for kind, value in options:
            if kind == IP_ADDRESS:
                self.address = value
            elif kind in self.dns:
                self.dns[kind] = value

    def rejected(self, options: Options) -> None:
        for kind, _ in options:
            self.dns.pop(kind, None)
            self.extra = [(k, v) for k, v in self.extra if k != kind]
