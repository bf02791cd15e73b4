"""Quectel's MQTT application (BG96 MQTT Application Note V1.0, chapter 3; the same commands in the
EC2x / EG25 "LTE Standard" MQTT Application Note): AT+QMTCFG, AT+QMTOPEN, AT+QMTCLOSE, AT+QMTCONN,
AT+QMTDISC, AT+QMTSUB, AT+QMTUNS, AT+QMTPUB, and the URCs +QMTRECV and +QMTSTAT.

As the note describes them (client <client_idx> 0-5, each with its own settings):

- AT+QMTCFG (§3.2.1) sets or, without its values, shows one client's setting: "version" 3 (MQTT
  3.1) or 4 (MQTT 3.1.1, the default), "pdpcid" the context (1-16, default 1, brought up by
  AT+QIACT), "keepalive" 0-3600 s (default 120; 0 none), "session" <clean_session> 0/1 (default
  1; 0: the client's session kept between its connections, `mqttclient.Kept`: what was in flight
  sent again and told as it is acknowledged), "timeout" <pkt_timeout> 1-60 s (default 5),
  <retry_times> 0-10 (default 3), <timeout_notice> 0/1 (default 0: no URC for each retransmission),
  "will" <will_fg>[,<will_qos>,<will_retain>,
  "<will_topic>","<will_msg>"], "ssl" <SSL_enable> 0/1 and <ctx_index> 0-5 (the SSL context of
  AT+QSSLCFG, `modem.virtual.cmd_qssl`: MQTT over real TLS, its records billed as they cross),
  "recv/mode" <msg_recv_mode> 0/1 (default 0: the message in the +QMTRECV URC; 1: kept in one of the
  client's five buffers, the URC `+QMTRECV: <idx>,<recv_id>`) and <msg_len_enable> 0/1 (default 0;
  1: the payload's length before it, `+QMTRECV: <idx>,<msgID>,"<topic>",<len>,"<payload>"`);
- AT+QMTOPEN=<client_idx>,"<host_name>",<port> (§3.2.2) answers OK, then `+QMTOPEN: <idx>,<result>`:
  0 opened, -1 failed to open the network (the connection refused, by the policy or the broker; a
  TLS handshake that failed: the note has no code of its own for it), 2
  the identifier occupied, 3 the PDP context not active, 4 the name not parsed (DNS), 5 a network
  disconnection error (the context ended, by the network or AT+QIDEACT, before the connection was
  up; 1, a wrong parameter, is `+CME ERROR: 50` here at once); `?` lists the
  open clients' `+QMTOPEN: <idx>,"<host>",<port>`;
- AT+QMTCLOSE=<client_idx> (§3.2.3): OK, then `+QMTCLOSE: <idx>,0` (the connection closed);
- AT+QMTCONN=<client_idx>,"<clientID>"[,"<username>"[,"<password>"]] (§3.2.4): OK, then
  `+QMTCONN: <idx>,<result>[,<ret_code>]`, <ret_code> the CONNACK's return code (0 accepted; refused:
  1 unacceptable protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user name or
  password, 5 not authorised; the client then open, not connected); `?` shows `+QMTCONN: <idx>,<state>` (1 initializing: opened, not connected; 2
  connecting; 3 connected);
- AT+QMTSUB=<idx>,<msgID>,"<topic>",<qos>[,"<topic>",<qos>...] (§3.2.6): `+QMTSUB: <idx>,<msgID>,
  <result>,<value>`, <value> the granted QoS of each topic (128: refused); AT+QMTUNS=<idx>,<msgID>,
  "<topic>"[,...] (§3.2.7): `+QMTUNS: <idx>,<msgID>,<result>`;
- AT+QMTPUB=<idx>,<msgID>,<qos>,<retain>,"<topic>" (§3.2.8): `> `, the message up to Ctrl-Z (ESC
  cancels), OK, then `+QMTPUB: <idx>,<msgID>,<result>` (QoS 0 once sent, QoS 1 on the PUBACK, QoS 2
  on the PUBCOMP); <msgID> 0 at QoS 0 only, 1-65535 else.  The later notes' length form,
  `...,"<topic>",<msglen>`, takes exactly <msglen> bytes instead, as AT+QMTPUBEX=<idx>,<msgid>,<qos>,
  <retain>,"<topic>",<length> (the LTE Standard note's fixed-length publish, §3.3.8) always does,
  answered `+QMTPUBEX: <idx>,<msgid>,<result>`;
- AT+QMTDISC=<client_idx> (§3.2.5): the DISCONNECT, the connection closed with it, `+QMTDISC: <idx>,0`,
  then `+QMTSTAT: <idx>,5` when the broker's FIN is back (§3.3: the server closed the connection
  after the client's DISCONNECT, a normal process);
- AT+QMTRECV=<client_idx>[,<recv_id>] (the LTE Standard note §3.3.9): the message kept in buffer
  <recv_id> 0-4, or in each buffer in turn, as `+QMTRECV: <idx>,<msgID>,"<topic>"[,<len>],"<payload>"`,
  the buffer freed; `?`: `+QMTRECV: <idx>,<status 0>,...,<status 4>` of each open client (1: a message
  kept).  A message finding the five buffers full is acknowledged as its QoS asks and dropped (logged).

<result> (§3.2.4-3.2.8): 0 sent and acknowledged (a QoS 0 publish: sent), 1 retransmitted (with
<timeout_notice> 1, each time, with the count as <value>; `+QMTCONN: <idx>,1` alone, its only
further field being <ret_code>), 2 failed to send (no acknowledgement after
<retry_times> retransmissions, <pkt_timeout> apart).  A message the broker sends is
`+QMTRECV: <idx>,<msgID>,"<topic>","<payload>"` (§3.3; acknowledged as its QoS asks: at QoS 2 told
once, its retransmission before the PUBREL acknowledged only, MQTT 3.1.1 §4.3.3;
its topic the broker's bytes).  Topics, client id, user name and password go as the host typed them.  +QMTSTAT
(§3.3), the client gone: `+QMTSTAT: <idx>,1` the connection closed or reset by the broker, 2 no
PINGRESP within <pkt_timeout> of a PINGREQ (the client pings after <keepalive> seconds without
sending; the connection is then closed), 3 sending the CONNECT timed out (`+QMTCONN: <idx>,2`, then
the module closes the connection), 4 receiving the CONNACK failed (the broker closes the connection
while the CONNECT waits for its CONNACK, or after a CONNACK that refused the client: `+QMTCONN:
<idx>,0,<ret_code>`, then `+QMTSTAT: <idx>,4`, as BG96 users report it), 6 the client closing as
sending kept failing (a SUBSCRIBE, UNSUBSCRIBE or PUBLISH's `...,2`, then the module closes the
connection), 7 the link not alive (the context ended under the client, by the network or
AT+QIDEACT), and 5 after AT+QMTDISC, above (the module's FIN rides on the DISCONNECT, as the field
notes measured; the broker's FIN back is the server closing: the bytes are the close's, unchanged).
A command its client is not in the state for (AT+QMTCONN before
AT+QMTOPEN's connection is up, AT+QMTSUB / AT+QMTPUB before the CONNACK, AT+QMTDISC of a client not
connected, AT+QMTCLOSE of a client not open): ERROR (`+CME ERROR: 3`); a parameter out of range:
`+CME ERROR: 50`.

The client is the module's: its packets are `modem.virtual.mqtt`'s, on a TCP connection of
`modem.virtual.sockets` to the Internet table's endpoint for <host_name>, on the client's context,
billed as every connection of the stack is (`gateway.wire.TcpWire`).  A reset, AT+CFUN=0 or
power-off ends every client silently, its buffers with it.  Not emulated: Alibaba's "aliauth".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual import cmd_qssl, mqtt, mqttclient
from modem.virtual.mqttclient import CONNECTED, CONNECTING, LOST_CLOSED, LOST_LINK, OPENED, Session
from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.sockets import FAIL_DNS, Socket
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

log = logging.getLogger(__name__)

CLIENTS = 6  # <client_idx> 0-5
BUFFERS = 5  # "recv/mode" 1: a client's buffers for messages from the broker, <recv_id> 0-4
MQTT_SID = 110  # client <idx>'s connection among the stack's sockets: MQTT_SID + idx (clear of the others)
MAX_MESSAGE = 4096  # AT+QMTPUB's <msglen> at most, and the most its Ctrl-Z form takes (more: CME 50)
OPEN_FAILED, OPEN_OCCUPIED, OPEN_PDP, OPEN_DNS, OPEN_NETWORK = -1, 2, 3, 4, 5  # +QMTOPEN <result>
SENT, RETRANSMITTED, FAILED = 0, 1, 2  # <result> of CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH
#: +QMTSTAT <err_code> (the note's §3.3): 1 the connection closed or reset by the broker
#: (`mqttclient.LOST_CLOSED`), 2 no PINGRESP (`LOST_PING`), 7 the link not alive (`LOST_LINK`: the
#: context ended under it), and the module's own: 3 sending the CONNECT timed out, 4 receiving the
#: CONNACK failed, 5 the broker closed the connection after the client's DISCONNECT (AT+QMTDISC),
#: 6 the client closed the connection as sending kept failing.
#: AT+QMTCONN? <state>: `mqttclient.OPENED`, `CONNECTING`, `CONNECTED` (1, 2, 3)
STAT_CONNECT, STAT_CONNACK, STAT_DISCONNECTED, STAT_SEND = 3, 4, 5, 6
NOT_ALLOWED = 3  # +CME ERROR: operation not allowed


@dataclass(slots=True)
class Settings:
    """One client's AT+QMTCFG settings."""

    version: int = 4
    pdpcid: int = 1
    keepalive: int = 120
    clean: int = 1
    pkt_timeout: int = 5
    retries: int = 3
    notice: int = 0
    will: mqtt.Will | None = None
    ssl: int = 0  # 1: the connection is TLS, with SSL context `sslctx` (AT+QSSLCFG)
    sslctx: int = 0
    recv_mode: int = 0  # "recv/mode" <msg_recv_mode>: 0 the message in +QMTRECV, 1 kept in a buffer
    msg_len: int = 0  # "recv/mode" <msg_len_enable>: 1 the payload's length before it


