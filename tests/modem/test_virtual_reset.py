"""A module reset in the middle of an open socket: the TCP/IP stack starts again (no socket, no
context, its state machine at its start), the context's record is written once, and a new
connection works."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounting.records import ClosingCause, UsageType
from modem.virtual.cmd_smqtt import MQTT_SID as SM_SID
from modem.virtual.core import VirtualModem
from modem.virtual.faults import make_faults
from tests.modem.test_virtual_qmqtt import PingedBroker
from tests.modem.test_virtual_sockets import Sink, at, later, setup, typed
from tests.modem.test_virtual_wire import TABLE as WIRE_TABLE

BOOT_S = 10.0  # more than any profile's initialisation and network search


def _cfun_reset(m: VirtualModem) -> None:
    assert at(m, "AT+CFUN=1,1").startswith(b"\r\nOK\r\n")


def _cfun_off_on(m: VirtualModem) -> None:
    assert at(m, "AT+CFUN=0").endswith(b"\r\nOK\r\n")  # after what the sockets' ends say
    assert at(m, "AT+CFUN=1").endswith(b"\r\nOK\r\n")


def _power_cycle(m: VirtualModem) -> None:
    m.power_off(m.profile.power_down_urcs)  # the power key, as the console's `power TARGET off`
    m.restart()  # and on again


RESETS: dict[str, Callable[[VirtualModem], None]] = {
    "cfun-1-1": _cfun_reset,
    "cfun-0-then-1": _cfun_off_on,
    "power-cycle": _power_cycle,
}


def _reset(m: VirtualModem, how: str) -> None:
    RESETS[how](m)
    later(m, BOOT_S)  # booted and registered again
    assert m.net.registered
    at(m, "ATE0")


def _data_records(sink: Sink, session: str) -> list[tuple[int | None, int | None]]:
    return [(r.sequence, r.cause) for r in sink.records if r.type == UsageType.DATA and r.session == session]


@pytest.mark.parametrize("how", sorted(RESETS))
def test_simcom_stack_starts_again_after_a_reset(how: str) -> None:
    m, sink = setup("simcom-sim800")
    assert at(m, 'AT+CIPSTART="TCP","echo.example",7') == b"\r\nOK\r\n"
    assert later(m, 1.0) == b"\r\nCONNECT OK\r\n"
    assert typed(m, "AT+CIPSEND=5", b"hello").endswith(b"SEND OK\r\n")
    assert later(m, 1.0) == b"hello"  # the echo
    session = m.net.context(1).session_id
    assert session is not None and _data_records(sink, session) == []

    _reset(m, how)

    assert m.tcp.sockets == {} and not m.net.context(1).active
    assert at(m, "AT+CIPSTATUS") == b"\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"
    assert at(m, "AT+CSTT?") == b'\r\n+CSTT: "","",""\r\n\r\nOK\r\n'
    assert at(m, "AT+CIPMUX=1") == b"\r\nOK\r\n"  # allowed in IP INITIAL only
    assert _data_records(sink, session) == [(1, int(ClosingCause.NORMAL))]

    # A new connection, on connection number 0 again.
    assert at(m, 'AT+CSTT="orange.m2m.spec";+CIICR') == b"\r\nOK\r\n"
    assert at(m, "AT+CIFSR").startswith(b"\r\n")
    assert at(m, 'AT+CIPSTART=0,"TCP","echo.example",7') == b"\r\nOK\r\n"
    assert later(m, 1.0) == b"\r\n0, CONNECT OK\r\n"
    assert typed(m, "AT+CIPSEND=0,5", b"again").endswith(b"0, SEND OK\r\n")
    assert later(m, 1.0) == b"\r\n+RECEIVE,0,5:\r\nagain"
    new = m.net.context(1).session_id
    assert new is not None and new != session
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    assert _data_records(sink, session) == [(1, int(ClosingCause.NORMAL))]  # written once
    assert len(_data_records(sink, new)) == 1


@pytest.mark.parametrize("how", sorted(RESETS))
@pytest.mark.parametrize("profile", ["quectel-bg96", "quectel-eg25"])
def test_quectel_stack_frees_every_connect_id_after_a_reset(profile: str, how: str) -> None:
    m, sink = setup(profile)
    for sid in (0, 1):
        assert at(m, f'AT+QIOPEN=1,{sid},"TCP","echo.example",7,0,0') == b"\r\nOK\r\n"
        assert later(m, 1.0) == f"\r\n+QIOPEN: {sid},0\r\n".encode()
    m.tcp.remote_closed(m.tcp.sockets[1])  # the server closes connection 1: it is "closing"
    assert later(m, 1.0) == b'\r\n+QIURC: "closed",1\r\n'
    assert b'+QISTATE: 1,"TCP","echo.example",7,0,4' in at(m, "AT+QISTATE")
    session = m.net.context(1).session_id
    assert session is not None

    _reset(m, how)

    assert m.tcp.sockets == {} and not m.net.context(1).active
    assert at(m, "AT+QISTATE") == b"\r\nOK\r\n"  # no connect ID taken, "closing" ones neither
    assert at(m, "AT+QIACT?") == b"\r\nOK\r\n"
    assert _data_records(sink, session) == [(1, int(ClosingCause.NORMAL))]

    assert at(m, "AT+QIACT=1") == b"\r\nOK\r\n"
    for sid in (1, 0):  # the old "closing" ID first
        assert at(m, f'AT+QIOPEN=1,{sid},"TCP","echo.example",7,0,1') == b"\r\nOK\r\n"
        assert later(m, 1.0) == f"\r\n+QIOPEN: {sid},0\r\n".encode()
    assert typed(m, "AT+QISEND=1,5", b"again").endswith(b"SEND OK\r\n")
    assert later(m, 1.0) == b'\r\n+QIURC: "recv",1,5\r\nagain\r\n'
    new = m.net.context(1).session_id
    assert new is not None and new != session
    assert at(m, "AT+QIDEACT=1") == b"\r\nOK\r\n"
    assert _data_records(sink, session) == [(1, int(ClosingCause.NORMAL))]  # written once
    assert len(_data_records(sink, new)) == 1


@pytest.mark.parametrize("how", sorted(RESETS))
def test_simcom_bearers_are_closed_and_back_to_defaults_after_a_reset(how: str) -> None:
    m, sink = setup("simcom-sim800")
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    assert at(m, 'AT+SAPBR=3,1,"APN","orange.m2m.spec";+SAPBR=1,1') == b"\r\nOK\r\n"
    session = m.net.context(1).session_id
    assert session is not None

    _reset(m, how)

    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert b"APN:\r\n" in at(m, "AT+SAPBR=4,1")
    # The context opened again by the TCP/IP stack does not bring the old bearer back with it.
    assert at(m, 'AT+CSTT="orange.m2m.spec";+CIICR') == b"\r\nOK\r\n"
    assert at(m, "AT+SAPBR=2,1") == b'\r\n+SAPBR: 1,3,"0.0.0.0"\r\n\r\nOK\r\n'
    assert at(m, "AT+CIPSHUT") == b"\r\nSHUT OK\r\n"
    assert _data_records(sink, session) == [(1, int(ClosingCause.NORMAL))]


# ----- a command waiting for the network when the module resets ---------------------------------------


def _console_reset(m: VirtualModem) -> None:
    m.restart()  # what the console's `power TARGET reset` runs


def _console_off_on(m: VirtualModem) -> None:
    m.power_off(m.profile.power_down_urcs)  # `power TARGET off`, then `on`
    m.restart()


def _smconn(m: VirtualModem) -> bytes:
    """AT+SMCONN to the echo: connected at TCP, its CONNECT never answered by a CONNACK."""
    assert at(m, 'AT+CNACT=1,"orange.m2m.spec"') == b"\r\nOK\r\n"
    assert at(m, 'AT+SMCONF="URL","echo.example",1883') == b"\r\n+APP PDP: ACTIVE\r\n\r\nOK\r\n"
    return at(m, "AT+SMCONN") + later(m, 1.0)


def _smsub(m: VirtualModem) -> bytes:
    """AT+SMSUB to a broker that accepts the CONNECT and never answers the SUBSCRIBE."""
    m.tcp.io = PingedBroker(m)
    assert at(m, 'AT+CNACT=1,"orange.m2m.spec"') == b"\r\nOK\r\n"
    assert at(m, 'AT+SMCONF="URL","broker.example.com",1883') == b"\r\n+APP PDP: ACTIVE\r\n\r\nOK\r\n"
    assert at(m, "AT+SMCONN") == b""
    m.tcp.connected(m.tcp.sockets[SM_SID])
    assert later(m, 1.0) == b"\r\nOK\r\n"
    return at(m, 'AT+SMSUB="meters/cmd",1') + later(m, 1.0)


def _cipsend(m: VirtualModem) -> bytes:
    """AT+CIPSEND in normal mode: SEND OK waits for the server's ACK, across a GPRS uplink."""
    assert at(m, 'AT+CIPSTART="TCP","echo.example",7') == b"\r\nOK\r\n"
    assert later(m, 5.0) == b"\r\nCONNECT OK\r\n"
    return typed(m, "AT+CIPSEND=4", b"ping\x1a")


