"""MQTT 3.1.1 control packets (OASIS MQTT Version 3.1.1, chapters 2 and 3), as a module's MQTT
client writes and reads them: sans-IO, bytes in and out.

Written: CONNECT (§3.1; protocol level 4 "MQTT", or 3 "MQIsdp" for MQTT 3.1), PUBLISH (§3.3),
PUBACK / PUBREC / PUBREL / PUBCOMP (§3.4-3.7), SUBSCRIBE (§3.8), UNSUBSCRIBE (§3.10), PINGREQ
(§3.12), DISCONNECT (§3.14).  Read: any packet, split from the byte stream by `Reader` (the fixed
header's variable-length Remaining Length, §2.2.3), with helpers for the ones a client receives
(CONNACK, PUBLISH, the acknowledgements, SUBACK, UNSUBACK, PINGRESP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
MAX_REMAINING = 268_435_455  # §2.2.3: four bytes of Remaining Length at most


class MqttError(ValueError):
    """Bytes that are not an MQTT packet (a Remaining Length past four bytes, a body too short)."""


def _length(n: int) -> bytes:
    """§2.2.3: seven bits a byte, least significant first, the high bit set while more follow."""
    if not 0 <= n <= MAX_REMAINING:
        raise MqttError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _utf8(text: str | bytes) -> bytes:
    """§1.5.3: a two-byte length, then the bytes (a str's in UTF-8; bytes as they are)."""
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise MqttError("string longer than 65,535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _length(len(body)) + body


@dataclass(frozen=True, slots=True)
class Will:
    """§3.1.2.5-3.1.2.7: the message the broker publishes when the client goes without DISCONNECT."""

    topic: str | bytes
    message: bytes
    qos: int = 0
    retain: bool = False


def connect(
    client_id: str | bytes,
    keepalive: int,
    clean: bool = True,
    user: str | bytes | None = None,
    password: str | bytes | None = None,
    will: Will | None = None,
    level: int = 4,
) -> bytes:
    """§3.1: level 4 is MQTT 3.1.1 ("MQTT"), 3 is MQTT 3.1 ("MQIsdp")."""
    flags = 0x02 if clean else 0
    payload = _utf8(client_id)
    if will is not None:
        flags |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += _utf8(will.topic) + _utf8(will.message)
    if user is not None:
        flags |= 0x80
        payload += _utf8(user)
        if password is not None:  # §3.1.2.9: no password without a user name
            flags |= 0x40
            payload += _utf8(password)
    name = "MQTT" if level == 4 else "MQIsdp"
    header = _utf8(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    return _packet(CONNECT, 0, header + payload)


def publish(
    topic: str | bytes, payload: bytes, qos: int = 0, retain: bool = False, pid: int = 0, dup: bool = False
) -> bytes:
    """§3.3: the packet identifier only at QoS 1 and 2; DUP on a retransmission."""
    flags = (0x08 if dup else 0) | qos << 1 | (1 if retain else 0)
    body = _utf8(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return _packet(PUBLISH, flags, body)


def ack(kind: int, pid: int) -> bytes:
    """PUBACK, PUBREC, PUBREL (flags 0b0010, §3.6.1) or PUBCOMP of packet `pid`."""
    return _packet(kind, 0x02 if kind == PUBREL else 0, struct.pack("!H", pid))


def subscribe(pid: int, topics: list[tuple[str | bytes, int]]) -> bytes:
    """§3.8: flags 0b0010; each topic filter with its requested QoS."""
    body = struct.pack("!H", pid) + b"".join(_utf8(t) + bytes([q]) for t, q in topics)
    return _packet(SUBSCRIBE, 0x02, body)


def unsubscribe(pid: int, topics: list[str | bytes]) -> bytes:
    """§3.10: flags 0b0010."""
    return _packet(UNSUBSCRIBE, 0x02, struct.pack("!H", pid) + b"".join(_utf8(t) for t in topics))


def pingreq() -> bytes:
    return _packet(PINGREQ, 0, b"")


def disconnect() -> bytes:
    return _packet(DISCONNECT, 0, b"")


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet read: its type, the fixed header's flags, the rest (variable header and payload)."""

    kind: int
    flags: int
    body: bytes

    def pid(self) -> int:
        """The packet identifier that starts the variable header (acknowledgements, SUBACK, UNSUBACK)."""
        if len(self.body) < 2:
            raise MqttError(f"packet type {self.kind}: no packet identifier")
        return int(struct.unpack_from("!H", self.body)[0])

    def connack(self) -> tuple[bool, int]:
        """§3.2: (session present, return code)."""
        if len(self.body) != 2:
            raise MqttError("CONNACK of the wrong length")
        return bool(self.body[0] & 1), self.body[1]

    def suback(self) -> tuple[int, list[int]]:
        """§3.9: (packet identifier, the granted QoS or 0x80 of each topic)."""
        return self.pid(), list(self.body[2:])

    def published(self) -> tuple[str, int, int, bool, bytes]:
        """§3.3: (topic, QoS, packet identifier or 0, retain, payload); the topic's bytes that are not
        UTF-8 kept as surrogates (`topic.encode("utf-8", "surrogateescape")` gives them back)."""
        qos = self.flags >> 1 & 3
        if len(self.body) < 2 or qos == 3:
            raise MqttError("PUBLISH malformed")
        (n,) = struct.unpack_from("!H", self.body)
        at = 2 + n + (2 if qos else 0)
        if len(self.body) < at:
            raise MqttError("PUBLISH shorter than its topic")
        topic = self.body[2 : 2 + n].decode("utf-8", errors="surrogateescape")
        pid = int(struct.unpack_from("!H", self.body, 2 + n)[0]) if qos else 0
        return topic, qos, pid, bool(self.flags & 1), self.body[at:]


class Reader:
    """Splits a connection's byte stream into packets; a partial packet waits for the rest."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of a packet not yet whole."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buf
        buf += data
        out: list[Packet] = []
        while len(buf) >= 2:
            length, shift, i = 0, 0, 1
            while True:
                if i > 4:  # (known once the fourth byte asks for a fifth: no need to wait for it)
                    raise MqttError("remaining length longer than four bytes")
                if i >= len(buf):
                    return out
                length |= (buf[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not buf[i - 1] & 0x80:
                    break
            if len(buf) < i + length:
                return out
            out.append(Packet(buf[0] >> 4, buf[0] & 0x0F, bytes(buf[i : i + length])))
            del buf[: i + length]
        return out
