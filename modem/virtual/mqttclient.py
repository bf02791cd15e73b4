"""A module's MQTT client session on its TCP connection: what every vendor's MQTT application
(Quectel's AT+QMT*, `modem.virtual.cmd_qmqtt`; SIMCom's AT+SM*, `modem.virtual.cmd_smqtt`) does
alike under its own commands.

A `Session` is one client on one connection of `modem.virtual.sockets` (billed as every connection
of the stack is).  Its packets are `modem.virtual.mqtt`'s; this module sends them and reads the
broker's (MQTT 3.1.1): a request (CONNECT, SUBSCRIBE, UNSUBSCRIBE, a QoS 1 / 2 PUBLISH) waits for
its acknowledgement and is sent again after <pkt_timeout> up to <retries> times (a PUBLISH with
DUP, §3.3.1.1), then fails; a QoS 2 publish goes on with PUBREL on the PUBREC; the broker's
PUBLISH is acknowledged as its QoS asks (PUBACK, PUBREC then PUBCOMP on the PUBREL) and handed to
the vendor's `on_message` with its topic's bytes as the broker sent them (at QoS 2 once: its
retransmission before the PUBREL, the same packet id, is acknowledged, not handed on, §4.3.3);
the keep-alive (§3.1.2.10) sends a PINGREQ after <keepalive> seconds without sending and ends
the session when no PINGRESP comes within <pkt_timeout>.  A persistent session (clean session 0,
§3.1.2.4) outlives its connection in the vendor's `Kept`: the QoS 1 and 2 messages sent and not yet
acknowledged (their PUBLISH, or the PUBREL of a QoS 2 one past its PUBREC) and the ids of the QoS 2
messages received whose PUBREL has not come; on the next connection's CONNACK with session present,
§4.4: each is sent again with its packet id (a PUBLISH with DUP, unless the connection ended
before it ever left: then it is its first sending) and waited for as before, and the
broker's PUBLISH sent again with a kept id is acknowledged, not handed on twice.  How each outcome
reads on the AT interface (URCs, final results) is the vendor module's, through the callbacks it
gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from modem.virtual import mqtt
from modem.virtual.sockets import Socket

if TYPE_CHECKING:
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

OPENED, CONNECTING, CONNECTED = 1, 2, 3  # a session's state once its connection is up
#: why a session ended by itself: the connection closed by the other end; no PINGRESP; the bearer
#: under it gone (the PDP context ended); numbered as Quectel's +QMTSTAT <err_code> 1, 2 and 7
LOST_CLOSED, LOST_PING, LOST_LINK = 1, 2, 7


class Timing(Protocol):
    """The settings a session reads when it sends (a vendor's configuration object has them)."""

    keepalive: int  # seconds; 0: no keep-alive
    pkt_timeout: int  # seconds an acknowledgement (or a PINGRESP) is waited for
    retries: int  # retransmissions before a request fails
    notice: int  # 1: the vendor is told of each retransmission


@dataclass(slots=True, eq=False)
class Waiting:
    """A packet sent that waits for its acknowledgement: sent again after <pkt_timeout>."""

    packet: bytes
    answered: Callable[[mqtt.Packet], None]  # the acknowledgement came
    failed: Callable[[], None]  # none came after the retransmissions
    retried: Callable[[int], None] | None = None  # each retransmission, with its count (`notice`)
    timer: Timer | None = None
    tries: int = 0
    sent: bool = False  # it left at least once: a PUBLISH sent from now on is a re-delivery (DUP)


@dataclass(slots=True, eq=False)
class Kept:
    """A persistent session's state between its connections (MQTT 3.1.1 §4.1): the messages sent
    that wait for their acknowledgement (by the kind and id of what they wait for: PUBACK, PUBREC,
    PUBCOMP), and the ids of the QoS 2 messages received and handed on whose PUBREL has not come."""

    client_id: bytes  # the session's: another client id is another session
    inflight: dict[tuple[int, int], Waiting] = field(default_factory=dict)
    released: set[int] = field(default_factory=set)


def persistent(kept: dict[int, Kept], idx: int, client_id: bytes, clean: bool) -> Kept | None:
    """The state client `idx` connecting as `client_id` carries, kept in the vendor's `kept`: its
    persistent session's (made if it had none, or had another client id's); none for a clean
    session, which also ends the one kept (§3.1.2.4)."""
    if clean:
        kept.pop(idx, None)
        return None
    mine = kept.get(idx)
    if mine is None or mine.client_id != client_id:
        mine = kept[idx] = Kept(client_id)
    return mine


_INFLIGHT = (mqtt.PUBACK, mqtt.PUBREC, mqtt.PUBCOMP)  # what a kept message waits for


@dataclass(slots=True, eq=False)
class Session:
    """One client: its connection, where it is listed while it lives, and the vendor's callbacks."""

    idx: int
    host: str
    port: int
    sock: Socket
    timing: Timing
    sessions: dict[int, Session]  # the vendor's live sessions, by `idx`
    on_message: Callable[[Session, bytes, int, bytes], None]  # the broker's PUBLISH: topic, id, payload
    on_lost: Callable[[Session, int], None]  # the session ended by itself: LOST_CLOSED, LOST_PING, LOST_LINK
    state: int = 0  # 0 while the connection opens, then OPENED, CONNECTING, CONNECTED
    reader: mqtt.Reader = field(default_factory=mqtt.Reader)
    waiting: dict[tuple[int, int], Waiting] = field(default_factory=dict)  # (packet kind, id)
    ping: Timer | None = None
    pong: Timer | None = None  # a PINGREQ's wait for its PINGRESP
    released: set[int] = field(default_factory=set)  # QoS 2 messages handed on, their PUBREL not yet come
    kept: Kept | None = None  # a persistent session's state, kept when the connection ends (`resume`)


def typed(text: str) -> bytes:
    """A string of a command as its bytes came from the host (the line is read as Latin-1): a module
    passes a topic, client id, user name or password on as typed, UTF-8 or not."""
    return text.encode("latin-1")


def stop_timers(session: Session) -> None:
    for timer in [session.ping, session.pong, *(w.timer for w in session.waiting.values())]:
        if timer is not None:
            timer.cancel()
    session.ping = session.pong = None


def reset(sessions: dict[int, Session]) -> None:
    """The module resets (the sessions' connections already gone): their timers stop and none is
    live any more, so what they had scheduled (a packet about to leave) does nothing."""
    for session in sessions.values():
        stop_timers(session)
    sessions.clear()


def live(session: Session) -> bool:
    return session.sessions.get(session.idx) is session


def drop(m: VirtualModem, session: Session, lost: int | None) -> None:
    """The session is gone (its connection closed); `lost`: why, to tell the vendor (None: quietly)."""
    if not live(session):
        return
    stop_timers(session)
    del session.sessions[session.idx]
    if session.kept is not None and session.state == CONNECTED:
        _keep(session, session.kept)
    if m.tcp.sockets.get(session.sock.sid) is session.sock:
        m.tcp.close(session.sock)
    if lost is not None:
        session.on_lost(session, lost)


def _keep(session: Session, kept: Kept) -> None:
    """The connection of a persistent session ends: what it has in flight waits for the next one."""
    kept.inflight = {key: w for key, w in session.waiting.items() if key[0] in _INFLIGHT}
    for waiting in kept.inflight.values():
        waiting.timer, waiting.tries = None, 0
    kept.released = set(session.released)


def resume(m: VirtualModem, session: Session, present: bool) -> None:
    """The CONNACK accepted `session`: with a persistent session the broker still has (`present`),
    what was in flight is sent again, its packet ids as they were (§4.4: a PUBLISH with DUP, a
    PUBREL as it was) and waited for as before, and the QoS 2 ids received are known again; a
    broker without the session (or a clean session) starts from nothing (§3.2.2.2)."""
    kept = session.kept
    if kept is None:
        return
    inflight, released = kept.inflight, kept.released
    kept.inflight, kept.released = {}, set()
    if not present:
        if inflight or released:
            log.info(
                "MQTT client %d: the broker has no session: %d in flight dropped", session.idx, len(inflight)
            )
        return
    session.released |= released
    for key, waiting in inflight.items():
        session.waiting[key] = waiting
        send(m, session, _again(waiting.packet) if waiting.sent else waiting.packet)
        waiting.sent = True
        _time_out(m, session, key, waiting)


def _again(packet: bytes) -> bytes:
    """A packet sent again: a PUBLISH with DUP (§3.3.1.1: only a re-delivery of one that was sent; a
    message the connection ended before it left goes without), anything else as it was."""
    return bytes([packet[0] | 0x08]) + packet[1:] if packet[0] >> 4 == mqtt.PUBLISH else packet


def send(m: VirtualModem, session: Session, packet: bytes) -> None:
    """A packet leaves; the keep-alive runs from it (MQTT 3.1.1 §3.1.2.10)."""
    m.tcp.send(session.sock, packet)
    if session.state == CONNECTED:
        arm_ping(m, session)


def arm_ping(m: VirtualModem, session: Session) -> None:
    if session.ping is not None:
        session.ping.cancel()
        session.ping = None
    keepalive = session.timing.keepalive
    if keepalive:
        session.ping = m.schedule(float(keepalive), lambda: _ping(m, session))


def _ping(m: VirtualModem, session: Session) -> None:
    session.ping = None
    if not live(session) or session.state != CONNECTED or session.pong is not None:
        return
    timeout = float(session.timing.pkt_timeout)
    session.pong = m.schedule(timeout, lambda: drop(m, session, LOST_PING))  # before: the answer may be quick
    send(m, session, mqtt.pingreq())


def request(
    m: VirtualModem,
    session: Session,
    key: tuple[int, int],
    packet: bytes,
    answered: Callable[[mqtt.Packet], None],
    failed: Callable[[], None],
    retried: Callable[[int], None] | None = None,
) -> None:
    """Send `packet` and wait for the acknowledgement of kind `key[0]` (and id `key[1]`).  It leaves
    once the command that sends it has answered (its OK, or its prompt's input): what answers it
    never comes before that."""
    waiting = Waiting(packet, answered, failed, retried)
    session.waiting[key] = waiting

    def leave() -> None:
        if live(session) and session.waiting.get(key) is waiting:
            send(m, session, packet)
            waiting.sent = True
            _time_out(m, session, key, waiting)

    m.schedule(0.0, leave)


def _time_out(m: VirtualModem, session: Session, key: tuple[int, int], waiting: Waiting) -> None:
    timing = session.timing

    def expired() -> None:
        if not live(session) or session.waiting.get(key) is not waiting:
            return
        if waiting.tries >= timing.retries:
            del session.waiting[key]
            waiting.failed()
            return
        waiting.tries += 1
        send(m, session, _again(waiting.packet))
        if timing.notice and waiting.retried is not None:
            waiting.retried(waiting.tries)
        _time_out(m, session, key, waiting)

    waiting.timer = m.schedule(float(timing.pkt_timeout), expired)


def _answered(session: Session, key: tuple[int, int], packet: mqtt.Packet) -> None:
    waiting = session.waiting.pop(key, None)
    if waiting is None:
        return
    if waiting.timer is not None:
        waiting.timer.cancel()
    waiting.answered(packet)


def received(m: VirtualModem, session: Session, data: bytes) -> None:
    """Bytes from the broker on the session's connection."""
    if not live(session):
        return
    try:
        for packet in session.reader.feed(data):
            _handle(m, session, packet)
    except mqtt.MqttError as exc:
        log.info("MQTT client %d: %s", session.idx, exc)
        drop(m, session, LOST_CLOSED)


def _handle(m: VirtualModem, session: Session, packet: mqtt.Packet) -> None:
    kind = packet.kind
    if kind == mqtt.CONNACK:
        _answered(session, (mqtt.CONNACK, 0), packet)
    elif kind == mqtt.PUBLISH:
        topic, qos, pid, _, payload = packet.published()
        if qos == 1:
            send(m, session, mqtt.ack(mqtt.PUBACK, pid))
        elif qos == 2:  # MQTT 3.1.1 §4.3.3: PUBREC; the same packet id again before the PUBREL is
            send(m, session, mqtt.ack(mqtt.PUBREC, pid))  # the same message: acknowledged, not handed on
            if pid in session.released:
                return
            session.released.add(pid)
        raw = topic.encode("utf-8", "surrogateescape")  # the broker's bytes, UTF-8 or not
        session.on_message(session, raw, pid, payload)
    elif kind == mqtt.PUBREL:  # §4.3.3: the packet id is free again; PUBCOMP
        pid = packet.pid()
        session.released.discard(pid)
        send(m, session, mqtt.ack(mqtt.PUBCOMP, pid))
    elif kind == mqtt.PUBREC:  # QoS 2, our publish: PUBREL, then wait for the PUBCOMP
        pid = packet.pid()
        waiting = session.waiting.pop((mqtt.PUBREC, pid), None)
        if waiting is not None:
            if waiting.timer is not None:
                waiting.timer.cancel()
            pubrel = mqtt.ack(mqtt.PUBREL, pid)
            request(
                m, session, (mqtt.PUBCOMP, pid), pubrel, waiting.answered, waiting.failed, waiting.retried
            )
    elif kind in (mqtt.PUBACK, mqtt.PUBCOMP, mqtt.SUBACK, mqtt.UNSUBACK):
        _answered(session, (kind, packet.pid()), packet)
    elif kind == mqtt.PINGRESP and session.pong is not None:
        session.pong.cancel()
        session.pong = None
    else:
        log.info("MQTT client %d: packet type %d from the broker ignored", session.idx, kind)
