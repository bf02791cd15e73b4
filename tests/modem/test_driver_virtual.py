"""The drivers against the virtual modem in-process (`virtual://PROFILE`), bound to the operator network.

Each vendor profile is driven end to end: identity, registration, signal, operator, an SMS through
the SMSC and, where the profile has a TCP stack, a TCP exchange with the network's echo server,
all of which must show in the gateway's usage records.  Fault injection from the URL exercises the
client's retries, URC handling and typed errors.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from accounting.records import UsageRecord, UsageType
from gateway.api import CallOutcome, Subscriber, build_network
from gateway.network import Network
from modem.at import errors
from modem.at.client import RetryPolicy, WatchdogPolicy
from modem.drivers import Modem
from modem.drivers.messaging import IncomingSms
from modem.profiles import load_profile
from modem.safety import AllowList
from modem.virtual.identity import ModemIdentity, derive_identity
from modem.virtual.transport import VirtualTransport

EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEED = 4


class Records:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


async def open_modem(
    profile: str,
    query: str = "",
    register: bool = True,
    networks: list[Network] | None = None,
    policy: AllowList | None = None,
) -> tuple[Modem, ModemIdentity, Records]:
    """A driver on `virtual://profile`, bound to a fresh operator network (appended to `networks`)."""
    sink = Records()
    network = build_network(EPOCH, sink, SEED)
    ident = derive_identity(load_profile(profile), SEED, 0)
    if register:
        network.register_subscriber(
            Subscriber(ident.line_id, ident.imsi, ident.msisdn, "business-m2m-dtmf", ())
        )
    url = f"virtual://{profile}?seed={SEED}&speed=50{query}"
    modem = await Modem.open(
        url,
        profile=profile,
        network=network,
        policy=policy,
        retry=RetryPolicy(attempts=6, delay=0.0),
        watchdog=WatchdogPolicy(enabled=False),
    )
    if networks is not None:
        networks.append(network)
    return modem, ident, sink


@pytest.mark.parametrize("profile", ["generic", "simcom-sim800", "simcom-sim7000", "quectel-bg96"])
async def test_profile_end_to_end(profile: str) -> None:
    modem, ident, sink = await open_modem(profile)
    async with modem:
        identity = await modem.network.identify()
        assert (identity.imei, identity.imsi, identity.iccid) == (ident.imei, ident.imsi, ident.iccid)
        await modem.network.enable_registration_urcs()
        reg = await modem.network.wait_registered(timeout=20)
        assert reg.registered and not reg.roaming
        signal = await modem.network.signal()
        assert signal.dbm is not None and -113 <= signal.dbm <= -51
        operator = await modem.network.operator()
        assert operator.name
        await modem.sms.configure()
        refs = await modem.sms.send("+33612345678", f"report from {profile}")
        assert len(refs) == 1
        if modem.profile.tcp.stack != "none":
            ip = await modem.tcp.attach("orange.m2m.spec")
            assert ip.count(".") == 3
            conn = await modem.tcp.open("echo.example", 7)  # a name the table does not know: the echo
            await modem.tcp.send(conn, b"meter=42")
            echoed = b""
            while len(echoed) < 8:
                echoed += await modem.tcp.receive(conn, timeout=20)
            assert echoed == b"meter=42"
            await modem.tcp.close(conn)
            counters = await modem.tcp.counters()
            assert (counters.sent, counters.received) == (8, 8)
            await modem.tcp.detach()
    kinds = [r.type for r in sink.records]
    assert UsageType.SMS in kinds
    sms = next(r for r in sink.records if r.type is UsageType.SMS)
    assert sms.imsi == ident.imsi and sms.delivered is None  # said of SMS Internet records only
    if UsageType.DATA in kinds:
        data = next(r for r in sink.records if r.type is UsageType.DATA)
        assert data.apn == "orange.m2m.spec" and data.bytes_up > 8 and data.bytes_down > 8


async def test_long_sms_goes_out_in_parts() -> None:
    modem, _, sink = await open_modem("quectel-bg96")
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure()
        refs = await modem.sms.send("+33612345678", "Щ " * 100)  # UCS2: 67 characters per part
    assert len(refs) == 3 and len(set(refs)) == 3
    assert sum(r.type is UsageType.SMS for r in sink.records) == 3


@pytest.mark.parametrize("policy", [None, AllowList(["+33612345678"])])
async def test_a_text_message_after_a_silent_reset_goes_in_text_mode(policy: AllowList | None) -> None:
    # the module comes back in its profile's format (PDU) and says nothing of it (a brown-out): the
    # driver sets the format on the line before AT+CMGS, not from what it set long before
    modem, _, sink = await open_modem("generic", policy=policy)
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure("text")
        transport = modem.client.transport
        assert isinstance(transport, VirtualTransport)
        transport.modem.reset()
        assert await modem.sms.send("+33612345678", "after a reset") == [0]
    assert [r.type for r in sink.records].count(UsageType.SMS) == 1


async def test_sim_busy_at_start_is_retried() -> None:
    modem, _, _ = await open_modem("generic", "&sim_busy=3")
    async with modem:
        assert await modem.network.pin_status() == "READY"


async def test_urc_bursts_inside_responses() -> None:
    modem, _, _ = await open_modem("simcom-sim800", "&urc_burst=1.0")
    seen: list[str] = []
    async with modem:
        modem.client.subscribe(lambda urc: seen.append(urc.name))
        for _ in range(10):
            signal = await modem.network.signal()
            assert signal.rssi in range(32) or signal.rssi == 99
        regs = await modem.network.registration()
    assert set(regs) == {"+CREG", "+CGREG"}
    assert seen  # the bursts arrived as URCs, not as answers


async def test_garbage_before_responses() -> None:
    modem, ident, _ = await open_modem("quectel-bg96", "&garbage=1.0")
    async with modem:
        identity = await modem.network.identify()
        assert (identity.imei, identity.imsi, identity.iccid) == (ident.imei, ident.imsi, ident.iccid)


async def test_injected_failures_are_typed() -> None:
    modem, _, _ = await open_modem("generic", "&fail=%2BCMGS:cms:500,%2BCOPS:cme:30")
    async with modem:
        await modem.network.wait_registered(timeout=20)
        with pytest.raises(errors.NoNetworkService):
            await modem.network.operator()
        with pytest.raises(errors.CMSError) as info:
            await modem.sms.send("+33612345678", "x")
    assert info.value.code == 500 and info.value.meaning == "unknown error"


async def test_registration_denied() -> None:
    modem, _, _ = await open_modem("generic", "&reg_denied=1")
    async with modem, modem.client.urcs({"+CREG"}) as stream:
        await modem.network.enable_registration_urcs()
        while (
            modem.network.registrations.get("+CREG") is None or modem.network.registrations["+CREG"].stat == 2
        ):
            await stream.get(timeout=20)  # searching, until the network answers
        regs = await modem.network.registration()
    assert regs["+CREG"].state == "registration denied" and not modem.network.registered


@pytest.mark.parametrize("mode", ["pdu", "text"])
async def test_incoming_sms_kept_until_the_handler_succeeds(mode: str) -> None:
    networks: list[Network] = []
    modem, ident, _ = await open_modem("simcom-sim800", networks=networks)
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure(mode)
        attempts: list[str] = []
        handled = asyncio.Event()

        async def handler(sms: IncomingSms) -> None:
            attempts.append(sms.text or "")
            if len(attempts) == 1:
                raise RuntimeError("application server down")
            handled.set()

        stop, started = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(modem.sms.serve(handler, stop=stop, started=started))
        await started.wait()
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", "first, fails")
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", "second, handled")
        await asyncio.wait_for(handled.wait(), 30)
        stop.set()
        await server
        left = await modem.sms.list_messages()
    assert attempts == ["first, fails", "second, handled"]
    assert [m.text for m in left] == ["first, fails"]  # the failed one is still on the SIM


@pytest.mark.parametrize(
    ("offer", "voice", "csd"), [("business-m2m-dtmf", True, False), ("business-m2m", False, True)]
)
async def test_calls_follow_the_offer(offer: str, voice: bool, csd: bool) -> None:
    # The catalog's offers: "-dtmf" lines place voice calls (DTMF), the others CSD data calls.
    sink = Records()
    network = build_network(EPOCH, sink, SEED)
    ident = derive_identity(load_profile("simcom-sim800"), SEED, 0)
    network.register_subscriber(Subscriber(ident.line_id, ident.imsi, ident.msisdn, offer, ()))
    network.switch.force_outcome(["+33612345678"], CallOutcome.ANSWERED)  # the offer decides, not a draw
    url = f"virtual://simcom-sim800?seed={SEED}&speed=50"
    policy = WatchdogPolicy(enabled=False, guard_time=0.05)
    async with await Modem.open(url, profile="simcom-sim800", network=network, watchdog=policy) as modem:
        await modem.network.wait_registered(timeout=20)
        if voice:
            await modem.calls.dial("+33612345678", timeout=30)
            await modem.calls.send_dtmf("42#")
            await modem.calls.hang_up()
        else:
            with pytest.raises(errors.CallFailed):
                await modem.calls.dial("+33612345678", timeout=30)
        if csd:
            call = await modem.calls.dial_data("+33612345678")
            await call.write(b"READ")
            echoed = b""
            while len(echoed) < 4:
                echoed += await call.read(timeout=10)
            assert call.speed == "9600" and echoed == b"READ"
            await call.hang_up()
        else:
            with pytest.raises(errors.CallFailed):
                await modem.calls.dial_data("+33612345678")
    calls = [r for r in sink.records if r.type in (UsageType.VOICE, UsageType.CSD)]
    assert len(calls) == 1 and calls[0].duration_s > 0


@pytest.mark.parametrize("mode", ["pdu", "text"])
async def test_a_message_holding_a_line_ok_is_read_whole(mode: str) -> None:
    # in text mode the module writes the text as it is: its line `OK` would end AT+CMGR / AT+CMGL
    # there, the rest left to be read as URCs and the next command's answer
    networks: list[Network] = []
    modem, ident, _ = await open_modem("simcom-sim800", networks=networks)
    text = 'meter 7\nOK\n+CMTI: "SM",9\nERROR\nend'
    async with modem, modem.client.urcs({"+CMTI"}) as urcs:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure(mode)
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", text)
        index = int((await urcs.get(timeout=30)).fields[1])
        assert (await modem.sms.read(index)).text == text
        assert [m.text for m in await modem.sms.list_messages()] == [text]
        assert (await modem.client.command("AT+CMGF?")).fields("+CMGF") == ["1" if mode == "text" else "0"]
        assert (await modem.client.command("AT+CSQ")).line("+CSQ") is not None


async def test_text_mode_messages_with_their_length_are_framed_whole_by_the_client() -> None:
    """Text mode with AT+CSDH=1 and AT+CNMI=2,2 (messages routed as +CMT): a text holding lines
    `OK`, `+CME ERROR: 10` or a URC was cut at its first line, the rest read as URCs and as the
    answer to the next command; AT+CMGR and AT+CMGL ended at its line `OK`."""
    networks: list[Network] = []
    modem, ident, _ = await open_modem("simcom-sim800", networks=networks)
    text = 'meter 7\r\nOK\r\n+CME ERROR: 10\nERROR\n+CMTI: "SM",9\r\nend'
    seen: list[str] = []
    modem.client.subscribe(lambda urc: seen.append(urc.line))
    async with modem, modem.client.urcs({"+CMT", "+CMTI"}) as urcs:
        await modem.network.wait_registered(timeout=20)
        await modem.client.command("AT+CMGF=1;+CSDH=1;+CNMI=2,2,0,0,0")
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", text)
        urc = await urcs.get(timeout=30)
        assert (urc.name, urc.extra) == ("+CMT", text)
        assert (await modem.client.command("AT+CSQ")).line("+CSQ") is not None
        await modem.client.command("AT+CNMI=2,1,0,0,0")  # messages stored, +CMTI
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", text)
        index = int((await urcs.get(timeout=30)).fields[1])
        assert (await modem.client.command(f"AT+CMGR={index}")).lines[1:] == (text,)
        assert (await modem.client.command('AT+CMGL="ALL"')).lines[1:] == (text,)
        assert (await modem.client.command("AT+CMGF?")).fields("+CMGF") == ["1"]
    assert not set(seen) & {"OK", "ERROR", "+CME ERROR: 10", "end"}  # no line of the text as a URC


async def test_a_stored_outgoing_text_with_its_length_is_framed_whole_by_the_client() -> None:
    """AT+CSDH=1 gave a message written with AT+CMGW no <length> (`+CMGR: "STO UNSENT","<da>",""`):
    the client took its text's first line for all of it and its line `OK` for the answer's end."""
    modem, _, _ = await open_modem("simcom-sim800")
    text = "meter 7\nOK\nend"
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.client.command("AT+CMGF=1;+CSDH=1")
        reply = await modem.client.command_with_data('AT+CMGW="+33612345678"', text.encode() + b"\x1a")
        index = int(reply.fields("+CMGW")[0])
        read = await modem.client.command(f"AT+CMGR={index}")
        assert read.lines[0].endswith(f',"+33689004000",145,{len(text)}') and read.lines[1:] == (text,)
        listed = await modem.client.command('AT+CMGL="STO UNSENT"')
        assert listed.lines[0].endswith(f",145,{len(text)}") and listed.lines[1:] == (text,)


@pytest.mark.parametrize("mode", ["pdu", "text"])
async def test_a_status_report_is_decoded_in_either_mode(mode: str) -> None:
    """A text-mode +CDS (`+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`) was logged, not
    decoded: `on_status_report` never called its callback in text mode."""
    from modem.sms import SmsStatusReport

    modem, _, _ = await open_modem("quectel-bg96")
    reports = asyncio.Queue[SmsStatusReport]()
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure(mode)
        await modem.client.command("AT+CNMI=2,1,0,1,0")  # +CDS
        modem.sms.on_status_report(reports.put_nowait)
        if mode == "text":  # (TP-SRR: AT+CSMP=49,167,0,0 on the line of the format)
            (mr,) = await modem.sms.send("+447700900123", "report please", status_report=True)
        else:
            from modem.sms import encode_submit

            (pdu,) = encode_submit("report please", "+447700900123", status_report=True, message_reference=7)
            reply = await modem.client.command_with_data(
                f"AT+CMGS={pdu.tpdu_length}", pdu.hex.encode() + b"\x1a"
            )
            mr = int(reply.fields("+CMGS")[0])
        report = await asyncio.wait_for(reports.get(), 30)
    assert isinstance(report, SmsStatusReport)
    assert (report.message_reference, report.recipient.number) == (mr, "+447700900123")
    assert report.recipient.toa == 145
    assert report.status == 0 and report.delivered and not report.more_messages
    assert report.scts.tzinfo is not None and report.discharge_time >= report.scts


async def test_a_stored_status_report_is_read_as_one_and_not_handed_over_as_a_message() -> None:
    """With AT+CNMI <ds>=2 the modem stores a status report (+CDSI): process_stored handed it to the
    SMS handler as an empty message from nobody, then deleted it; list_messages read no field of it."""
    networks: list[Network] = []
    modem, ident, _ = await open_modem("simcom-sim800", networks=networks)
    handled: list[IncomingSms] = []
    async with modem, modem.client.urcs({"+CDSI", "+CMTI"}) as urcs:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure("text")
        await modem.client.command("AT+CNMI=2,1,0,2,0")
        (mr,) = await modem.sms.send("+447700900123", "report please", status_report=True)
        assert (await urcs.get(timeout=30)).name == "+CDSI"
        networks[0].submit_sms(0.0, ident.line_id, "+33612345678", "a message")
        assert (await urcs.get(timeout=30)).name == "+CMTI"
        await modem.sms.process_stored(handled.append)
        (left,) = await modem.sms.list_messages()
    assert [(m.sender, m.text) for m in handled] == [("+33612345678", "a message")]
    assert left.report is not None and left.text is None
    assert (left.report.message_reference, left.report.recipient.number, left.report.status) == (
        mr,
        "+447700900123",
        0,
    )


async def test_a_text_message_without_a_report_asked_asks_for_none_after_one_that_did() -> None:
    # text mode: TP-SRR is AT+CSMP's first octet; the driver set 49 for a message asking for a
    # report and left it, so each later message asked for one too (its report sent back, or stored)
    modem, _, _ = await open_modem("generic")
    async with modem:
        await modem.network.wait_registered(timeout=20)
        await modem.sms.configure("text", status_reports=True)
        transport = modem.client.transport
        assert isinstance(transport, VirtualTransport)
        await modem.sms.send("+33612345678", "with a report", status_report=True)
        assert transport.modem.settings.csmp[0] & 0x20
        await modem.sms.send("+33612345678", "without")
        assert not transport.modem.settings.csmp[0] & 0x20
        assert transport.modem.settings.csmp[1] == 167  # (the validity kept: a day)
