"""SIMCom's app network and MQTT application of the SIM7000 series (SIM7000 Series AT Command Manual,
"AT Commands for MQTT(S) Application"; the SIM7000 Series MQTT(S) Application Note V1.02): AT+CNACT,
AT+SMCONF, AT+SMCONN, AT+SMPUB, AT+SMSUB, AT+SMUNSUB, AT+SMSTATE, AT+SMDISC, and the URCs
+SMSUB and +SMSTATE.

- AT+CNACT=<mode>[,"<apn>"]: 1 activates the app network (the PDP context 1, the one AT+CSTT /
  AT+CIICR use: a context already up on the same APN carries it as it is) and answers OK, then
  `+APP PDP: ACTIVE`; 0 deactivates it (its connections dropped, the gateway's record written):
  OK, then `+APP PDP: DEACTIVE`; 2 (auto-activation) is taken as 1.  An activation the network
  refuses (not registered, a wrong APN), a network already active, or one deactivated that is not:
  ERROR.  AT+CNACT? -> `+CNACT: <status>,"<ip>"` ("0.0.0.0" when inactive).  The network ending
  the context says `+APP PDP: DEACTIVE`.
- AT+SMCONF="<param>",<value>: "URL" ("<server>"[,<port>], port 1883 by default), "CLIENTID",
  "KEEPTIME" (0-65535 s, default 60), "CLEANSS" (0/1, default 0: the session kept between the
  client's connections, `mqttclient.Kept`: what was in flight sent again after the next
  AT+SMCONN, the command that sent it over), "USERNAME", "PASSWORD", and the
  will: "TOPIC", "MESSAGE", "QOS" (0-2), "RETAIN" (0/1); AT+SMCONF? lists them (`+SMCONF:` then one
  `<PARAM>: <value>` line each); an unknown parameter or a value out of range: ERROR.
- AT+SMCONN opens the TCP connection to the URL's server on the app network and sends the CONNECT:
  OK once the CONNACK accepts it, ERROR if the app network is down, no URL was set, a client is
  already connected, the connection fails, the broker refuses the CONNECT or does not answer it
  (input waits meanwhile, as on the module).
- AT+SMPUB="<topic>",<len>,<qos>,<retain>: `> `, exactly <len> bytes (1-1024), then OK once the
  message is sent (QoS 0) or acknowledged (QoS 1: PUBACK; QoS 2: PUBCOMP); ERROR if it is not.
- AT+SMSUB="<topic>",<qos>: OK on the SUBACK that grants it, ERROR on one that refuses it (0x80);
  AT+SMUNSUB="<topic>": OK on the UNSUBACK.  A message the broker sends: `+SMSUB: "<topic>","<message>"`,
  its topic the broker's bytes.  Topics, client id, user name, password and the will go to the broker
  as the bytes the host typed (UTF-8 typed is UTF-8 sent).
- AT+CSSLCFG="sslversion",<ctxindex 0-5>,<sslversion> sets an SSL context's version: 0 SSL 3.0
  (offered by no OpenSSL build: the handshake fails), 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2 (the default);
  "ctxindex", "ignorertctime", "sni", "protocol" and "convert" are answered OK and change nothing
  (the certificates are neither converted nor checked: SIMCom's file system is not emulated).
  AT+SMSSL=<index>[,"<ca list>","<cert name>"]: 0 plain MQTT (the default), 1-6 MQTT over real TLS
  (`modem.virtual.tls`) with SSL context <index>-1, as the manual's examples pair
  AT+CSSLCFG="sslversion",0,3 with AT+SMSSL=1; the server's certificate is not checked (as on the
  SIM800's +CIPSSL) and no client certificate is sent; AT+SMSSL? -> `+SMSSL: <index>,"<ca list>",
  "<cert name>"`.  A TLS handshake that fails fails AT+SMCONN (ERROR).  Every TLS record crosses the
  link and is billed as TCP data.
- AT+SMSTATE? -> `+SMSTATE: <state>`, 0 disconnected, 1 connected; the connection lost (the broker
  closes it, no PINGRESP to a keep-alive PINGREQ, the app network ends): `+SMSTATE: 0`.
- AT+SMDISC: the DISCONNECT, the connection closed: OK; ERROR when not connected.
- Commands before the connection (AT+SMPUB, AT+SMSUB, AT+SMUNSUB): ERROR.

The client is the module's: `modem.virtual.mqttclient`'s session (`modem.virtual.mqtt`'s MQTT
3.1.1 packets) on a TCP connection of `modem.virtual.sockets` to the Internet table's endpoint for
the URL's server, billed as every connection of the stack is.  SIMCom gives no packet timeout: an
acknowledgement (or a PINGRESP) is waited for `PKT_TIMEOUT_S`, without retransmission.  A reset
ends the client and sets AT+SMCONF, AT+SMSSL and AT+CSSLCFG back to their defaults.  Not emulated:
the certificates of MQTT over TLS (AT+CSSLCFG="convert", the CA check, a client certificate),
"SUBHEX", "ASYNCMODE".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual import mqtt, mqttclient
from modem.virtual.mqttclient import CONNECTED, CONNECTING, Session
from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, OK, Final
from modem.virtual.sockets import Socket
from modem.virtual.syntax import Cmd, Op
from modem.virtual.tls import TlsSettings

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem
    from modem.virtual.netlink import Context

APP_CID = 1  # the PDP context of the app network (AT+CNACT)
MQTT_SID = 120  # the client's connection among the stack's sockets (clear of the others)
MAX_MESSAGE = 1024  # AT+SMPUB's <len> at most
PKT_TIMEOUT_S = 30  # how long an acknowledgement or a PINGRESP is waited for
SSL_CONTEXTS = 6  # AT+CSSLCFG <ctxindex> 0-5; AT+SMSSL <index> 1-6 names context <index>-1, 0 none
#: AT+CSSLCFG="sslversion": the version offered (SSL 3.0: none this machine can offer, the handshake fails)
SSL_VERSIONS = {0: "3.0", 1: "1.0", 2: "1.1", 3: "1.2"}
SSL_NAMES = ("sslversion", "ctxindex", "ignorertctime", "sni", "protocol", "convert")
#: AT+SMCONF's text parameters and numeric ones (with their highest value), as `Settings` keeps them
TEXTS = {
    "CLIENTID": "client_id",
    "USERNAME": "user",
    "PASSWORD": "password",
    "TOPIC": "will_topic",
    "MESSAGE": "will_message",
}
NUMBERS = {
    "KEEPTIME": ("keepalive", 65535),
    "CLEANSS": ("clean", 1),
    "QOS": ("will_qos", 2),
    "RETAIN": ("will_retain", 1),
}
PARAMS = (
    "CLIENTID",
    "URL",
    "KEEPTIME",
    "USERNAME",
    "PASSWORD",
    "CLEANSS",
    "QOS",
    "TOPIC",
    "MESSAGE",
    "RETAIN",
)


@dataclass(slots=True)
class Settings:
    """AT+SMCONF's parameters; `keepalive`, `pkt_timeout`, `retries`, `notice`: `mqttclient.Timing`."""

    client_id: str = ""
    host: str = ""
    port: int = 1883
    keepalive: int = 60
    user: str = ""
    password: str = ""
    clean: int = 0
    will_qos: int = 0
    will_topic: str = ""
    will_message: str = ""
    will_retain: int = 0
    pkt_timeout: int = PKT_TIMEOUT_S
    retries: int = 0
    notice: int = 0