Kept = tuple[int, str, bytes]  # a message kept in a buffer: its id, topic, payload


@dataclass(slots=True)
class QmtState:
    settings: dict[int, Settings] = field(default_factory=lambda: {i: Settings() for i in range(CLIENTS)})
    clients: dict[int, Session] = field(default_factory=dict)
    #: "recv/mode" 1: each client's buffers (a message's id, topic and payload), emptied when it opens
    stored: dict[int, list[Kept | None]] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)  # clients whose CONNACK refused them (till they close)
    #: "session" 0: each client's persistent session between its connections (MQTT 3.1.1 §4.1)
    kept: dict[int, mqttclient.Kept] = field(default_factory=dict)


def _on_reset(m: VirtualModem) -> None:
    """The module resets: its clients' connections are already gone; they end."""
    mqttclient.reset(QUECTEL_MQTT.state(m).clients)


QUECTEL_MQTT = StatefulSet("quectel-mqtt", QmtState, _on_reset)
_st = QUECTEL_MQTT.state


def _client(m: VirtualModem, c: Cmd, state: int | None = None) -> Session:
    """The client the command names, in `state` (CME 3 else)."""
    client = _st(m).clients.get(c.int_at(0, None, 0, CLIENTS - 1))
    if client is None or (state is not None and client.state != state):
        raise CmeError(NOT_ALLOWED)
    return client


