"""The generic 3GPP driver against scripted transcripts (3GPP TS 27.007 / 27.005 command examples).

Transcripts follow the answer formats of TS 27.007 (§5 identification, §7.2 +CREG, §7.3 +COPS,
§8.5 +CSQ, §10.1 packet domain, §C.2.11 +VTS) and TS 27.005 (§3.4.1 +CNMI/+CMTI, §3.5.1 +CMGS,
§4.1 +CMGL, §4.2 +CMGR).  The SMS PDUs are the widely published "hellohello" examples.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from modem.at import errors
from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.script import ScriptedTransport, steps
from modem.drivers import DriverProfile, Modem, load_driver_profile
from modem.drivers.messaging import IncomingSms
from modem.drivers.network import csq_to_dbm
from modem.safety import AllowList, NoDialPolicy, NumberNotAllowed, SafetyError
from modem.sms import SmsStatusReport, encode_deliver, encode_status_report, encode_submit

BENCH = AllowList(["+46708251358", "+33612345678"])
# before a line that texts or calls, the client checks that the answers are its own (a register read)
SYNC = ("ATS3?\r", "\r\n013\r\n\r\nOK\r\n")
DELIVER_PDU = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"  # 28-octet TPDU


def modem_for(
    t: ScriptedTransport, profile: DriverProfile | None = None, policy: AllowList | None = BENCH
) -> Modem:
    client = ATClient(t, retry=RetryPolicy(delay=0.0), watchdog=WatchdogPolicy(enabled=False))
    client.start()
    return Modem(client, profile or load_driver_profile("generic"), policy)


async def test_identify_with_the_profile_iccid_commands() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CGMI\r", "\r\nQuectel\r\n\r\nOK\r\n"),
            ("AT+CGMM\r", "\r\nBG96\r\n\r\nOK\r\n"),
            ("AT+CGMR\r", "\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n"),
            ("AT+CGSN\r", "\r\n866425030000019\r\n\r\nOK\r\n"),
            ("AT+CIMI\r", "\r\n208011234567890\r\n\r\nOK\r\n"),
            ("AT+QCCID\r", "\r\n+QCCID: 89330123456789012347\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t, load_driver_profile("quectel-bg96")) as modem:
        ident = await modem.network.identify()
    assert (ident.manufacturer, ident.model, ident.revision) == ("Quectel", "BG96", "BG96MAR02A07M1G")
    assert (ident.imei, ident.imsi, ident.iccid) == (
        "866425030000019",
        "208011234567890",
        "89330123456789012347",
    )
    assert t.done


async def test_iccid_falls_back_to_the_next_command() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CCID\r", "\r\nERROR\r\n"), ("AT+ICCID\r", '\r\n+ICCID: "8933012345678901234F"\r\n\r\nOK\r\n')
        )
    )
    async with modem_for(t) as modem:
        assert await modem.network.iccid() == "8933012345678901234F"


async def test_registration_read_and_urc_tracking() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CREG=2\r", "\r\nOK\r\n"),
            ("AT+CGREG=2\r", "\r\nOK\r\n"),
            ("AT+CREG?\r", "\r\n+CREG: 2,2\r\n\r\nOK\r\n"),
            ("AT+CGREG?\r", "\r\n+CGREG: 2,2\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        await modem.network.enable_registration_urcs()
        waiter = asyncio.create_task(modem.network.wait_registered(timeout=5))
        await asyncio.wait_for(t.finished.wait(), 5)
        assert not waiter.done()
        t.push(b'\r\n+CREG: 5,"00C3","0A2B",0\r\n')
        reg = await waiter
    assert reg.kind == "+CREG" and reg.roaming and (reg.lac, reg.ci, reg.act) == ("00C3", "0A2B", 0)
    assert modem.network.registrations["+CGREG"].state == "not registered, searching"


@pytest.mark.parametrize(
    ("rssi", "dbm"), [(0, -113), (1, -111), (2, -109), (21, -71), (30, -53), (31, -51), (99, None)]
)
def test_csq_to_dbm(rssi: int, dbm: int | None) -> None:
    assert csq_to_dbm(rssi) == dbm


async def test_operator_signal_and_pdp_context() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+COPS?\r", '\r\n+COPS: 0,0,"Orange F",7\r\n\r\nOK\r\n'),
            ("AT+CSQ\r", "\r\n+CSQ: 21,0\r\n\r\nOK\r\n"),
            ('AT+CGDCONT=1,"IP","orange.m2m.spec"\r', "\r\nOK\r\n"),
            ("AT+CGACT=1,1\r", "\r\nOK\r\n"),
            ("AT+CGPADDR=1\r", '\r\n+CGPADDR: 1,"10.12.0.7"\r\n\r\nOK\r\n'),
        )
    )
    async with modem_for(t) as modem:
        op = await modem.network.operator()
        sig = await modem.network.signal()
        await modem.network.define_context(1, "orange.m2m.spec")
        await modem.network.activate(1)
        ip = await modem.network.pdp_address(1)
    assert (op.name, op.act, op.technology) == ("Orange F", 7, "E-UTRAN")
    assert (sig.rssi, sig.dbm) == (21, -71) and ip == "10.12.0.7" and t.done


async def test_send_sms_pdu_mode_through_the_codec() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CMGF=0\r", "\r\nOK\r\n"),  # the format is set before the first AT+CMGS
            SYNC,
            ("AT+CMGS=22\r", "\r\n> "),
            ("0001000B916407281553F800000AE8329BFD4697D9EC37\x1a", "\r\n+CMGS: 12\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        refs = await modem.sms.send("+46708251358", "hellohello")
    assert refs == [12] and t.done


async def test_send_long_sms_in_two_parts() -> None:
    text = "x" * 200  # 160 septets fit one message; a concatenated part carries 153
    parts = encode_submit(text, "+33612345678", message_reference=0, concat_reference=0)
    assert len(parts) == 2
    script = []
    for i, p in enumerate(parts):
        script += [
            ("AT+CMGF=0\r", "\r\nOK\r\n"),  # before each AT+CMGS: the module may have reset meanwhile
            SYNC,
            (f"AT+CMGS={p.tpdu_length}\r", "\r\n> "),
            (p.hex + "\x1a", f"\r\n+CMGS: {40 + i}\r\n\r\nOK\r\n"),
        ]
    t = ScriptedTransport(steps(*script))
    async with modem_for(t) as modem:
        refs = await modem.sms.send("+33 6 12 34 56 78", text)
    assert refs == [40, 41] and t.done


async def test_send_sms_text_mode() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CMGF=1\r", "\r\nOK\r\n"),
            ("AT+CSCS?\r", '\r\n+CSCS: "IRA"\r\n\r\nOK\r\n'),  # the set the number is written in
            ("AT+CMGF=1;+CSMP=17,167,0,0\r", "\r\nOK\r\n"),  # the module's own parameters may mail, fax, call
            SYNC,
            ('AT+CMGS="+33612345678"\r', "\r\n> "),
            ("meter 42: 17.3 kWh\x1a", "\r\n+CMGS: 5\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        await modem.sms.set_mode("text")
        assert await modem.sms.send("+33612345678", "meter 42: 17.3 kWh") == [5]


async def test_a_text_mode_send_in_a_set_read_as_hex_is_refused() -> None:
    # a module left in "HEX" by the program before: the driver did not read the set, and the
    # number went quoted as written ("3636" in "HEX" is the number 66)
    t = ScriptedTransport(
        steps(
            ("AT+CMGF=1\r", "\r\nOK\r\n"),
            ("AT+CSCS?\r", '\r\n+CSCS: "HEX"\r\n\r\nOK\r\n'),
            ("AT+CMGF=1;+CSMP=17,167,0,0\r", "\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        await modem.sms.set_mode("text")
        with pytest.raises(SafetyError, match=r'character set \(AT\+CSCS\) is "HEX"'):
            await modem.sms.send("+33612345678", "hi")
    assert t.done and b"CMGS" not in t.written


@pytest.mark.parametrize("text", ["Relevé 12 kWh", "Alarm €", "tab\there"])
async def test_send_sms_text_mode_refuses_what_ascii_lacks(text: str) -> None:
    # The text went out as its UTF-8 octets, which the module reads in its TE character set (IRA):
    # "Relevé" arrived as "RelevÃ©".  It is refused before AT+CMGS.
    t = ScriptedTransport(steps(("AT+CMGF=1\r", "\r\nOK\r\n")))
    async with modem_for(t) as modem:
        await modem.sms.set_mode("text")
        with pytest.raises(errors.ModemError, match=r"text mode sends ASCII text only: .* at index"):
            await modem.sms.send("+33612345678", text)
    assert t.done and b"CMGS" not in t.written


async def test_sms_refused_without_a_policy_on_a_physical_link() -> None:
    t = ScriptedTransport([], url="/dev/ttyUSB2")
    async with modem_for(t, policy=None) as modem:
        with pytest.raises(NoDialPolicy):
            await modem.sms.send("+33612345678", "hi")
        with pytest.raises(NoDialPolicy):
            await modem.calls.dial("+33612345678")
    assert t.written == bytearray()


async def test_numbers_off_the_allow_list_are_refused() -> None:
    t = ScriptedTransport([], url="/dev/ttyUSB2")
    async with modem_for(t) as modem:
        with pytest.raises(NumberNotAllowed):
            await modem.sms.send("+33699999999", "hi")
        with pytest.raises(NumberNotAllowed):
            await modem.calls.dial_data("+33699999999")
    assert t.written == bytearray()


async def test_policy_may_be_omitted_on_the_virtual_modem() -> None:
    t = ScriptedTransport(
        steps(
            ("ATD+33699999999;\r", "\r\nOK\r\n"),
            ("AT+CLCC\r", '\r\n+CLCC: 1,0,0,0,0,"+33699999999",145\r\n\r\nOK\r\n'),
        ),
        url="virtual://generic",
    )
    async with modem_for(t, policy=None) as modem:
        await modem.calls.dial("+33699999999")
    assert t.done


async def test_read_and_list_pdu_messages() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CMGR=3\r", f"\r\n+CMGR: 0,,28\r\n{DELIVER_PDU}\r\n\r\nOK\r\n"),
            (
                "AT+CMGL=4\r",
                f"\r\n+CMGL: 3,1,,28\r\n{DELIVER_PDU}\r\n+CMGL: 4,1,,28\r\n{DELIVER_PDU}\r\n\r\nOK\r\n",
            ),
        )
    )
    async with modem_for(t) as modem:
        msg = await modem.sms.read(3)
        listed = await modem.sms.list_messages()
    assert (msg.index, msg.sender, msg.text) == (3, "27838890001", "hellohello")
    assert msg.timestamp is not None and msg.timestamp.year == 1999
    assert [m.index for m in listed] == [3, 4]


async def test_listing_stored_outgoing_messages_decodes_them_as_submit() -> None:
    # 27.005 §3.1: stat 2/3 ("STO UNSENT"/"STO SENT") are messages to send, held as SMS-SUBMIT.
    (part,) = encode_submit("meter 42 ok", "+33612345678", message_reference=7)
    t = ScriptedTransport(
        steps(
            (
                "AT+CMGL=4\r",
                f"\r\n+CMGL: 1,1,,28\r\n{DELIVER_PDU}\r\n+CMGL: 2,2,,{part.tpdu_length}\r\n00{part.hex[2:]}\r\n\r\nOK\r\n",
            ),
        )
    )
    async with modem_for(t) as modem:
        listed = await modem.sms.list_messages()
    assert [(m.index, m.text) for m in listed] == [(1, "hellohello"), (2, "meter 42 ok")]


async def test_incoming_sms_deleted_only_after_the_handler_succeeded() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CMGR=1\r", f"\r\n+CMGR: 0,,28\r\n{DELIVER_PDU}\r\n\r\nOK\r\n"),
            ("AT+CMGD=1\r", "\r\nOK\r\n"),
            ("AT+CMGR=2\r", f"\r\n+CMGR: 0,,28\r\n{DELIVER_PDU}\r\n\r\nOK\r\n"),
        )
    )
    handled: list[IncomingSms] = []
    second_failed = asyncio.Event()

    async def handler(sms: IncomingSms) -> None:
        if handled:
            second_failed.set()
            raise RuntimeError("database down")
        handled.append(sms)

    stop, started = asyncio.Event(), asyncio.Event()
    async with modem_for(t) as modem:
        server = asyncio.create_task(modem.sms.serve(handler, stop=stop, started=started))
        await started.wait()
        t.push(b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n')
        await asyncio.wait_for(second_failed.wait(), 5)
        stop.set()
        await server
    assert [s.text for s in handled] == ["hellohello"] and handled[0].indexes == (1,)
    assert b"AT+CMGD=2" not in t.written  # the failed message stays on the modem


async def test_concatenated_message_reassembled_then_all_parts_deleted() -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    text = "Relevé compteur " * 12  # 192 GSM 7-bit characters -> 2 parts
    parts = encode_deliver(text, "+33612345678", when, concat_reference=7)
    assert len(parts) > 1
    listing = "".join(
        f"+CMGL: {i},0,,{p.tpdu_length}\r\n{p.hex}\r\n" for i, p in enumerate(reversed(parts), start=1)
    )
    script = [("AT+CMGL=4\r", f"\r\n{listing}\r\nOK\r\n")]
    script += [(f"AT+CMGD={i}\r", "\r\nOK\r\n") for i in range(1, len(parts) + 1)]  # after the handler
    t = ScriptedTransport(steps(*script))
    got: list[IncomingSms] = []
    async with modem_for(t) as modem:
        done = await modem.sms.process_stored(got.append)
    assert len(done) == 1 and got[0].text == text and got[0].sender == "+33612345678"
    assert sorted(got[0].indexes) == list(range(1, len(parts) + 1)) and t.done


async def test_a_message_that_does_not_decode_does_not_hide_the_others() -> None:
    # Message 1 has a time stamp that is no date (month 13); the listing failed as a whole and no
    # stored message was ever handled.  It is left out (and stays on the modem); message 2 is handled.
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    good = encode_deliver("meter 42", "+33612345678", when)[0]
    broken = good.hex.replace("62301021", "62311021")  # SCTS 26/03/01 12:.. -> 26/13/01
    assert broken != good.hex
    listing = (
        f"+CMGL: 1,0,,{good.tpdu_length}\r\n{broken}\r\n+CMGL: 2,0,,{good.tpdu_length}\r\n{good.hex}\r\n"
    )
    t = ScriptedTransport(steps(("AT+CMGL=4\r", f"\r\n{listing}\r\nOK\r\n"), ("AT+CMGD=2\r", "\r\nOK\r\n")))
    got: list[IncomingSms] = []
    async with modem_for(t) as modem:
        await modem.sms.process_stored(got.append)
    assert [(m.text, m.indexes) for m in got] == [("meter 42", (2,))]
    assert t.done and b"AT+CMGD=1" not in t.written


async def test_a_reused_reference_does_not_join_an_older_incomplete_message() -> None:
    # Message A (ref 7) lost its part 2; message B from the same sender reuses ref 7 (8-bit references
    # wrap).  B's part 1 was ignored as a "duplicate" of A's, B's part 2 completed A: the handler got
    # A's first half then B's second, and A's part was deleted with B's.
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    a = encode_deliver("A" * 200, "+33612345678", when, concat_reference=7)
    b = encode_deliver("B" * 200, "+33612345678", when, concat_reference=7)
    listing = "".join(
        f"+CMGL: {i},0,,{p.tpdu_length}\r\n{p.hex}\r\n" for i, p in enumerate([a[0], *b], start=1)
    )
    script = [("AT+CMGL=4\r", f"\r\n{listing}\r\nOK\r\n"), ("AT+CMGD=2\r", "\r\nOK\r\n")]
    t = ScriptedTransport(steps(*script, ("AT+CMGD=3\r", "\r\nOK\r\n")))
    got: list[IncomingSms] = []
    async with modem_for(t) as modem:
        await modem.sms.process_stored(got.append)
    assert [(m.text, m.indexes) for m in got] == [("B" * 200, (2, 3))]
    assert t.done and b"AT+CMGD=1" not in t.written  # A's part stays on the modem


async def test_voice_call_with_dtmf_and_hang_up() -> None:
    # ATD<n>; answers OK while dialling; +CLCC (27.007 §7.18) shows stat 2 (dialing), then 0 (active).
    clcc_dialing = '\r\n+CLCC: 1,0,2,0,0,"+33612345678",145\r\n\r\nOK\r\n'
    clcc_active = '\r\n+CLCC: 1,0,0,0,0,"+33612345678",145\r\n\r\nOK\r\n'
    t = ScriptedTransport(
        steps(
            SYNC,
            ("ATD+33612345678;\r", "\r\nOK\r\n"),
            ("AT+CLCC\r", clcc_dialing),
            ("AT+CLCC\r", clcc_active),
            ("AT+VTS=1\r", "\r\nOK\r\n"),
            ("AT+VTS=#\r", "\r\nOK\r\n"),
            ("ATH\r", "\r\nOK\r\n"),
            SYNC,
            ("ATD+33612345678;\r", "\r\nOK\r\n"),
            ("AT+CLCC\r", clcc_dialing + "\r\nBUSY\r\n"),  # the outcome, unsolicited by now
            SYNC,
            ("ATD+33612345678;\r", "\r\nNO DIALTONE\r\n"),  # modules that wait answer it as the final
        )
    )
    async with modem_for(t) as modem:
        await modem.calls.dial("+33612345678", poll=0.01)
        await modem.calls.send_dtmf("1#")
        await modem.calls.hang_up()
        with pytest.raises(errors.CallFailed) as busy:
            await modem.calls.dial("+33612345678", poll=5)
        with pytest.raises(errors.CallFailed) as no_tone:
            await modem.calls.dial("+33612345678")
        with pytest.raises(ValueError):
            await modem.calls.send_dtmf("1x")
    assert (busy.value.final, no_tone.value.final) == ("BUSY", "NO DIALTONE") and t.done


async def test_a_call_that_vanishes_from_clcc_fails_at_once() -> None:
    # Released by the far end with no final result: +CLCC lists nothing any more (27.007 §7.18).
    clcc_dialing = '\r\n+CLCC: 1,0,2,0,0,"+33612345678",145\r\n\r\nOK\r\n'
    t = ScriptedTransport(
        steps(
            SYNC,
            ("ATD+33612345678;\r", "\r\nOK\r\n"),
            ("AT+CLCC\r", clcc_dialing),
            ("AT+CLCC\r", "\r\nOK\r\n"),
        )
    )
    async with modem_for(t) as modem:
        with pytest.raises(errors.CallFailed) as released:
            await modem.calls.dial("+33612345678", poll=0.01, timeout=30)
    assert released.value.final == "call released" and t.done


async def test_csd_call_connect_data_and_hang_up() -> None:
    t = ScriptedTransport(
        steps(
            SYNC,
            ("ATD+33612345678\r", "\r\nCONNECT 9600\r\n"),
            (b"READ METER\r", b"METER 42 OK;"),
            (b"+++", "\r\nOK\r\n"),
            ("ATH\r", "\r\nOK\r\n"),
        )
    )
    client = ATClient(t, watchdog=WatchdogPolicy(guard_time=0.0))
    client.start()
    async with Modem(client, load_driver_profile("generic"), BENCH) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER\r")
        assert call.speed == "9600" and await call.read(timeout=5) == b"METER 42 OK;"
        await call.hang_up()
    assert t.done


async def test_probe_report() -> None:
    t = ScriptedTransport(
        steps(
            ("AT+CGMI\r", "\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"),
            ("AT+CGMM\r", "\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"),
            ("AT+CGMR\r", "\r\nRevision:1418B04SIM800C24\r\n\r\nOK\r\n"),
            ("AT+CGSN\r", "\r\n869262030000012\r\n\r\nOK\r\n"),
            ("AT+CIMI\r", "\r\n+CME ERROR: 10\r\n"),
            ("AT+CCID\r", "\r\n89330123456789012347\r\n\r\nOK\r\n"),
            ("AT+CPIN?\r", "\r\n+CME ERROR: 10\r\n"),
            ("AT+CREG?\r", "\r\n+CREG: 0,0\r\n\r\nOK\r\n"),
            ("AT+CGREG?\r", "\r\n+CGREG: 0,0\r\n\r\nOK\r\n"),
            ("AT+COPS?\r", "\r\n+COPS: 0\r\n\r\nOK\r\n"),
            ("AT+CSQ\r", "\r\n+CSQ: 99,99\r\n\r\nOK\r\n"),
        )
    )
    async with modem_for(t, load_driver_profile("simcom-sim800")) as modem:
        report = await modem.probe()
    assert report.identity.imsi is None and report.identity.iccid == "89330123456789012347"
    assert report.pin is not None and "SIM not inserted" in report.pin
    assert not report.registrations["+CREG"].registered
    assert report.operator is not None and report.operator.name is None
    assert report.signal is not None and not report.signal.known


@pytest.mark.parametrize("prefix", [True, False], ids=["smsc-prefix", "no-smsc-prefix"])
async def test_status_reports_are_decoded(prefix: bool) -> None:
    # 27.005 §3.4.1: +CDS: <length><CR><LF><pdu> with AT+CNMI=2,1,0,1,0.  Some modules print the PDU
    # without the SMSC prefix: its <length> is then the whole string's.
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    pdu = encode_status_report(12, "+33612345678", when, when, 0, smsc="+33609001390")
    shown = pdu.hex if prefix else pdu.tpdu.hex().upper()
    t = ScriptedTransport([])
    reports = asyncio.Queue[SmsStatusReport]()
    async with modem_for(t) as modem:
        modem.sms.on_status_report(reports.put_nowait)
        t.push(f"\r\n+CDS: {pdu.tpdu_length}\r\n{shown}\r\n".encode())
        report = await asyncio.wait_for(reports.get(), 5)
    assert report.message_reference == 12 and report.delivered and report.recipient.number == "+33612345678"
