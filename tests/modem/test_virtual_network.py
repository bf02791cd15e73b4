"""The virtual modem bound to the real operator network: registration, SMS, calls, data, TCP stacks, records.

The modems here run without network conditions (`FULL`): these tests check the AT behaviour; the
timing that conditions add is tested in test_virtual_conditions.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from accounting.records import Dest, UsageRecord, UsageType
from gateway.api import CallOutcome
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig
from gateway.wire import HEADER
from modem.profiles import load_profile
from modem.sms import SmsDeliver
from modem.sms.timestamp import EnhancedValidity
from modem.sms.userdata import UserData
from modem.virtual.conditions import FULL, preset
from modem.virtual.core import RadioSettings, VirtualModem
from modem.virtual.netlink import HANDSHAKE_DOWN, HANDSHAKE_UP
from modem.virtual.scenario import ServeScenario, provision

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


def setup(
    profile: str = "generic", plmn: str = "", offer: str = "business-m2m-dtmf", **forced: CallOutcome
) -> tuple[VirtualModem, Network, Sink]:
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1, calls=SwitchConfig(forced=forced)), sink)
    m = VirtualModem(
        load_profile(profile),
        network=net,
        seed=5,
        radio=RadioSettings(plmn=plmn),
        epoch=EPOCH,
        conditions=FULL,
    )
    provision(net, m, ServeScenario(offer=offer))
    m.take_output(0.0)
    at(m, "ATE0", 0.0)
    return m, net, sink


def neighbour(net: Network, profile: str) -> VirtualModem:
    """A second modem on the same network (another line), echo off."""
    other = VirtualModem(load_profile(profile), network=net, seed=5, index=1, epoch=EPOCH, conditions=FULL)
    provision(net, other, ServeScenario())
    other.take_output(0.0)
    other.settings.echo = False
    return other


def at(m: VirtualModem, line: str, now: float | None = None) -> bytes:
    m.feed(line.encode() + b"\r", m.now if now is None else now)
    return m.take_output()


def test_registration_urcs_home_after_search() -> None:
    m, _, _ = setup()
    assert at(m, "AT+CREG=1;+CREG?") == b"\r\n+CREG: 1,2\r\n\r\nOK\r\n"  # searching
    assert m.next_deadline() == 2.0  # the profile's search time
    assert m.take_output(2.0) == b"\r\n+CREG: 1\r\n"
    assert at(m, "AT+COPS?") == b'\r\n+COPS: 0,0,"Orange F",0\r\n\r\nOK\r\n'
    assert at(m, "AT+CSQ") == b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n"


def test_roaming_is_stat_5_with_location_in_mode_2() -> None:
    m, net, _ = setup(plmn="20610")
    at(m, "AT+CREG=2")
    m.poll(2.0)
    out = m.take_output()
    assert out.startswith(b'\r\n+CREG: 5,"') and out.endswith(b'",0\r\n')
    assert at(m, "AT+COPS=3,2;+COPS?") == b'\r\n+COPS: 0,2,"20610",0\r\n\r\nOK\r\n'
    assert net.line(m.identity.line_id).serving_plmn == "20610"


def test_a_sim_of_a_3_digit_mnc_network_is_home_there() -> None:
    """A US SIM (IMSI 310260...: MCC 310, MNC 260) on its own network: its home network was taken as
    the IMSI's first 5 digits, 31026, so it showed roaming (+CREG 5) at home and, with no --plmn,
    attached on a network 31026 that does not exist."""
    profile = load_profile("generic")
    profile = replace(profile, identity=replace(profile.identity, imsi=None, imsi_prefix="310260"))
    for plmn in ("", "310260"):
        sink = Sink()
        net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
        m = VirtualModem(
            profile, network=net, seed=5, radio=RadioSettings(plmn=plmn), epoch=EPOCH, conditions=FULL
        )
        provision(net, m, ServeScenario())
        m.take_output(0.0)
        at(m, "ATE0", 0.0)
        m.poll(2.0)
        assert at(m, "AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n", plmn
        assert net.line(m.identity.line_id).serving_plmn == "310260"
    assert m.identity.home_plmn == "310260"


@pytest.mark.parametrize("oper", ["3", '"2080"', '"2080123"'])
def test_manual_selection_of_a_numeric_operator_that_is_not_mcc_mnc_is_refused(oper: str) -> None:
    """It was accepted, and the registration that followed raised the gateway's identity error."""
    m, _, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMEE=1")
    assert at(m, f"AT+COPS=1,2,{oper}") == b"\r\n+CME ERROR: 50\r\n"
    m.poll(10.0)
    assert at(m, "AT+COPS=3,2;+COPS?") == b'\r\n+COPS: 0,2,"20801",0\r\n\r\nOK\r\n'


def test_manual_selection_of_a_network_not_on_the_air_fails_and_keeps_the_registration() -> None:
    """AT+COPS=1,2,"99999" registered on a network no table has (and roamed on it)."""
    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMEE=1;+CREG=1")
    assert at(m, 'AT+COPS=1,2,"99999"') == b"\r\n+CME ERROR: 30\r\n"
    assert at(m, 'AT+COPS=1,0,"No Such Net"') == b"\r\n+CME ERROR: 30\r\n"
    m.poll(10.0)
    assert m.take_output() == b""  # no +CREG URC: nothing changed
    assert at(m, "AT+CREG?;+COPS=3,2;+COPS?") == b'\r\n+CREG: 1,1\r\n+COPS: 0,2,"20801",0\r\n\r\nOK\r\n'
    assert net.line(m.identity.line_id).serving_plmn == "20801"


def test_manual_selection_of_a_network_on_the_air_registers_and_mode_4_falls_back() -> None:
    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+COPS=3,2")
    assert at(m, 'AT+COPS=1,2,"20810"') == b"\r\nOK\r\n"  # SFR: France's other network, roaming there
    m.poll(10.0)
    assert at(m, "AT+COPS?;+CREG?") == b'\r\n+COPS: 1,2,"20810",0\r\n+CREG: 0,5\r\n\r\nOK\r\n'
    assert at(m, 'AT+COPS=4,2,"99999"') == b"\r\nOK\r\n"  # not found: automatic, the home network
    m.poll(20.0)
    assert at(m, "AT+COPS?;+CREG?") == b'\r\n+COPS: 0,2,"20801",0\r\n+CREG: 0,1\r\n\r\nOK\r\n'
    assert net.line(m.identity.line_id).serving_plmn == "20801"


def test_unknown_sim_is_denied_and_cfun0_stops_searching() -> None:
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH), sink)
    m = VirtualModem(load_profile("generic"), network=net)  # never provisioned: IMSI unknown in HLR
    m.take_output(0.0)
    m.poll(3.0)
    at(m, "ATE0")
    assert at(m, "AT+CREG?") == b"\r\n+CREG: 0,3\r\n\r\nOK\r\n"
    assert at(m, "AT+CEER") == b"\r\n+CEER: 2\r\n\r\nOK\r\n"
    assert at(m, "AT+CFUN=0;+CREG?;+CSQ") == b"\r\n+CREG: 0,0\r\n+CSQ: 99,99\r\n\r\nOK\r\n"


def test_mo_sms_text_mode_prompt_and_record() -> None:
    m, _, sink = setup()
    m.poll(2.0)
    at(m, "AT+CMGF=1")
    assert at(m, 'AT+CMGS="0612345678"') == b"\r\n> "
    m.feed(b"Level 87%\x1a", 3.0)
    assert m.take_output() == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    (rec,) = [r for r in sink.records if r.type == UsageType.SMS]
    assert rec.line == m.identity.line_id


def test_mo_sms_refused_when_not_registered() -> None:
    m, _, _ = setup()
    at(m, "AT+CMGF=1")
    at(m, 'AT+CMGS="0612345678"')
    m.feed(b"x\x1a", 0.5)
    assert m.take_output() == b"\r\n+CMS ERROR: 331\r\n"