def _cipclose(m: VirtualModem) -> bytes:
    """A slow AT+CIPCLOSE: CLOSE OK waits for the close handshake, across GPRS."""
    assert at(m, 'AT+CIPSTART="TCP","echo.example",7') == b"\r\nOK\r\n"
    assert later(m, 5.0) == b"\r\nCONNECT OK\r\n"
    return at(m, "AT+CIPCLOSE")


def _cmgs(m: VirtualModem) -> bytes:
    """An SMS submit: +CMGS once its radio leg to the SMSC is over, across GPRS."""
    assert at(m, "AT+CMGF=1") == b"\r\nOK\r\n"
    return typed(m, 'AT+CMGS="0612345678"', b"hi\x1a")


WAITING: dict[str, tuple[str, str, Callable[[VirtualModem], bytes]]] = {
    "AT+CMGS": ("simcom-sim800", "gprs", _cmgs),
    "AT+SMCONN": ("simcom-sim7000", "full", _smconn),
    "AT+SMSUB": ("simcom-sim7000", "full", _smsub),
    "AT+CIPSEND": ("simcom-sim800", "gprs", _cipsend),
    "AT+CIPCLOSE": ("simcom-sim800", "gprs", _cipclose),
}
#: a result of the command the reset ended
STALE = (b"ERROR", b"SEND FAIL", b"SEND OK", b"CLOSE OK", b"+CMGS: 0")


