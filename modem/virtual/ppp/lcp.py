"""LCP (RFC 1661 section 6) options, for either side of the link.

The network side (the modem) asks for ACCM 0, a magic number, PFC, ACFC and, as cellular modules do,
authentication (CHAP with MD5 first, PAP if the peer Naks it, none if the peer rejects it); it accepts
the peer's MRU, ACCM, magic number, PFC and ACFC, Naks a magic number equal to its own (a looped-back
line) and rejects anything else, including the peer asking the network to authenticate itself.
The magic number is Naked however often (never Rejected at Max-Failure, as pppd); 10 requests in a
row carrying this side's own number mean the line is looped back (`looped_back`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from modem.virtual.ppp.cp import CONF_ACK, CONF_NAK, CONF_REJ, Options
from modem.virtual.ppp.hdlc import ALL_CONTROL

MRU, ACCM, AUTH, QUALITY, MAGIC, PFC, ACFC = 1, 2, 3, 4, 5, 7, 8
PAP_PROTOCOL, CHAP_PROTOCOL = 0xC023, 0xC223
CHAP_MD5 = 5
DEFAULT_MRU = 1500
MIN_MRU = 64
LOOPBACK_FAIL = 10  # Configure-Requests in a row carrying this side's magic number: a looped line (as pppd)

AUTH_VALUES = {
    "pap": PAP_PROTOCOL.to_bytes(2, "big"),
    "chap": CHAP_PROTOCOL.to_bytes(2, "big") + bytes([CHAP_MD5]),
}


def auth_name(value: bytes) -> str | None:
    """'pap' / 'chap' for an Authentication-Protocol option's value, None for any other."""
    for name, v in AUTH_VALUES.items():
        if value == v:
            return name
    return None


@dataclass(slots=True)
class LcpPolicy:
    """What one side asks for and accepts; after the layer is up, what was agreed."""

    rng: random.Random
    demand_auth: list[str] = field(default_factory=list)  # methods this side asks the peer for, in order
    do_auth: tuple[str, ...] = ()  # methods this side performs when the peer asks
    mru: int | None = None  # the MRU to ask for (None: the default 1500, not sent)
    refuse: frozenset[int] = frozenset()  # option types to reject (tests of the peer's Reject handling)
    want: set[int] = field(default_factory=lambda: {ACCM, MAGIC, PFC, ACFC})
    magic: int = 0
    accm_asked: int = 0
    # agreed: what the peer accepts from this side / asked for itself
    peer_mru: int = DEFAULT_MRU
    tx_accm: int = ALL_CONTROL  # the map to escape with when sending (the peer's ACCM)
    tx_pfc: bool = False
    tx_acfc: bool = False
    peer_magic: int = 0
    auth_agreed: str | None = None  # the method the peer agreed to perform for this side
    auth_to_do: str | None = None  # the method this side agreed to perform for the peer
    own_magic_seen: int = 0  # Configure-Requests in a row carrying this side's magic number

    @property
    def looped_back(self) -> bool:
        """The line is looped back: what this side sends comes back (RFC 1661 6.4)."""
        return self.own_magic_seen >= LOOPBACK_FAIL

    @property
    def echo_magic(self) -> int:
        """The number Echo packets carry: this side's magic number, 0 when the peer rejected the
        option (RFC 1661 5.8: the Magic-Number field is zero when none was negotiated)."""
        return self.magic if MAGIC in self.want else 0

    def __post_init__(self) -> None:
        self.magic = self._new_magic()
        if self.demand_auth:
            self.want.add(AUTH)
        if self.mru is not None:
            self.want.add(MRU)

    def _new_magic(self) -> int:
        return self.rng.randrange(1, 1 << 32)

    def request(self) -> Options:
        out: Options = []
        if MRU in self.want and self.mru is not None:
            out.append((MRU, self.mru.to_bytes(2, "big")))
        if ACCM in self.want:
            out.append((ACCM, self.accm_asked.to_bytes(4, "big")))
        if AUTH in self.want and self.demand_auth:
            out.append((AUTH, AUTH_VALUES[self.demand_auth[0]]))
        if MAGIC in self.want:
            out.append((MAGIC, self.magic.to_bytes(4, "big")))
        if PFC in self.want:
            out.append((PFC, b""))
        if ACFC in self.want:
            out.append((ACFC, b""))
        self.auth_agreed = self.demand_auth[0] if AUTH in self.want and self.demand_auth else None
        return out

    def check(self, options: Options) -> tuple[int, Options]:
        rej: Options = []
        nak: Options = []
        for kind, value in options:
            if kind in self.refuse:
                rej.append((kind, value))
            elif kind == MRU and len(value) == 2:
                if int.from_bytes(value, "big") < MIN_MRU:
                    nak.append((MRU, DEFAULT_MRU.to_bytes(2, "big")))
            elif kind == ACCM and len(value) == 4:
                pass
            elif kind == MAGIC and len(value) == 4:
                number = int.from_bytes(value, "big")
                self.own_magic_seen = self.own_magic_seen + 1 if number == self.magic else 0
                if number == 0 or number == self.magic:
                    nak.append((MAGIC, self._new_magic().to_bytes(4, "big")))
            elif kind in (PFC, ACFC) and not value:
                pass
            elif kind == AUTH and self.do_auth:
                name = auth_name(value)
                if name not in self.do_auth:
                    nak.append((AUTH, AUTH_VALUES[self.do_auth[0]]))
            else:
                rej.append((kind, value))
        if rej:
            return CONF_REJ, rej
        if nak:
            return CONF_NAK, nak
        self._agree(options)
        return CONF_ACK, options

    def _agree(self, options: Options) -> None:
        self.peer_mru, self.tx_accm, self.tx_pfc, self.tx_acfc, self.peer_magic = (
            DEFAULT_MRU,
            ALL_CONTROL,
            False,
            False,
            0,
        )
        self.auth_to_do = None
        for kind, value in options:
            if kind == MRU:
                self.peer_mru = int.from_bytes(value, "big")
            elif kind == ACCM:
                self.tx_accm = int.from_bytes(value, "big")
            elif kind == MAGIC:
                self.peer_magic = int.from_bytes(value, "big")
            elif kind == PFC:
                self.tx_pfc = True
            elif kind == ACFC:
                self.tx_acfc = True
            elif kind == AUTH:
                self.auth_to_do = auth_name(value)

    def naked(self, options: Options) -> None:
        for kind, value in options:
            if kind == MAGIC:
                self.magic = self._new_magic()
            elif kind == MRU and len(value) == 2:
                self.mru = int.from_bytes(value, "big")
            elif kind == ACCM and len(value) == 4:
                self.accm_asked |= int.from_bytes(value, "big")
            elif kind == AUTH and self.demand_auth:
                suggested = auth_name(value)
                self.demand_auth.pop(0)  # the method the peer will not do
                if suggested in self.demand_auth:
                    self.demand_auth.remove(suggested)
                    self.demand_auth.insert(0, suggested)
                if not self.demand_auth:
                    self.want.discard(AUTH)

    def rejected(self, options: Options) -> None:
        for kind, _ in options:
            self.want.discard(kind)
