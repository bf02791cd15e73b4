"""The option negotiation automaton of RFC 1661 (section 4), shared by LCP and IPCP, either side.

What a side asks for and what it accepts from the other is its `Policy`; the automaton sends the
Configure-Request / -Ack / -Nak / -Reject and Terminate packets, keeps the restart timer and counters,
and tells its owner when the layer is up, down or finished.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

CONF_REQ, CONF_ACK, CONF_NAK, CONF_REJ, TERM_REQ, TERM_ACK, CODE_REJ = 1, 2, 3, 4, 5, 6, 7
PROTO_REJ, ECHO_REQ, ECHO_REP, DISCARD_REQ = 8, 9, 10, 11
RESTART_S = 3.0  # the restart timer (RFC 1661 4.6)
MAX_CONFIGURE = 10
MAX_TERMINATE = 2
MAX_FAILURE = 5  # Configure-Naks sent without an Ack before they become Rejects (RFC 1661 4.6)
# Configure-Rejects sent in a row without an Ack: a peer that asks again for what was Rejected
# (RFC 1661 5.4: it MUST NOT) is not converging.  RFC 1661 gives no counter for them; Max-Configure's
# default is the figure taken, after which the layer finishes as when a request goes unanswered.
MAX_REJECTS = MAX_CONFIGURE

Options = list[tuple[int, bytes]]  # a Configure packet's (type, value) pairs


class Cancel(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Cancel]


def parse_options(data: bytes) -> Options | None:
    """The (type, value) list of a Configure packet's options; None when malformed."""
    out: Options = []
    i = 0
    while i < len(data):
        if i + 2 > len(data) or data[i + 1] < 2 or i + data[i + 1] > len(data):
            return None
        out.append((data[i], data[i + 2 : i + data[i + 1]]))
        i += data[i + 1]
    return out


def _in_order_subset(options: Options, request: Options) -> bool:
    """Whether `options` are some of `request`'s, unchanged and in the same order."""
    rest = iter(request)
    return all(any(option == asked for asked in rest) for option in options)


def build_options(options: Options) -> bytes:
    return b"".join(bytes([t, len(v) + 2]) + v for t, v in options)


def packet(code: int, ident: int, data: bytes = b"") -> bytes:
    return struct.pack("!BBH", code, ident & 0xFF, 4 + len(data)) + data


class Policy(Protocol):
    def request(self) -> Options:
        """The options this side asks for now."""
        ...

    def check(self, options: Options) -> tuple[int, Options]:
        """The answer to the other side's request: CONF_ACK with them all, or CONF_NAK / CONF_REJ with some."""
        ...

    def naked(self, options: Options) -> None:
        """The other side suggested these values for options this side asked for."""
        ...

    def rejected(self, options: Options) -> None:
        """The other side refuses these options: ask without them."""
        ...