def _request(
    m: VirtualModem,
    client: Session,
    key: tuple[int, int],
    packet: bytes,
    urc: str,
    then: Callable[[mqtt.Packet], str],
    on_failed: Callable[[], None] | None = None,
    count: bool = True,
) -> None:
    """`mqttclient.request`, its outcome told as Quectel's URC `<urc>,<result>[,...]`: `then`'s rest
    on the acknowledgement, 1 and the count on each retransmission (<timeout_notice>; without the
    count unless `count`: +QMTCONN's third field is the CONNACK's <ret_code>), 2 on failure;
    then `on_failed`, by default the client closing its connection, `+QMTSTAT: <idx>,6`."""

    def failed() -> None:
        m.urc(f"{urc},{FAILED}")
        if on_failed is not None:
            on_failed()
        elif (current := _st(m).clients.get(client.idx)) is not None:  # (a message resumed: a new one)
            _give_up(m, current, STAT_SEND)

    answered = lambda ack: m.urc(f"{urc},{then(ack)}")  # noqa: E731
    retried = lambda n: m.urc(f"{urc},{RETRANSMITTED},{n}" if count else f"{urc},{RETRANSMITTED}")  # noqa: E731
    mqttclient.request(m, client, key, packet, answered, failed, retried)


def _give_up(m: VirtualModem, client: Session, code: int) -> None:
    """The client closes its connection itself (the module's FIN) and says why: `+QMTSTAT: <idx>,<code>`."""
    if mqttclient.live(client):
        mqttclient.drop(m, client, None)
        m.urc(f"+QMTSTAT: {client.idx},{code}")