@dataclass(slots=True)
class SmState:
    settings: Settings = field(default_factory=Settings)
    clients: dict[int, Session] = field(default_factory=dict)  # the one client, under 0, while it lives
    kept: dict[int, mqttclient.Kept] = field(default_factory=dict)  # CLEANSS 0: the persistent session
    app: bool = False  # AT+CNACT=1 brought the app network up
    sslversion: list[int] = field(default_factory=lambda: [3] * SSL_CONTEXTS)  # AT+CSSLCFG, per context
    ssl: tuple[int, str, str] = (0, "", "")  # AT+SMSSL: <index> (0: plain), <ca list>, <cert name>
    pending: bool = False  # a command of the client's (AT+SMCONN, AT+SMSUB...) waits for its answer


def _on_reset(m: VirtualModem) -> None:
    """The module resets: the client's connection is already gone; it ends."""
    mqttclient.reset(SIMCOM_MQTT.state(m).clients)
    m.tcp.on_context_lost.pop(SIMCOM_MQTT.name, None)


SIMCOM_MQTT = StatefulSet("simcom-mqtt", SmState, _on_reset)
_st = SIMCOM_MQTT.state


def _wait(m: VirtualModem) -> Final:
    """Leave the running command open until `_answer`."""
    _st(m).pending = True
    return m.wait()


