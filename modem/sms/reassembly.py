"""Reassembling concatenated messages (TS 23.040 9.2.3.24.1) from parts received in any order.

Parts are grouped by peer (originator of an SMS-DELIVER, destination of an
SMS-SUBMIT), reference (with its width) and part count, so two senders using
the same reference never mix.  Time comes from the caller (`now`, in its own
clock: SimPy's `env.now`, `loop.time()`, ...); nothing here reads the wall clock.
A group that gets no new part for `timeout` is expired and handed back, never
dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .address import Address
from .dcs import Alphabet
from .national import shift_languages
from .pdu import SmsDeliver, SmsSubmit
from .udh import ConcatInfo
from .userdata import decode_payload

log = logging.getLogger(__name__)

Part = SmsDeliver | SmsSubmit
GroupKey = tuple[str, int, int, int]  # peer, reference bits, reference, total


def _peer(msg: Part) -> Address:
    return msg.originator if isinstance(msg, SmsDeliver) else msg.destination


@dataclass(frozen=True, slots=True)
class ReassembledMessage:
    """A whole message: its parts in order and the joined content."""

    peer: Address
    parts: tuple[Part, ...]
    reference: int | None

    @property
    def first(self) -> Part:
        return self.parts[0]

    @property
    def alphabet(self) -> Alphabet:
        return self.parts[0].user_data.alphabet

    @property
    def data(self) -> bytes:
        """Joined payloads (8-bit data; septet codes or UTF-16BE for text)."""
        return b"".join(p.user_data.payload for p in self.parts)

    @property
    def text(self) -> str | None:
        """Joined text.  Parts in one alphabet with the same national language tables are joined
        before decoding, so a pair cut across parts reads right; parts that differ (each part's
        header names its own tables, TS 23.038 6.2.1.2.4) are decoded each with its own."""
        encodings = {(p.user_data.alphabet, shift_languages(p.user_data.header)) for p in self.parts}
        if len(encodings) == 1:
            return decode_payload(self.alphabet, self.data, self.parts[0].user_data.header)
        return "".join(p.text or "" for p in self.parts)


@dataclass(frozen=True, slots=True)
class ExpiredMessage:
    """An incomplete message given up after the timeout: what arrived and what is missing."""

    peer: Address
    reference: int
    total: int
    parts: tuple[Part, ...]
    missing: tuple[int, ...]
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class _Group:
    peer: Address
    concat: ConcatInfo
    first_seen: float
    last_seen: float
    parts: dict[int, Part] = field(default_factory=dict)


class Reassembler:
    """Collects parts; `add` returns the whole message once its last part arrives."""

    def __init__(self, timeout: float, max_pending: int | None = None) -> None:
        """`timeout`: seconds (in the caller's clock) without a new part before a group expires;
        `max_pending`: most incomplete messages held (the stalest is expired to make room)."""
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_pending is not None and max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.timeout = timeout
        self.max_pending = max_pending
        self._groups: dict[GroupKey, _Group] = {}
        self._evicted: list[ExpiredMessage] = []
        self.duplicates = 0

    @property
    def pending(self) -> int:
        """Incomplete messages held."""
        return len(self._groups)

    def add(self, message: Part, now: float) -> ReassembledMessage | None:
        """Add a received part (or a single message, returned at once)."""
        concat = message.concat
        peer = _peer(message)
        if concat is None or concat.total == 1:
            return ReassembledMessage(peer, (message,), concat.reference if concat else None)
        key: GroupKey = (peer.number, concat.reference_bits, concat.reference, concat.total)
        group = self._groups.get(key)
        if group is None:
            if self.max_pending is not None and len(self._groups) >= self.max_pending:
                stalest = min(self._groups, key=lambda k: self._groups[k].last_seen)
                self._evicted.append(self._expired(self._groups.pop(stalest)))
            group = self._groups[key] = _Group(peer, concat, now, now)
        held = group.parts.get(concat.sequence)
        if held is not None and held.user_data == message.user_data:
            self.duplicates += 1
            log.debug(
                "duplicate part %d/%d ref %d from %s ignored",
                concat.sequence,
                concat.total,
                concat.reference,
                peer,
            )
            return None
        if held is not None:
            # The same part number with other content: the sender reused the reference for a new
            # message while the old one lacks parts (a lost part, 8-bit references wrapping).
            # Joining them would give the new message the old one's text: the old group is given
            # up (reported by the next `expire()`) and the new message starts here.
            log.info(
                "part %d/%d ref %d from %s differs from the one held: a new message, the old one given up",
                concat.sequence,
                concat.total,
                concat.reference,
                peer,
            )
            self._evicted.append(self._expired(self._groups.pop(key)))
            group = self._groups[key] = _Group(peer, concat, now, now)
        group.parts[concat.sequence] = message
        group.last_seen = now
        if len(group.parts) < concat.total:
            return None
        del self._groups[key]
        ordered = tuple(group.parts[i] for i in range(1, concat.total + 1))
        return ReassembledMessage(peer, ordered, concat.reference)

    def expire(self, now: float) -> list[ExpiredMessage]:
        """Remove and return the groups that got no part for `timeout` or more (and any pushed out
        by `max_pending` since the last call)."""
        out, self._evicted = self._evicted, []
        for key, group in list(self._groups.items()):
            if now - group.last_seen >= self.timeout:
                del self._groups[key]
                out.append(self._expired(group))
        return out

    @staticmethod
    def _expired(group: _Group) -> ExpiredMessage:
        total = group.concat.total
        missing = tuple(i for i in range(1, total + 1) if i not in group.parts)
        ordered = tuple(group.parts[i] for i in sorted(group.parts))
        log.info(
            "incomplete message ref %d from %s given up, missing parts %s",
            group.concat.reference,
            group.peer,
            missing,
        )
        return ExpiredMessage(
            group.peer, group.concat.reference, total, ordered, missing, group.first_seen, group.last_seen
        )