@pytest.mark.parametrize("how", [_console_reset, _console_off_on], ids=["reset", "off-on"])
@pytest.mark.parametrize("command", sorted(WAITING))
def test_a_reset_ends_the_command_waiting_for_the_network_unanswered(
    command: str, how: Callable[[VirtualModem], None]
) -> None:
    """The module resets while a command waits for the network: the command ends with it, no final
    result before or after the boot messages (before: its ERROR / SEND FAIL came with the reset, or
    its CLOSE OK / +CMGS after the boot, and what the host typed waited for it), and the next
    command is answered at once."""
    profile, conditions, start = WAITING[command]
    m, _ = setup(profile, WIRE_TABLE + "  echo.example: echo\n", net_preset=conditions)
    assert start(m) == b""  # waiting: no answer yet
    how(m)
    assert not m.waiting
    m.feed(b"AT\r", m.now)
    out = m.take_output()
    assert out.endswith(b"AT\r\r\nOK\r\n"), out  # at once, after the boot messages so far
    out += m.take_output(m.now + BOOT_S)
    assert not any(line in STALE for line in out.split(b"\r\n")), out
    assert out.count(b"OK") == 1 and m.net.registered
    assert m.sms.sent == []  # the reset came before the submit's radio leg was over


# ----- a reset during a data call: silent, as a module that restarts --------------------------------


def _ppp_connect_held(m: VirtualModem) -> None:
    """ATD*99# on a busy module: its CONNECT still held when the reset comes."""
    m.faults = make_faults({"delay_ms": 500})
    assert at(m, "ATD*99#") == b""


def _ppp_online(m: VirtualModem) -> None:
    assert at(m, "ATD*99#") == b"\r\nCONNECT\r\n"


def _csd_dialing(m: VirtualModem) -> None:
    """A CSD call waiting for the far end's answer (no result yet)."""
    assert at(m, "ATD0612345678") == b""
    assert m.waiting


DATA_CALLS: dict[str, Callable[[VirtualModem], None]] = {
    "ATD*99#, CONNECT held": _ppp_connect_held,
    "ATD*99#, online": _ppp_online,
    "CSD ATD, dialling": _csd_dialing,
}


@pytest.mark.parametrize("call", sorted(DATA_CALLS))
def test_a_reset_during_a_data_call_says_no_no_carrier(call: str) -> None:
    """The module resets (the console's `power TARGET reset`, the reset line) during a data call
    being dialled or online: the module restarts, so the next thing the host reads is the boot
    messages, no NO CARRIER (before: `NO CARRIER` came first, as if the call had been cleared
    by the network, and the held CONNECT never), and the call and bearer are gone."""
    m, _ = setup("simcom-sim800")
    DATA_CALLS[call](m)
    m.restart()
    out = later(m, BOOT_S)
    assert out.startswith(b"\r\n" + m.profile.boot_urcs[0].encode() + b"\r\n"), out
    assert b"NO CARRIER" not in out and b"CONNECT" not in out, out
    assert m.ppp is None and m.calls.calls == {} and not m.in_data_mode
    m.faults = make_faults({})
    assert at(m, "AT") == b"AT\r\r\nOK\r\n"  # echo back on, as after every boot
    assert m.net.registered


@pytest.mark.parametrize("call", sorted(DATA_CALLS))
def test_a_power_off_during_a_data_call_says_only_its_power_down_urcs(call: str) -> None:
    """The power key (the console's `power TARGET off`) during a data call: the module says what
    its manual has it say on power-down ("NORMAL POWER DOWN") and nothing else (before: NO CARRIER
    first, online)."""
    m, _ = setup("simcom-sim800")
    DATA_CALLS[call](m)
    m.power_off(m.profile.power_down_urcs)
    expected = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in m.profile.power_down_urcs)
    assert later(m, BOOT_S) == expected
    assert m.ppp is None and m.calls.calls == {} and not m.in_data_mode
