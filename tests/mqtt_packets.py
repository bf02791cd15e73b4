"""A small MQTT 3.1.1 packet encoder / decoder for device-side test programs (OASIS MQTT 3.1.1, chapter 3).

Only what a sensor's firmware sends: CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK, DISCONNECT; and
a reader that splits a byte stream into packets.
"""

from __future__ import annotations

import struct


def _remaining_length(n: int) -> bytes:
    """§2.2.3: the variable-length encoding, 7 bits a byte, high bit set while more follow."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    data = s.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _remaining_length(len(body)) + body


def connect(client_id: str, keepalive: int = 60) -> bytes:
    """§3.1: protocol "MQTT" level 4, clean session."""
    return _packet(0x10, _text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) + _text(client_id))


def subscribe(packet_id: int, topic: str, qos: int = 1) -> bytes:
    """§3.8: the fixed header's flags are 0b0010."""
    return _packet(0x82, struct.pack("!H", packet_id) + _text(topic) + bytes([qos]))


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    """§3.3: a packet identifier only for QoS 1 and 2."""
    body = _text(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return _packet(0x30 | (qos << 1), body)


def puback(packet_id: int) -> bytes:
    return _packet(0x40, struct.pack("!H", packet_id))


def disconnect() -> bytes:
    return b"\xe0\x00"


class Packet:
    """A received packet: its type (high nibble), flags and body."""

    def __init__(self, first: int, body: bytes) -> None:
        self.kind = first >> 4
        self.flags = first & 0x0F
        self.body = body

    def packet_id(self) -> int:
        return int(struct.unpack("!H", self.body[:2])[0])

    def publish_parts(self) -> tuple[str, int, bytes]:
        """PUBLISH: (topic, packet id or 0, payload)."""
        (n,) = struct.unpack("!H", self.body[:2])
        topic = self.body[2 : 2 + n].decode()
        rest = self.body[2 + n :]
        if (self.flags >> 1) & 3:
            return topic, int(struct.unpack("!H", rest[:2])[0]), rest[2:]
        return topic, 0, rest


CONNACK, PUBLISH, PUBACK, SUBACK = 2, 3, 4, 9


def split(buf: bytearray) -> list[Packet]:
    """The whole packets at the start of `buf` (removed from it); a partial one stays."""
    out = []
    while len(buf) >= 2:
        length, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out
            byte = buf[i]
            length += (byte & 0x7F) * mult
            mult *= 128
            i += 1
            if not byte & 0x80:
                break
        if len(buf) < i + length:
            return out
        out.append(Packet(buf[0], bytes(buf[i : i + length])))
        del buf[: i + length]
    return out