def _answer(m: VirtualModem, final: Final) -> None:
    """Finish the command `_wait` left open, if one is."""
    st = _st(m)
    if st.pending:
        st.pending = False
        m.complete(final)


def _connected(m: VirtualModem) -> Session | None:
    client = _st(m).clients.get(0)
    return client if client is not None and client.state == CONNECTED else None


# ----- the app network -----------------------------------------------------------------------------


def _app_up(m: VirtualModem) -> bool:
    """The app network is active (AT+CNACT=1) and its context still is (a context ended under it ended it)."""
    st = _st(m)
    if st.app and not m.net.context(APP_CID).active:
        st.app = False
    return st.app


@SIMCOM_MQTT.command("+CNACT", sim=True)
def cnact(m: VirtualModem, c: Cmd) -> Final | None:
    ctx = m.net.context(APP_CID)
    if c.op is Op.READ:
        up = _app_up(m)
        m.info(f'+CNACT: {int(up)},"{ctx.ip if up else "0.0.0.0"}"')
        return None
    if c.op is Op.TEST:
        m.info('+CNACT: (0-2),"<apn>"')
        return None
    if c.op is not Op.SET:
        return ERROR
    st = _st(m)
    mode = c.int_at(0, None, 0, 2)
    if mode == 0:
        if not _app_up(m):
            return ERROR
        m.tcp.close_context(ctx)
        m.net.deactivate(ctx)
        st.app = False
        m.schedule(0.0, lambda: m.urc("+APP PDP: DEACTIVE"))
        return None
    apn = c.str_at(1) if len(c.params()) > 1 else ctx.apn
    if _app_up(m):
        return ERROR
    if ctx.active:
        if ctx.apn != apn:
            return ERROR  # the context is up on another APN
    else:
        ctx.apn = apn
        if m.net.activate(ctx):
            return ERROR
    st.app = True
    m.tcp.on_context_lost[SIMCOM_MQTT.name] = lambda lost: _app_lost(m, lost)
    m.schedule(0.0, lambda: m.urc("+APP PDP: ACTIVE"))
    return None


def _app_lost(m: VirtualModem, ctx: Context) -> None:
    """The network ended the app network's context (coverage lost, a detach)."""
    if ctx.cid == APP_CID and _st(m).app:
        _st(m).app = False
        m.urc("+APP PDP: DEACTIVE")


# ----- the configuration ---------------------------------------------------------------------------


def _shown(cfg: Settings) -> list[str]:
    return [
        f'CLIENTID: "{cfg.client_id}"',
        f'URL: "{cfg.host}",{cfg.port}' if cfg.host else 'URL: ""',
        f"KEEPTIME: {cfg.keepalive}",
        f'USERNAME: "{cfg.user}"',
        f'PASSWORD: "{cfg.password}"',
        f"CLEANSS: {cfg.clean}",
        f"QOS: {cfg.will_qos}",
        f'TOPIC: "{cfg.will_topic}"',
        f'MESSAGE: "{cfg.will_message}"',
        f"RETAIN: {cfg.will_retain}",
    ]


@SIMCOM_MQTT.command("+SMCONF")
def smconf(m: VirtualModem, c: Cmd) -> Final | None:
    cfg = _st(m).settings
    if c.op is Op.READ:
        m.info("+SMCONF: ")
        for line in _shown(cfg):
            m.info(line)
        return None
    if c.op is Op.TEST:
        m.info("+SMCONF: " + ",".join(f'"{p}"' for p in PARAMS))
        return None
    if c.op is not Op.SET or len(c.params()) < 2:
        return ERROR
    name = c.str_at(0).upper()
    text = c.str_at(1)
    if name == "URL":
        port = c.str_at(2).strip() if len(c.params()) > 2 else "1883"
        if not text or not port.isdigit() or not 1 <= int(port) <= 65535:
            return ERROR
        cfg.host, cfg.port = text, int(port)
    elif name in TEXTS:
        setattr(cfg, TEXTS[name], text)
    elif name in NUMBERS:
        attr, hi = NUMBERS[name]
        if not text.strip().isdigit() or int(text) > hi:
            return ERROR
        setattr(cfg, attr, int(text))
    else:
        return ERROR
    return None


# ----- TLS -----------------------------------------------------------------------------------------


