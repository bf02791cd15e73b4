"""The virtual modem: an AT interpreter that behaves like a real module, bound to the simulated network.

- `VirtualModem` (modem.virtual.core): the sans-IO engine, bytes in, bytes out, timers on a clock.
- `open_virtual(url)`: an in-process `modem.transport.Transport` for `virtual://PROFILE?seed=3&...`.
- `PtyEndpoint` / `TcpEndpoint` (modem.virtual.server) and `m2msim modem serve` (modem.virtual.cli):
  the same modems for any AT client on a pseudo-terminal or a loopback socket.
"""

from modem.virtual.core import Mode, RadioSettings, VirtualModem
from modem.virtual.faults import Faults, make_faults
from modem.virtual.identity import ModemIdentity, derive_identity
from modem.virtual.transport import VirtualTransport, VirtualUrlError, open_virtual, parse_virtual_url

__all__ = [
    "Faults",
    "Mode",
    "ModemIdentity",
    "RadioSettings",
    "VirtualModem",
    "VirtualTransport",
    "VirtualUrlError",
    "derive_identity",
    "make_faults",
    "open_virtual",
    "parse_virtual_url",
]
