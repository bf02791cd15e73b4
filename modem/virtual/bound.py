"""A `virtual://` modem bound to its own operator network, so that it registers, attaches, texts
and calls as on a real network, and the network's usage records come back.

The network is the one `m2msim modem serve` uses (`modem.virtual.scenario`): the modem's SIM is
provisioned as a line on `offer`; the records the gateway writes (data sessions with their IP
bytes, SMS, calls with their durations) are kept in `VirtualBinding.sink`.  The bench harness and
`m2msim modem probe|at virtual://...` open virtual modems this way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from accounting.records import UsageRecord
from modem.safety import is_virtual
from modem.transport import Transport
from modem.transports import open_transport

if TYPE_CHECKING:  # hil uses this module without importing gateway itself
    from gateway.api import NetworkAPI
    from modem.virtual.core import VirtualModem

log = logging.getLogger(__name__)


class RecordList:
    """A record sink that keeps the gateway's records in memory."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


@dataclass
class VirtualBinding:
    """The network a virtual modem is attached to, and what it recorded."""

    network: NetworkAPI
    modem: VirtualModem
    epoch: datetime
    sink: RecordList = field(default_factory=RecordList)
    speed: float = 1.0  # the modem's simulated seconds per second of the host's clock (`speed=`)

    @property
    def line(self) -> str:
        return str(self.modem.identity.line_id)

    @property
    def msisdn(self) -> str:
        return f"+{self.modem.identity.msisdn}"

    def answer(self, numbers: Iterable[str]) -> None:
        """Make calls to these numbers answered (the bench's far ends pick up), as the switch's
        `forced` outcomes allow; other numbers keep the network's seeded outcomes."""
        self.network.force_call_outcome(numbers, "answered")

    def close(self) -> list[UsageRecord]:
        """End the network's run (open sessions and calls are released) and return its records."""
        self.network.flush(self.modem.now)
        return list(self.sink.records)


def inner_transport(transport: Transport) -> Transport:
    """The transport under any wrappers (`spy://`, the harness's byte recorder)."""
    while hasattr(transport, "inner"):
        transport = transport.inner
    return transport


async def open_bound_virtual(url: str, offer: str) -> tuple[Transport, VirtualBinding]:
    """Open `virtual://...` with an operator network behind it and the modem's line provisioned."""
    from gateway.api import build_network
    from modem.virtual.scenario import ServeScenario, provision
    from modem.virtual.transport import parse_virtual_url

    if not is_virtual(url):
        raise ValueError(f"{url}: not a virtual:// URL")
    inner = url
    while inner.startswith("spy://"):
        inner = inner[len("spy://") :]
    spec = parse_virtual_url(inner)
    epoch = datetime.now(UTC).replace(microsecond=0)
    sink = RecordList()
    network = build_network(epoch, sink, spec.seed)
    transport = await open_transport(url, network=network)
    modem: VirtualModem | None = getattr(inner_transport(transport), "modem", None)
    if modem is None:
        await transport.close()
        raise ValueError(f"{url}: the virtual transport does not expose its modem")
    provision(network, modem, ServeScenario(offer=offer))
    log.info("%s: line %s (+%s) on %s", url, modem.identity.line_id, modem.identity.msisdn, offer)
    return transport, VirtualBinding(network, modem, epoch, sink, spec.speed)