@SIMCOM_MQTT.command("+CSSLCFG")
def csslcfg(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f'+CSSLCFG: "sslversion",(0-{SSL_CONTEXTS - 1}),(0-3)')
        return None
    if c.op is not Op.SET or len(c.params()) < 2:
        return ERROR
    name = c.str_at(0).lower()
    if name not in SSL_NAMES:
        return ERROR
    if name == "sslversion":
        ctx, version = c.int_at(1, None, 0, SSL_CONTEXTS - 1), c.int_at(2, None, 0, 3)
        _st(m).sslversion[ctx] = version
    return None


@SIMCOM_MQTT.command("+SMSSL")
def smssl(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.READ:
        index, ca, cert = st.ssl
        m.info(f'+SMSSL: {index},"{ca}","{cert}"')
    elif c.op is Op.TEST:
        m.info(f'+SMSSL: (0-{SSL_CONTEXTS}),"<ca list>","<cert name>"')
    elif c.op is Op.SET and len(c.params()) <= 3:
        st.ssl = (c.int_at(0, None, 0, SSL_CONTEXTS), c.str_at(1, ""), c.str_at(2, ""))
    else:
        return ERROR
    return None


def _tls(m: VirtualModem) -> TlsSettings | None:
    """AT+SMSSL's TLS client, with its SSL context's version; None: plain MQTT."""
    st = _st(m)
    index = st.ssl[0]
    if not index:
        return None
    version = SSL_VERSIONS[st.sslversion[index - 1]]
    return TlsSettings(min_version=version, max_version=version)


# ----- the client ----------------------------------------------------------------------------------


def _message(m: VirtualModem) -> Callable[[Session, bytes, int, bytes], None]:
    """The broker's message: `+SMSUB: "<topic>","<message>"`, the topic's bytes as the broker sent them."""
    return lambda client, topic, pid, payload: m.urc(
        f'+SMSUB: "{topic.decode("latin-1")}","{payload.decode("latin-1")}"'
    )


def _lost(m: VirtualModem) -> Callable[[Session, int], None]:
    def lost(client: Session, why: int) -> None:
        _answer(m, ERROR)  # a command waiting on the connection fails with it
        m.urc("+SMSTATE: 0")

    return lost


@SIMCOM_MQTT.command("+SMCONN", sim=True)
def smconn(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    if c.op is not Op.EXEC:
        return ERROR
    st = _st(m)
    cfg = st.settings
    ctx = m.net.context(APP_CID)
    if not _app_up(m) or not cfg.host or st.clients:
        return ERROR
    holder: list[Session] = []

    def up(sock: Socket) -> None:
        client = holder[0]
        if not mqttclient.live(client):
            return
        client.state = CONNECTING
        will = None
        typed = mqttclient.typed  # the strings as the host typed their bytes
        if cfg.will_topic:
            will = mqtt.Will(
                typed(cfg.will_topic), typed(cfg.will_message), cfg.will_qos, bool(cfg.will_retain)
            )
        user = typed(cfg.user) if cfg.user else None
        password = typed(cfg.password) if cfg.password else None
        client_id = typed(cfg.client_id)
        packet = mqtt.connect(client_id, cfg.keepalive, bool(cfg.clean), user, password, will)
        client.kept = mqttclient.persistent(st.kept, 0, client_id, bool(cfg.clean))

        def accepted(ack: mqtt.Packet) -> None:
            present, code = ack.connack()
            if code:
                mqttclient.drop(m, client, None)
                _answer(m, ERROR)
                return
            client.state = CONNECTED
            mqttclient.arm_ping(m, client)
            _answer(m, OK)
            mqttclient.resume(m, client, present)  # (what the command before it waited for: told no more)

        def unanswered() -> None:
            mqttclient.drop(m, client, None)
            _answer(m, ERROR)

        mqttclient.request(m, client, (mqtt.CONNACK, 0), packet, accepted, unanswered)

    def failed(sock: Socket, why: str) -> None:
        if mqttclient.live(holder[0]):
            del st.clients[0]
            _answer(m, ERROR)

    def closed(sock: Socket) -> None:
        client = holder[0]
        connecting = mqttclient.live(client) and client.state != CONNECTED
        quiet = m.tcp.losing and not m.tcp.by_network  # the module's own reset: nothing to say
        mqttclient.drop(m, client, None if quiet or connecting else mqttclient.LOST_CLOSED)
        _answer(m, ERROR)

    def dropped(sock: Socket) -> None:  # the module ended the app network under it (AT+CNACT=0)
        m.schedule(0.0, lambda: mqttclient.drop(m, holder[0], mqttclient.LOST_CLOSED))

    sock = m.tcp.open(
        MQTT_SID,
        "TCP",
        cfg.host,
        cfg.port,
        ctx,
        on_up=up,
        on_fail=failed,
        on_rx=lambda sock, data: mqttclient.received(m, holder[0], data),
        on_closed=closed,
        tls=_tls(m),
    )
    sock.on_dropped = dropped
    holder.append(Session(0, cfg.host, cfg.port, sock, cfg, st.clients, _message(m), _lost(m)))
    st.clients[0] = holder[0]
    return _wait(m)


def _acked(
    m: VirtualModem, client: Session, key: tuple[int, int], packet: bytes, ok: Callable[[mqtt.Packet], bool]
) -> Final:
    """Send a request and leave the command open: OK when its acknowledgement satisfies `ok`, ERROR
    when it does not, does not come, or the connection ends first."""

    def answered(ack: mqtt.Packet) -> None:
        if mqttclient.live(client):  # the connection it was sent on: a resumed one's command is over
            _answer(m, OK if ok(ack) else ERROR)

    def failed() -> None:
        if mqttclient.live(client):
            _answer(m, ERROR)

    mqttclient.request(m, client, key, packet, answered, failed)
    return _wait(m)


@SIMCOM_MQTT.command("+SMSTATE", pure=(Op.READ, Op.TEST))
def smstate(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.READ:
        m.info(f"+SMSTATE: {int(_connected(m) is not None)}")
    elif c.op is Op.TEST:
        m.info("+SMSTATE: (0,1)")
    else:
        return ERROR
    return None


@SIMCOM_MQTT.command("+SMPUB")
def smpub(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info(f"+SMPUB: 128,(1-{MAX_MESSAGE}),(0-2),(0,1)")
        return None
    if c.op is not Op.SET or len(c.params()) != 4:
        return ERROR
    topic = mqttclient.typed(c.str_at(0))
    length = c.str_at(1).strip()
    qos, retain = c.int_at(2, None, 0, 2), c.int_at(3, None, 0, 1)
    client = _connected(m)
    if not topic or not length.isdigit() or not 1 <= int(length) <= MAX_MESSAGE or client is None:
        return ERROR
    pid = 0 if qos == 0 else _next_pid(client)

    def done(message: bytes) -> Final | None:
        if not mqttclient.live(client) or client.state != CONNECTED:
            return ERROR  # the connection ended while the message was typed
        packet = mqtt.publish(topic, message, qos, bool(retain), pid)
        if qos == 0:
            mqttclient.send(m, client, packet)
            return None
        ack = mqtt.PUBACK if qos == 1 else mqtt.PUBREC
        return _acked(m, client, (ack, pid), packet, lambda p: True)

    return m.prompt(done, int(length))


def _next_pid(client: Session) -> int:
    """A packet identifier none of the client's requests waits with (1-65535)."""
    used = {pid for _, pid in client.waiting}
    return next(pid for pid in range(1, 65536) if pid not in used)


@SIMCOM_MQTT.command("+SMSUB")
def smsub(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+SMSUB: 128,(0-2)")
        return None
    if c.op is not Op.SET or len(c.params()) != 2:
        return ERROR
    topic, qos = mqttclient.typed(c.str_at(0)), c.int_at(1, None, 0, 2)
    client = _connected(m)
    if not topic or client is None:
        return ERROR
    pid = _next_pid(client)
    packet = mqtt.subscribe(pid, [(topic, qos)])
    return _acked(m, client, (mqtt.SUBACK, pid), packet, lambda ack: 0x80 not in ack.suback()[1])


@SIMCOM_MQTT.command("+SMUNSUB")
def smunsub(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        m.info("+SMUNSUB: 128")
        return None
    if c.op is not Op.SET or len(c.params()) != 1:
        return ERROR
    topic = mqttclient.typed(c.str_at(0))
    client = _connected(m)
    if not topic or client is None:
        return ERROR
    pid = _next_pid(client)
    return _acked(m, client, (mqtt.UNSUBACK, pid), mqtt.unsubscribe(pid, [topic]), lambda ack: True)


@SIMCOM_MQTT.command("+SMDISC")
def smdisc(m: VirtualModem, c: Cmd) -> Final | None:
    if c.op is Op.TEST:
        return None
    client = _connected(m)
    if c.op is not Op.EXEC or client is None:
        return ERROR
    m.tcp.send(client.sock, mqtt.disconnect())  # the module's FIN rides on it
    mqttclient.drop(m, client, None)
    return None