def test_pdu_mode_bad_length_is_cms_304() -> None:
    from modem.sms import encode_submit

    m, _, _ = setup()
    m.poll(2.0)
    (pdu,) = encode_submit("hello", "+33612345678")
    assert at(m, f"AT+CMGS={pdu.tpdu_length + 1}") == b"\r\n> "
    m.feed(pdu.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 304\r\n"
    # without the SMSC prefix 27.005 asks for, a module reads the first octet as the SMSC length
    assert at(m, f"AT+CMGS={pdu.tpdu_length}") == b"\r\n> "
    m.feed(pdu.tpdu.hex().encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 304\r\n"
    assert at(m, f"AT+CMGS={pdu.tpdu_length}") == b"\r\n> "
    m.feed(pdu.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"


@pytest.mark.parametrize("command", ["CMGS", "CMGW"])
@pytest.mark.parametrize(
    ("content", "udl", "octets"), [(b"\x01", 150, 150), ("a", 170, 149)], ids=["8bit", "gsm7"]
)
def test_a_pdu_whose_user_data_is_longer_than_one_message_is_cms_304(
    command: str, content: str | bytes, udl: int, octets: int
) -> None:
    """TP-UDL 150 octets of 8-bit data (or 170 septets) raised MessageTooLongError in the modem."""
    from modem.sms import encode_submit

    m, _, sink = setup()
    m.poll(2.0)
    tpdu = encode_submit(content, "+33612345678")[0].tpdu[:-2] + bytes([udl]) + bytes(octets)
    assert at(m, f"AT+CMEE=1;+{command}={len(tpdu)}") == b"\r\n> "
    m.feed(b"00" + tpdu.hex().encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 304\r\n"
    assert not sink.records and at(m, "AT") == b"\r\nOK\r\n"


def test_mt_sms_stored_announced_read_listed_deleted() -> None:
    m, net, _ = setup()
    m.poll(2.0)
    at(m, 'AT+CNMI=2,1,0,0,0;+CPMS="ME","ME","ME";+CMGF=1')
    net.submit_sms(2.5, m.identity.msisdn, "+33600000001", "hello meter")
    m.poll(3.0)  # the modem fetches pending messages every second
    assert m.take_output() == b'\r\n+CMTI: "ME",1\r\n'
    assert at(m, "AT+CMGR=1") == (
        b'\r\n+CMGR: "REC UNREAD","+33600000001",,"26/03/02,08:00:02+00"\r\nhello meter\r\n\r\nOK\r\n'
    )
    assert at(m, 'AT+CMGL="REC READ"').startswith(b'\r\n+CMGL: 1,"REC READ","+33600000001"')
    assert at(m, "AT+CMGD=1") == b"\r\nOK\r\n"
    assert at(m, "AT+CMGR=1") == b"\r\n+CMS ERROR: 321\r\n"


def test_the_mt_storage_is_the_sim_and_the_me_numbered_as_one() -> None:
    """AT+CPMS="MT" chose a third storage of its own: empty, while the SIM and the ME held messages."""
    m, net, _ = setup("quectel-bg96")  # SM, ME and MT; 50 messages a storage
    m.poll(2.0)
    at(m, 'AT+CMEE=1;+CNMI=2,1,0,0,0;+CMGF=1;+CPMS="SM","SM","SM"')
    for n, text in enumerate(("sim one", "sim two")):
        net.submit_sms(2.1 + n / 10, m.identity.msisdn, "+33600000001", text)
    assert m.take_output(3.0) == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    assert at(m, 'AT+CPMS="ME","ME","ME"') == b"\r\n+CPMS: 0,50,0,50,0,50\r\n\r\nOK\r\n"
    net.submit_sms(3.1, m.identity.msisdn, "+33600000002", "me one")
    m.poll(4.0)
    m.take_output()
    assert at(m, 'AT+CPMS="MT","MT","MT"') == b"\r\n+CPMS: 3,100,3,100,3,100\r\n\r\nOK\r\n"
    assert at(m, "AT+CPMS?") == b'\r\n+CPMS: "MT",3,100,"MT",3,100,"MT",3,100\r\n\r\nOK\r\n'
    listed = at(m, 'AT+CMGL="ALL"').decode()
    assert [line.split(",")[0] for line in listed.split("\r\n") if line.startswith("+CMGL")] == [
        "+CMGL: 1",
        "+CMGL: 2",
        "+CMGL: 51",  # the ME's first message, after the SIM's 50 places
    ]
    assert at(m, "AT+CMGR=51").endswith(b"\r\nme one\r\n\r\nOK\r\n")
    assert at(m, "AT+CMGR=3") == b"\r\n+CMS ERROR: 321\r\n"
    assert at(m, "AT+CMGD=51;+CMGD=1") == b"\r\nOK\r\n"
    assert (len(m.sms.stores["SM"]), len(m.sms.stores["ME"])) == (1, 0)
    net.submit_sms(4.1, m.identity.msisdn, "+33600000003", "into mt")
    m.poll(5.0)
    assert m.take_output() == b'\r\n+CMTI: "MT",1\r\n'  # received into MT: the SIM first
    assert at(m, "AT+CMGR=1").endswith(b"\r\ninto mt\r\n\r\nOK\r\n") and "MT" not in m.sms.stores


def test_mt_sms_routed_as_cmt_in_pdu_mode() -> None:
    from modem.sms import Direction, decode_pdu

    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CNMI=2,2,0,0,0;+CMGF=0")
    net.submit_sms(2.2, m.identity.msisdn, "+33600000001", "ping")
    m.poll(3.0)
    lines = m.take_output().split(b"\r\n")
    assert lines[1].startswith(b"+CMT: ,")
    msg = decode_pdu(lines[2].decode(), Direction.MT, tpdu_length=int(lines[1].split(b",")[1]))
    assert msg.text == "ping"
    assert m.sms.stored_count() == 0


def test_long_mt_messages_from_one_sender_have_their_own_references() -> None:
    """Every long MT message went out with concatenation reference 0: two from one sender gave a
    DTE four parts '1/2, 2/2, 1/2, 2/2' of one reference, as no SMSC sends them."""
    from modem.sms import Direction, SmsDeliver, decode_pdu

    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CNMI=2,2,0,0,0;+CMGF=0")
    for i, text in enumerate(("A" * 200, "B" * 200)):
        net.submit_sms(2.2 + i / 10, m.identity.msisdn, "+33600000001", text)
    m.poll(3.0)
    lines = m.take_output().split(b"\r\n")
    parts = [
        decode_pdu(lines[i + 1].decode(), Direction.MT) for i, x in enumerate(lines) if x.startswith(b"+CMT:")
    ]
    seen = [
        (p.concat.reference, p.concat.sequence, p.text[0])
        for p in parts
        if isinstance(p, SmsDeliver) and p.concat
    ]
    assert len(seen) == 4 and seen[0][0] != seen[2][0]
    assert [s[1:] for s in seen] == [(1, "A"), (2, "A"), (1, "B"), (2, "B")]
    assert seen[0][0] == seen[1][0] and seen[2][0] == seen[3][0]


def test_mt_sms_waits_when_storage_full() -> None:
    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CNMI=2,1,0,0,0")
    cap = m.sms.capacity
    for i in range(cap + 1):
        net.submit_sms(2.1, m.identity.msisdn, "+33600000001", f"m{i}")
    m.poll(3.0)
    assert m.sms.stored_count() == cap and not m.sms.backlog
    assert net.smsc.stored(m.identity.line_id) == 1  # not taken: it waits at the SMSC
    m.take_output()
    at(m, "AT+CMGD=1")
    assert m.take_output(4.0) == b'\r\n+CMTI: "SM",1\r\n'  # taken at the next asking
    assert m.sms.stored_count() == cap and net.smsc.stored(m.identity.line_id) == 0


def test_voice_call_dtmf_clcc_and_billed_duration() -> None:
    m, _, sink = setup(**{"0140000000": CallOutcome.ANSWERED})
    m.poll(2.0)
    assert at(m, "ATD0140000000;", 10.0) == b"\r\nOK\r\n"
    assert at(m, "AT+CLCC") == b'\r\n+CLCC: 1,0,2,0,0,"0140000000",129\r\n\r\nOK\r\n'
    assert at(m, "AT+VTS=1") == b"\r\nERROR\r\n"  # not answered yet
    m.poll(11.0)
    assert at(m, "AT+CLCC") == b'\r\n+CLCC: 1,0,3,0,0,"0140000000",129\r\n\r\nOK\r\n'  # alerting
    m.poll(16.0)  # the far end answers after its ring time (SwitchConfig.ring_s, 5 s)
    assert m.take_output() == b""  # nothing said on connect (no +COLP)
    assert at(m, "AT+CLCC") == b'\r\n+CLCC: 1,0,0,0,0,"0140000000",129\r\n\r\nOK\r\n'
    assert at(m, 'AT+VTS="1,2,#"') == b"\r\nOK\r\n"
    assert [t for _, t in m.calls.dtmf_log] == ["1", "2", "#"]
    assert at(m, "ATH", 36.0) == b"\r\nOK\r\n"
    (rec,) = [r for r in sink.records if r.type == UsageType.VOICE]
    assert rec.duration_s == 20 and rec.start == EPOCH + timedelta(seconds=16)  # from the answer


@pytest.mark.parametrize("tones", ['"1X2"', "E", '"1,2,!"', '""'])
def test_dtmf_with_a_character_that_is_no_tone_is_refused_and_sends_nothing(tones: str) -> None:
    """`AT+VTS="1X2"` answered OK and sent 1 and 2, the X dropped without a word."""
    m, _, _ = setup(**{"0140000000": CallOutcome.ANSWERED})
    m.poll(2.0)
    at(m, "AT+CMEE=1;D0140000000;", 10.0)
    m.poll(16.0)
    assert at(m, f"AT+VTS={tones}") == b"\r\n+CME ERROR: 50\r\n"
    assert m.calls.dtmf_log == []
    assert at(m, 'AT+VTS="a,*"') == b"\r\nOK\r\n"
    assert [t for _, t in m.calls.dtmf_log] == ["A", "*"]


@pytest.mark.parametrize("fun", [0, 4])
def test_cfun_off_ends_the_call_in_the_modem_as_in_the_network(fun: int) -> None:
    """AT+CFUN=0/4 detached the line, and the network released the call, but +CLCC kept showing it
    active, AT+VTS still sent tones, and the ATH that followed was an incident at the gateway."""
    m, net, sink = setup(**{"0140000000": CallOutcome.ANSWERED})
    m.poll(2.0)
    at(m, "AT+CMEE=1;D0140000000;", 10.0)
    m.poll(16.0)
    assert at(m, f"AT+CFUN={fun}", 30.0) == b"\r\nNO CARRIER\r\n\r\nOK\r\n"
    assert at(m, "AT+CLCC") == b"\r\nOK\r\n"
    assert at(m, "AT+VTS=1") == b"\r\n+CME ERROR: 3\r\n"
    assert at(m, "ATH", 40.0) == b"\r\nOK\r\n"
    assert [r.duration_s for r in sink.records if r.type is UsageType.VOICE] == [14]
    assert not net.journal.counters["incident:released-call"]


def test_busy_call_ends_with_busy() -> None:
    m, _, _ = setup(**{"0140000001": CallOutcome.BUSY})
    m.poll(2.0)
    at(m, "ATD0140000001;")
    m.poll(m.now + 1.0)
    assert m.take_output() == b"\r\nBUSY\r\n"
    assert at(m, "AT+CLCC") == b"\r\nOK\r\n"


def test_csd_call_connect_data_escape_and_hangup() -> None:
    m, _, sink = setup("simcom-sim800", offer="business-m2m", **{"0140000002": CallOutcome.ANSWERED})
    m.poll(2.0)
    assert at(m, "ATD0140000002", 5.0) == b""  # no result until the far end answers
    assert m.take_output(10.9) == b""
    assert m.take_output(11.0) == b"\r\nCONNECT 9600\r\n"  # set up in 1 s, answered after 5 s
    m.feed(b"hello", 11.5)
    assert m.take_output() == b"hello"  # the remote end echoes
    m.feed(b"+++", 13.0)  # after 1.5 s of silence (guard time S12 = 1 s)
    assert m.take_output() == b""
    m.poll(14.0)
    assert m.take_output() == b"\r\nOK\r\n"
    assert at(m, "ATO") == b"\r\nCONNECT 9600\r\n"
    m.feed(b"a+++", 14.5)  # not an escape: no guard time before
    assert m.take_output() == b"a+++"
    m.feed(b"+++", 16.0)
    m.poll(17.0)
    m.take_output()
    assert at(m, "ATH", 18.0) == b"\r\nOK\r\n"
    (rec,) = [r for r in sink.records if r.type == UsageType.CSD]
    assert rec.duration_s == 7


def test_dtr_drop_under_and_d2_hangs_up_a_csd_call_left_by_the_escape() -> None:
    # V.250 6.2.9: &D2 clears the call on DTR's on-to-off transition in online command state too
    m, _, sink = setup("simcom-sim800", offer="business-m2m", **{"0140000002": CallOutcome.ANSWERED})
    m.poll(2.0)
    at(m, "ATD0140000002", 5.0)
    assert m.take_output(11.0) == b"\r\nCONNECT 9600\r\n"
    m.feed(b"+++", 13.0)
    m.poll(14.0)
    assert m.take_output() == b"\r\nOK\r\n"
    m.dtr_drop()
    assert m.take_output() == b"\r\nNO CARRIER\r\n"
    assert at(m, "AT+CLCC") == b"\r\nOK\r\n"  # no call left
    (rec,) = [r for r in sink.records if r.type == UsageType.CSD]
    assert rec.duration_s == 3


def test_incoming_call_rings_with_clip_and_is_answered() -> None:
    m, _, _ = setup()
    at(m, "AT+CLIP=1;+CRC=1")
    m.calls.incoming("+33611111111")
    assert m.take_output() == b'\r\n+CRING: VOICE\r\n+CLIP: "+33611111111",145,"",0,"",0\r\n'
    m.poll(3.0)
    assert m.take_output().startswith(b"\r\n+CRING: VOICE")
    assert at(m, "ATA") == b"\r\nOK\r\n"
    assert at(m, "AT+CLCC") == b'\r\n+CLCC: 1,1,0,0,0,"+33611111111",145\r\n\r\nOK\r\n'


def test_a_context_defined_without_an_apn_activates_on_the_subscriptions_default() -> None:
    """AT+CGDCONT=1,"IP","" then AT+CGACT=1,1 (many modules' factory context): the network selects
    the subscription's default APN, as a real one does; it was +CME ERROR: 533."""
    m, _, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CGDCONT=1,"IP","";+CGACT=1,1') == b"\r\nOK\r\n"
    assert at(m, "AT+CGPADDR=1").startswith(b'\r\n+CGPADDR: 1,"10.')  # orange.m2m.spec's private pool


def test_pdp_context_counts_nothing_until_used_and_refuses_unknown_apn() -> None:
    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMEE=1")
    assert at(m, 'AT+CGDCONT=1,"IP","no.such.apn";+CGACT=1,1') == b"\r\n+CME ERROR: 533\r\n"
    assert at(m, 'AT+CGDCONT=1,"IP","orange.m2m.spec";+CGACT=1,1') == b"\r\nOK\r\n"
    out = at(m, "AT+CGPADDR=1")
    assert out.startswith(b'\r\n+CGPADDR: 1,"10.')
    assert net.open_sessions()


@pytest.mark.parametrize("line", ["AT+CGACT=1,abc", 'AT+CGACT=0,"x', "AT+CGPADDR=abc", "AT+CGPADDR=1,x"])
def test_a_context_id_that_is_not_a_number_is_cme_50(line: str) -> None:
    m, _, _ = setup()
    m.poll(2.0)
    at(m, 'AT+CMEE=1;+CGDCONT=1,"IP","orange.m2m.spec"')
    assert at(m, line) == b"\r\n+CME ERROR: 50\r\n"
    assert at(m, "AT+CGACT?") == b"\r\n+CGACT: 1,0\r\n\r\nOK\r\n"


def test_simcom_tcp_echo_counts_headers_and_writes_records() -> None:
    m, net, sink = setup("simcom-sim800")
    m.link.set_conditions(preset("full"))  # the link takes no time: the echo's timing alone
    m.poll(2.0)
    assert at(m, 'AT+CSTT="orange.m2m.spec"') == b"\r\nOK\r\n"
    assert at(m, "AT+CIICR") == b"\r\nOK\r\n"
    ip = at(m, "AT+CIFSR")
    assert ip.startswith(b"\r\n10.") and not ip.endswith(b"OK\r\n")  # the SIM800 quirk
    assert at(m, 'AT+CIPSTART="TCP","echo.example",7', 3.0) == b"\r\nOK\r\n"
    m.poll(3.2)
    assert m.take_output() == b"\r\nCONNECT OK\r\n"
    assert at(m, "AT+CIPSEND=5") == b"\r\n> "
    m.feed(b"hello", 3.3)
    assert m.take_output() == b"\r\nSEND OK\r\n"
    m.poll(3.4)
    assert m.take_output() == b"hello"
    assert at(m, "AT+CIPCLOSE", 4.0) == b"\r\nCLOSE OK\r\n"
    assert at(m, "AT+CIPSHUT", 5.0) == b"\r\nSHUT OK\r\n"
    ctx = m.net.context(1)
    # the echo carries the ACK of the data; the modem's delayed ACK of the echo goes alone (3.5 s);
    # the close: the modem's FIN and the last ACK up, the echo server's FIN (with its ACK) down
    assert ctx.bytes_up == HANDSHAKE_UP + (5 + HEADER) + HEADER + 2 * HEADER
    assert ctx.bytes_down == HANDSHAKE_DOWN + (5 + HEADER) + HEADER
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (ctx.bytes_up, ctx.bytes_down)
    assert not net.open_sessions()


def test_simcom_manual_receive_with_ciprxget() -> None:
    m, _, _ = setup("simcom-sim800")
    m.link.set_conditions(preset("full"))  # the link takes no time: the echo's timing alone
    m.poll(2.0)
    at(m, 'AT+CSTT="orange.m2m.spec";+CIICR;+CIPRXGET=1')
    at(m, "AT+CIFSR")
    at(m, 'AT+CIPSTART="TCP","116.228.221.51",8500')  # SIMCom's demo server: the echo
    m.poll(2.5)
    m.take_output()
    at(m, "AT+CIPSEND")
    m.feed(b"abcdef\x1a", 2.6)
    m.take_output()
    m.poll(2.8)
    assert m.take_output() == b"\r\n+CIPRXGET: 1\r\n"
    assert at(m, "AT+CIPRXGET=2,4") == b"\r\n+CIPRXGET: 2,4,2\r\nabcd\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPRXGET=4") == b"\r\n+CIPRXGET: 4,2\r\n\r\nOK\r\n"


def test_quectel_tcp_qiurc_qird_and_data_counter() -> None:
    m, _, sink = setup("quectel-bg96")
    m.link.set_conditions(preset("full"))  # the link takes no time: the echo's timing alone
    m.poll(3.0)
    assert at(m, 'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1') == b"\r\nOK\r\n"
    assert at(m, "AT+QIACT?").startswith(b'\r\n+QIACT: 1,1,1,"10.')
    assert at(m, 'AT+QIOPEN=1,0,"TCP","echo.example",7,0,0') == b"\r\nOK\r\n"
    m.poll(3.5)
    assert m.take_output() == b"\r\n+QIOPEN: 0,0\r\n"
    assert at(m, "AT+QISEND=0,4") == b"\r\n> "
    m.feed(b"ping", 3.6)
    assert m.take_output() == b"\r\nSEND OK\r\n"
    m.poll(3.8)
    assert m.take_output() == b'\r\n+QIURC: "recv",0\r\n'
    assert at(m, "AT+QIRD=0,1500") == b"\r\n+QIRD: 4\r\nping\r\n\r\nOK\r\n"
    assert at(m, "AT+QIRD=0,1500") == b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
    up = HANDSHAKE_UP + 4 + 2 * HEADER
    down = HANDSHAKE_DOWN + 4 + HEADER
    assert at(m, "AT+QGDCNT?") == f"\r\n+QGDCNT: {up},{down}\r\n\r\nOK\r\n".encode()
    assert at(m, "AT+QICLOSE=0;+QIDEACT=1", 5.0) == b"\r\nOK\r\n"
    (rec,) = [r for r in sink.records if r.type == UsageType.DATA]
    assert (rec.bytes_up, rec.bytes_down) == (up + 2 * HEADER, down + HEADER)  # FIN, FIN, last ACK


@pytest.mark.parametrize("profile", ["generic", "simcom-sim800", "quectel-bg96", "quectel-eg25"])
def test_every_profile_registers_and_answers_the_basics(profile: str) -> None:
    m, _, _ = setup(profile)
    m.poll(5.0)
    assert m.net.registered
    for line in ("AT+CGMI", "AT+CGSN", "AT+CIMI", "AT+CSQ", "AT+COPS?", "AT+CPMS=?", "AT+CNMI?"):
        assert at(m, line).endswith(b"\r\nOK\r\n"), line


def test_scenario_coverage_moves_the_modem_and_events_arrive() -> None:
    from modem.virtual.scenario import Event, Step, schedule

    m, net, _ = setup()
    at(m, "AT+CREG=1;+CLIP=1;+CNMI=2,1,0,0,0")
    scenario = ServeScenario(
        coverage=(Step(10.0, "20610", (9, 2)), Step(20.0, None)),
        events=(Event(5.0, "sms", "+33600000001", "hi"), Event(6.0, "call", "+33600000002")),
    )
    schedule(m, scenario, net)
    assert m.take_output(2.0) == b"\r\n+CREG: 1\r\n"
    assert m.take_output(5.5) == b'\r\n+CMTI: "SM",1\r\n'  # the SMS went through the network's SMSC
    assert m.take_output(6.0) == b'\r\nRING\r\n+CLIP: "+33600000002",145,"",0,"",0\r\n'
    at(m, "ATH")
    assert m.take_output(10.0) == b"\r\n+CREG: 5\r\n"  # a routing area update: roaming at once
    assert net.line(m.identity.line_id).serving_plmn == "20610"
    assert at(m, "AT+CSQ") == b"\r\n+CSQ: 9,2\r\n\r\nOK\r\n"
    assert m.take_output(20.0) == b"\r\n+CREG: 2\r\n"
    assert m.take_output(60.0) == b""  # no coverage: still searching


def test_sms_between_two_virtual_modems_on_one_network() -> None:
    m, net, _ = setup()
    other = neighbour(net, "quectel-bg96")
    at(m, "AT+CMGF=1", 4.0)
    other.poll(4.0)
    at(m, f'AT+CMGS="+{other.identity.msisdn}"')
    m.feed(b"hello neighbour\x1a", 4.0)
    assert m.take_output().startswith(b"\r\n+CMGS: ")
    assert other.take_output(5.0) == b'\r\n+CMTI: "SM",1\r\n'
    at(other, "AT+CMGF=1")
    assert b"hello neighbour" in at(other, "AT+CMGR=1")


def ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def test_text_mode_in_ucs2_character_set() -> None:
    """The numbers are in the TE character set too (27.005 <da>, <oa>): a client's UCS2-hex
    destination was refused (CMS 1, unassigned number) and the originator shown as typed."""
    m, net, _ = setup()
    m.poll(2.0)
    at(m, 'AT+CMEE=1;+CMGF=1;+CSCS="UCS2";+CNMI=2,1,0,0,0')
    at(m, f'AT+CMGS="{ucs2("0612345678")}"')
    m.feed(ucs2("Température 21°C ✓").encode() + b"\x1a", 2.5)
    assert m.take_output() == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert m.sms.sent[-1][1:] == ("0612345678", "Température 21°C ✓")
    assert at(m, 'AT+CMGS="0612345678"') == b"\r\n+CMS ERROR: 305\r\n"  # not UCS2 hex
    net.submit_sms(2.6, m.identity.msisdn, "+33600000001", "Ça va ✓")
    m.poll(3.0)
    m.take_output()
    out = at(m, "AT+CMGR=1").decode()
    assert f'"REC UNREAD","{ucs2("+33600000001")}",,' in out and ucs2("Ça va ✓") in out
    at(m, "AT+CNMI=2,2,0,0,0")
    net.submit_sms(3.1, m.identity.msisdn, "+33600000001", "routed")
    assert m.take_output(4.0).decode().startswith(f'\r\n+CMT: "{ucs2("+33600000001")}",,')


@pytest.mark.parametrize("text_mode", [True, False], ids=["text", "pdu"])
def test_write_then_send_from_storage(text_mode: bool) -> None:
    from modem.sms import encode_submit

    m, _, sink = setup()
    m.poll(2.0)
    at(m, f"AT+CMGF={int(text_mode)}")
    if text_mode:
        assert at(m, 'AT+CMGW="0612345678"') == b"\r\n> "
        m.feed(b"stored report\x1a", 2.0)
    else:
        (pdu,) = encode_submit("stored report", "+33612345678")
        assert at(m, f"AT+CMGW={pdu.tpdu_length}") == b"\r\n> "
        m.feed(pdu.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
    listing = at(m, 'AT+CMGL="STO UNSENT"' if text_mode else "AT+CMGL=2")
    assert listing.startswith(b"\r\n+CMGL: 1,")
    assert at(m, "AT+CMSS=1", 3.0) == b"\r\n+CMSS: 0\r\n\r\nOK\r\n"
    assert at(m, 'AT+CMSS=1,"0612345679"', 4.0) == b"\r\n+CMSS: 1\r\n\r\nOK\r\n"
    assert at(m, "AT+CMSS=2") == b"\r\n+CMS ERROR: 321\r\n"
    assert [(d, t) for _, d, t in m.sms.sent][-1] == ("0612345679", "stored report")
    assert len([r for r in sink.records if r.type == UsageType.SMS]) == 2


def test_text_mode_shows_a_stored_outgoing_message_without_a_time_stamp() -> None:
    """+CMGR / +CMGL of a message written with +CMGW showed an empty quoted time stamp (`,""`), which
    27.005 does not have for an SMS-SUBMIT and the AT client's text-mode parser refused."""
    from modem.sms.textmode import MessageStatus, parse_cmgl_text, parse_cmgr_text

    m, _, _ = setup()
    m.poll(2.0)
    at(m, 'AT+CMGF=1;+CMGW="0612345678"')
    m.feed(b"stored report\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
    head, body = at(m, "AT+CMGR=1").decode().split("\r\n")[1:3]
    assert head == '+CMGR: "STO UNSENT","0612345678",""' and body == "stored report"
    h = parse_cmgr_text(head)
    assert (h.kind, h.status, h.address, h.scts) == ("submit", MessageStatus.STO_UNSENT, "0612345678", None)
    head = at(m, 'AT+CMGL="ALL"').decode().split("\r\n")[1]
    assert head == '+CMGL: 1,"STO UNSENT","0612345678","",'
    assert parse_cmgl_text(head).index == 1


def test_csdh_1_gives_every_stored_kind_its_27005_fields_and_the_length_that_frames_its_text() -> None:
    """With AT+CSDH=1 a stored outgoing message (+CMGW, text or PDU mode) was shown as without it:
    `+CMGR: "STO UNSENT","<da>",""` without <toda>,<fo>,<pid>,<dcs>,<vp>,<sca>,<tosca>,<length>, so
    a client could not frame a text holding a line break; a text-mode +CMGW's PDU lacked +CSMP's
    <fo> (TP-SRR, TP-VPF), <vp> and <pid>, and a UCS2 one's text showed as '?'s instead of hex."""
    from modem.at.grammar import fields_of, text_length
    from modem.sms import Direction, SmsSubmit, decode_pdu, encode_submit
    from modem.sms.textmode import parse_cmgl_text, parse_cmgr_text

    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMGF=1;+CSDH=1;+CNMI=2,1,0,2,0")
    net.submit_sms(2.0, m.identity.msisdn, "+33600000001", "got it\nOK")
    m.poll(3.0)
    at(m, 'AT+CSMP=49,11,0,0;+CMGS="+447700900123"')  # TP-SRR, relative TP-VP 11 (one hour)
    m.feed(b"report please\x1a", 3.0)
    m.take_output(5.0)  # the message (1), the status report (2)
    at(m, 'AT+CMGW="0612345678"')
    m.feed(b"meter 17\rOK\x1a", 5.0)
    at(m, 'AT+CSMP=17,167,0,8;+CMGW="+33612345678"')  # UCS2
    m.feed("Ça va ✓".encode("utf-16-be").hex().encode() + b"\x1a", 5.0)
    (pdu,) = encode_submit("pdu one", "+33612345679", validity=timedelta(hours=2), status_report=True)
    at(m, f"AT+CMGF=0;+CMGW={pdu.tpdu_length}")
    m.feed(pdu.hex.encode() + b"\x1a", 5.0)
    assert m.take_output().endswith(b"+CMGW: 5\r\n\r\nOK\r\n")
    # the text-mode message's PDU is the SMS-SUBMIT +CSMP made
    stored = decode_pdu(at(m, "AT+CMGR=3").decode().split("\r\n")[2], Direction.MO)
    assert isinstance(stored, SmsSubmit) and stored.status_report_request
    assert stored.validity == timedelta(hours=1) and stored.text == "meter 17\nOK"
    at(m, "AT+CMGF=1")

    def read(command: str) -> tuple[str, str]:
        """The header and the text it frames by its <length>, as the AT parser reads it: on to the
        first line end after <length> characters (a hex body's <length> counts octets)."""
        answer = at(m, command).decode()
        head = answer.split("\r\n")[1]
        length = text_length(head.split(":")[0], fields_of(head))
        assert length is not None, head
        rest = answer[answer.index(head) + len(head) + 2 :]
        return head, rest[: rest.index("\r\n", length)]

    head, text = read("AT+CMGR=1")
    h = parse_cmgr_text(head)
    assert (h.kind, h.address, h.first_octet, h.dcs, h.length) == ("deliver", "+33600000001", 4, 0, 9)
    assert text == "got it\nOK"
    report = parse_cmgr_text(at(m, "AT+CMGR=2").decode().split("\r\n")[1])
    assert (report.kind, report.address, report.st) == ("status-report", "+447700900123", 0)
    head, text = read("AT+CMGR=3")
    h = parse_cmgr_text(head)
    assert (h.kind, h.address, h.type_of_address, h.first_octet, h.pid, h.dcs) == (
        "submit", "0612345678", 129, 49, 0, 0,
    )  # fmt: skip
    assert (h.validity, h.sca, h.tosca, h.length, text) == ("11", "+33689004000", 145, 11, "meter 17\nOK")
    head, text = read("AT+CMGR=4")
    h = parse_cmgr_text(head)
    assert (h.type_of_address, h.first_octet, h.dcs, h.validity) == (145, 17, 8, "167")
    assert bytes.fromhex(text).decode("utf-16-be") == "Ça va ✓" and h.length == len(bytes.fromhex(text))
    head, text = read("AT+CMGR=5")  # written in PDU mode, its SMSC left to +CSCA
    h = parse_cmgr_text(head)
    assert (h.first_octet, h.validity, h.sca, h.length, text) == (49, "23", "+33689004000", 7, "pdu one")
    listing = at(m, 'AT+CMGL="ALL"').decode()
    heads = [parse_cmgl_text(line) for line in listing.split("\r\n") if line.startswith("+CMGL: ")]
    assert [(h.index, h.kind, h.type_of_address, h.length) for h in heads] == [
        (1, "deliver", 145, 9),
        (2, "status-report", 145, None),
        (3, "submit", 129, 11),
        (4, "submit", 145, 14),
        (5, "submit", 145, 7),
    ]
    assert 'STO UNSENT","0612345678","",,129,11\r\nmeter 17\nOK\r\n' in listing


def test_cmgw_stores_the_message_kind_its_stat_says() -> None:
    """AT+CMGW's <stat> (27.005 3.5.3) was not read: every written message was STO UNSENT, and an
    SMS-DELIVER PDU with <stat> REC READ (a received message filed by a client) was CMS 304."""
    from modem.sms import encode_deliver, encode_submit

    m, _, _ = setup()
    m.poll(2.0)
    (deliver,) = encode_deliver("inbox copy", "+33600000001", EPOCH, smsc="+33689004000")
    at(m, f"AT+CMGW={deliver.tpdu_length},1")
    m.feed(deliver.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGW: 1\r\n\r\nOK\r\n"
    (submit,) = encode_submit("sent copy", "+33600000002")
    at(m, f"AT+CMGW={submit.tpdu_length},3")
    m.feed(submit.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGW: 2\r\n\r\nOK\r\n"
    at(m, f"AT+CMGW={submit.tpdu_length},0")  # an SMS-SUBMIT is not a received message
    m.feed(submit.hex.encode() + b"\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 304\r\n"
    assert at(m, "AT+CMGL=4").decode().split("\r\n")[1::2][:2] == ["+CMGL: 1,1,,28", "+CMGL: 2,3,,21"]
    at(m, "AT+CMGF=1;+CSDH=1")
    assert at(m, 'AT+CMGW="0612345678",129,"STO SENT"') == b"\r\n> "
    m.feed(b"typed\x1a", 2.0)
    assert m.take_output() == b"\r\n+CMGW: 3\r\n\r\nOK\r\n"
    assert at(m, 'AT+CMGW="0612345678",129,"REC READ"') == b"\r\n+CMS ERROR: 302\r\n"
    assert at(m, 'AT+CMGL="ALL"').decode().split("\r\n")[1:-3:2] == [
        '+CMGL: 1,"REC READ","+33600000001",,"26/03/02,08:00:00+00",145,10',
        '+CMGL: 2,"STO SENT","+33600000002","",,145,9',
        '+CMGL: 3,"STO SENT","0612345678","",,129,5',
    ]


@pytest.mark.parametrize(
    "text", ["Compteur 4711: " + "relevé horaire 0.25 kWh; " * 8, "Ωμέγα ✓ " * 12], ids=["gsm7", "ucs2"]
)
def test_a_long_pdu_sms_to_another_modem_arrives_as_the_parts_of_one_message(text: str) -> None:
    """The SMSC relays each part's concatenation header: the recipient reassembles the message."""
    from modem.sms import Direction, SmsDeliver, decode_pdu, encode_submit
    from modem.sms.reassembly import Reassembler

    m, net, sink = setup()
    other = neighbour(net, "quectel-bg96")
    m.poll(4.0)
    other.poll(4.0)
    parts = encode_submit(text, f"+{other.identity.msisdn}", concat_reference=77)
    assert len(parts) >= 2
    for part in parts:
        assert at(m, f"AT+CMGS={part.tpdu_length}") == b"\r\n> "
        m.feed(part.hex.encode() + b"\x1a", 4.0)
        assert m.take_output().startswith(b"\r\n+CMGS: ")
    announced = other.take_output(5.0).decode()
    assert announced.count("+CMTI:") == len(parts)
    reassembler = Reassembler(timeout=3600.0)
    whole = []
    for index in range(1, len(parts) + 1):
        reply = at(other, f"AT+CMGR={index}").decode().split("\r\n")
        msg = decode_pdu(reply[2], Direction.MT)
        assert isinstance(msg, SmsDeliver) and msg.concat is not None
        assert (msg.concat.reference, msg.concat.total, msg.concat.sequence) == (77, len(parts), index)
        done = reassembler.add(msg, 5.0)
        if done is not None:
            whole.append(done)
    assert [w.text for w in whole] == [text]
    assert sum(r.type is UsageType.SMS for r in sink.records) == len(parts)  # each part is billed


def test_a_stored_long_pdu_part_keeps_its_header_when_sent_with_cmss() -> None:
    from modem.sms import Direction, SmsDeliver, decode_pdu, encode_submit

    m, net, _ = setup()
    other = neighbour(net, "generic")
    m.poll(4.0)
    other.poll(4.0)
    first = encode_submit("x" * 200, f"+{other.identity.msisdn}", concat_reference=9)[0]
    at(m, f"AT+CMGW={first.tpdu_length}")
    m.feed(first.hex.encode() + b"\x1a", 4.0)
    index = int(m.take_output().decode().split("+CMGW: ")[1].split("\r\n")[0])
    assert at(m, f"AT+CMSS={index}").startswith(b"\r\n+CMSS: ")
    other.take_output(5.0)
    msg = decode_pdu(at(other, "AT+CMGR=1").decode().split("\r\n")[2], Direction.MT)
    assert isinstance(msg, SmsDeliver) and msg.concat is not None
    assert (msg.concat.reference, msg.concat.total, msg.concat.sequence) == (9, 2, 1)


def test_pdu_status_report_request_gives_cds_when_the_other_line_takes_the_message() -> None:
    from modem.sms import Direction, SmsStatusReport, decode_pdu, encode_submit

    m, net, _ = setup()
    other = neighbour(net, "quectel-bg96")
    m.poll(4.0)
    other.poll(4.0)
    other.take_output()
    at(m, "AT+CNMI=2,1,0,1,0")
    (pdu,) = encode_submit("meter 17 ok", f"+{other.identity.msisdn}", status_report=True)
    at(m, f"AT+CMGS={pdu.tpdu_length}")
    m.feed(pdu.hex.encode() + b"\x1a", 4.0)
    mr = int(m.take_output().decode().split("+CMGS: ")[1].split("\r\n")[0])
    assert other.take_output(5.0) == b'\r\n+CMTI: "SM",1\r\n'
    lines = m.take_output(6.0).decode().split("\r\n")
    assert lines[1].startswith("+CDS: ")
    report = decode_pdu(lines[2], Direction.MT)
    assert isinstance(report, SmsStatusReport)
    assert (report.message_reference, report.status) == (mr, 0)
    assert report.recipient.number.lstrip("+") == other.identity.msisdn


def test_a_status_report_says_delivered_only_when_the_full_recipient_has_stored_the_message() -> None:
    """The report said delivered (TP-Status 0) at once while the message waited in the recipient's
    full storage; now it waits at the SMSC (memory capacity exceeded, a temporary error) and the
    report comes when a place frees, or says expired (0x46) when its validity ends first."""
    m, net, _ = setup()
    other = neighbour(net, "generic")
    m.poll(4.0)
    other.poll(4.0)
    at(other, "AT+CNMI=2,1,0,0,0;+CMGF=1", 4.0)
    for _ in range(other.sms.capacity):  # the storage full of messages written and kept
        at(other, 'AT+CMGW="0600000000"', 4.0)
        other.feed(b"x\x1a", 4.0)
        assert other.take_output().startswith(b"\r\n+CMGW: ")
    assert at(other, "AT+CPMS?") == b'\r\n+CPMS: "SM",30,30,"SM",30,30,"SM",30,30\r\n\r\nOK\r\n'
    at(m, "AT+CMGF=1;+CNMI=2,1,0,1,0;+CSMP=49,167,0,0")  # TP-SRR, relative TP-VP 167: one day
    for text in ("first", "second"):
        at(m, f'AT+CMGS="+{other.identity.msisdn}"', 5.0)
        m.feed(text.encode() + b"\x1a", 5.0)
    m.take_output()
    assert other.take_output(60.0) == b""  # nothing arrives: no room
    assert m.take_output(60.0) == b""  # and no report says delivered
    assert net.smsc.stored(other.identity.line_id) == 2 and net.smsc.memory_full > 0
    assert at(other, "AT+CMGD=1", 100.0) == b"\r\nOK\r\n"
    assert other.take_output(101.0) == b'\r\n+CMTI: "SM",1\r\n'  # one place: the first message
    out = m.take_output(101.0).decode()
    assert out.count("+CDS: ") == 1 and out.rstrip().endswith(",0")  # delivered, then
    assert m.take_output(5.0 + 86_400 + 1).decode().rstrip().endswith(",70")  # the second expired
    assert net.smsc.stored(other.identity.line_id) == 0


def test_text_mode_csmp_srr_gives_a_text_cds_and_without_it_none() -> None:
    m, _, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMGF=1;+CNMI=2,1,0,1,0")
    at(m, 'AT+CMGS="+447700900123"')
    m.feed(b"no report\x1a", 2.0)
    m.take_output()
    assert m.take_output(4.0) == b""
    at(m, "AT+CSMP=49,167,0,0")
    at(m, 'AT+CMGS="+447700900123"')
    m.feed(b"report please\x1a", 4.0)
    mr = int(m.take_output().decode().split("+CMGS: ")[1].split("\r\n")[0])
    out = m.take_output(6.0).decode()
    assert out.startswith(f'\r\n+CDS: 6,{mr},"+447700900123",145,"')
    assert out.rstrip().endswith(",0")


@pytest.mark.parametrize(
    ("validity", "expires_after_s"),
    [
        (timedelta(minutes=5), 300),  # relative TP-VP
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), 3600 - 4),  # absolute: an hour after the epoch
        (EnhancedValidity(bytes([0x02, 90, 0, 0, 0, 0, 0])), 90),  # enhanced, in seconds
    ],
    ids=["relative", "absolute", "enhanced"],
)
def test_an_mo_sms_expires_at_the_end_of_the_validity_period_it_was_submitted_with(
    validity: timedelta | datetime | EnhancedValidity, expires_after_s: int
) -> None:
    """The SMSC kept every MO SMS for its own 3 days: the report said expired days late."""
    from modem.sms import Direction, SmsStatusReport, decode_pdu, encode_submit

    m, net, _ = setup()
    other = neighbour(net, "generic")
    m.poll(4.0)
    at(other, "AT+CFUN=0", 4.0)  # the recipient is off: the message waits at the SMSC
    at(m, "AT+CNMI=2,1,0,1,0")
    dest = f"+{other.identity.msisdn}"
    (pdu,) = encode_submit("meter 17 ok", dest, status_report=True, validity=timedelta(minutes=5))
    tpdu = bytearray(pdu.tpdu)
    if isinstance(validity, EnhancedValidity):  # encode_submit does not write this format
        tpdu[0] = tpdu[0] & ~0x18 | 0x08
        at_vp = 4 + (len(dest) - 1 + 1) // 2
        tpdu[at_vp + 2 : at_vp + 3] = validity.raw
    else:
        tpdu = bytearray(encode_submit("meter 17 ok", dest, status_report=True, validity=validity)[0].tpdu)
    at(m, f"AT+CMGS={len(tpdu)}")
    m.feed(b"00" + tpdu.hex().upper().encode() + b"\x1a", 4.0)
    assert m.take_output().startswith(b"\r\n+CMGS: ")
    assert m.take_output(4.0 + expires_after_s - 1) == b""  # still valid: kept for the recipient
    lines = m.take_output(4.0 + expires_after_s + 1).decode().split("\r\n")
    report = decode_pdu(lines[2], Direction.MT)
    assert isinstance(report, SmsStatusReport) and report.status == 0x46  # validity period expired
    assert net.smsc.expired == 1


def test_a_text_mode_sms_expires_after_the_csmp_validity_period() -> None:
    m, net, _ = setup()
    other = neighbour(net, "generic")
    m.poll(4.0)
    at(other, "AT+CFUN=0", 4.0)
    at(m, "AT+CMGF=1;+CNMI=2,1,0,1,0;+CSMP=49,11,0,0")  # TP-SRR, relative TP-VP 11: one hour
    at(m, f'AT+CMGS="+{other.identity.msisdn}"')
    m.feed(b"report please\x1a", 4.0)
    assert m.take_output().startswith(b"\r\n+CMGS: ")
    assert m.take_output(4.0 + 3599) == b""
    assert m.take_output(4.0 + 3601).decode().rstrip().endswith(",70")  # TP-Status 0x46


@pytest.mark.parametrize("mode", ["text", "pdu"])
def test_a_status_report_gives_the_tp_status_of_the_smsc(mode: str) -> None:
    """A text-mode message with TP-SRR (+CSMP 49) to a line whose store at the SMSC was full was
    dropped there without a report (no +CDS ever came); and every report that was not "delivered"
    said 70 (validity period expired) whatever the SMSC gave.  Now the SMSC's permanent error, SM
    deleted by SC administration (TP-Status 0x48), comes as +CDS."""
    from gateway.smsc import SmscConfig
    from modem.sms import Direction, SmsStatusReport, decode_pdu

    m, net, _ = setup()
    net.smsc.config = SmscConfig(max_stored_per_line=1)
    other = neighbour(net, "generic")
    m.poll(4.0)
    at(other, "AT+CFUN=0", 4.0)  # the recipient is off: the SMSC keeps one message for it
    at(m, f"AT+CMGF={int(mode == 'text')};+CNMI=2,1,0,1,0;+CSMP=49,167,0,0")
    refs = []
    for _ in range(2):
        if mode == "text":
            at(m, f'AT+CMGS="+{other.identity.msisdn}"')
            m.feed(b"report please\x1a", 4.0)
        else:
            from modem.sms import encode_submit

            (pdu,) = encode_submit("report please", f"+{other.identity.msisdn}", status_report=True)
            at(m, f"AT+CMGS={pdu.tpdu_length}")
            m.feed(pdu.hex.encode() + b"\x1a", 4.0)
        refs.append(int(m.take_output().decode().split("+CMGS: ")[1].split("\r\n")[0]))
    lines = m.take_output(6.0).decode().split("\r\n")
    if mode == "text":
        assert lines[1].startswith(f'+CDS: 6,{refs[1]},"+{other.identity.msisdn}",145,"')
        assert lines[1].endswith(",72")
    else:
        report = decode_pdu(lines[2], Direction.MT)
        assert isinstance(report, SmsStatusReport) and (report.message_reference, report.status) == (
            refs[1],
            0x48,
        )
    assert m.take_output(60.0) == b""  # the first one still waits for its recipient


@pytest.mark.parametrize(("bfr", "flushed"), [(0, True), (1, False)])
def test_cnmi_mode_0_keeps_the_indications_in_the_ta_until_a_mode_1_to_3_is_entered(
    bfr: int, flushed: bool
) -> None:
    """With +CNMI <mode>=0 (the generic profile's power-up setting) a status report asked for with
    <ds>=1 or 2 was dropped (<ds>=2: not even stored) and +CMTI never said a message had come:
    27.005 3.4.1 buffers them in the TA, flushed after the OK of a +CNMI that enters <mode> 1..3
    (<bfr>=0) or cleared (<bfr>=1)."""
    m, net, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMGF=1;+CNMI=0,1,0,2,0;+CSMP=49,167,0,0")
    at(m, 'AT+CMGS="+447700900123"')
    m.feed(b"report please\x1a", 2.0)
    m.take_output()
    net.submit_sms(2.5, m.identity.msisdn, "+33600000001", "hello")
    assert m.take_output(5.0) == b""  # kept in the TA
    assert at(m, "AT+CPMS?") == b'\r\n+CPMS: "SM",2,30,"SM",2,30,"SM",2,30\r\n\r\nOK\r\n'  # report stored
    assert at(m, f"AT+CNMI=2,1,0,2,{bfr}") == b"\r\nOK\r\n"  # the answer first
    held = b'\r\n+CMTI: "SM",1\r\n\r\n+CDSI: "SM",2\r\n'
    assert m.take_output(m.now) == (held if flushed else b"")
    assert m.take_output(60.0) == b""  # once
    net.submit_sms(60.0, m.identity.msisdn, "+33600000001", "again")
    assert m.take_output(62.0) == b'\r\n+CMTI: "SM",3\r\n'  # <mode>=2: at once


def test_an_mo_sms_whose_absolute_validity_is_past_is_refused_and_not_billed() -> None:
    from modem.sms import encode_submit

    m, _, sink = setup()
    m.poll(4.0)
    (pdu,) = encode_submit("late", "+33612345678", validity=datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    at(m, f"AT+CMEE=1;+CMGS={pdu.tpdu_length}")
    m.feed(pdu.hex.encode() + b"\x1a", 4.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 96\r\n"  # RP cause: invalid mandatory information
    assert not [r for r in sink.records if r.type is UsageType.SMS]


def _relay(content: str | bytes, **options: object) -> list[SmsDeliver]:
    """PDU-mode parts sent by one virtual modem to another, as the recipient reads them (+CMGR)."""
    from modem.sms import encode_submit

    m, net, _ = setup()
    other = neighbour(net, "quectel-bg96")
    m.poll(4.0)
    other.poll(4.0)
    other.take_output()
    parts = encode_submit(content, f"+{other.identity.msisdn}", **options)  # type: ignore[arg-type]
    for part in parts:
        at(m, f"AT+CMGS={part.tpdu_length}")
        m.feed(part.hex.encode() + b"\x1a", 4.0)
        assert m.take_output().startswith(b"\r\n+CMGS: ")
    assert other.take_output(5.0).count(b"+CMTI:") == len(parts)
    return _read_all(other, len(parts))


def test_an_8_bit_data_sms_reaches_the_other_line_with_its_octets() -> None:
    """It arrived as an empty GSM 7-bit text: the SMSC relayed the submitted text, which data has not."""
    from modem.sms import Alphabet, PortInfo

    (msg,) = _relay(b"\x00\x01\xfe\xff meter frame", ports=PortInfo(2948, 9200))
    assert msg.dcs.alphabet is Alphabet.DATA8 and msg.user_data.payload == b"\x00\x01\xfe\xff meter frame"
    assert msg.ports == PortInfo(2948, 9200)


@pytest.mark.parametrize("message_class", [0, 1, 2, 3])
def test_the_message_class_reaches_the_other_line(message_class: int) -> None:
    """A class 0 (flash) SMS arrived as an ordinary one: the SMSC dropped the TP-DCS."""
    (msg,) = _relay("Alarme: porte ouverte", message_class=message_class)
    assert msg.dcs.message_class == message_class
    assert msg.text == "Alarme: porte ouverte"


def test_parts_that_cut_an_emoji_or_use_a_national_table_reach_the_other_line_as_sent() -> None:
    """The SMSC relays the user data as it came; it decoded each part and encoded it again, so a
    surrogate pair cut between two parts arrived as two U+FFFD, and a Turkish part lost its table."""
    from modem.sms import Alphabet, Language
    from modem.sms.reassembly import Reassembler
    from modem.sms.udh import ConcatInfo

    text = "x" * 66 + "😀" + " fin"
    units = text.encode("utf-16-be")
    cut = [units[:134], units[134:]]  # a careless sender: the high surrogate ends part 1
    parts = [UserData(Alphabet.UCS2, c, (ConcatInfo(5, 2, i, 8).to_ie(),)) for i, c in enumerate(cut, 1)]
    reassembler = Reassembler(timeout=60.0)
    whole = [w for w in (reassembler.add(d, 5.0) for d in _relay_user_data(parts)) if w is not None]
    assert [w.text for w in whole] == [text]
    (turkish,) = _relay("Şişli'de buluşalım", language=Language.TURKISH)
    assert turkish.text == "Şişli'de buluşalım"
    assert turkish.dcs.alphabet is Alphabet.GSM7 and {0x24, 0x25} & {
        ie.iei for ie in turkish.user_data.header
    }


def _relay_user_data(parts: list[UserData]) -> list[SmsDeliver]:
    """Hand-made parts (user data given as is) sent from one modem to another, as received."""
    from dataclasses import replace

    from modem.sms import encode_submit

    m, net, _ = setup()
    other = neighbour(net, "quectel-bg96")
    m.poll(4.0)
    other.poll(4.0)
    other.take_output()
    (template,) = encode_submit("-", f"+{other.identity.msisdn}", alphabet="ucs2")
    for ud in parts:
        msg = replace(template.message, user_data=ud)
        tpdu = msg.encode()
        at(m, f"AT+CMGS={len(tpdu)}")
        m.feed(b"00" + tpdu.hex().upper().encode() + b"\x1a", 4.0)
        assert m.take_output().startswith(b"\r\n+CMGS: ")
    other.take_output(5.0)
    return _read_all(other, len(parts))


def _read_all(m: VirtualModem, count: int) -> list[SmsDeliver]:
    """Messages 1..count of the modem's storage, read with +CMGR in PDU mode."""
    from modem.sms import Direction, decode_pdu

    out = []
    for i in range(1, count + 1):
        msg = decode_pdu(at(m, f"AT+CMGR={i}").decode().split("\r\n")[2], Direction.MT)
        assert isinstance(msg, SmsDeliver)
        out.append(msg)
    return out


@pytest.mark.parametrize("cnmi", ["2,2,0,0,0", "2,1,0,0,0"], ids=["routed-cmt", "stored-cmgr"])
def test_text_mode_shows_a_ucs2_message_as_hex_and_a_gsm_one_in_the_te_set(cnmi: str) -> None:
    """27.005 3.1 <data>: 8-bit and UCS2 user data as hex; +CMT of "✓" or "€" raised UnicodeEncodeError."""
    m, net, _ = setup()
    m.poll(2.0)
    at(m, f"AT+CMGF=1;+CNMI={cnmi}")
    net.submit_sms(2.5, m.identity.msisdn, "+33600000001", "Ça va ✓")  # UCS2
    net.submit_sms(2.5, m.identity.msisdn, "+33600000001", "Prix: 5 €")  # GSM 7-bit, extension table
    m.poll(3.0)
    out = m.take_output()
    if cnmi.startswith("2,1"):
        out = at(m, "AT+CMGR=1") + at(m, "AT+CMGR=2")
    lines = out.decode("latin-1").split("\r\n")
    assert "Ça va ✓".encode("utf-16-be").hex().upper() in lines
    assert "Prix: 5 ?" in lines  # IRA has no euro sign


def test_text_mode_shows_8_bit_data_and_a_part_with_a_header_as_hex() -> None:
    """The 8-bit frame read as an empty line, a long message's part as its text alone."""
    from gateway.api import MtSms
    from modem.sms import PortInfo, encode_deliver

    m, _, _ = setup()
    m.poll(2.0)
    at(m, "AT+CMGF=1;+CNMI=2,2,0,0,0")
    when = datetime(2026, 3, 2, 8, 0, 3, tzinfo=UTC)
    frame = encode_deliver(b"\x00\x01\xfe", "+33600000001", when, ports=PortInfo(2948, 9200))[0]
    m.sms.receive(MtSms("+33600000001", "", 3.0, extra={"pdu": frame.hex}))
    lines = m.take_output(3.0).decode("latin-1").split("\r\n")
    assert lines[1].startswith('+CMT: "+33600000001",,"')
    assert lines[2] == frame.message.user_data.encode()[1].hex().upper()  # header (ports), data: hex


@pytest.mark.parametrize(
    ("mt", "routed"),
    [
        (2, {None: True, 0: True, 1: True, 2: False, 3: True}),
        (3, {None: False, 0: False, 1: False, 2: False, 3: True}),
    ],
)
def test_cnmi_routes_a_message_as_27_005_says_for_its_class(mt: int, routed: dict[int | None, bool]) -> None:
    """<mt>=2 stores class 2 (SIM) messages and announces them with +CMTI; <mt>=3 routes class 3 only.
    Both routed every message as +CMT."""
    from gateway.api import MtSms

    m, _, _ = setup()
    m.poll(2.0)
    at(m, f"AT+CNMI=2,{mt},0,0,0")
    for cls, direct in routed.items():
        extra = {} if cls is None else {"class": str(cls)}
        m.sms.receive(MtSms("+33600000001", f"class {cls}", m.now, extra=extra))
        out = m.take_output()
        assert out.startswith(b"\r\n+CMT: " if direct else b'\r\n+CMTI: "SM",'), (cls, out)


@pytest.mark.parametrize(
    ("cscs", "dcs", "typed", "alphabet", "message_class", "content"),
    [
        ("IRA", 8, "Ça va ✓".encode("utf-16-be").hex().upper(), "ucs2", None, "Ça va ✓"),  # 27.005: hex
        ("GSM", 4, "0001FEFF", "8bit", None, b"\x00\x01\xfe\xff"),
        ("IRA", 16, "Porte ouverte", "gsm7", 0, "Porte ouverte"),  # class 0: flash
        ("UCS2", 24, "Alerte ✓".encode("utf-16-be").hex(), "ucs2", 0, "Alerte ✓"),
    ],
    ids=["ucs2-hex", "8bit-hex", "flash", "ucs2-flash"],
)
def test_text_mode_sends_with_the_csmp_data_coding_scheme(
    cscs: str, dcs: int, typed: str, alphabet: str, message_class: int | None, content: str | bytes
) -> None:
    """+CSMP's <dcs> was read for UCS2 only, and its text taken as typed: the hex a 27.005 client
    types for UCS2 or 8-bit data arrived as digits, and a class 0 message as an ordinary one."""
    from modem.sms import Alphabet

    m, net, sink = setup()
    other = neighbour(net, "quectel-bg96")
    m.poll(4.0)
    other.poll(4.0)
    other.take_output()
    at(m, f'AT+CMGF=1;+CSCS="{cscs}";+CSMP=17,167,0,{dcs}')
    dest = f"+{other.identity.msisdn}"
    at(m, f'AT+CMGS="{ucs2(dest) if cscs == "UCS2" else dest}"')
    m.feed(typed.encode() + b"\x1a", 4.0)
    assert m.take_output().startswith(b"\r\n+CMGS: ")
    other.take_output(5.0)
    (msg,) = _read_all(other, 1)
    assert msg.dcs.alphabet is Alphabet(alphabet) and msg.dcs.message_class == message_class
    assert (msg.user_data.payload if isinstance(content, bytes) else msg.text) == content
    assert sum(r.type is UsageType.SMS for r in sink.records) == 1


def test_text_mode_hex_that_is_not_hex_is_cms_305() -> None:
    m, _, sink = setup()
    m.poll(4.0)
    at(m, 'AT+CMEE=1;+CMGF=1;+CSMP=17,167,0,8;+CMGS="0612345678"')
    m.feed(b"not hex\x1a", 4.0)
    assert m.take_output() == b"\r\n+CMS ERROR: 305\r\n"
    assert not sink.records


def test_ussd_request_in_the_ucs2_character_set_is_read_as_hex() -> None:
    """With AT+CSCS="UCS2" (as gammu sets it) the request is UCS2 hex; it was taken as typed, so
    "*#100#" was an unknown code (+CUSD: 4)."""
    m, _, _ = setup()
    m.poll(2.0)
    request = "*#100#".encode("utf-16-be").hex().upper()
    assert at(m, f'AT+CMEE=1;+CSCS="UCS2";+CUSD=1,"{request}",15') == b"\r\nOK\r\n"
    answer = f"Your number: +{m.identity.msisdn}".encode("utf-16-be").hex().upper()
    assert m.take_output(4.0) == f'\r\n+CUSD: 0,"{answer}",72\r\n'.encode()
    assert at(m, 'AT+CUSD=1,"*#100#",15') == b"\r\n+CME ERROR: 50\r\n"  # not UCS2 hex


def test_csdh_1_shows_the_header_fields_the_text_mode_parser_reads() -> None:
    """AT+CSDH=1 answered OK and changed nothing (+CSDH? said 0): a client could not learn a
    message's <dcs>, so whether its body is text or hex."""
    from modem.sms.textmode import parse_cmgl_text, parse_cmgr_text, parse_cmt_text

    m, net, _ = setup()
    m.poll(2.0)
    assert at(m, "AT+CMGF=1;+CSDH=1;+CSDH?") == b"\r\n+CSDH: 1\r\n\r\nOK\r\n"
    net.submit_sms(2.5, m.identity.msisdn, "+33600000001", "Ça va ✓")
    m.poll(3.0)
    m.take_output()
    head, body = at(m, "AT+CMGR=1").decode().split("\r\n")[1:3]
    h = parse_cmgr_text(head)
    assert (h.address, h.type_of_address, h.first_octet, h.pid, h.dcs) == ("+33600000001", 145, 4, 0, 8)
    assert (h.sca, h.tosca, h.length) == ("+33689004000", 145, len(bytes.fromhex(body)))
    h = parse_cmgl_text(at(m, 'AT+CMGL="ALL"').decode().split("\r\n")[1])
    assert (h.index, h.type_of_address, h.length) == (1, 145, 14)
    at(m, "AT+CNMI=2,2,0,0,0")
    net.submit_sms(3.5, m.identity.msisdn, "+33600000001", "Porte ouverte")
    h = parse_cmt_text(m.take_output(4.0).decode().split("\r\n")[1])
    assert (h.dcs, h.length, h.sca) == (0, 13, "+33689004000")
    assert at(m, "AT+CSDH=0;+CMGR=1").decode().split("\r\n")[1].endswith('+00"')  # no fields after <scts>
    assert at(m, "AT+CSDH=2") == b"\r\n+CMS ERROR: 302\r\n"


def test_cgatt_0_leaves_the_packet_domain_until_cgatt_1_or_an_activation() -> None:
    """After AT+CGATT=0 the modem kept answering +CGATT: 1 and +CGREG: 0,1: a script waiting for the
    detach never saw it."""
    m, _, _ = setup("quectel-bg96")
    m.poll(4.0)
    at(m, 'AT+CMEE=1;+CGREG=1;+CGDCONT=1,"IP","orange.m2m.spec";+CGACT=1,1')
    assert at(m, "AT+CGATT=0") == b"\r\n+CGREG: 0\r\n\r\nOK\r\n"
    assert at(m, "AT+CGATT?;+CGREG?;+CREG?") == b"\r\n+CGATT: 0\r\n+CGREG: 1,0\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert at(m, "AT+CGACT?") == b"\r\n+CGACT: 1,0\r\n\r\nOK\r\n"
    assert at(m, "AT+CGATT=1") == b"\r\n+CGREG: 1\r\n\r\nOK\r\n"
    assert at(m, "AT+CGATT?") == b"\r\n+CGATT: 1\r\n\r\nOK\r\n"
    at(m, "AT+CGATT=0")
    assert at(m, "AT+CGACT=1,1") == b"\r\n+CGREG: 1\r\n\r\nOK\r\n"  # 27.007: an activation attaches first
    assert at(m, "AT+CGATT?;+CGACT?") == b"\r\n+CGATT: 1\r\n+CGACT: 1,1\r\n\r\nOK\r\n"


def two_modems(
    caller: str = "generic", callee: str = "generic", offer: str = "business-m2m-dtmf"
) -> tuple[VirtualModem, VirtualModem, Network, Sink]:
    """Two modems of one network, registered, the callee showing +CRING and +CLIP."""
    a, net, sink = setup(caller, offer=offer)
    b = VirtualModem(load_profile(callee), network=net, seed=5, index=1, epoch=EPOCH, conditions=FULL)
    provision(net, b, ServeScenario(offer=offer))
    b.settings.echo = False
    a.poll(2.0)
    b.poll(2.0)
    b.take_output()
    assert at(b, "AT+CLIP=1;+CRC=1") == b"\r\nOK\r\n"
    return a, b, net, sink


def test_a_call_to_another_modem_of_the_network_rings_there_until_it_answers() -> None:
    """A call to a line served by another virtual modem was answered by the switch 1 s after ATD,
    as any number: the other modem never rang, and the call was billed from the dial."""
    a, b, net, sink = two_modems()
    a_number, b_number = f"+{a.identity.msisdn}", f"+{b.identity.msisdn}"
    assert at(a, f"ATD{b_number};", 10.0) == b"\r\nOK\r\n"
    assert at(a, "AT+CLCC") == f'\r\n+CLCC: 1,0,2,0,0,"{b_number}",145\r\n\r\nOK\r\n'.encode()
    a.poll(11.0)  # set up: the network alerts the called line
    assert at(a, "AT+CLCC") == f'\r\n+CLCC: 1,0,3,0,0,"{b_number}",145\r\n\r\nOK\r\n'.encode()
    ring = f'\r\n+CRING: VOICE\r\n+CLIP: "{a_number}",145,"",0,"",0\r\n'.encode()
    assert b.take_output(11.0) == ring
    assert b.take_output(14.0) == ring  # every RING_PERIOD_S
    assert at(b, "AT+CLCC") == f'\r\n+CLCC: 1,1,4,0,0,"{a_number}",145\r\n\r\nOK\r\n'.encode()
    assert at(b, "ATA", 15.0) == b"\r\nOK\r\n"
    assert a.take_output() == b""  # active: nothing said on connect (no +COLP)
    assert at(a, "AT+CLCC") == f'\r\n+CLCC: 1,0,0,0,0,"{b_number}",145\r\n\r\nOK\r\n'.encode()
    assert at(b, "AT+CLCC") == f'\r\n+CLCC: 1,1,0,0,0,"{a_number}",145\r\n\r\nOK\r\n'.encode()
    assert b.take_output(20.0) == b""  # no more rings
    assert at(a, "ATH", 45.0) == b"\r\nOK\r\n"
    assert b.take_output() == b"\r\nNO CARRIER\r\n"
    assert at(b, "AT+CLCC") == b"\r\nOK\r\n"
    (rec,) = [r for r in sink.records if r.type == UsageType.VOICE]
    assert (rec.line, rec.start, rec.duration_s) == (a.identity.line_id, EPOCH + timedelta(seconds=15), 30)
    assert not net.incidents


def test_the_called_modem_hangs_up_an_answered_call_and_the_caller_hears_no_carrier() -> None:
    a, b, _, sink = two_modems()
    at(a, f"ATD+{b.identity.msisdn};", 10.0)
    a.poll(11.0)
    b.poll(12.0)
    at(b, "ATA", 12.0)
    assert at(b, "AT+CHUP", 20.0) == b"\r\nOK\r\n"
    assert a.take_output() == b"\r\nNO CARRIER\r\n"
    assert at(a, "AT+CLCC") == b"\r\nOK\r\n"
    assert [r.duration_s for r in sink.records if r.type == UsageType.VOICE] == [8]


@pytest.mark.parametrize("release", ["ATH", "AT+CHUP"])
def test_a_ringing_call_declined_by_the_called_modem_is_busy_for_the_caller(release: str) -> None:
    a, b, _, sink = two_modems()
    at(a, f"ATD+{b.identity.msisdn};", 10.0)
    a.poll(11.0)
    assert b.take_output(11.0).startswith(b"\r\n+CRING: VOICE")
    assert at(b, release, 13.0) == b"\r\nOK\r\n"
    assert a.take_output() == b"\r\nBUSY\r\n"
    assert at(a, "AT+CLCC") == b"\r\nOK\r\n" and at(b, "AT+CLCC") == b"\r\nOK\r\n"
    assert [r.duration_s for r in sink.records if r.type == UsageType.VOICE] == [0]  # nothing billed


def test_a_call_nobody_answers_ends_with_no_answer_after_the_networks_time() -> None:
    a, b, _, sink = two_modems()
    at(a, f"ATD+{b.identity.msisdn};", 10.0)
    a.poll(11.0)
    assert a.take_output(40.9) == b""
    assert a.take_output(41.0) == b"\r\nNO ANSWER\r\n"  # 30 s of alerting (SwitchConfig.no_answer_s)
    out = b.take_output()  # the release reached b at 41 s: its rings up to then, then the end
    assert out.count(b"+CRING: VOICE") == 11 and out.endswith(b"\r\nNO CARRIER\r\n")
    assert at(b, "AT+CLCC") == b"\r\nOK\r\n"
    assert at(b, "ATA") == b"\r\nNO CARRIER\r\n"
    assert [r.duration_s for r in sink.records if r.type == UsageType.VOICE] == [0]


def test_the_caller_giving_up_stops_the_ringing_and_a_modem_in_a_call_is_busy() -> None:
    a, b, net, _ = two_modems()
    c = VirtualModem(load_profile("generic"), network=net, seed=5, index=2, epoch=EPOCH, conditions=FULL)
    provision(net, c, ServeScenario())
    c.settings.echo = False
    c.poll(2.0)
    c.take_output()
    at(a, f"ATD+{b.identity.msisdn};", 10.0)
    a.poll(11.0)
    b.take_output(11.0)
    assert at(c, f"ATD+{b.identity.msisdn};", 12.0) == b"\r\nOK\r\n"
    assert c.take_output(13.0) == b"\r\nBUSY\r\n"  # b has a call ringing: no call waiting
    assert at(a, "ATH", 13.5) == b"\r\nOK\r\n"
    assert b.take_output() == b"\r\nNO CARRIER\r\n"
    assert b.take_output(20.0) == b""


def test_a_data_call_to_another_modem_connects_both_when_it_answers() -> None:
    a, b, _, sink = two_modems("simcom-sim800", "simcom-sim800", offer="business-m2m")
    assert at(a, f"ATD+{b.identity.msisdn}", 10.0) == b""  # the result comes with the answer
    a.poll(11.0)
    assert b.take_output(11.0).startswith(b"\r\n+CRING: REL ASYNC\r\n")
    assert at(b, "ATA", 13.0) == b"\r\nCONNECT 9600\r\n"
    assert a.take_output() == b"\r\nCONNECT 9600\r\n"
    assert a.in_data_mode and b.in_data_mode
    a.feed(b"+++", 15.0)
    a.poll(16.0)
    assert a.take_output() == b"\r\nOK\r\n"
    assert at(a, "ATH", 17.0) == b"\r\nOK\r\n"
    assert b.take_output() == b"\r\nNO CARRIER\r\n" and not b.in_data_mode
    assert [r.duration_s for r in sink.records if r.type == UsageType.CSD] == [4]


def test_a_character_typed_while_a_data_call_is_set_up_aborts_it() -> None:
    """V.250 6.3.1: the attempt ends with NO CARRIER; the called modem stops ringing."""
    a, b, _, sink = two_modems("simcom-sim800", "simcom-sim800", offer="business-m2m")
    at(a, f"ATD+{b.identity.msisdn}", 10.0)
    a.poll(11.0)
    b.take_output(11.0)
    a.feed(b"A", 12.0)
    assert a.take_output() == b"\r\nNO CARRIER\r\n"
    assert b.take_output() == b"\r\nNO CARRIER\r\n"
    assert at(a, "AT") == b"\r\nOK\r\n"
    assert [r.duration_s for r in sink.records if r.type == UsageType.CSD] == [0]


def test_an_emergency_call_goes_through_without_registration_and_is_free() -> None:
    """ATD112; on a modem whose SIM asks for its PIN (so not registered) answered NO CARRIER; once
    registered, 112 was a premium short code, refused on a data offer, not priced on a DTMF one."""
    sink = Sink()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), sink)
    m = VirtualModem(
        load_profile("simcom-sim800"), network=net, seed=5, epoch=EPOCH, conditions=FULL, pin="1234"
    )
    provision(net, m, ServeScenario(offer="business-m2m"))  # a data offer: no voice calls
    m.take_output(0.0)
    at(m, "ATE0", 0.0)
    m.poll(5.0)
    assert at(m, "AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"  # the SIM is locked: not registered
    assert at(m, "ATD0612345678;") == b"\r\nNO CARRIER\r\n"
    assert at(m, "ATD112;", 10.0) == b"\r\nOK\r\n"
    assert at(m, "AT+CLCC", 11.0) == b'\r\n+CLCC: 1,0,3,0,0,"112",129\r\n\r\nOK\r\n'
    assert m.take_output(16.0) == b""
    assert at(m, "AT+CLCC") == b'\r\n+CLCC: 1,0,0,0,0,"112",129\r\n\r\nOK\r\n'
    assert at(m, "ATH", 76.0) == b"\r\nOK\r\n"
    (rec,) = sink.records
    assert (rec.type, rec.dest, rec.duration_s) == (UsageType.VOICE, Dest.EMERGENCY, 60)


def test_no_emergency_call_without_any_network_on_the_air() -> None:
    m, _, _ = setup()
    m.net.move(None)
    assert at(m, "ATD112;", 5.0) == b"\r\nNO CARRIER\r\n"


def test_a_called_modem_switched_off_while_it_rings_gives_the_caller_no_carrier_not_busy() -> None:
    a, b, _, _ = two_modems()
    at(a, f"ATD+{b.identity.msisdn};", 10.0)
    a.poll(11.0)
    b.take_output(11.0)
    assert at(b, "AT+CFUN=0", 12.0) == b"\r\nNO CARRIER\r\n\r\nOK\r\n"
    assert a.take_output() == b"\r\nNO CARRIER\r\n"


def _udp_socket(m: VirtualModem) -> None:
    """A Quectel context on orange.m2m.spec and a UDP socket to the echo on it."""
    m.poll(5.0)
    assert at(m, 'AT+QICSGP=1,1,"orange.m2m.spec","","",1;+QIACT=1', 10.0) == b"\r\nOK\r\n"
    assert at(m, 'AT+QIOPEN=1,0,"UDP","echo.example",7,0,1', 10.0) == b"\r\nOK\r\n"
    m.poll(11.0)
    assert m.take_output() == b"\r\n+QIOPEN: 0,0\r\n"


def _echo(m: VirtualModem, now: float) -> bytes:
    """5 bytes sent on socket 0 at `now`: what the modem answers, the echo with it."""
    out = at(m, "AT+QISEND=0,5", now)
    if out != b"\r\n> ":
        return out
    m.feed(b"hello", now)
    m.poll(now + 1.0)
    return m.take_output()


def test_manual_selection_of_another_network_keeps_the_context_and_its_socket() -> None:
    """AT+COPS=1 to France's other network while a socket is open: a routing area update, as a
    coverage move (the context was released at the gateway while its socket went on, unbilled)."""
    m, _, sink = setup("quectel-bg96")
    _udp_socket(m)
    assert at(m, 'AT+COPS=1,2,"20810"', 20.0) == b"\r\nOK\r\n"
    assert _echo(m, 30.0) == b'\r\nSEND OK\r\n\r\n+QIURC: "recv",0,5\r\nhello\r\n'
    assert at(m, "AT+QICLOSE=0;+QIDEACT=1", 40.0) == b"\r\nOK\r\n"
    data = [r for r in sink.records if r.type == UsageType.DATA]
    assert [(r.cause, r.serving_plmn, r.bytes_up, r.bytes_down) for r in data] == [
        (24, "20801", 0, 0),
        (0, "20810", 5 + 28, 5 + 28),  # the datagram and its echo, IP and UDP headers with them
    ]


@pytest.mark.parametrize("leave", ["AT+CGATT=0", "AT+COPS=2", "AT+CGACT=0,1", "AT+CGACT=0"])
def test_leaving_the_packet_domain_closes_the_sockets_with_the_contexts(leave: str) -> None:
    """AT+CGATT=0 or AT+COPS=2 ends the contexts, AT+CGACT=0 the ones it names (all without a
    <cid>): their sockets end too (they went on sending, their bytes counted by the module and
    billed by nobody)."""
    m, _, sink = setup("quectel-bg96")
    _udp_socket(m)
    assert at(m, leave, 20.0) == b'\r\n+QIURC: "closed",0\r\n\r\nOK\r\n'
    assert _echo(m, 30.0) == b"\r\nERROR\r\n"
    assert at(m, "AT+QGDCNT?") == b"\r\n+QGDCNT: 0,0\r\n\r\nOK\r\n"
    data = [r for r in sink.records if r.type == UsageType.DATA]
    assert [(r.cause, r.bytes_up) for r in data] == [(0, 0)]


def test_a_clock_change_under_an_open_context_cuts_its_record_as_for_the_simulators_devices() -> None:
    """France's summer time begins at 01:00 UTC on 2026-03-29: the network updates the context with
    the new MS Time Zone and cuts its record with cause 23 (mSTimeZoneChange), as it does for a
    simulated device's context (`Network.time_zone_change`); the context goes on.  A served modem's
    context went through it uncut."""
    sink = Sink()
    epoch = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    net = Network(NetworkConfig(epoch=epoch, seed=1), sink)
    m = VirtualModem(load_profile("quectel-bg96"), network=net, seed=5, epoch=epoch, conditions=FULL)
    provision(net, m, ServeScenario())
    m.take_output(0.0)
    at(m, "ATE0", 0.0)
    _udp_socket(m)
    assert _echo(m, 100.0).endswith(b"hello\r\n")
    m.poll(2000.0)
    assert _echo(m, 2000.0).endswith(b"hello\r\n")
    assert at(m, "AT+QICLOSE=0;+QIDEACT=1", 2100.0) == b"\r\nOK\r\n"
    data = [r for r in sink.records if r.type == UsageType.DATA]
    assert [(r.start, r.cause, r.bytes_up) for r in data] == [
        (epoch + timedelta(seconds=10), 23, 5 + 28),
        (epoch + timedelta(seconds=1800), 0, 5 + 28),
    ]


def test_deactivating_the_sim800_stacks_context_closes_its_connection() -> None:
    """AT+CGACT=0,1 under a SIM800 connection (its stack's context from AT+CIICR): the connection is
    closed (`CLOSED`, the stack in PDP DEACT) instead of sending on into no billed session, and a
    context of no socket's leaves the connection be."""
    m, _, sink = setup("simcom-sim800")
    m.poll(5.0)
    for line in ('AT+CSTT="orange.m2m.spec"', "AT+CIICR", 'AT+CIPSTART="UDP","echo.example",7'):
        assert at(m, line, 10.0) == b"\r\nOK\r\n"
    m.poll(11.0)
    assert m.take_output() == b"\r\nCONNECT OK\r\n"
    assert at(m, 'AT+CGDCONT=2,"IP","other.apn"', 12.0) == b"\r\nOK\r\n"
    assert at(m, "AT+CGACT=0,2", 12.0) == b"\r\nOK\r\n"  # not the stack's: nothing closes
    assert at(m, "AT+CGACT=0,1", 20.0) == b"\r\nCLOSED\r\n\r\nOK\r\n"
    assert at(m, "AT+CIPSEND=5", 30.0) == b"\r\nERROR\r\n"
    assert at(m, "AT+CIPSTATUS", 31.0) == b"\r\nOK\r\n\r\nSTATE: PDP DEACT\r\n"
    data = [r for r in sink.records if r.type == UsageType.DATA]
    assert [(r.cause, r.bytes_up) for r in data] == [(0, 0)]


def test_call_forwarding_is_set_and_read_as_27_007_has_it() -> None:
    """AT+CCFC (27.007 §7.11) was unknown (ERROR): a bench could not read the forwards set on a
    line. Registered and read per reason and class; the network's, so past a reset; and asked only
    of a registered module (the request goes to the network)."""
    m, _, _ = setup()
    at(m, "AT+CMEE=1")
    assert at(m, "AT+CCFC=0,2") == b"\r\n+CME ERROR: 30\r\n"  # still searching
    m.poll(2.0)
    assert at(m, "AT+CCFC=0,2") == b"\r\n+CCFC: 0,7\r\n\r\nOK\r\n"  # none active for any class
    assert at(m, 'AT+CCFC=0,3,"+33699999999",145,1') == b"\r\nOK\r\n"
    assert at(m, 'AT+CCFC=2,3,"0699999998",129') == b"\r\nOK\r\n"
    assert at(m, "AT+CCFC=0,2") == b'\r\n+CCFC: 1,1,"+33699999999",145\r\n\r\nOK\r\n'
    assert at(m, "AT+CCFC=2,2,,,1") == b'\r\n+CCFC: 1,1,"0699999998",129,,,20\r\n\r\nOK\r\n'
    assert at(m, "AT+CCFC=1,2") == b"\r\n+CCFC: 0,7\r\n\r\nOK\r\n"
    at(m, "ATZ")
    at(m, "ATE0;+CMEE=1")
    assert at(m, "AT+CCFC=0,2").startswith(b'\r\n+CCFC: 1,1,"+33699999999",145')  # the network keeps it
    assert at(m, "AT+CCFC=0,0") == b"\r\nOK\r\n"  # disabled, still registered
    assert at(m, "AT+CCFC=0,2") == b"\r\n+CCFC: 0,7\r\n\r\nOK\r\n"
    assert at(m, "AT+CCFC=4,4;+CCFC=2,2") == b"\r\n+CCFC: 0,7\r\n\r\nOK\r\n"  # every forward erased
    assert at(m, "AT+CCFC=?") == b"\r\n+CCFC: (0-5)\r\n\r\nOK\r\n"
    assert at(m, "AT+CCFC=4,2") == b"\r\n+CME ERROR: 4\r\n"  # a query names one reason


def test_forwarding_and_the_sms_centre_numbers_are_in_the_te_character_set() -> None:
    """27.007 §7.11 and 27.005 §3.3.1 write <number> and <sca> in the TE character set: in "UCS2"
    the +CCFC and +CSCA answers gave the numbers as typed, where a module gives UCS2 hex (and so
    the bench's forwarding check never met what it reads on a physical module in UCS2)."""
    m, _, _ = setup()
    m.poll(2.0)
    at(m, 'AT+CMEE=1;+CSCS="UCS2"')
    assert at(m, f'AT+CCFC=0,3,"{ucs2("+33699999999")}",145') == b"\r\nOK\r\n"
    assert at(m, "AT+CCFC=0,2,,,1") == f'\r\n+CCFC: 1,1,"{ucs2("+33699999999")}",145\r\n\r\nOK\r\n'.encode()
    assert at(m, 'AT+CCFC=1,3,"+33699999999",145') == b"\r\n+CME ERROR: 50\r\n"  # not UCS2 hex
    centre = at(m, "AT+CSCA?").decode()
    assert centre.startswith(f'\r\n+CSCA: "{ucs2("+33689004000")}",145\r\n'), centre
    assert at(m, f'AT+CSCA="{ucs2("+33689004001")}",145') == b"\r\nOK\r\n"
    at(m, 'AT+CSCS="IRA"')
    assert at(m, "AT+CCFC=0,2,,,1") == b'\r\n+CCFC: 1,1,"+33699999999",145\r\n\r\nOK\r\n'
    assert at(m, "AT+CSCA?") == b'\r\n+CSCA: "+33689004001",145\r\n\r\nOK\r\n'