def _message(m: VirtualModem, idx: int, pid: int, topic: str, payload: bytes) -> str:
    """A message's +QMTRECV line; with <msg_len_enable> 1, the payload's length before it."""
    length = f",{len(payload)}" if _st(m).settings[idx].msg_len else ""
    return f'+QMTRECV: {idx},{pid},"{topic}"{length},"{payload.decode("latin-1")}"'


def _deliver(m: VirtualModem) -> Callable[[Session, bytes, int, bytes], None]:
    """A message from the broker (its topic the broker's bytes): told in the URC ("recv/mode" 0), or
    kept in the first free buffer and its <recv_id> told (1)."""

    def deliver(client: Session, topic: bytes, pid: int, payload: bytes) -> None:
        typed = topic.decode("latin-1")
        if not _st(m).settings[client.idx].recv_mode:
            m.urc(_message(m, client.idx, pid, typed, payload))
            return
        stored = _st(m).stored[client.idx]
        for recv_id, slot in enumerate(stored):
            if slot is None:
                stored[recv_id] = (pid, typed, payload)
                m.urc(f"+QMTRECV: {client.idx},{recv_id}")
                return
        log.info("MQTT client %d: all %d buffers full, a message on %s dropped", client.idx, BUFFERS, typed)

    return deliver


def _lost(m: VirtualModem) -> Callable[[Session, int], None]:
    """The client ended by itself: `+QMTSTAT: <idx>,<err_code>` (the same numbers as `mqttclient`'s;
    the broker closing the connection while the CONNECT waits for its CONNACK, or after a CONNACK
    that refused the client, is 4: receiving the CONNACK failed), or, its connection still opening,
    `+QMTOPEN: <idx>,5`: the host waits for that (§3.2.2)."""

    def lost(client: Session, why: int) -> None:
        refused = _st(m).refused
        if not client.state:
            m.urc(f"+QMTOPEN: {client.idx},{OPEN_NETWORK}")
            return
        if why == LOST_CLOSED and (client.state == CONNECTING or client.idx in refused):
            why = STAT_CONNACK
        refused.discard(client.idx)
        m.urc(f"+QMTSTAT: {client.idx},{why}")

    return lost


# ----- the commands --------------------------------------------------------------------------------


def _other_form(m: VirtualModem, c: Cmd, test: str, read: Callable[[Session], str] | None = None) -> bool:
    """The test form (its line `test`) and the read form (`read`'s line for each client whose
    connection is up) answered: True; the set form: False; another: CME 50."""
    if c.op is Op.TEST:
        m.info(test)
        return True
    if c.op is Op.READ and read is not None:
        for _, client in sorted(_st(m).clients.items()):
            if client.state:
                m.info(read(client))
        return True
    if c.op is not Op.SET:
        raise CmeError(50)
    return False


CFG_TESTS = (
    '+QMTCFG: "version",(0-5),(3,4)',
    '+QMTCFG: "pdpcid",(0-5),(1-16)',
    '+QMTCFG: "will",(0-5),(0,1),(0-2),(0,1),"<will_topic>","<will_msg>"',
    '+QMTCFG: "timeout",(0-5),(1-60),(0-10),(0,1)',
    '+QMTCFG: "session",(0-5),(0,1)',
    '+QMTCFG: "keepalive",(0-5),(0-3600)',
    '+QMTCFG: "ssl",(0-5),(0,1),(0-5)',
    '+QMTCFG: "recv/mode",(0-5),(0,1),(0,1)',
)


def _shown(name: str, cfg: Settings) -> str:
    if name == "timeout":
        return f"{cfg.pkt_timeout},{cfg.retries},{cfg.notice}"
    if name == "ssl":
        return f"{cfg.ssl},{cfg.sslctx}"
    if name == "recv/mode":
        return f"{cfg.recv_mode},{cfg.msg_len}"
    if name == "will":
        will = cfg.will
        if will is None:
            return "0"
        topic = will.topic.decode("latin-1") if isinstance(will.topic, bytes) else will.topic
        return f'1,{will.qos},{int(will.retain)},"{topic}","{will.message.decode("latin-1")}"'
    values = {"version": cfg.version, "pdpcid": cfg.pdpcid, "keepalive": cfg.keepalive, "session": cfg.clean}
    return str(values[name])


