"""Bytes on the wire: the one TCP/IP model that bills a TCP connection, whichever path made it.

It is the usage record's model, not the gateway's alone: `gateway.wire` re-exports it for the
virtual modem and the simulator, and the bench harness (`hil.usage`, which may import `accounting`
but not `gateway`) estimates a bench run's IP bytes by playing the run's exchanges through it.

The virtual modem's module stacks (SIMCom CIPSTART/CIPSEND, Quectel QIOPEN/QISEND, SAPBR) bill
their connections with a `TcpWire` each; the simulator's application profiles
(`simulator/data/profiles.yaml`) bill their MQTT and HTTP exchanges by playing them through one
(`play`).  The same exchange costs the same bytes either way.

The model (IPv4; every figure an IP packet's length):

- Handshake: SYN and SYN-ACK carry MSS, SACK-permitted and window scale (4 + 4 + 4 B of options
  with their NOPs: 52 B each), the ACK 40 B.  No timestamps: every later segment has 40 B of
  IP + TCP headers.
- Data: n bytes go in ceil(n / 1,460) segments (MSS 1,460 on a 1,500-byte MTU), 40 B of headers
  each.  A segment carries the ACK its sender owes, if any, of what has reached the sender by the
  time it leaves: data still crossing the link to it is not acknowledged, its ACK owed from its
  arrival (a server's segment sent while a device's piece crossed a slow uplink was taken to
  carry that piece's ACK, 40 B less than over PPP, where the ACK goes alone after it came), and
  only that data's octets stay unacknowledged (an echo of a first piece, a second still
  crossing, was taken to acknowledge neither: a third piece bringing the two past one full
  segment was ACKed at once, 40 B more).
- Delayed ACK (RFC 1122 4.2.3.2): the receiver ACKs at once (a pure ACK) when more than one full
  segment (MSS) is unacknowledged, whatever messages the octets came in (Linux's
  `__tcp_ack_snd_check`; lwIP ACKs every second segment): every second segment of a message, and
  the first segment of a message that comes while the receiver still owes an ACK when the two pass
  one MSS (1,460-byte sends back to back, as AT+CIPSEND's largest, are ACKed as the same bytes sent
  at once: a 1 MB upload 13,772 B down with the handshake and close; an ACK was counted per message
  before, and such an upload got none but the last delayed one, 92 B down); small messages back to
  back share one delayed ACK.  What is owed rides on the receiver's next segment (data or FIN) if
  that leaves within `ACK_DELAY_S` (0.2 s, Linux's largest delay), else goes alone, 40 B, when the
  delay runs out, by the receiver's clock: one due before the sender's next data reaches it has
  gone alone (1,460-byte pieces crossing the `gsm` link's 9.6 kbit/s uplink, 1.25 s each, are
  ACKed one by one: 10 kB 332 B down with the handshake and close, as over PPP; they were ACKed
  in pairs as on a fast link, 212 B, the timer read at the time the DTE typed the next piece;
  the virtual modem takes such an ACK off with `ack_before` and counts it at its own time).
  Unless a segment of its sender's own (data, FIN) leaves first, before the ACK's time: that
  carries it (`rides`), on the virtual modem as in an exchange played whole (`send`'s `peer_next`,
  the bench's estimate: the ACK was billed alone there, 40 B more than the network's bill); the
  message then comes with nothing owed (left owed, a 1,460 B piece took it past one full segment and
  was ACKed at once, 40 B more again).
  The segments of one message are taken to arrive together (`arrives`, the last one's time): on a
  link slower than a segment per 0.2 s a real receiver ACKs each alone, so the virtual modem sends
  a message of either end on such a link segment by segment, each with its own arrival, as its
  link carries the PPP bearer's packets (a 10 kB answer over `gsm`: 6 ACKs up, where the message
  taken whole got 3, 120 B less than over PPP; a module's own 10 kB message likewise, 6 ACKs down).
  The PPP bearer's forwarder, which stands for the remote server of a device's
  own stack, ACKs by the same rule (`modem.virtual.ppp.forwarder.TcpFlow`): the same exchange
  costs the same bytes on either path (tests/modem/test_tcp_paths_billed.py).
- The server's retransmission timer (RFC 6298, as the PPP bearer's forwarder's: a Linux server's
  measures the handshake too, but goes down to the round trip and 200 ms, `tcp_rto_min`, where RFC
  6298 keeps 1 s), once `open` is given the handshake's round trip (the virtual modem's link, the
  bench's connect): the timeout is the round trip measured (`measured_rto`: the smoothed round trip
  and four times its variation, at least 1 s), and the first segment of what the server sends while
  nothing of its own is timed is sent again each time the timer runs out (doubled on each expiry)
  before the device's ACK of it is back, half the round trip after it left the device; the timer
  runs from the segment's leaving, or from the last ACK's return when it waited behind others.  The
  device ACKs each repeat at once (40 B up), as Linux's and lwIP's stacks ACK a segment they already
  have, but the first repeat of a segment lost on the air (`send`'s `lost`, the virtual modem's
  lossy links): that is the copy it gets, ACKed as new data (it was ACKed twice, 40 B up more than
  over PPP: an MQTT loop over `gprs`).  Over the `gsm` link (9.6 kbit/s) a 1,460-byte segment takes
  1.25 s to cross, and its ACK, delayed 0.2 s, is not back within the 1 to 1.8 s the handshake's
  small packets give: a 10 kB answer or a 1,460-byte echo goes twice once, 1,500 B down and 40 B up
  more, as the forwarder sends it (the model sent it once).  Only the first segment of a burst is
  timed (the forwarder's timeout, measured again on each ACK, grows with the queue behind it), and a
  repeat is billed when the ACK it raced is put, not at its own time; the device's own
  retransmissions are not modelled (the module's stack and its timer are not known).  Without a
  round trip (`play`, the simulator's profiles) no repeat is billed.
- Close: the device's FIN rides on its last data segment when that segment has not left
  yet (the close comes with it, nothing from the peer between, or the stack still holds it: behind
  Nagle, or waiting for a slow radio uplink), else goes alone (40 B).  A server's (Linux's
  `tcp_send_fin`) rides on its last data only when that data still waits: sent with the close and
  more than the receiver's window (`WINDOW`) at once, or held (`close(..., held=True)`); an answer
  that has left when the server closes (a 10 kB answer, the close right after it) is followed by
  the FIN alone, as the PPP bearer's forwarder sends it (the model let it ride, 40 B down less
  than over PPP).  The peer answers with its
  own FIN carrying the ACK (40 B), the closer ACKs that (40 B).  A peer that keeps its end open
  (`half_close`: a Quectel module holding a socket "closing" until AT+QICLOSE) ACKs the FIN at
  once (40 B) and sends its own FIN when it closes (40 B), the closer's last ACK (40 B) after it.
- A connect that fails: the SYN (52 B) sent again on the retransmission timer until an answer comes
  or the connect gives up (`syns`): the first retransmission 1 s after the SYN, each wait twice the
  one before (RFC 6298 2.1 and 5.5: an initial RTO of 1 s, doubled on each expiry; Linux's 1 s
  doubling), at most 6 retransmissions (Linux's `tcp_syn_retries` default), none once the connect
  has given up (SIMCom's 75 s, an application's timeout): 7 SYNs, 364 B, by 63 s; 4, 208 B, in
  15 s.  The schedule is the module stack's, not a given kernel's, and stays so: lwIP 2.1.3 (the
  base of many module stacks) sends 7 SYNs too, about 3 s apart (it keeps its initial 3 s RTO
  in SYN-SENT, `TCP_SYNMAXRTX` 6) and gives up about 18.5 s after the first, so any give-up
  after that (SIMCom's 75 s) bills what this model bills; a Linux 6.18 kernel with
  `tcp_syn_linear_timeouts` 4 sends 11 (0, 1, 2, 3, 4, 5, 7, 11.4, 19.6, 35.7, 69.7 s; measured,
  docs/ppp.md), 11 by 75 s, but only a device running such a kernel does, over the PPP bearer,
  where the SYNs that cross are billed as they are (no model).  A refusal adds the reset (40 B) down: a refused connect costs the SYNs sent until the reset
  came (one, when it answers the first: 92 B in all).  UDP: 28 B of IPv4 + UDP header per datagram.
- A destination the network cannot reach (no route, the host gone, or a firewall's "administratively
  prohibited"): an ICMP destination unreachable answers the packet (`icmp_error_size`): IPv4 20,
  ICMP 8 and as much of the original datagram as fits in 576 B (RFC 1812 4.3.2.3; Linux's
  `icmp_send`, measured on Linux 6.18: a 36 B datagram answered with 64 B, a 200 B one with 228 B,
  one of 548 B or more with 576 B; a "fragmentation needed" alike), not RFC 792's minimum quote of
  the IP header and 8 bytes (56 B).  A sender whose path to the device has a smaller MTU sends no
  larger error (Linux: the room is the route's MTU, at most 576; measured on Linux 6.18: a route of
  MTU 500 or 296 gives errors of 500 or 296 B, a path MTU learned from "fragmentation needed" of
  500 or 296 is taken as 552, `net.ipv4.route.min_pmtu`, and gives 552 B, one of 560 gives 560 B);
  the error goes without Don't Fragment (measured: DF clear), fragmented on a smaller link.  Only
  the PPP bearer's hosts learn such an MTU (from the modem's "fragmentation needed" when the device's
  MRU is under their link's), so only they bill the smaller error.  A connect's first SYN so answered fails at once (Linux ends a
  connect in SYN-SENT on it): 52 B up, 80 B down (`unreachable`); a datagram so answered costs its
  own bytes and the error quoting it (a 90 B CoAP datagram: 118 B).  Whether the network
  answers at all is the ICMP rate limits' (six at once to a device, then one a second:
  `gateway.icmplimit`, applied by every path that bills these answers): a SYN left unanswered is
  sent again on the timer above, the connect failing at the first one answered.

Why this model: it reproduces the field measurements of one report (53-byte JSON, IPv4, both
directions, measured on Linux with TCP timestamps off): MQTT connect + publish + disconnect 9
packets, 494 B at QoS 0 and 10 packets, 540 B at QoS 1, a persistent QoS 1 publish 206 B, a
keep-alive cycle 124 B, an HTTP/1.1 POST with the connection closed 12 packets, 810 B (its server
answering after the ACK delay: every ACK goes alone).  Linux's quick-ACK mode at a connection's
start ACKs its first segments at once whatever the answer's delay (MQTT there: 12 and 13
packets), and a module's own stack may differ too (lwIP, the base of many, offers by default only
the MSS in its SYN and delays ACKs up to 250 ms): the model is the measured exchanges', not a given
stack's."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import numpy.typing as npt

HEADER = 40  # IPv4 (20) + TCP (20), no options
SYN_OPTIONS = 12  # MSS (4), NOP NOP SACK-permitted (4), NOP window scale (4)
SYN = HEADER + SYN_OPTIONS  # the SYN and the SYN-ACK
MSS = 1460  # a 1,500-byte MTU, IPv4, no options
UDP_HEADER = 28  # IPv4 (20) + UDP (8)
ACK_DELAY_S = 0.2  # the delayed ACK's timer (RFC 1122: under 0.5 s; Linux at most 0.2 s)
SYN_RTO_S = 1.0  # a SYN's first retransmission timeout (RFC 6298 2.1), doubled on each expiry (5.5)
SYN_RETRIES = 6  # retransmissions of a SYN before the stack gives up (Linux's tcp_syn_retries)
RTO_MIN_S = 1.0  # the least a measured retransmission timeout goes to (RFC 6298 2.4)
RTO_MAX_S = 120.0  # the most it backs off to (Linux's TCP_RTO_MAX)
ICMP_HEADER = 20 + 8  # an ICMP error's own IPv4 header (no options) and ICMP header
ICMP_ERROR_MAX = 576  # an ICMP error's largest size (RFC 1812 4.3.2.3; Linux's icmp_send)
WINDOW = 65_535  # the receive window a sender may fill before the rest waits (no window scaling)

DEVICE, SERVER = 0, 1  # the ends of a connection: the device's segments go up, the server's down

I64 = npt.NDArray[np.int64]


@overload
def segments(n: int) -> int: ...
@overload
def segments(n: I64) -> I64: ...
def segments(n: int | I64) -> int | I64:
    """Segments that carry a message of `n` bytes (at least one: an empty message is no message)."""
    if isinstance(n, np.ndarray):
        out: I64 = np.maximum(-(-n // MSS), 1)
        return out
    return max(1, -(-n // MSS))


@overload
def prompt_acks(n: int) -> int: ...
@overload
def prompt_acks(n: I64) -> I64: ...
def prompt_acks(n: int | I64) -> int | I64:
    """Pure ACKs a receiver sends at once for a message of `n` bytes: one every second segment."""
    return segments(n) // 2


def syn_time(k: int) -> float:
    """When a connect's `k`-th retransmission of its SYN leaves, from its first SYN (k = 0 the first
    SYN itself): 0, 1, 3, 7, 15 ... s, the timeout `SYN_RTO_S` doubling on each expiry."""
    return SYN_RTO_S * (2.0**k - 1.0)


@overload
def syns(elapsed: float) -> int: ...
@overload
def syns(elapsed: npt.NDArray[np.float64] | I64) -> I64: ...
def syns(elapsed: float | npt.NDArray[np.float64] | I64) -> int | I64:
    """SYNs a connect has sent `elapsed` seconds after its first, no answer having come: the first,
    and each retransmission whose time (1, 3, 7, 15 ... s: `SYN_RTO_S` doubling) is before
    `elapsed`, `SYN_RETRIES` at most.  A connect that gives up at `elapsed` sent these."""
    if isinstance(elapsed, np.ndarray):
        times = SYN_RTO_S * (2.0 ** np.arange(1, SYN_RETRIES + 1) - 1.0)  # 1, 3, 7, 15, 31, 63
        out: I64 = 1 + (times[None, :] < np.asarray(elapsed, dtype=np.float64)[:, None]).sum(axis=1)
        return out.astype(np.int64)
    n, at = 1, SYN_RTO_S
    while n <= SYN_RETRIES and at < elapsed:
        n += 1
        at = at * 2 + SYN_RTO_S  # 1, 3, 7, 15 ...: each wait twice the one before
    return n


@overload
def icmp_error_size(original: int, mtu: int = ICMP_ERROR_MAX) -> int: ...
@overload
def icmp_error_size(original: I64, mtu: int = ICMP_ERROR_MAX) -> I64: ...
def icmp_error_size(original: int | I64, mtu: int = ICMP_ERROR_MAX) -> int | I64:
    """Bytes of the ICMP error (destination unreachable, fragmentation needed) answering an IPv4
    datagram of `original` bytes: its IPv4 and ICMP headers and as much of the datagram as fits
    in `ICMP_ERROR_MAX` (RFC 1812 4.3.2.3, as Linux's `icmp_send` quotes): 80 B for a SYN (52 B),
    118 B for a 90 B datagram, 576 B for one of 548 B or more.  `mtu`: the MTU of the sender's
    path to the device when under 576 (its route's, or one it learned from "fragmentation
    needed"), which caps the error too (Linux's `icmp_send`: the room is the route's MTU, at most
    576): a host that learned 552 answers a 1,000 B datagram with 552 B."""
    cap = min(mtu, ICMP_ERROR_MAX)
    if isinstance(original, np.ndarray):
        out: I64 = np.minimum(ICMP_HEADER + original, cap)
        return out
    return min(ICMP_HEADER + original, cap)


def unanswered(elapsed: float) -> tuple[int, int]:
    """(up, down) of a connect nothing answered that gave up after `elapsed` seconds: its SYNs."""
    return SYN * syns(elapsed), 0


def refused(elapsed: float = 0.0) -> tuple[int, int]:
    """(up, down) of a connect the far end (or the network) refused `elapsed` seconds after its
    first SYN: the SYNs sent until then (one, when the reset answered the first), the reset."""
    return SYN * syns(elapsed), HEADER


def unreachable(elapsed: float = 0.0) -> tuple[int, int]:
    """(up, down) of a connect the network answered "destination unreachable" (ICMP) `elapsed`
    seconds after its first SYN: the SYNs sent until then (one, when the answer came to the first)
    and the ICMP message quoting the SYN, which ends the connect."""
    return SYN * syns(elapsed), icmp_error_size(SYN)


def measured_rto(srtt: float | None, rttvar: float, rtt: float) -> tuple[float, float, float]:
    """(srtt, rttvar, rto) after a round trip of `rtt` seconds is measured (RFC 6298 2.2-2.3;
    `srtt` None: the first), the timeout at least `RTO_MIN_S` and at most `RTO_MAX_S`: the
    server's retransmission timer of the model and of the PPP bearer's forwarder alike."""
    if srtt is None:
        srtt, rttvar = rtt, rtt / 2
    else:
        rttvar = 0.75 * rttvar + 0.25 * abs(srtt - rtt)
        srtt = 0.875 * srtt + 0.125 * rtt
    return srtt, rttvar, min(max(srtt + 4 * rttvar, RTO_MIN_S), RTO_MAX_S)


def rides(due: float, left: float) -> bool:
    """A delayed ACK falling due at `due` rides on a segment its sender sends at `left` (data, its
    FIN): one that leaves after the data it acknowledges came (`due` - `ACK_DELAY_S`), before the
    ACK's time; else the ACK went alone at `due`.  `due` is kept to the microsecond (`TcpWire`
    rounds it): a segment leaving as the data came (an echo) is within that of it."""
    return due - ACK_DELAY_S - 1e-6 <= left < due - 1e-9


@dataclass(slots=True)
class TcpWire:
    """One TCP connection's packets, both ends.  Every call returns the (up, down) bytes it put on
    the wire, and adds them to `up`, `down` and `packets`.  Times are each side's own: a segment
    leaves at the sender's time, reaches the receiver at its own (a radio link between them)."""

    up: int = 0
    down: int = 0
    packets: int = 0
    closed: bool = False
    fin: int | None = None  # the side whose FIN the other has acknowledged, its own FIN not sent yet
    _owed: list[bool] = field(default_factory=lambda: [False, False])  # an ACK each side owes
    _unacked: list[int] = field(default_factory=lambda: [0, 0])  # the octets that ACK is for
    _due: list[float] = field(default_factory=lambda: [math.inf, math.inf])  # when it goes alone
    # when that data came, and its octets: what has come when a segment leaves is what it ACKs
    _came: list[list[tuple[float, int]]] = field(default_factory=lambda: [[], []])
    _last: tuple[int, float] | None = None  # a side's data and when it left, nothing back since
    # a side's octets sent at one time, nothing of the peer's between (more than a window: some wait)
    _burst: tuple[int, float, int] = (DEVICE, -math.inf, 0)
    # the server's retransmission timer (RFC 6298), modelled once `open` knows the round trip:
    # its smoothed round trip (None: none measured), variation and timeout (inf: not modelled)
    _srtt: float | None = None
    _rttvar: float = 0.0
    _rto: float = math.inf
    _back: float = 0.0  # an ACK's crossing back to the server: half the round trip
    # the segment timed: (left, arrives, bytes, lost on the air: its first repeat is no duplicate)
    _timed: tuple[float, float, int, bool] | None = None
    _restart: float = -math.inf  # when the device's last ACK got back: the timer runs from then
    _resent: tuple[int, int] | None = None  # a repeat's bytes (up, down) not returned yet (`ack_before`)

    def _put(self, side: int, size: int, out: list[int], at: float | None = None) -> None:
        out[side] += size
        self.packets += 1
        if self._timed is not None and side == DEVICE:
            self._answered(at, out)
        self._acked(side)  # every segment carries the ACK of what its sender has received

    def _answered(self, at: float | None, out: list[int]) -> None:
        """The device's segment leaving at `at` (its time; None: not known) acknowledges the
        server's segment timed, if that has reached it: the server's timer ran out before the ACK
        got back (`at` + half the round trip) once, twice (the timeout doubled on each expiry),
        or not at all; each expiry sends that segment again (the device ACKs the repeat at once,
        as Linux's and lwIP's stacks do, but for the first repeat of a segment lost on the air:
        that is the copy it gets), else the round trip is measured (RFC 6298; Karn: not after a
        repeat, the doubled timeout kept)."""
        assert self._timed is not None
        left, arrives, size, lost = self._timed
        if at is not None and at < arrives - 1e-9:
            return  # it left before that segment came: not its ACK
        self._timed = None
        if at is None:
            return
        back = at + self._back
        # the timer runs from the segment's leaving, or from the last ACK's return when that segment
        # waited behind others (RFC 6298 5.3: restarted on each ACK of new data)
        rto, expires, again = self._rto, max(left, self._restart) + self._rto, 0
        self._restart = back
        while expires < back - 1e-9 and again < 15:
            again += 1
            rto = min(rto * 2, RTO_MAX_S)
            expires += rto
        if again:
            dups = again - 1 if lost else again  # the repeats the device already had
            out[SERVER] += again * (size + HEADER)
            out[DEVICE] += dups * HEADER
            self.packets += again + dups
            self._rto = rto
        else:
            self._srtt, self._rttvar, self._rto = measured_rto(self._srtt, self._rttvar, back - left)

    def _acked(self, side: int) -> None:
        """`side` owes no ACK: what it has received is acknowledged."""
        self._owed[side] = False
        self._unacked[side] = 0
        self._due[side] = math.inf
        self._came[side] = []

    def _leave(self, side: int, size: int, at: float, out: list[int]) -> None:
        """`side`'s data or FIN segment leaving at `at` (its time): it carries the ACK of what has
        reached `side` by then; of data still on its way to it, the ACK stays owed, for those octets
        alone (an ACK at once when more than a full segment of them is unacknowledged), its delay
        running from that data's arrival."""
        still = [(came, n) for came, n in self._came[side] if came > at + 1e-9]
        if not still:
            self._put(side, size, out, at)
            return
        out[side] += size
        self.packets += 1
        if side == DEVICE and self._timed is not None:  # the server's segment timed, if come by then
            self._answered(at, out)
        self._came[side] = still
        self._unacked[side] = sum(n for _, n in still)
        self._due[side] = round(min(came for came, _ in still) + ACK_DELAY_S, 6)

    def _total(self, out: list[int], resent: bool = True) -> tuple[int, int]:
        if resent and self._resent is not None:  # from an ACK `ack_before` put
            out[0], out[1] = out[0] + self._resent[0], out[1] + self._resent[1]
            self._resent = None
        self.up += out[0]
        self.down += out[1]
        return out[0], out[1]

    def _tick(self, now: float, out: list[int]) -> None:
        for side in (DEVICE, SERVER):
            if self._owed[side] and self._due[side] <= now + 1e-9:  # a timer's float sum
                self._put(side, HEADER, out, self._due[side])

    def owes(self, side: int) -> bool:
        """`side` owes the other an ACK (the other's last data is not acknowledged yet)."""
        return self._owed[side]

    def due(self) -> float:
        """When the next delayed ACK goes alone (inf: none is owed)."""
        return min(self._due)

    def tick(self, now: float) -> tuple[int, int]:
        """The delayed ACKs whose time has come by `now`, each a pure ACK."""
        out = [0, 0]
        self._tick(now, out)
        return self._total(out)

    def ack_before(self, side: int, at: float, arrives: float) -> float | None:
        """`side`'s delayed ACK, when it falls due after `at` and before the other end's next data
        reaches `side` at `arrives`, put on the wire now (its bytes in `up`/`down`, not returned):
        its time, for the caller to count it then (None: no such ACK).  A repeat of the server's
        segment it sets off (`open`'s `rtt`) is returned by the next call that returns bytes."""
        due = self._due[side]
        if not (self._owed[side] and at + 1e-9 < due <= arrives + 1e-9):
            return None
        out = [0, 0]
        self._put(side, HEADER, out, due)
        out[side] -= HEADER  # what is left: a repeat it set off, billed by the next call
        if out[0] or out[1]:
            was = self._resent or (0, 0)
            self._resent = (was[0] + out[0], was[1] + out[1])
        self._total([HEADER if side == DEVICE else 0, HEADER if side == SERVER else 0], resent=False)
        return due

    def open(self, by: int = DEVICE, rtt: float | None = None) -> tuple[int, int]:
        """The three-way handshake, `by` sending the SYN (the device, or a client of a server on it).
        `rtt`: its round trip, when known: the server measures it (RFC 6298, as Linux does) and
        sends a segment again when the device's ACK of it is not back within the timeout, each
        ACK taking half that round trip to come back (over the `gsm` link a 1,460-byte segment
        takes 1.25 s to cross, and its ACK is not back within the 1 s of a short round trip: a
        real server sends it twice, as the PPP bearer's forwarder does)."""
        out = [0, 0]
        if rtt is not None and by == DEVICE:
            self._back = rtt / 2
            self._srtt, self._rttvar, self._rto = measured_rto(None, 0.0, rtt)
        self._put(by, SYN, out)
        self._put(1 - by, SYN, out)
        self._put(by, HEADER, out)
        return self._total(out)

    def send(
        self,
        side: int,
        n: int,
        at: float,
        arrives: float | None = None,
        peer_next: float = math.inf,
        lost: bool = False,
    ) -> tuple[int, int]:
        """`side` sends a message of `n` bytes at `at` (its time), reaching the other end at
        `arrives` (the other end's time; `at` when no link lies between).  `peer_next`: when the
        other end's next segment leaves, when known (an exchange played whole): the other end's
        delayed ACK falling due before this message comes rides on it if it leaves first (`rides`),
        as the virtual modem counts it (`ack_before`), else it goes alone.  `lost`: a packet of the
        server's message was lost on the air (the virtual modem's link), its `arrives` that of the
        copy sent again: the first repeat the server's timer sends reaches the device as new data
        (no ACK at once of it)."""
        out = [0, 0]
        self._tick(at, out)
        peer = 1 - side
        due = self._due[peer]
        if arrives is not None and self._owed[peer] and due <= arrives + 1e-9:
            if not rides(due, peer_next):
                self._put(peer, HEADER, out, due)  # the receiver's delayed ACK went alone before this came
            else:  # on the receiver's next segment, before this comes: none owed when it does
                if peer == DEVICE and self._timed is not None:
                    self._answered(peer_next, out)
                self._acked(peer)
        if n <= 0:
            return self._total(out)
        k = -(-n // MSS)
        self._leave(side, n + HEADER * k, at, out)  # k segments, the first carrying the sender's ACK
        self.packets += k - 1
        came = at if arrives is None else arrives
        if self._rto != math.inf and side == SERVER and self._timed is None:
            self._timed = (at, came, min(n, MSS), lost)  # its first segment timed (come with the rest)
        # the receiver ACKs at once once more than a full segment is unacknowledged (Linux's
        # __tcp_ack_snd_check, lwIP's every second segment), whatever message it came in: a first
        # segment that takes what it still owes an ACK for past one MSS is ACKed at once, then every
        # second of the rest; `tail`: the octets left unacknowledged, their ACK delayed
        owed = self._unacked[peer] if self._owed[peer] else 0
        if not owed:
            acks, tail = k // 2, (n - (k - 1) * MSS if k % 2 else 0)
        elif owed + min(n, MSS) > MSS:
            rest = max(n - MSS, 0)
            j = -(-rest // MSS)
            acks, tail = 1 + j // 2, (rest - (j - 1) * MSS if j % 2 else 0)
        else:
            acks, tail = 0, owed + n
        if acks:
            self._put(peer, HEADER * acks, out, came)
            self.packets += acks - 1
        if tail:
            self._owed[peer] = True
            self._due[peer] = min(self._due[peer], round(came + ACK_DELAY_S, 6))  # 3.6 + 0.2 is 3.8
            self._came[peer].append((came, tail - self._unacked[peer]))  # an ACK at once: cleared
            self._unacked[peer] = tail
        self._last = (side, at) if tail else None  # else the receiver's ACK came back after it
        b = self._burst
        self._burst = (side, at, n + b[2] if b[0] == side and b[1] == at else n)
        return self._total(out)

    def _fin(self, side: int, at: float, held: bool, out: list[int]) -> None:
        self._tick(at, out)
        if side == SERVER:  # a Linux server's (tcp_send_fin): on its last data only if that waits
            side_, sent_at, n = self._burst
            rides = side_ == side and (held or (at <= sent_at and n > WINDOW))
        else:
            last = self._last
            rides = last is not None and last[0] == side and (held or at <= last[1])
        if not rides:
            self._leave(side, HEADER, at, out)  # else the FIN rides on that last data segment

    def close(self, side: int, at: float, held: bool = False) -> tuple[int, int]:
        """`side` closes at `at` (its time): its FIN, the peer's FIN with the ACK, the last ACK.
        `held`: its last data segment has not left yet (the FIN rides on it, as on one sent at `at`).
        After the peer's half close (`half_close`): `side`'s FIN, the peer's last ACK."""
        out = [0, 0]
        if self.closed or self.fin == side:
            return 0, 0
        if self.fin is not None:  # the peer's FIN came and was acknowledged: this end's FIN now
            self._tick(at, out)
            self._leave(side, HEADER, at, out)
            self._put(1 - side, HEADER, out, at)
        else:
            self._fin(side, at, held, out)
            self._put(1 - side, HEADER, out, at)
            self._put(side, HEADER, out, at)
        self.closed = True
        return self._total(out)

    def half_close(self, side: int, at: float, held: bool = False) -> tuple[int, int]:
        """`side` closes at `at` and the peer acknowledges its FIN at once, keeping its own end open
        until it closes (`close`): `side`'s FIN, the peer's ACK.  `held` as for `close`."""
        out = [0, 0]
        if self.closed or self.fin is not None:
            return 0, 0
        self._fin(side, at, held, out)
        self._put(1 - side, HEADER, out, at)
        self.fin = side
        return self._total(out)


def play(steps: list[tuple[str, int, float]]) -> TcpWire:
    """An exchange played on a connection: steps of (what, bytes, at seconds), what being "open"
    (the handshake), "up" (the device sends), "down" (the server sends), "close up" / "close down"
    (the device / the server closes; the device's FIN rides on its data sent at the same time, the
    server's only on more than a window of it, `TcpWire.close`).  The
    delayed ACKs still owed at the end are sent.  Without "open" first the connection was open
    before: the figures are the steps' alone."""
    wire = TcpWire()
    if not steps or steps[0][0] != "open":
        wire.open()
        wire.up = wire.down = wire.packets = 0
    for what, n, at in steps:
        if what == "open":
            wire.open()
        elif what in ("up", "down"):
            wire.send(DEVICE if what == "up" else SERVER, n, at)
        elif what in ("close up", "close down"):
            wire.close(DEVICE if what == "close up" else SERVER, at)
        else:
            raise ValueError(f"unknown step {what!r}")
    wire.tick(math.inf)
    return wire