class Automaton:
    """One control protocol (LCP or an NCP) on one side of the link."""

    def __init__(
        self,
        name: str,
        protocol: int,
        policy: Policy,
        send: Callable[[int, bytes], None],
        schedule: Schedule,
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_finished: Callable[[str], None],
        keep_naking: frozenset[int] = frozenset(),
    ) -> None:
        self.name = name
        self.keep_naking = keep_naking  # options Naked whatever the count (LCP's magic number)
        self.protocol = protocol
        self.policy = policy
        self._send = send
        self._schedule = schedule
        self._on_up = on_up
        self._on_down = on_down
        self._on_finished = on_finished
        self.state = "initial"
        self.ident = 0
        self._req_id = -1
        self._timer: Cancel | None = None
        self._counter = 0
        self._failures = 0  # Configure-Naks sent since the last Configure-Ack sent
        self._rejects = 0  # Configure-Rejects sent since the last Configure-Ack sent
        self._naks_received = 0  # Configure-Naks received since the last Configure-Ack received
        self._last_request: Options = []  # the options of the last Configure-Request sent
        self.naks_sent = 0
        self.rejects_sent = 0

    # ----- events from the owner ----------------------------------------------------------------

    def open(self) -> None:
        self._counter = MAX_CONFIGURE
        self._failures = 0
        self._rejects = 0
        self._naks_received = 0
        self._send_request()
        self.state = "reqsent"

    def close(self, reason: str = "") -> None:
        if self.state == "opened":
            self._on_down()
        if self.state in ("initial", "closed", "stopped", "closing"):
            return
        self._counter = MAX_TERMINATE
        self.state = "closing"
        self._send_terminate(reason)

    def stop(self) -> None:
        """Lower layer gone: no packets, no timers."""
        self._cancel()
        if self.state == "opened":
            self._on_down()
        self.state = "initial"

    @property
    def opened(self) -> bool:
        return self.state == "opened"

    # ----- packets ------------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes | None:
        """Handle one packet; returns it back when its code is not one of the automaton's (for the owner)."""
        if len(data) < 4:
            return None
        code, ident, length = struct.unpack("!BBH", data[:4])
        if length < 4 or length > len(data):
            return None
        body = data[4:length]
        if self.state in ("initial",):
            return None
        if code == CONF_REQ:
            self._conf_req(ident, body)
        elif code == CONF_ACK:
            self._conf_ack(ident)
        elif code in (CONF_NAK, CONF_REJ):
            self._conf_nak_rej(code, ident, body)
        elif code == TERM_REQ:
            self._send(self.protocol, packet(TERM_ACK, ident))
            was = self.state
            self.state = "stopped"
            self._cancel()
            if was == "opened":
                self._on_down()
            self._on_finished("terminated by the peer")
        elif code == TERM_ACK:
            if self.state == "closing":
                self._cancel()
                self.state = "closed"
                self._on_finished("closed")
            elif self.state == "ackrcvd":
                self.state = "reqsent"
            elif self.state == "opened":
                self._on_down()
                self._send_request()
                self.state = "reqsent"
        elif code == CODE_REJ:
            log.debug("%s: peer rejected code %s", self.name, body[:1].hex())
        else:
            return data[:length]
        return None

    def _conf_req(self, ident: int, body: bytes) -> None:
        if self.state in ("closed", "stopped"):
            if self.state == "closed":
                self._send(self.protocol, packet(TERM_ACK, ident))
            return
        if self.state == "closing":
            return
        options = parse_options(body)
        if options is None:
            return  # malformed: silently discarded
        if self.state == "opened":
            self._on_down()
            self._send_request()
            self.state = "reqsent"
        code, answer = self.policy.check(options)
        if code == CONF_NAK:
            if self._failures >= MAX_FAILURE:
                # Not converging (a peer that asks again for what was Naked, e.g. pppd with a
                # fixed value): the Naked options it asked for are Rejected from now on.
                naked = {kind for kind, _ in answer} - self.keep_naking
                rejected = [(kind, value) for kind, value in options if kind in naked]
                if rejected:
                    code, answer = CONF_REJ, rejected
                elif naked:  # only options this side must have and the peer never offers
                    self._give_up(f"{self.name}: the peer never took the values Naked")
                    return
            else:
                self._failures += 1
        elif code == CONF_ACK:
            self._failures = 0
            self._rejects = 0
        if code == CONF_REJ:
            if self._rejects >= MAX_REJECTS:
                # the peer keeps asking for options it was told this side will not take
                self._give_up(f"{self.name}: the peer asked {MAX_REJECTS} times for what was Rejected")
                return
            self._rejects += 1
        self._send(self.protocol, packet(code, ident, build_options(answer)))
        if code == CONF_NAK:
            self.naks_sent += 1
        elif code == CONF_REJ:
            self.rejects_sent += 1
        if code == CONF_ACK:
            if self.state == "ackrcvd":
                self._up()
            else:
                self.state = "acksent"
        elif self.state == "acksent":
            self.state = "reqsent"

    def _conf_ack(self, ident: int) -> None:
        if ident != self._req_id:
            return
        self._naks_received = 0
        if self.state == "reqsent":
            self._counter = MAX_CONFIGURE
            self.state = "ackrcvd"
        elif self.state == "acksent":
            self._up()
        elif self.state in ("ackrcvd", "opened"):
            if self.state == "opened":
                self._on_down()
            self._send_request()
            self.state = "reqsent"

    def _conf_nak_rej(self, code: int, ident: int, body: bytes) -> None:
        if ident != self._req_id:
            return
        options = parse_options(body)
        if options is None:
            return
        if code == CONF_REJ and not _in_order_subset(options, self._last_request):
            # RFC 1661 5.4: a Reject's options are some of the request's, unchanged and in order;
            # another is discarded (the restart timer sends the request again, Max-Configure times)
            log.debug("%s: Configure-Reject of options not requested, discarded", self.name)
            return
        if code == CONF_REJ:
            self.policy.rejected(options)
        else:
            self._naks_received += 1
            if self._naks_received > MAX_FAILURE:
                # Naks that do not converge (values this side cannot take, suggested again and
                # again): the options are dropped from the request, as pppd does; the magic number
                # excepted (a looped-back line Naks it every time: `LcpPolicy.looped_back` ends it)
                dropped = [(kind, value) for kind, value in options if kind not in self.keep_naking]
                options = [(kind, value) for kind, value in options if kind in self.keep_naking]
                self.policy.rejected(dropped)
            self.policy.naked(options)
        if self.state in ("reqsent", "acksent", "ackrcvd", "opened"):
            if self.state == "opened":
                self._on_down()
            self._send_request()
            if self.state != "acksent":
                self.state = "reqsent"

    def _give_up(self, reason: str) -> None:
        log.info("%s", reason)
        self._cancel()
        if self.state == "opened":
            self._on_down()
        self.state = "stopped"
        self._on_finished(reason)

    def _up(self) -> None:
        self._cancel()
        self.state = "opened"
        self._on_up()

    # ----- sending and the restart timer ---------------------------------------------------------

    def next_ident(self) -> int:
        self.ident = (self.ident + 1) & 0xFF
        return self.ident

    def _send_request(self) -> None:
        self._req_id = self.next_ident()
        self._last_request = self.policy.request()
        self._send(self.protocol, packet(CONF_REQ, self._req_id, build_options(self._last_request)))
        self._arm()

    def _send_terminate(self, reason: str) -> None:
        self._send(self.protocol, packet(TERM_REQ, self.next_ident(), reason.encode()))
        self._arm()

    def _arm(self) -> None:
        self._cancel()
        self._timer = self._schedule(RESTART_S, self._timeout)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self) -> None:
        self._timer = None
        self._counter -= 1
        if self.state == "closing":
            if self._counter > 0:
                self._send_terminate("")
            else:
                self.state = "closed"
                self._on_finished("closed")
        elif self.state in ("reqsent", "ackrcvd", "acksent"):
            if self._counter > 0:
                self._send_request()
                if self.state == "ackrcvd":
                    self.state = "reqsent"
            else:
                self.state = "stopped"
                self._on_finished(f"{self.name}: no answer to Configure-Request")
