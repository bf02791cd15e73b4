"""MQTT 3.1.1 packets for device-side test programs (a sensor's firmware on a raw socket), in the
shape those programs use: the project's codec (`modem.virtual.mqtt`, what the virtual Quectel's MQTT
client sends) with a sensor's defaults, and `split` of a byte stream kept by the caller.
"""

from __future__ import annotations

from modem.virtual import mqtt
from modem.virtual.mqtt import CONNACK, PUBACK, PUBLISH, SUBACK, Packet

__all__ = [
    "CONNACK",
    "PUBACK",
    "PUBLISH",
    "SUBACK",
    "Packet",
    "connect",
    "disconnect",
    "puback",
    "publish",
    "split",
    "subscribe",
]


def connect(client_id: str, keepalive: int = 60) -> bytes:
    """§3.1: protocol "MQTT" level 4, clean session."""
    return mqtt.connect(client_id, keepalive)


def subscribe(packet_id: int, topic: str, qos: int = 1) -> bytes:
    return mqtt.subscribe(packet_id, [(topic, qos)])


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    return mqtt.publish(topic, payload, qos, pid=packet_id)


def puback(packet_id: int) -> bytes:
    return mqtt.ack(PUBACK, packet_id)


def disconnect() -> bytes:
    return mqtt.disconnect()


def split(buf: bytearray) -> list[Packet]:
    """The whole packets at the start of `buf` (removed from it); a partial one stays."""
    reader = mqtt.Reader()
    packets = reader.feed(bytes(buf))
    del buf[: len(buf) - reader.pending]
    return packets