@QUECTEL_MQTT.command("+QMTCFG")
def qmtcfg(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        for line in CFG_TESTS:
            m.info(line)
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    name = c.str_at(0).lower()
    cfg = _st(m).settings[c.int_at(1, None, 0, CLIENTS - 1)]
    if name not in ("version", "pdpcid", "keepalive", "session", "timeout", "will", "ssl", "recv/mode"):
        raise CmeError(50)
    if len(c.params()) == 2:
        m.info(f'+QMTCFG: "{name}",{_shown(name, cfg)}')
        return None
    if name == "version":
        version = c.int_at(2, None, 3, 4)
        cfg.version = version
    elif name == "pdpcid":
        cfg.pdpcid = c.int_at(2, None, 1, 16)
    elif name == "keepalive":
        cfg.keepalive = c.int_at(2, None, 0, 3600)
    elif name == "session":
        cfg.clean = c.int_at(2, None, 0, 1)
    elif name == "ssl":
        cfg.ssl, cfg.sslctx = c.int_at(2, None, 0, 1), c.int_at(3, cfg.sslctx, 0, 5)
    elif name == "recv/mode":
        cfg.recv_mode, cfg.msg_len = c.int_at(2, None, 0, 1), c.int_at(3, cfg.msg_len, 0, 1)
    elif name == "timeout":
        cfg.pkt_timeout, cfg.retries, cfg.notice = (
            c.int_at(2, None, 1, 60),
            c.int_at(3, cfg.retries, 0, 10),
            c.int_at(4, cfg.notice, 0, 1),
        )
    elif c.int_at(2, None, 0, 1):  # "will", on: its QoS, retain, topic and message
        qos, retain, topic = c.int_at(3, None, 0, 2), c.int_at(4, None, 0, 1), c.str_at(5)
        cfg.will = mqtt.Will(mqttclient.typed(topic), mqttclient.typed(c.str_at(6)), qos, bool(retain))
    else:
        cfg.will = None
    return None


@QUECTEL_MQTT.command("+QMTOPEN", sim=True)
def qmtopen(m: VirtualModem, c: Cmd) -> Final | None:
    test = f'+QMTOPEN: (0-{CLIENTS - 1}),"<host_name>",(1-65535)'
    if _other_form(m, c, test, lambda client: f'+QMTOPEN: {client.idx},"{client.host}",{client.port}'):
        return None
    st = _st(m)
    idx = c.int_at(0, None, 0, CLIENTS - 1)
    host = c.str_at(1)
    port = c.int_at(2, None, 1, 65535)
    if not host:
        raise CmeError(50)
    if idx in st.clients:
        m.schedule(0.0, lambda: m.urc(f"+QMTOPEN: {idx},{OPEN_OCCUPIED}"))
        return None
    cfg = st.settings[idx]
    ctx = m.net.contexts.get(cfg.pdpcid)
    if ctx is None or not ctx.active:
        m.schedule(0.0, lambda: m.urc(f"+QMTOPEN: {idx},{OPEN_PDP}"))
        return None
    holder: list[Session] = []

    def up(sock: Socket) -> None:
        client = holder[0]
        if mqttclient.live(client):
            client.state = OPENED
            m.urc(f"+QMTOPEN: {idx},0")

    def failed(sock: Socket, why: str) -> None:
        client = holder[0]
        if mqttclient.live(client):
            del st.clients[idx]
            m.urc(f"+QMTOPEN: {idx},{OPEN_DNS if why == FAIL_DNS else OPEN_FAILED}")

    def closed(sock: Socket) -> None:
        quiet = m.tcp.losing and not m.tcp.by_network  # the module's own reset: nothing to say
        why = LOST_LINK if m.tcp.losing else LOST_CLOSED  # the network ended the context; the broker closed
        mqttclient.drop(m, holder[0], None if quiet else why)

    def dropped(sock: Socket) -> None:  # the module ended the context under it (AT+QIDEACT)
        m.schedule(0.0, lambda: mqttclient.drop(m, holder[0], LOST_LINK))

    sock = m.tcp.open(
        MQTT_SID + idx,
        "TCP",
        host,
        port,
        ctx,
        on_up=up,
        on_fail=failed,
        on_rx=lambda sock, data: mqttclient.received(m, holder[0], data),
        on_closed=closed,
        tls=cmd_qssl.settings(m, cfg.sslctx) if cfg.ssl else None,
    )
    sock.on_dropped = dropped
    holder.append(Session(idx, host, port, sock, cfg, st.clients, _deliver(m), _lost(m)))
    st.clients[idx] = holder[0]
    st.stored[idx] = [None] * BUFFERS
    st.refused.discard(idx)
    return None


@QUECTEL_MQTT.command("+QMTCLOSE")
def qmtclose(m: VirtualModem, c: Cmd) -> Final | None:
    if _other_form(m, c, f"+QMTCLOSE: (0-{CLIENTS - 1})"):
        return None
    client = _client(m, c)
    mqttclient.drop(m, client, None)
    m.schedule(0.0, lambda: m.urc(f"+QMTCLOSE: {client.idx},0"))
    return None


@QUECTEL_MQTT.command("+QMTCONN")
def qmtconn(m: VirtualModem, c: Cmd) -> Final | None:
    test = f'+QMTCONN: (0-{CLIENTS - 1}),"<clientID>","<username>","<password>"'
    if _other_form(m, c, test, lambda client: f"+QMTCONN: {client.idx},{client.state}"):
        return None
    st = _st(m)
    client = _client(m, c, OPENED)
    client_id = mqttclient.typed(c.str_at(1))
    ps = c.params()
    user = mqttclient.typed(c.str_at(2)) if len(ps) > 2 else None
    password = mqttclient.typed(c.str_at(3)) if len(ps) > 3 else None
    cfg = st.settings[client.idx]
    packet = mqtt.connect(client_id, cfg.keepalive, bool(cfg.clean), user, password, cfg.will, cfg.version)
    client.state = CONNECTING
    client.kept = mqttclient.persistent(st.kept, client.idx, client_id, bool(cfg.clean))

    def accepted(ack: mqtt.Packet) -> str:
        present, code = ack.connack()
        client.state = CONNECTED if code == 0 else OPENED
        if code == 0:
            mqttclient.arm_ping(m, client)
            mqttclient.resume(m, client, present)
        else:  # MQTT 3.1.1 §3.2.2.3: the broker closes the connection next (+QMTSTAT: <idx>,4)
            st.refused.add(client.idx)
        return f"{SENT},{code}"

    def unanswered() -> None:  # no CONNACK after the retransmissions: the module closes
        _give_up(m, client, STAT_CONNECT)

    _request(
        m, client, (mqtt.CONNACK, 0), packet, f"+QMTCONN: {client.idx}", accepted, unanswered, count=False
    )
    return None


@QUECTEL_MQTT.command("+QMTDISC")
def qmtdisc(m: VirtualModem, c: Cmd) -> Final | None:
    if _other_form(m, c, f"+QMTDISC: (0-{CLIENTS - 1})"):
        return None
    client = _client(m, c, CONNECTED)
    idx, sock, boots = client.idx, client.sock, m.boots
    m.schedule(0.0, lambda: m.urc(f"+QMTDISC: {idx},0"))

    def server_closed() -> None:
        """The broker's FIN is back after the DISCONNECT: `+QMTSTAT: <idx>,5` (a normal process),
        unless the module reset or the host opened the client again meanwhile."""
        if sock.wire.closed and m.boots == boots and idx not in _st(m).clients:
            m.urc(f"+QMTSTAT: {idx},{STAT_DISCONNECTED}")

    m.tcp.send(sock, mqtt.disconnect())  # the module's FIN rides on it
    if not m.tcp.close(sock, then=server_closed) and sock.wire.closed:
        m.schedule(0.0, server_closed)  # a link without delay: the broker's FIN is back at once
    mqttclient.drop(m, client, None)
    return None


def _msg_id(c: Cmd, i: int, lo: int = 1) -> int:
    return c.int_at(i, None, lo, 65535)


@QUECTEL_MQTT.command("+QMTSUB")
def qmtsub(m: VirtualModem, c: Cmd) -> Final | None:
    if _other_form(m, c, f'+QMTSUB: (0-{CLIENTS - 1}),(1-65535),"<topic>",(0-2)'):
        return None
    ps = c.params()
    if len(ps) < 4 or len(ps) % 2:
        raise CmeError(50)
    msg_id = _msg_id(c, 1)
    topics: list[tuple[str | bytes, int]] = [
        (mqttclient.typed(c.str_at(i)), c.int_at(i + 1, None, 0, 2)) for i in range(2, len(ps), 2)
    ]
    if any(not topic for topic, _ in topics):
        raise CmeError(50)
    client = _client(m, c, CONNECTED)

    def granted(ack: mqtt.Packet) -> str:
        return ",".join([str(SENT), *map(str, ack.suback()[1])])

    urc = f"+QMTSUB: {client.idx},{msg_id}"
    _request(m, client, (mqtt.SUBACK, msg_id), mqtt.subscribe(msg_id, topics), urc, granted)
    return None


@QUECTEL_MQTT.command("+QMTUNS")
def qmtuns(m: VirtualModem, c: Cmd) -> Final | None:
    if _other_form(m, c, f'+QMTUNS: (0-{CLIENTS - 1}),(1-65535),"<topic>"'):
        return None
    ps = c.params()
    if len(ps) < 3:
        raise CmeError(50)
    msg_id = _msg_id(c, 1)
    topics: list[str | bytes] = [mqttclient.typed(c.str_at(i)) for i in range(2, len(ps))]
    if not all(topics):
        raise CmeError(50)
    client = _client(m, c, CONNECTED)
    urc = f"+QMTUNS: {client.idx},{msg_id}"
    _request(m, client, (mqtt.UNSUBACK, msg_id), mqtt.unsubscribe(msg_id, topics), urc, lambda ack: str(SENT))
    return None


@QUECTEL_MQTT.command("+QMTPUB", "+QMTPUBEX")
def qmtpub(m: VirtualModem, c: Cmd) -> Final | None:
    """AT+QMTPUB (the length optional: without it, up to Ctrl-Z) and AT+QMTPUBEX (the length needed)."""
    fixed = c.name == "+QMTPUBEX"
    test = f'{c.name}: (0-{CLIENTS - 1}),(0-65535),(0-2),(0,1),"<topic>",(1-{MAX_MESSAGE})'
    if _other_form(m, c, test):
        return None
    qos = c.int_at(2, None, 0, 2)
    msg_id = c.int_at(1, None, 0, 0) if qos == 0 else _msg_id(c, 1)
    retain = bool(c.int_at(3, None, 0, 1))
    topic = mqttclient.typed(c.str_at(4))
    length = c.int_at(5, None, 1, MAX_MESSAGE) if fixed or len(c.params()) > 5 else None
    if not topic:
        raise CmeError(50)
    client = _client(m, c, CONNECTED)
    urc = f"{c.name}: {client.idx},{msg_id}"

    def done(message: bytes) -> Final | None:
        if not mqttclient.live(client) or client.state != CONNECTED:
            raise CmeError(NOT_ALLOWED)  # the connection ended while the message was typed
        if len(message) > MAX_MESSAGE:
            raise CmeError(50)
        packet = mqtt.publish(topic, message, qos, retain, msg_id)
        if qos == 0:
            mqttclient.send(m, client, packet)
            m.schedule(0.0, lambda: m.urc(f"{urc},{SENT}"))
        else:
            ack = mqtt.PUBACK if qos == 1 else mqtt.PUBREC
            _request(m, client, (ack, msg_id), packet, urc, lambda p: str(SENT))
        return None

    return m.prompt(done, length)


@QUECTEL_MQTT.command("+QMTRECV")
def qmtrecv(m: VirtualModem, c: Cmd) -> Final | None:
    """AT+QMTRECV=<idx>[,<recv_id>]: the message kept in buffer <recv_id>, or in each buffer, in
    order, and the buffers freed; `?`: each open client's `+QMTRECV: <idx>,<status 0>,...,<status 4>`
    (1: a message kept there)."""

    def statuses(client: Session) -> str:
        stored = _st(m).stored[client.idx]
        return ",".join([f"+QMTRECV: {client.idx}", *("0" if s is None else "1" for s in stored)])

    if _other_form(m, c, f"+QMTRECV: (0-{CLIENTS - 1}),(0-{BUFFERS - 1})", statuses):
        return None
    client = _client(m, c)
    stored = _st(m).stored[client.idx]
    ids = [c.int_at(1, None, 0, BUFFERS - 1)] if len(c.params()) > 1 else range(BUFFERS)
    for recv_id in ids:
        kept = stored[recv_id]
        if kept is not None:
            stored[recv_id] = None
            m.info(_message(m, client.idx, *kept))
    return None
