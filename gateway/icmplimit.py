"""Linux's rate limits on the ICMP errors a host sends, on the caller's clock (sans-IO, never sleeps).

The one rule for every ICMP error the network sends a device, whichever path bills it: the PPP
bearer's forwarder (`modem.virtual.ppp.forwarder`), the virtual modem's module stacks
(`modem.virtual.sockets`: datagrams to a refused or unreachable destination, connects answered
"unreachable") and the simulator's attempts in an outage answered "unreachable"
(`simulator.profiles.Profile.unreachable_together`), each through `gateway.api`.

An ICMP error is limited by the host that sends it, by that host's kernel (`IcmpRateLimit`, one per
host): a "port unreachable" by the remote host the datagram went to, a "host unreachable" (no
route) or "communication administratively prohibited" (the policy) by the router that answers for
the destination, the operator's gateway (`GATEWAY`).  So errors from different hosts are limited
independently, and the errors the gateway sends share its limits; a device's errors are keyed in
each host by the device's address, so a modem's PPP bearer and its module stacks on the same PDP
context (one address) share them.  `IcmpHosts` keeps those hosts' limits for the virtual modems
served on one network (`modem.virtual.scenario.served_modems`: every modem of a serve is answered
by the same gateway and the same Internet hosts, within their one global limit each).  A
simulated device is only answered "no route", by the one router that has none: its limits, the
device's own `IcmpRateLimit` (that router's global limit, for all the devices it answers, is
counted per device: devices never interact in the simulator's model).  A Linux host does not answer every bad packet with an ICMP
error (`net/ipv4/icmp.c`, `icmp(7)`, `ip-sysctl`):

- only the types of `icmp_ratemask` (0x1818: destination unreachable, source quench, time
  exceeded, parameter problem) are limited, and of them never destination unreachable
  "fragmentation needed", which path MTU discovery needs ("Don't limit PMTU discovery");
- per destination, a token bucket of `icmp_ratelimit` (1,000 ms) per message holding at most six
  of them (`XRLIM_BURST_FACTOR`): six at once, then one a second;
- for the whole host, `icmp_msgs_per_sec` (1,000) with a burst of `icmp_msgs_burst` (50): credit
  refilled at most every 20 ms, spent by each message sent.  Linux spends 0, 1 or 2 credits at
  random (1 on average, so that the limit cannot be probed); here 1 each, so that a run replays.

The clock is the caller's (the modem's `now`, the simulator's seconds), read in milliseconds; the
times it is asked about must not go back.  What is not sent is counted, by the limit that stopped
it (Linux's `RateLimitHost` and `RateLimitGlobal` in `nstat`).  Memory is bounded: a host keeps
`MAX_PEERS` destinations, the first seen forgotten first, and `IcmpHosts` `MAX_HOSTS` hosts, the
least recently used forgotten first (Linux's inet_peer entries expire too).  A destination idle for
`IDLE_S` has a full bucket again, as one never seen has: forgetting it changes nothing.  A host's
credit is not so: spent, it is topped up only once it is all gone (`_global_allow`), so a host that
sent an error keeps up to 49 (`MSGS_BURST` less one) however long it is idle, and one forgotten
starts again with none, topped up to 50 when first asked.  Forgetting a host so changes what it sends
at once only past 50 errors at once (to more than eight destinations, at six each): up to 49 fewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEST_UNREACH = 3  # ICMP type "destination unreachable"
HOST_UNREACH = 1  # its code "host unreachable": no route to the host
FRAG_NEEDED = 4  # destination unreachable code "fragmentation needed and DF set"
RATEMASK = 0x1818  # net.ipv4.icmp_ratemask: types 3, 4, 11 and 12
HZ = 1_000  # the clock is read in jiffies of a kernel built with HZ=1000: milliseconds
RATELIMIT = 1_000  # net.ipv4.icmp_ratelimit, in jiffies: 1,000 ms
BURST_FACTOR = 6  # XRLIM_BURST_FACTOR (net/ipv4/icmp.c)
MSGS_PER_SEC = 1_000  # net.ipv4.icmp_msgs_per_sec
MSGS_BURST = 50  # net.ipv4.icmp_msgs_burst
PEER_AGE = 60 * HZ  # a new destination's bucket starts as if last used this long ago: full
MAX_PEERS = 4_096  # destinations remembered (Linux's inetpeer cache is bounded too)
MAX_HOSTS = 4_096  # sending hosts `IcmpHosts` remembers
IDLE_S = BURST_FACTOR * RATELIMIT / HZ  # after this long unused, a destination's bucket is full again
GATEWAY = b"gateway"  # the sender of the errors the operator's network answers itself (no route, policy)
SENT, HELD_HOST, HELD_GLOBAL = 0, 1, 2  # `IcmpRateLimit.verdict`: sent, or the limit that held it back


@dataclass(slots=True)
class IcmpRateLimit:
    """Whether a host sends an ICMP error now (`allow`), as Linux decides it."""

    ratelimit: int = RATELIMIT
    msgs_per_sec: int = MSGS_PER_SEC
    msgs_burst: int = MSGS_BURST
    suppressed_host: int = 0  # not sent: the destination's bucket was empty
    suppressed_global: int = 0  # not sent: the host's credit was spent
    _peers: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # destination -> tokens, last
    _credit: int = 0
    _stamp: int | None = None

    @property
    def suppressed(self) -> int:
        return self.suppressed_host + self.suppressed_global

    def allow(self, now: float, dst: bytes, icmp_type: int, code: int) -> bool:
        """Whether an ICMP error of `icmp_type`/`code` to `dst` goes out at `now` (seconds)."""
        return self.verdict(now, dst, icmp_type, code) == SENT

    def verdict(self, now: float, dst: bytes, icmp_type: int, code: int) -> int:
        """`allow`'s answer as `SENT`, or the limit that keeps the error back (`HELD_HOST`: the
        destination's bucket, `HELD_GLOBAL`: the host's credit)."""
        if not RATEMASK >> icmp_type & 1 or (icmp_type == DEST_UNREACH and code == FRAG_NEEDED):
            return SENT
        jiffies = math.floor(now * HZ)
        if not self._global_allow(jiffies):
            self.suppressed_global += 1
            return HELD_GLOBAL
        if not self._peer_allow(jiffies, dst):
            self.suppressed_host += 1
            return HELD_HOST
        self._credit -= 1  # (spent only by a message that goes)
        return SENT

    def _global_allow(self, now: int) -> bool:
        if self._credit > 0:
            return True
        delta = HZ if self._stamp is None else min(now - self._stamp, HZ)
        if delta < HZ // 50:  # refilled at most every 20 ms
            return False
        grant = self.msgs_per_sec * delta // HZ
        if grant <= 0:
            return False
        self._stamp = now
        self._credit = min(self._credit + grant, self.msgs_burst)
        return True

    def _peer_allow(self, now: int, dst: bytes) -> bool:
        tokens, last = self._peers.get(dst, (0, now - PEER_AGE))
        tokens = min(tokens + (now - last), BURST_FACTOR * self.ratelimit)
        allowed = tokens >= self.ratelimit
        if allowed:
            tokens -= self.ratelimit
        if dst not in self._peers and len(self._peers) >= MAX_PEERS:
            del self._peers[next(iter(self._peers))]
        self._peers[dst] = (tokens, now)
        return allowed


@dataclass(slots=True)
class IcmpHosts:
    """The ICMP rate limits of the hosts that send a device (or the devices of one modem) their
    errors, each host's own (`IcmpRateLimit`, which counts what it held back), by the sending host:
    its address, or `GATEWAY`."""

    max_hosts: int = MAX_HOSTS
    _hosts: dict[bytes, IcmpRateLimit] = field(default_factory=dict)  # in the order of last use

    def __len__(self) -> int:
        return len(self._hosts)

    def of(self, sender: bytes) -> IcmpRateLimit:
        """Host `sender`'s limits, made when first asked for (or again once forgotten: its buckets
        were full), the least recently used host forgotten past `max_hosts`."""
        hosts = self._hosts
        limit = hosts.pop(sender, None)  # (put back last: the map is in the order of last use)
        if limit is None:
            if len(hosts) >= self.max_hosts:
                del hosts[next(iter(hosts))]  # (its buckets full again once idle `IDLE_S`; its credit: above)
            limit = IcmpRateLimit()
        hosts[sender] = limit
        return limit

    def allow(self, now: float, sender: bytes, dst: bytes, icmp_type: int, code: int) -> bool:
        """Whether host `sender` sends an ICMP error of `icmp_type`/`code` to `dst` at `now` (seconds)."""
        return self.of(sender).verdict(now, dst, icmp_type, code) == SENT

    def verdict(self, now: float, sender: bytes, dst: bytes, icmp_type: int, code: int) -> int:
        """`IcmpRateLimit.verdict` by host `sender`'s limits."""
        return self.of(sender).verdict(now, dst, icmp_type, code)
