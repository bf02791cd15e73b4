"""The last check before bytes go out (`modem.safety.CommandGuard`): every command line the driver's
client writes to a physical modem meets the bench's allow-list, raw ones too.

Lines are read as a module reads them (ITU-T V.250 §5: text before `AT` ignored, `A/`, spaces and
case ignored, basic commands chained without separator, CR and backspace in the line), dialling as
27.007 §6.2-6.3 has it (`ATD>` phonebook, `ATDL`, modifiers), SMS as 27.005 §3.5 has it (AT+CMGS:
the number in text mode, the PDU's TP-DA in PDU mode; AT+CMSS from storage; AT+CMGC), plus USSD,
call forwarding and deflection, and another SMS centre.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping

import pytest

from hil.fakemodem import Answer, AnsweringTransport, AnswerSpec
from modem.at.client import ATClient, RetryPolicy, WatchdogPolicy
from modem.at.errors import CMSError, CommandError, CommandTimeout, ModemError
from modem.drivers.generic import Modem
from modem.drivers.profile import DriverProfile, load_driver_profile
from modem.safety import AllowList, CommandGuard, NumberNotAllowed, SafetyError, costly_command
from modem.sms import encode_submit

BENCH = AllowList(["+33612345678"])
OFF = "+33699999999"


# text mode, and the text-mode parameters of a plain SMS-SUBMIT (the guard's condition for a quoted number)
TEXT_MODE = "AT+CMGF=1;+CSMP=17,167,0,0"


def fake(url: str = "/dev/ttyUSB9") -> AnsweringTransport:
    return AnsweringTransport({"AT+CMGS": "+CMGS: 7"}, url=url)


def modem_on(t: AnsweringTransport, policy: AllowList | None = BENCH, allow: tuple[str, ...] = ()) -> Modem:
    client = ATClient(t, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    return Modem(client, DriverProfile(allow_commands=allow), policy)


@pytest.mark.parametrize(
    "line",
    [
        "ATE0D+33699999999;",  # basic commands chained: the dial after E0
        "AT+CSQ;D+33699999999",
        "atd 06 99 99 99 99;",
        "xyATD+33699999999;",  # what precedes AT is ignored by the module
        "a t d +33699999999;",  # spaces are ignored in a command line, the prefix's too on some modules
        "A T+CMSS=1",
        "A /",
        "ATD>SM1;",
        'ATD>"bench";',
        "ATDL;",
        "ATDS=1;",
        "ATD+33612345678P0699999999;",
        "ATDT*99#;",  # a voice call to *99#
        "ATDT*99#+33699999999",
        "ATD+33612345678;\rATD+33699999999;",  # a CR in the line: two command lines
        "AT+CSQ\x08\x08\x08\x08D+33699999999;",  # backspaces edit the line into a dial
        "A/",
        "AT#/",  # Telit's repeat of the last line
        "AT+CMSS=1",
        "ATD**21*+33699999999#",  # supplementary services by dial string: forward every call
        "ATD*21*0699999999#;",
        "ATD*100#;",  # USSD by dial string
        "ATD#31#0699999999;",  # a number behind a CLIR prefix
        "AT+CHLD=4*+33699999999",
        'AT+CMSS=1,"+33612345678"',
        'AT+CMGC=1,2,0,0,"+33699999999"',
        'AT+CMGS="+33699999999"',
        'AT+CMGS="33699999999",129',
        'AT+QCMGS="+33699999999",1,1,1',
        'AT+CMGSEX="+33699999999",1,1,1',  # SIMCom's long SMS
        "AT+CMSSEX=1",
        'AT+CMGSO="+33699999999","hi"',  # SIMCom's send without a prompt
        "AT+CHLD=4",  # explicit call transfer
        'AT+CUSD=1,"*123*0699999999#",15',
        'AT+CCFC=0,3,"+33699999999"',
        "AT+CCFC=0,1",
        'AT+CTFR="+33699999999"',
        'AT+CSCA="+33699999999",145',
        "ATD112;",  # an emergency call: the virtual network connects it, a bench never without the list
        "ATD911;",
        "ATS3=59",
        "ATS2=65",  # the escape character: AAA would leave data mode
        "ATS12=0",  # no silence around +++: a +++ in the middle of a line would leave data mode
        # the line feed the modem ends its answers with: the client reads answers by it, and checks
        # it is 10 to find its place again after a timeout (it went, answers framed otherwise)
        "ATS4=13",
        "AT+CMEE=1;S4=0",
        # U+00A2 is C2 A2 in UTF-8: a module dropping the parity bit reads A2 as a quote, one that
        # does not reads the string as closed: the dial after it counts either way
        'AT+CPBW=1,"+33612345678",145,"x\u00a2";D+33699999999;',
        # a value followed by commands without ';': a module that ends the value there runs them
        "AT+CMGF=1D+33699999999;",
        'AT+CPBW=1,"x"D+33699999999;',
        "AT+CMEE=1,D0699999999;",
        "AT+CGSN?D+33699999999",
        "AT+CREG=?D+33699999999",
        "AT+CMEE=1+CMSS=1",
        "AT+CMEE=1S3=10",
        # nothing but ';' is read after '?' or '=?': a module taking up commands after the ',' dials
        "AT+CGSN?,D+33699999999",
        "AT+CREG=?,D0699999999",
    ],
)
async def test_raw_lines_that_text_call_or_forward_off_the_list_are_refused(line: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError):
            await modem.client.command(line)
    assert bytes(t.written) == b""
    assert costly_command(line) is not None


@pytest.mark.parametrize(
    ("line", "why"),
    [
        # a module that reads \" as a quote inside the string ends it at the last quote: the dial
        # the guard took for a string's text runs
        ('AT+CPBW=1,"+33612345678",145,"\\"";D+33699999999;"', "backslash"),
        ('AT+CMGW="\\"";+CMSS=1;"', "backslash"),
        # a module that splits the line on ';' before it reads strings runs the dial
        ('AT+CPBW=1,"+33612345678",145,"x;D+33699999999;"', "holds ';'"),
        ('AT+CPBW=1,"+33612345678",145,"x;D+33699999999;', "not closed"),  # where it ends: each its own
    ],
)
async def test_a_quoted_string_some_module_may_end_elsewhere_is_refused(line: str, why: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match=re.escape(why)):
            await modem.client.command(line)
    assert bytes(t.written) == b""
    assert costly_command(line) is not None


@pytest.mark.parametrize(
    "line", ['AT+CPBW=1,"+33612345678",145,"bench A"', 'AT+CPBW=2,"+33612345678",145,"A\\3BB \\5C \\22"']
)
async def test_a_string_with_v250_escapes_goes(line: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command(line)
    assert t.lines == [line]


@pytest.mark.parametrize(
    "line", ["ATS4=010", "ATS3=013", "AT S4 = 0010", "ATE0S004=10S2=043", "AT+CMEE=1;S4=010"]
)
async def test_an_s_register_set_to_its_value_in_leading_zeros_goes(line: str) -> None:
    # V.250 reads an S-register's value as a decimal number: 010 is 10, the line feed
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command(line)
        for other in ("ATS4=011", "ATS4=0100", "ATS4=", "ATS3=0013S4=1O"):
            with pytest.raises(SafetyError, match="changes how the modem reads or ends a line"):
                await modem.client.command(other)
    assert t.lines == [line]


# (`00` for `+` goes on the home network only: tests/hil/test_hil_safety.py)
@pytest.mark.parametrize("line", ["ATD+33612345678;", "ATE0 D +33 6 12 34 56 78;", "atd+33612345678i;"])
async def test_a_raw_dial_to_an_allowed_number_goes(line: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command(line)
    assert t.lines == ["ATS3?", line]  # answers checked to be the client's own before a dial


@pytest.mark.parametrize(
    "line",
    [
        "AT+CSQ",
        "ATE0V1&D2S0=0",
        "ATD*99#",
        "ATD*99***1#",
        "ATDT*99#",  # as wvdial and many PPP chat scripts dial
        "ATDT*99***1#",
        'AT+CGDCONT=1,"IP","data.orange"',
        "AT+CUSD=1",
        "AT+CCFC=0,2",
        "AT+CSCA?",
    ],
)
async def test_lines_that_neither_text_nor_call_go_without_an_allow_list(line: str) -> None:
    t = fake()
    async with modem_on(t, policy=None) as modem:
        await modem.client.command(line)
    assert t.lines == [line]


@pytest.mark.parametrize(
    "line",
    [
        # band masks are hexadecimal: read as decimal, 800D5 would end at D and dial 5
        "AT+CNBP=0x0002000000400183,0x000007FF3FDF3FFF",
        "AT+CNBP=0x0002000000400183,0x00000000080800D5",
        'AT+QCFG="band",0,800D5,0',  # LTE bands 1, 3, 5, 7, 8 and 20
        'AT+QCFG="band",F,400A0E189F,A0E189F,1',
    ],
)
async def test_a_band_mask_in_hexadecimal_goes_when_its_command_is_listed(line: str) -> None:
    t = fake()
    async with modem_on(t, AllowList(["+33612345678"], allow_commands=["+CNBP", "+QCFG"])) as modem:
        await modem.client.command(line)
    assert t.lines == [line]
    assert costly_command(line, allow_commands=["+CNBP", "+QCFG"]) is None


@pytest.mark.parametrize(
    "line",
    [
        'AT+QCFG="band",0,800D5,0GD+33699999999',
        'AT+QCFG="band",0,800D5,D+33699999999',
        'AT+QCFG="iotopmode",1D5',
        "AT+CMEE=0x1D0699999999",
        "AT+CNBP=1D0699999999",  # SIMCom writes its masks 0x...
        "AT+CNBP=0XD+33699999999",
        "AT+CNBP=0x1F,0E0D+33699999999",
    ],
)
def test_a_dial_after_a_value_not_read_as_hexadecimal_is_still_refused(line: str) -> None:
    assert costly_command(line) is not None


async def test_a_pdu_goes_only_in_pdu_mode_and_only_to_an_allowed_destination() -> None:
    ok = encode_submit("hi", "+33612345678")[0]
    off = encode_submit("hi", OFF)[0]
    via = encode_submit("hi", "+33612345678", smsc=OFF)[0]
    long_off = encode_submit("x" * 200, OFF, concat_reference=1)  # a second part elsewhere
    t = fake()
    async with modem_on(t) as modem:
        c = modem.client

        async def send(pdu_hex: str, length: int, tail: bytes = b"") -> None:
            await c.command_with_data(f"AT+CMGS={length}", pdu_hex.encode() + b"\x1a" + tail)

        # in text mode AT+CMGS=<length> texts the number <length>: the format must be known
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await send(ok.hex, ok.tpdu_length)
        await c.command("AT+CMGF=1")
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await send(ok.hex, ok.tpdu_length)
        await c.command("AT+CMGF=0")
        with pytest.raises(NumberNotAllowed):
            await send(off.hex, off.tpdu_length)
        with pytest.raises(NumberNotAllowed):
            await send(long_off[1].hex, long_off[1].tpdu_length)
        with pytest.raises(SafetyError, match="its own SMS centre"):
            await send(via.hex, via.tpdu_length)
        with pytest.raises(SafetyError, match="cannot be read"):
            await send(ok.hex, ok.tpdu_length + 1)
        with pytest.raises(SafetyError, match="cannot be read"):  # the modem reads an SMSC length first
            await send(ok.tpdu.hex(), ok.tpdu_length)
        with pytest.raises(SafetyError, match="one Ctrl-Z"):  # the rest would be a command line
            await send(ok.hex, ok.tpdu_length, b"ATD+33699999999;\r\x1a")
        await c.command("ATZ")  # the stored profile may bring text mode back
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await send(ok.hex, ok.tpdu_length)
        await c.command("AT+CMGF=0")
        await send(ok.hex, ok.tpdu_length)
    restored = ["ATZ", "ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?"]  # the client's settings again
    assert t.lines == ["AT+CMGF=1", "AT+CMGF=0", *restored, "AT+CMGF=0", "ATS3?", f"AT+CMGS={ok.tpdu_length}"]
    assert bytes(t.written).endswith(ok.hex.encode() + b"\x1a")


async def test_an_sms_the_centre_would_turn_into_another_service_is_refused() -> None:
    # TP-PID 0x32 (e-mail) has the SMS centre mail the text to an address inside it; 0x22 fax,
    # 0x24 a call reading it out; 0xC0-0xFF its own use: none of it is the allow-list's to check
    ok = encode_submit("x@example.org hi", "+33612345678")[0]
    assert "0B913316325476F800" in ok.hex
    t = fake()
    async with modem_on(t) as modem:
        c = modem.client
        for pid in ("32", "22", "24", "C0"):
            pdu = ok.hex.replace("0B913316325476F800", f"0B913316325476F8{pid}")
            await c.command("AT+CMGF=0")
            with pytest.raises(SafetyError, match=f"protocol identifier {int(pid, 16)} "):
                await c.command_with_data(f"AT+CMGS={ok.tpdu_length}", pdu.encode() + b"\x1a")
        with pytest.raises(SafetyError, match="protocol identifier 50 has the SMS centre convert"):
            await c.command("AT+CSMP=17,167,50,0")  # the same in text mode
        await c.command("AT+CSMP=17,167,0,0")
        await c.command("AT+CMGF=0")
        await c.command_with_data(f"AT+CMGS={ok.tpdu_length}", ok.hex.encode() + b"\x1a")
    assert t.lines == ["AT+CMGF=0"] * 4 + [
        "AT+CSMP=17,167,0,0",
        "AT+CMGF=0",
        "ATS3?",
        f"AT+CMGS={ok.tpdu_length}",
    ]


@pytest.mark.parametrize(
    "number", ["+33 6 12 34 56 78", "+33-6-12-34-56-78", "+33(6)12345678", "+3361234567.8", " +33612345678"]
)
async def test_a_text_mode_number_with_separators_is_refused(number: str) -> None:
    # each reads as +33612345678, the allowed number, but a module may encode a space, a dash or a
    # bracket as a semi-octet of its own (a space as 0, `(` as 8) and text another number
    t = fake()
    async with modem_on(t) as modem:
        c = modem.client
        await c.command("AT+CSCS?")  # (the set the number is written in: IRA)
        await c.command(TEXT_MODE)
        with pytest.raises(SafetyError, match="only digits, \\* and # after an optional \\+ can be checked"):
            await c.command_with_data(f'AT+CMGS="{number}"', b"hi\x1a")
        await c.command(TEXT_MODE)
        await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert t.lines == ["AT+CSCS?", TEXT_MODE, TEXT_MODE, "ATS3?", 'AT+CMGS="+33612345678"']


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0C9133F621436587", "filler F among its 12 digits"),  # 336F12345678: an SMS centre may stop at F
        ("0C913316325476F8", "filler F among its 12 digits"),  # the F counted as a 12th digit
        ("0B91331632547698", "with '9', not the filler F"),  # 11 digits, then a 9 where F goes
    ],
)
async def test_a_pdu_destination_with_a_misplaced_filler_is_refused(address: str, why: str) -> None:
    # the PDU reader drops every F: each of these read as +33612345678, the allowed number
    ok = encode_submit("hi", "+33612345678")[0]
    assert "0B913316325476F8" in ok.hex
    pdu = ok.hex.replace("0B913316325476F8", address)
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(SafetyError, match=f"semi-octets .*{re.escape(why)}"):
            await modem.client.command_with_data(f"AT+CMGS={len(pdu) // 2 - 1}", pdu.encode() + b"\x1a")
    assert t.lines == ["AT+CMGF=0"]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        # bit 7 of the type of address clear: a reader that follows 24.008 takes "33" for an
        # extension octet and sends 612345678; the PDU reader here reads +33612345678
        ("0B113316325476F8", "type of address 0x11 has bit 7 clear"),
        ("0B013316325476F8", "type of address 0x01 has bit 7 clear"),
        ("0AD0E8329BFD06", "type of address 0xd0"),  # alphanumeric ("hello"): no number to check
        ("0BC13316325476F8", "type of address 0xc1"),  # reserved type of number
        ("0BB13316325476F8", "type of address 0xb1"),  # abbreviated: the network completes it
        ("0B993316325476F8", "type of address 0x99"),  # a private numbering plan
    ],
)
async def test_a_pdu_destination_of_another_type_of_address_is_refused(address: str, why: str) -> None:
    ok = encode_submit("hi", "+33612345678")[0]
    pdu = ok.hex.replace("0B913316325476F8", address)
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(SafetyError, match=re.escape(why)):
            await modem.client.command_with_data(f"AT+CMGS={len(pdu) // 2 - 1}", pdu.encode() + b"\x1a")
        # of unknown type (0x81) the digits are not the listed +33 number: the allow-list refuses them
        unknown = ok.hex.replace("0B913316325476F8", "0B813316325476F8")
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(NumberNotAllowed, match="'33612345678'"):
            await modem.client.command_with_data(f"AT+CMGS={ok.tpdu_length}", unknown.encode() + b"\x1a")
    assert t.lines == ["AT+CMGF=0", "AT+CMGF=0"]


@pytest.mark.parametrize("before", ["AT+CMGF=1;", "ATZ;", "AT&F", "AT+CFUN=1,1;", "AT+CMGF=0;"])
async def test_a_pdu_length_after_a_format_change_on_the_same_line_is_refused(before: str) -> None:
    # the module runs the line in order: after AT+CMGF=1 (or a reset to the stored text mode)
    # AT+CMGS=<length> texts the number <length>, whatever the format was before the line
    ok = encode_submit("hi", "+33612345678")[0]
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await modem.client.command_with_data(f"{before}+CMGS={ok.tpdu_length}", ok.hex.encode() + b"\x1a")
    assert t.lines == ["AT+CMGF=0"]


async def test_text_mode_message_cannot_carry_a_command_after_an_early_ctrl_z() -> None:
    t = fake()
    async with modem_on(t) as modem:
        await modem.sms.set_mode("text")
        with pytest.raises(SafetyError, match="one Ctrl-Z"):  # the guard, whatever sends the line
            await modem.client.command_with_data('AT+CMGS="+33612345678"', b"hi\x1aATD+33699999999;\r\x1a")
        with pytest.raises(ModemError, match="ASCII text only"):  # the driver refuses it before
            await modem.sms.send("+33612345678", "hi\x1aATD+33699999999;\r")
        assert await modem.sms.send("+33612345678", "hi") == [7]
    assert b"ATD" not in t.written


async def test_the_driver_sets_the_sms_format_before_sending_when_it_is_not_known() -> None:
    t = fake()
    async with modem_on(t) as modem:
        await modem.sms.configure()
        await modem.client.command("ATZ")  # e.g. a watchdog recovery: the stored format is back
        await modem.sms.send("+33612345678", "hi")
    # after ATZ the client's own settings again and the driver's (its SMS format too), checked,
    # then the format on the line before AT+CMGS all the same
    restored = ["ATZ", "ATQ0V1", "ATE0", "AT+CMEE=1", *t.lines[t.lines.index("AT+CMGF=0") :][:3]]
    assert restored[4:] == ["AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', "AT+CNMI=2,1,0,0,0"], t.lines
    checks = ["AT", "AT+CMEE?", "AT+CMGF?", "AT+CNMI?"]
    assert t.lines[-14:-1] == [*restored, *checks, "AT+CMGF=0", "ATS3?"]
    assert t.lines[-1].startswith("AT+CMGS=")


async def test_a_socket_send_of_a_given_length_may_carry_any_bytes() -> None:
    # AT+CIPSEND=<n> / AT+QISEND=<id>,<n>: the module reads n bytes, a Ctrl-Z among them is data;
    # bytes past n would be read as a command line.
    payload = b"\x1aAT\x1b\r"
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=("AT+CIPSEND", "AT+QISEND"))
    async with modem_on(t) as modem:
        await modem.client.command_with_data("AT+CIPSEND=5", payload)
        await modem.client.command_with_data("AT+QISEND=0,5", payload)
        with pytest.raises(SafetyError, match="bytes past it would be read as command lines"):
            await modem.client.command_with_data("AT+QISEND=0,5", payload + b"ATD+33699999999;\r")
    assert b"ATD" not in t.written


# the vendors' socket sends of a length (modem.safety.SEND_FORMS), each as its module's manual has it
SIZED_SENDS = (
    "AT#SSENDEXT=1,{n}",  # Telit
    "AT#SSENDEXT=1,{n},0",  # with its release assistance indication
    "AT+QISEND=0,{n}",  # Quectel
    'AT+QISEND=0,{n},"10.0.0.1",7',  # a UDP service's send to a peer
    "AT+QSSLSEND=1,{n}",
    "AT+CIPSEND=0,{n}",  # SIMCom, AT+CIPMUX=1
    'AT+CIPSEND=0,{n},"10.0.0.1",7',  # SIMCom SIM7500/SIM7600, UDP
    "AT+CASEND=0,{n}",  # SIMCom SIM7000
    "AT+CASEND=0,{n},5000",
)
SEND_COMMANDS = (
    "AT#SSENDEXT",
    "AT#SSEND",
    "AT+QISEND",
    "AT+QSSLSEND",
    "AT+CIPSEND",
    "AT+CASEND",
    "AT+USOWR",
    "AT+USOST",
)
BINARY = b"\x1aAT\x1b\r\x00\xff\x1a"  # a Ctrl-Z, ESC, CR and NUL among the bytes: data all the same


@pytest.mark.parametrize("form", SIZED_SENDS)
async def test_a_vendor_socket_send_of_a_length_may_carry_any_bytes(form: str) -> None:
    # the module takes that many bytes after its prompt, whatever they are, and is back in command
    # mode: the line after them is a command line (the fake modem takes them as the module does)
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=SEND_COMMANDS)
    async with modem_on(t, allow=SEND_COMMANDS) as modem:
        await modem.client.command_with_data(form.format(n=len(BINARY)), BINARY)
        await modem.client.command("AT+CSQ")
        with pytest.raises(SafetyError, match="bytes past it would be read as command lines"):
            await modem.client.command_with_data(form.format(n=len(BINARY)), BINARY + b"ATD+33699999999;\r")
        with pytest.raises(
            SafetyError, match="a command line"
        ):  # read as one should the prompt not be its own
            await modem.client.command_with_data(form.format(n=17), b"ATD+33699999999;\r")
    assert t.lines == [form.format(n=len(BINARY)), "AT+CSQ"]
    assert b"ATD" not in t.written


@pytest.mark.parametrize("line", ["AT+USOWR=0,{n}", 'AT+USOST=0,"10.0.0.1",7,{n}'])
async def test_a_u_blox_binary_socket_write_may_carry_any_bytes(line: str) -> None:
    # u-blox's binary syntax: <length> bytes after the `@` prompt, any of 0x00-0xFF (the client
    # waited for `> ` and cancelled the send with ESC)
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=SEND_COMMANDS)
    client = ATClient(t, timeout=1.0, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, DriverProfile(allow_commands=SEND_COMMANDS), BENCH) as modem:
        await modem.client.command_with_data(line.format(n=len(BINARY)), BINARY)
        await modem.client.command("AT+CSQ")
        with pytest.raises(SafetyError, match="bytes past it would be read as command lines"):
            await modem.client.command_with_data(line.format(n=3), BINARY)
        with pytest.raises(SafetyError, match="a command line"):
            await modem.client.command_with_data(line.format(n=17), b"ATD+33699999999;\r")
    assert t.lines == [line.format(n=len(BINARY)), "AT+CSQ"]
    assert t.written.endswith(b"\r" + BINARY + b"AT+CSQ\r")


@pytest.mark.parametrize("line", ["AT+QISEND=2", "AT+QSSLSEND=1", "AT#SSEND=1", "AT#SSEND=1,0", "AT+CIPSEND"])
async def test_a_vendor_socket_send_ended_by_ctrl_z_takes_its_data_to_the_ctrl_z(line: str) -> None:
    # AT+QISEND=<connectID> and Telit's AT#SSEND=<connId>: the data ends with a Ctrl-Z, the
    # parameter is the connection, not a length
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=SEND_COMMANDS)
    async with modem_on(t, allow=SEND_COMMANDS) as modem:
        await modem.client.command_with_data(line, b"GET / HTTP/1.0\r\n\r\n\x1a")
        for data in (b"ab\x1acd\x1a", b"abc"):  # bytes after an early Ctrl-Z, none at the end
            with pytest.raises(SafetyError, match="must end with one Ctrl-Z"):
                await modem.client.command_with_data(line, data)
        with pytest.raises(SafetyError, match="a command line"):
            await modem.client.command_with_data(line, b"ATD+33699999999;\x1a")
    assert t.lines == [line]


@pytest.mark.parametrize(
    "line", ['AT+USOWR=0,5,"hello"', 'AT+USOST=0,"10.0.0.1",7,2,"4142"', 'AT+QISENDEX=0,"4142"']
)
def test_bytes_after_a_send_whose_data_is_in_its_line_are_refused(line: str) -> None:
    # no prompt comes: the module reads the bytes as a command line
    guard = CommandGuard("/dev/ttyUSB9", BENCH, ("AT+USOWR", "AT+USOST", "AT+QISENDEX"))
    guard.check(line)
    with pytest.raises(SafetyError, match="its data is in the line"):
        guard.check(line, b"hello")


@pytest.mark.parametrize(
    "data",
    [b"ATD+33699999999;\r", b"ATD+33699999999;", b"xx\rAT+CMSS=1\r", b'{"cmd":"ATD+33699999999;"}'],
)
async def test_a_socket_send_holding_a_costly_command_line_is_refused(data: bytes) -> None:
    # of the send's length, it went unread: should the prompt not be the module's (a text-mode
    # SMS whose text line is "> ", which anybody can send) or the send be refused after it, the
    # module reads the bytes as a command line, the unended one with the next line's CR
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=("AT+CIPSEND",))
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match="a command line"):
            await modem.client.command_with_data(f"AT+CIPSEND={len(data)}", data)
        await modem.client.command_with_data("AT+CIPSEND=13", b"GET / HTTP\r\n\x1a")  # data as data
    assert b"ATD" not in t.written and b"CMSS" not in t.written


@pytest.mark.parametrize("data", [b"ATD+33699999999;\x1a", b"GET /\rAT+CMSS=1\x1a", b"a t d 0699999999;\x1a"])
async def test_a_send_ended_by_ctrl_z_holding_a_costly_command_line_is_refused(data: bytes) -> None:
    # AT+CIPSEND without a length takes the bytes up to the Ctrl-Z: should the prompt not be the
    # module's or the send be refused after it, they are a command line too (the Ctrl-Z dropped,
    # ended by the next line's CR), as for a send of a given length
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=("AT+CIPSEND",))
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match="a command line"):
            await modem.client.command_with_data("AT+CIPSEND", data)
        await modem.client.command_with_data("AT+CIPSEND", b"GET / HTTP\r\nHost: at d\r\n\x1a")
    assert b"ATD" not in t.written and b"CMSS" not in t.written and b"0699" not in t.written


@pytest.mark.parametrize(
    "line",
    [
        "AT+CIPSEND=2",
        "AT+QISEND=0,2",
        "xyAT+CIPSEND=2",
        "AT+CSQ;+CIPSEND=2",
        'AT+QISEND=0,2,"10.0.0.1",7',  # a UDP service's send: the length is the second parameter
        "AT#SSENDEXT=1,2",
        "AT+CASEND=0,2,5000",  # the last parameter is the time to wait for the data
        "AT+CIPSEND=40",  # short: the next line's first 38 bytes would be data, its rest a command
    ],
)
async def test_data_of_another_length_than_the_send_says_is_refused(line: str) -> None:
    # the module takes 2 bytes, then reads `ATD+33699999999;` as a command line: the single Ctrl-Z
    # at the end does not make it a Ctrl-Z-ended message
    t = AnsweringTransport(
        {},
        url="/dev/ttyUSB9",
        prompts=("AT+CIPSEND", "AT+QISEND", "AT+CSQ;+CIPSEND", "AT#SSENDEXT", "AT+CASEND"),
    )
    async with modem_on(t, allow=("AT#SSENDEXT", "AT+CASEND")) as modem:
        with pytest.raises(SafetyError, match="the modem may take"):
            await modem.client.command_with_data(line, b"abATD+33699999999;\r\x1a")
    assert bytes(t.written) == b""


async def test_raw_bytes_go_only_in_data_mode() -> None:
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match="not in data mode"):
            await modem.client.write_data(b"ATD+33699999999;\r")
    assert bytes(t.written) == b""


async def test_data_mode_bytes_cannot_escape_to_command_mode() -> None:
    # A data call to an allowed number; `+++` with a pause around it would put the modem back in
    # command mode and the bytes after it would be command lines (a dial to any number).
    t = AnsweringTransport({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER\r")
        with pytest.raises(SafetyError, match=r"\+\+\+ escape"):
            await call.write(b"+++")
        await call.write(b"x++")
        with pytest.raises(SafetyError, match=r"\+\+\+ escape"):  # split over writes
            await call.write(b"+")
    assert bytes(t.written) == b"ATS3?\rATD+33612345678\rREAD METER\rx++"


class SevenBitPort(AnsweringTransport):
    """A serial port opened 7E1 (`bytesize=7`): the modem reads each byte's low 7 bits."""

    bytesize = 7


@pytest.mark.parametrize("chunks", [[b"\xab\xab\xab"], [b"x+\xab", b"+"], [b"\xab+", b"\xab"]])
async def test_the_escape_with_the_parity_bit_set_is_refused_on_a_seven_bit_port(chunks: list[bytes]) -> None:
    # 0xAB is `+` with its eighth bit set: on a 7E1 line the modem reads it as `+`
    for port, refused in ((SevenBitPort, True), (AnsweringTransport, False)):
        t = port({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
        async with modem_on(t) as modem:
            call = await modem.calls.dial_data("+33612345678")
            for chunk in chunks[:-1]:
                await call.write(chunk)
            if refused:
                with pytest.raises(SafetyError, match=r"\+\+\+ escape"):
                    await call.write(chunks[-1])
            else:  # on an 8-bit line 0xAB is a byte of data
                await call.write(chunks[-1])
        assert t.written.endswith(b"".join(chunks[: len(chunks) - refused]))


@pytest.mark.parametrize(
    "chunks",
    [
        [b"ATD+33699999999;\r"],
        [b"meter 7 at ", b"d+33 6 99 99 99 99;\r"],  # a line split over writes
        [b"xxATE0\nD+33699999999;\r"],  # a module that ends lines at CR alone drops the LF
        [b"ATD+33612345678" + b"\x08" * 11 + b"99999999;\r"],  # backspaces edit the number
        [b"\xc1\xd4D+33699999999;\r"],  # AT with the parity bit set
        [b'AT+CUSD=1,"*21*0699999999#"\r'],
        [b"AT+CMSS=1\r"],
        # a quote the guard cannot end for sure hid the whole line: the dial before it runs on a
        # module that reads the line up to where it fails, and V.250 ignores a quote in a dial string
        [b'{"cmd":"ATD+33699999999;"}\r'],
        [b'ATD+336"99999999;\r'],
        [b'AT+CMGF=1;D+33699999999;"\r'],
    ],
)
async def test_data_mode_bytes_that_read_as_a_dial_or_a_send_are_refused(chunks: list[bytes]) -> None:
    # The far end may hang up (or the call drop) before the bytes go: the modem, back in command
    # mode, then reads them as command lines, where nothing checks them against the allow-list.
    t = AnsweringTransport({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER at dawn\r")  # text: `at dawn` dials no number
        for chunk in chunks[:-1]:
            await call.write(chunk)
        with pytest.raises(SafetyError, match=r"command line .* should the modem be back in command mode"):
            await call.write(chunks[-1])
    assert bytes(t.written) == b"ATS3?\rATD+33612345678\rREAD METER at dawn\r" + b"".join(chunks[:-1])


async def test_reading_data_mode_bytes_as_command_lines_stays_bounded() -> None:
    # every `AT` may be where the modem starts reading: 50 000 of them on one line are read at most
    # a bounded number of times, and refused past the bound, not read for minutes
    t = AnsweringTransport({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"AT" * 50_000 + b"\r")  # nothing on the line may dial: not read at all
        many = b"".join(b"ATE%d" % i for i in range(3000))  # each `AT` starts another reading
        with pytest.raises(SafetyError, match="too many to read"):
            await call.write(many + b"S0?\r")
        await call.write(many[:2000] + b"S0?\r")  # fewer: each read, none dials


class NumericAnswers(AnsweringTransport):
    """A module in ATV0: results are digits and a CR (`0` OK, `1` CONNECT, `3` NO CARRIER)."""

    def _reply(self, line: str) -> None:
        register = re.fullmatch(r"ATS(\d)\?", line)
        if register is not None:  # the V.250 line end, line feed, backspace
            self.push(f"{ {3: 13, 4: 10, 5: 8}[int(register.group(1))]:03d}\r\n0\r".encode())
            return
        self.push(b"1\r" if line.startswith("ATD") else b"0\r")


async def test_data_mode_bytes_are_refused_while_the_modem_answers_in_digits() -> None:
    # In ATV0 the end of the call, `3`, cannot be told from its data: after it the modem is in
    # command mode and reads what is written next as command lines.
    t = NumericAnswers({}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        await modem.client.command("ATV0")
        call = await modem.calls.dial_data("+33612345678")
        t.push(b"3\r")  # the far end hangs up
        with pytest.raises(SafetyError, match="ATV0"):
            await call.write(b"ATD+33699999999;\r")
    assert bytes(t.written) == b"ATV0\rATS3?\rATD+33612345678\r"


async def test_the_virtual_modem_is_not_guarded() -> None:
    t = fake("virtual://generic")
    async with modem_on(t, policy=None) as modem:
        await modem.client.command("ATDL;")
        await modem.client.command('AT+CUSD=1,"*100#",15')
    assert t.lines == ["ATDL;", 'AT+CUSD=1,"*100#",15']


# -- fail closed: on a physical modem only commands known to be safe, or listed, go ------------------

UNLISTED = [
    ('AT+QCFG="roamservice",2', "+QCFG"),  # a vendor's extension: nobody listed what it does
    ("AT^SYSCFG=2,2,3FFFFFFF,1,2", "^SYSCFG"),
    ('AT+CSQ;+QXYZ=1,"+33699999999"', "+QXYZ"),  # after a safe command on the same line
    ("AT+QXYZ=?", "+QXYZ"),  # not even the test form of a command not known at all
    ("ATE0&Y0", "&Y"),  # a basic command too
    ('AT+COPS=1,2,"20601"', "+COPS"),  # a known command in a form that may roam (manual selection)
]


@pytest.mark.parametrize(("line", "name"), UNLISTED)
async def test_a_command_not_known_to_be_safe_is_refused_on_a_physical_modem(line: str, name: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match=f"AT{re.escape(name)}.* allow_commands"):
            await modem.client.command(line)
    async with modem_on(fake(), policy=None) as modem:  # without an allow-list too
        with pytest.raises(SafetyError, match=re.escape(name)):
            await modem.client.command(line)
    assert bytes(t.written) == b""
    assert costly_command(line) is None  # a `send` step's file check: the guard decides when it runs
    assert costly_command(line, allow_commands=()) is not None


@pytest.mark.parametrize(("line", "name"), UNLISTED)
async def test_a_listed_command_goes(line: str, name: str) -> None:
    by_profile, by_bench = fake(), fake()
    client = ATClient(by_profile, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, DriverProfile(allow_commands=(name,)), BENCH) as modem:
        await modem.client.command(line)
    async with modem_on(by_bench, AllowList(["+33612345678"], allow_commands=[f"at{name.lower()}"])) as modem:
        await modem.client.command(line)
    assert by_profile.lines == by_bench.lines == [line]
    assert costly_command(line, allow_commands=[name]) is None


async def test_listing_a_command_never_lets_a_send_or_a_dial_through() -> None:
    policy = AllowList(["+33612345678"], allow_commands=["+CMSS", "+QCMGS", "+CUSD", "+CTFR"])
    t = fake()
    async with modem_on(t, policy) as modem:
        for line in ("AT+CMSS=1", 'AT+QCMGS="+33699999999"', "ATD+33699999999;", 'AT+CUSD=1,"*100#"'):
            with pytest.raises(SafetyError):
                await modem.client.command(line)
    assert bytes(t.written) == b""


# the SIM toolkit commands of the families the project ships (SIMCom SIM800 STK note, Quectel,
# Telit, u-blox, Wavecom, 27.007 §12): a proactive SIM sets up calls and sends SMS to numbers of its
# own once the TE answers it, chooses a menu item or tells it to go ahead
STK = [
    "+STKCALL",
    "+STKSMS",
    "+STKSS",
    "+STKENV",
    "+STKTR",
    "+QSTKRSP",
    "#STSR",
    "+STGR",
    "+CUSATT",
    "+CUSATE",
    "^SSTR",  # Cinterion's Remote-SAT (it went when listed)
    "^SSTA",
    "#STIA",  # Telit's interface activation (it went when listed)
]


@pytest.mark.parametrize("name", STK)
async def test_listing_a_sim_toolkit_command_never_lets_it_through(name: str) -> None:
    policy = AllowList(["+33612345678"], allow_commands=STK)
    t = fake()
    async with modem_on(t, policy) as modem:
        with pytest.raises(SafetyError, match="SIM toolkit"):
            await modem.client.command(f"AT{name}=1")
    assert bytes(t.written) == b""


# MMS, the families the project ships (SIMCom's MMS note, Quectel's MMS AT manual, u-blox): the
# recipients (numbers or e-mail addresses) are set by one command and sent to by another
MMS = ["+CMMSSEND", "+CMMSRECP", "+CMMSCC", "+CMMSBCC", "+QMMSEDIT", "+QMMSCFG", "+QMMSEND", "+UMMSC"]


async def check_listed(
    allow_commands: list[str], refused: tuple[str, ...], why: str, goes: tuple[str, ...]
) -> None:
    """With `allow_commands` listed by the bench, each line of `refused` is refused (`why`) and
    nothing of it written; each of `goes` goes."""
    t = fake()
    async with modem_on(t, AllowList(["+33612345678"], allow_commands=allow_commands)) as modem:
        for line in refused:
            with pytest.raises(SafetyError, match=why):
                await modem.client.command(line)
        for line in goes:
            await modem.client.command(line)
    assert t.lines == list(goes)


@pytest.mark.parametrize("name", ["+QUSSD", "#USSD", "^USSDMODE"])
async def test_listing_a_vendor_s_ussd_command_never_lets_it_through(name: str) -> None:
    # a USSD string may have the network call, forward or move credit: 27.007's AT+CUSD with one
    # is refused whatever is listed, and a vendor's went when listed
    refused = (f'AT{name}=1,"*100#"', f"AT{name}=1", f"AT{name}")
    await check_listed([name], refused, "sends USSD", ("AT+CUSD=1",))


@pytest.mark.parametrize("name", MMS)
async def test_listing_an_mms_command_never_lets_it_through(name: str) -> None:
    refused = (f'AT{name}="+33612345678"', f"AT{name}=1", f"AT{name}")
    await check_listed(MMS, refused, "MMS command", ("AT+CMMS=1",))  # 27.005's "more messages": no MMS


# Remote AT services (Telit's "Running AT Commands Remotely" note: #SMSATRUN and #TCPATRUN*;
# Maestro's +SMSAT on its Wavecom-based modems): command lines from an SMS or a TCP peer, run where
# the guard never reads them, an SMS command's answer texted back to whoever sent it
REMOTE_AT = ["#SMSATRUN", "#SMSATRUNCFG", "#SMSATWL", "#TCPATRUNL", "#TCPATRUND", "#TCPATRUNCFG", "+SMSAT"]


@pytest.mark.parametrize("name", REMOTE_AT)
async def test_listing_a_remote_at_command_lets_only_its_read_test_and_disable_through(name: str) -> None:
    refused = (f"AT{name}=1", f'AT{name}=3,1,"x"', f"AT{name}")
    await check_listed(REMOTE_AT, refused, "remote AT service", (f"AT{name}?", f"AT{name}=?", f"AT{name}=0"))


async def test_listing_at_cres_never_restores_the_stored_sms_settings() -> None:
    # 27.005 §3.3.5: the SMS centre and text-mode parameters back as whoever stored them left them
    refused = ("AT+CRES", "AT+CRES=0", "AT+CRES=1", "ATE0;+CRES")
    await check_listed(["+CRES", "+CRESET"], refused, "SMS centre", ("AT+CRES=?",))
    assert "SMS centre" in (costly_command("AT+CRES") or "")
    assert costly_command("AT+CRESET", allow_commands=["+CRESET"]) is None  # a restart, not +CRES


@pytest.mark.parametrize(
    ("fo", "why"),
    [
        ("2", r"message type indicator 2 \(an SMS-COMMAND\)"),  # 23.040: acts on an earlier message
        ("18", r"message type indicator 2 \(an SMS-COMMAND\)"),  # with status report request set
        ("0", r"indicator 0 \(an SMS-DELIVER-REPORT\)"),
        ("3", r"indicator 3 \(reserved\)"),
        ("273", "not a number 0-255"),  # 0x111: a module may keep its low octet, 17, or not
        ('"17"', "not a number 0-255"),
    ],
)
async def test_a_text_mode_first_octet_that_is_not_an_sms_submit_is_refused(fo: str, why: str) -> None:
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match=why):
            await modem.client.command(f"AT+CSMP={fo},167,0,0")
        for line in ("AT+CSMP=17,167,0,0", "AT+CSMP=49,167,0,0", "AT+CSMP=,167"):  # SUBMIT, or kept
            await modem.client.command(line)
    assert t.lines == ["AT+CSMP=17,167,0,0", "AT+CSMP=49,167,0,0", "AT+CSMP=,167"]


@pytest.mark.parametrize("fo", ["145", "209", "177"])  # 0x91, 0xD1, 0xB1: SMS-SUBMIT with TP-RP set
async def test_a_text_mode_first_octet_with_the_reply_path_is_refused(fo: str) -> None:
    # 23.040 Annex D: the recipient's reply goes through the bench's SMS centre, at the bench's cost
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match=rf"first octet {fo} sets TP-Reply-Path \(bit 7"):
            await modem.client.command(f"AT+CSMP={fo},167,0,0")
        await modem.client.command("AT+CSMP=17,167,0,0")
    assert t.lines == ["AT+CSMP=17,167,0,0"]


async def test_a_pdu_with_the_reply_path_is_refused() -> None:
    pdu = encode_submit("hi", "+33612345678", reply_path=True)[0]  # first octet 0x81
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command("AT+CMGF=0")
        with pytest.raises(SafetyError, match=r"first octet 129 sets TP-Reply-Path"):
            await modem.client.command_with_data(f"AT+CMGS={pdu.tpdu_length}", pdu.hex.encode() + b"\x1a")
    assert t.lines == ["AT+CMGF=0"]


VARIANTS = ["+CCFCU", "^CHLD", "+QCSCA", "+CTFRU", "+CGLA", "+CRLA"]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('AT+CCFCU=0,3,2,145,"+33699999999"', "forwards calls"),  # 27.007's forwarding with URIs
        ("AT^CHLD=4", "transfers or deflects"),
        ('AT+QCSCA="+33699999999"', "changes the SMS service centre"),
        ('AT+CTFRU="+33699999999"', "deflects a call"),
        ('AT+CGLA=1,10,"00A40004"', "raw commands to the SIM"),  # like AT+CSIM: may rewrite the SMS centre
        ('AT+CRLA=1,214,28480,0,0,1,"00"', "writes to the SIM"),  # UPDATE BINARY
    ],
)
async def test_listing_a_vendor_variant_lets_only_its_harmless_forms_through(line: str, why: str) -> None:
    # listed for their queries, these variants still never forward, transfer, deflect or rewrite
    policy = AllowList(["+33612345678"], allow_commands=VARIANTS)
    t = fake()
    async with modem_on(t, policy) as modem:
        with pytest.raises(SafetyError, match=why):
            await modem.client.command(line)
        for harmless in ("AT+CCFCU=0,2", "AT^CHLD=2", "AT+QCSCA?", "AT+CRLA=1,176,28480"):
            await modem.client.command(harmless)
    assert t.lines == ["AT+CCFCU=0,2", "AT^CHLD=2", "AT+QCSCA?", "AT+CRLA=1,176,28480"]


@pytest.mark.parametrize("line", [line for line, _ in UNLISTED])
async def test_the_virtual_modem_takes_any_command(line: str) -> None:
    t = fake("virtual://generic")
    async with modem_on(t) as modem:
        await modem.client.command(line)
    assert t.lines == [line]


@pytest.mark.parametrize(
    "name", ["generic", "quectel-bg96", "quectel-eg25", "simcom-sim800", "wavecom-fastrack"]
)
def test_what_the_drivers_send_is_known_to_be_safe(name: str) -> None:
    profile = load_driver_profile(name)
    lines = [*profile.init, *profile.iccid, profile.cnmi, "ATZ", "ATQ0", "AT", "ATH", "AT+CHUP", "AT+CGACT=0"]
    lines += [f"AT{kind}{form}" for kind in profile.registration for form in ("?", "=2")]
    assert [line for line in lines if costly_command(line, profile.allow_commands)] == []


# -- the SMS format after a reset the module does not announce (brown-out, watchdog) ----------------


class SilentlyResetting:
    """A module whose SMS format is what AT+CMGF last set, and its default (text) again after a reset
    it says nothing of; it records each message as it reads AT+CMGS: `(format, argument)`."""

    def __init__(self, reset_after_sends: int | None = None) -> None:
        self.cmgf = 1
        self.sent: list[tuple[str, str]] = []
        self.reset_after_sends = reset_after_sends
        self.transport = AnsweringTransport(
            {"AT+CMGF=": self._set, "AT+CMGF?": lambda _: f"+CMGF: {self.cmgf}", "AT+CMGS": self._send},
            url="/dev/ttyUSB9",
        )

    def reset_silently(self) -> None:
        self.cmgf = 1

    def _set(self, line: str) -> str:
        self.cmgf = int(line.removeprefix("AT+CMGF=").partition(";")[0])  # (text mode: ;+CSMP=... after)
        return ""

    def _send(self, line: str) -> str:
        self.sent.append(("text" if self.cmgf else "pdu", line.removeprefix("AT+CMGS=")))
        if len(self.sent) == self.reset_after_sends:
            self.reset_silently()
        return f"+CMGS: {len(self.sent)}"


async def test_the_driver_sends_in_pdu_mode_after_a_silent_reset() -> None:
    module = SilentlyResetting()
    async with modem_on(module.transport) as modem:
        await modem.sms.configure()
        await modem.client.command("AT+CSQ")
        module.reset_silently()  # back in text mode: AT+CMGS=<length> would text the number <length>
        await modem.sms.send("+33612345678", "hi")
    assert [fmt for fmt, _ in module.sent] == ["pdu"]


async def test_each_part_of_a_long_message_goes_in_pdu_mode_when_the_module_resets_between() -> None:
    module = SilentlyResetting(reset_after_sends=1)
    async with modem_on(module.transport) as modem:
        await modem.sms.configure()
        assert len(await modem.sms.send("+33612345678", "x" * 200)) == 2
    assert [fmt for fmt, _ in module.sent] == ["pdu", "pdu"]


async def test_the_driver_sends_in_text_mode_after_a_silent_reset_to_pdu_mode() -> None:
    module = SilentlyResetting()
    async with modem_on(module.transport) as modem:
        await modem.sms.set_mode("text")
        await modem.client.command("AT+CSQ")
        module.cmgf = 0  # a module whose default is PDU mode, reset without a word
        await modem.sms.send("+33612345678", "hi")
    assert module.sent == [("text", '"+33612345678"')]


async def test_a_late_answer_taken_for_the_format_s_does_not_let_a_pdu_length_go() -> None:
    # AT+CSQ is answered past its timeout, its OK just before AT+CMGF=0's ERROR (a module not ready
    # after a reset refuses it, and stays in text mode).  Taken for AT+CMGF=0's answer, that OK
    # would make PDU mode known and let AT+CMGS=<length> go: in text mode it texts the number <length>.
    module = SilentlyResetting()
    module.transport.answers["AT+CMGF=0"] = Answer(final="ERROR")
    async with modem_on(module.transport) as modem:
        module.transport.hold()
        with pytest.raises(CommandTimeout):
            await modem.client.command("AT+CSQ", timeout=0.05)
        module.transport.received.clear()
        send = asyncio.create_task(modem.sms.send("+33612345678", "hi"))
        await asyncio.wait_for(module.transport.received.wait(), 5)  # its first line went out
        module.transport.catch_up()  # AT+CSQ's late OK, then the answer to that line
        with pytest.raises(CommandError, match="AT\\+CMGF=0"):
            await asyncio.wait_for(send, 5)
    assert module.sent == [] and not any(line.startswith("AT+CMGS") for line in module.transport.lines)


async def test_an_sms_goes_after_a_timeout_with_the_format_set_just_before() -> None:
    # the resynchronisation after the timeout comes before AT+CMGF=0; between it and AT+CMGS the
    # check that answers are the client's own reads a register without forgetting the format
    t = fake()
    async with modem_on(t) as modem:
        t.hold()
        with pytest.raises(CommandTimeout):
            await modem.client.command("AT+CSQ", timeout=0.05)
        t.catch_up()
        assert await modem.sms.send("+33612345678", "hi") == [7]
    assert t.lines == ["AT+CSQ", "ATS3?", "AT+CMGF=0", "ATS4?", "AT+CMGS=15"]


async def test_a_pdu_length_goes_only_when_the_format_is_known_fresh() -> None:
    ok = encode_submit("hi", "+33612345678")[0]
    module = SilentlyResetting()
    async with modem_on(module.transport) as modem:
        c = modem.client

        async def send() -> None:
            await c.command_with_data(f"AT+CMGS={ok.tpdu_length}", ok.hex.encode() + b"\x1a")

        await c.command("AT+CMGF=0")
        await c.command("AT+CSQ")  # time passes: the module may reset, and would not say so
        module.reset_silently()
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await send()
        await c.command("AT+CMGF?")  # the answer, +CMGF: 1, is learnt
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await send()
        await c.command("AT+CMGF=0")
        await send()
        with pytest.raises(SafetyError, match="not known to be PDU mode"):  # known for one AT+CMGS
            await send()
        await c.command("AT+CMGF?")  # +CMGF: 0
        await c.command("AT+CREG?")  # a line that only reads keeps it
        await send()
        with pytest.raises(SafetyError, match="not known to be text mode"):
            await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert module.sent == [("pdu", str(ok.tpdu_length))] * 2


async def test_a_quoted_number_goes_only_when_the_format_is_known_fresh_to_be_text() -> None:
    # in PDU mode the text after the prompt would be read as a PDU, whose destination is not checked
    off_pdu = encode_submit("hi", OFF)[0].hex.encode() + b"\x1a"
    t = fake()
    async with modem_on(t) as modem:
        c = modem.client
        await c.command("AT+CSCS?")  # (the set the number is written in: IRA)
        await c.command(TEXT_MODE)
        await c.command("AT+CSQ")
        with pytest.raises(SafetyError, match="not known to be text mode"):
            await c.command_with_data('AT+CMGS="+33612345678"', off_pdu)
        await c.command(TEXT_MODE)
        await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert t.lines == ["AT+CSCS?", TEXT_MODE, "AT+CSQ", TEXT_MODE, "ATS3?", 'AT+CMGS="+33612345678"']


async def test_a_quoted_number_goes_only_with_the_text_mode_parameters_known_fresh() -> None:
    # a text-mode message goes with the module's AT+CSMP: its own, stored with AT+CSAS by whoever
    # used it before (17,167,50,0: the SMS centre mails the text to an address inside it), and
    # brought back by a reset; the guard refused setting such a TP-PID, never the module's own
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CSMP?": "+CSMP: 17,167,50,0"}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        c = modem.client
        for before in (["AT+CMGF=1"], ["AT+CMGF=1", "AT+CSMP?"], ["AT+CSMP=17,167,0,0", "ATZ", "AT+CMGF=1"]):
            for line in before:
                await c.command(line)
            with pytest.raises(SafetyError, match=r"text-mode parameters \(AT\+CSMP\) are not known"):
                await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
        await c.command("AT+CSCS?")  # (the set the number is written in, after the ATZ: IRA)
        for before in (["AT+CSMP=17,167,0,0", "AT+CMGF=1"], ["AT+CMGF=1", "AT+CSMP=49,167,0,0", "AT+CREG?"]):
            for line in before:
                await c.command(line)
            await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert [w for w in t.lines if w.startswith("AT+CMGS")] == ['AT+CMGS="+33612345678"'] * 2


@pytest.mark.parametrize("answer", ["+CSMP: 145,167,0,0", "+CSMP: 209,167,0,0", "+CSMP: 147,167,0,0"])
async def test_a_text_mode_send_after_a_read_showing_the_reply_path_is_refused(answer: str) -> None:
    # the module's own AT+CSMP (stored with AT+CSAS by whoever used it before) with TP-Reply-Path
    # set (first octet bit 7, 23.040 §9.2.3.17): the recipient's reply would go through the bench's
    # SMS centre and may be charged to the bench's SIM (Annex D); the read does not make it plain
    both = "AT+CMGF?;+CSMP?"
    answers = {"AT+CMGS": "+CMGS: 7", "AT+CSMP?": answer, both: f"+CMGF: 1\n{answer}"}
    t = AnsweringTransport(answers, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        c = modem.client
        await c.command("AT+CSCS?")  # (the set the number is written in: IRA)
        for before in (["AT+CMGF=1", "AT+CSMP?"], ["AT+CMGF=1", both], ["AT+CSMP?", "AT+CMGF=1"]):
            for line in before:
                await c.command(line)
            with pytest.raises(SafetyError, match=r"text-mode parameters \(AT\+CSMP\) are not known"):
                await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
        t.answers[both] = "+CMGF: 1\n+CSMP: 17,167,0,0"  # set plain by another program meanwhile
        await c.command(both)
        await c.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert [w for w in t.lines if w.startswith("AT+CMGS")] == ['AT+CMGS="+33612345678"']


@pytest.mark.parametrize("line", ["AT+CMGF=0;+CFUN=1,1", "AT+CMGF=0;+CFUN=0"])
async def test_a_reset_after_the_format_on_its_line_leaves_the_format_not_known(line: str) -> None:
    ok = encode_submit("hi", "+33612345678")[0]
    t = fake()
    async with modem_on(t) as modem:
        await modem.client.command(line)
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await modem.client.command_with_data(f"AT+CMGS={ok.tpdu_length}", ok.hex.encode() + b"\x1a")
    assert t.lines == [line]


async def test_a_format_read_that_fails_forgets_the_format() -> None:
    ok = encode_submit("hi", "+33612345678")[0]
    t = AnsweringTransport({"AT+CMGF?": Answer(final="ERROR"), "AT+CMGS": "+CMGS: 7"}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        c = modem.client
        await c.command("AT+CMGF=0")
        with pytest.raises(ModemError):
            await c.command("AT+CMGF?")
        with pytest.raises(SafetyError, match="not known to be PDU mode"):
            await c.command_with_data(f"AT+CMGS={ok.tpdu_length}", ok.hex.encode() + b"\x1a")
    assert "AT+CMGS" not in " ".join(t.lines)


class BusyOnce(AnsweringTransport):
    """Answers the first AT+CMGS with an error before its prompt: SIM busy (+CMS ERROR: 314), or
    please wait (+CME ERROR: 515), as a module still initialising after a reset answers."""

    def __init__(self, error: str) -> None:
        super().__init__({"AT+CMGS": "+CMGS: 7"}, url="/dev/ttyUSB9")
        self.error: str | None = error

    async def write(self, data: bytes) -> None:
        if self.error is not None and data.startswith(b"AT+CMGS"):
            self.written += data
            self.lines.append(data.decode().strip())
            self.push(f"\r\n{self.error}\r\n".encode())
            self.error = None
            return
        await super().write(data)


@pytest.mark.parametrize("error", ["+CMS ERROR: 314", "+CME ERROR: 515"])
async def test_a_transient_error_before_the_prompt_is_retried_with_the_format_set_again(error: str) -> None:
    t = BusyOnce(error)
    client = ATClient(t, retry=RetryPolicy(delay=0.0), watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, DriverProfile(), BENCH) as modem:
        assert await modem.sms.send("+33612345678", "hi") == [7]
    assert t.lines == ["AT+CMGF=0", "ATS3?", "AT+CMGS=15"] * 2


async def test_an_error_once_the_message_went_out_is_not_retried() -> None:
    t = AnsweringTransport({"AT+CMGS": Answer(final="+CMS ERROR: 314")}, url="/dev/ttyUSB9")
    client = ATClient(t, retry=RetryPolicy(delay=0.0), watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, DriverProfile(), BENCH) as modem:
        with pytest.raises(CMSError):
            await modem.sms.send("+33612345678", "hi")
    assert t.lines == ["AT+CMGF=0", "ATS3?", "AT+CMGS=15"]


@pytest.mark.parametrize(
    ("charset", "line"),
    [
        ('"HEX"', 'AT+CMGS="3636"'),  # each character two hex digits: the module texts 66
        ('"UCS2"', 'AT+CMGS="3636"'),  # four: "3636" is one character, not a number
        (None, 'AT+CSCS="HEX";+CMGS="3636"'),  # set on the line itself
    ],
)
async def test_a_text_mode_number_goes_only_in_a_character_set_that_writes_it_as_itself(
    charset: str | None, line: str
) -> None:
    # 27.005 §3.5.1: the text-mode <da> is in the TE character set (AT+CSCS); the allow-list's
    # short code 3636 read in "HEX" is the number 66, which nobody allowed
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        if charset is not None:
            await c.command(f"AT+CSCS={charset}")
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")  # at home: the short code would go
        with pytest.raises(SafetyError, match=r"character set \(AT\+CSCS\) is \"(HEX|UCS2)\""):
            await c.command_with_data(line, b"hi\x1a")
        await c.command('AT+CSCS="GSM"')
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")  # a short code goes on the home network only
        await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")  # a digit is itself in GSM
    assert not [w for w in t.lines if w.startswith("AT+CMGS") and w != 'AT+CMGS="3636"']
    assert t.lines[-1] == 'AT+CMGS="3636"' and t.lines.count('AT+CMGS="3636"') == 1


@pytest.mark.parametrize("reset", [None, "ATZ", "AT+CFUN=1,1"])
async def test_a_text_mode_number_waits_for_the_character_set_to_be_read_or_set(reset: str | None) -> None:
    # a module left in "HEX" by the program before (or by its stored profile, brought back by a
    # reset): the guard took a set never set nor read for IRA or GSM, and "3636" went, the number 66
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    t.charset = "HEX"
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        if reset is not None:
            await c.command('AT+CSCS="IRA"')
            await c.command(reset)
            t.charset = "HEX"  # the stored profile's set back
        for before, why in [
            ([], r"character set \(AT\+CSCS\), in which .* was neither set nor read"),
            (["AT+CSCS?"], r"character set \(AT\+CSCS\) is \"HEX\""),  # read: "HEX"
        ]:
            for line in [*before, TEXT_MODE, "AT+CREG?"]:
                await c.command(line)
            with pytest.raises(SafetyError, match=why):
                await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
        for line in ['AT+CSCS="IRA"', TEXT_MODE, "AT+CREG?"]:
            await c.command(line)
        await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert [line for line in t.lines if line.startswith("AT+CMGS")] == ['AT+CMGS="3636"']


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ('AT+CSCS ="HEX"', 'AT+CMGS="3636"'),  # V.250 ignores spaces: the module is in "HEX"
        ('AT + CSCS = "HEX"', 'AT+CMGS="3636"'),
        ("at+cscs=hex", 'AT+CMGS="3636"'),
        (None, 'AT+CSCS = "HEX";+CMGS="3636"'),
        (None, 'AT+CSCS="HEX";+CM GS="3636"'),  # the send found where the modem reads it
        (None, 'AT+CPMS="+CMGS";+CSCS="HEX";+CMGS="3636"'),  # not where a string names it
        (None, 'AT+CSCS="HEX";+CPMS="+CSCS=IRA";+CMGS="3636"'),  # nor a set a string names
    ],
)
async def test_a_character_set_is_read_where_the_modem_reads_it(setting: str | None, line: str) -> None:
    # the set was found by a pattern on the line as written: with a space before its `=` (which a
    # module skips) it was missed, and a set on the send's line counted up to the first "+CMGS" as
    # written, so that a space in the send's name, or a quoted "+CMGS" before, let the short code
    # 3636 go in "HEX", where the module texts 66
    await _short_code_refused(setting, line, r"character set \(AT\+CSCS\) is \"HEX\"")


async def _short_code_refused(
    setting: str | None, line: str, why: str, answers: Mapping[str, AnswerSpec] | None = None
) -> None:
    """The allowed short code 3636 texted at home by `line` (after `setting`) is refused, saying
    `why`; `answers`: the module's answers besides the send's and the registration's."""
    table = {"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1", **(answers or {})}
    t = AnsweringTransport(table, url="/dev/ttyUSB9")
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        if setting is not None:
            await c.command(setting)
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        with pytest.raises(SafetyError, match=why):
            await c.command_with_data(line, b"hi\x1a")
    assert not [w for w in t.lines if "CM" in w and "GS" in w and "CPMS" not in w]


def test_a_character_set_set_after_a_value_with_no_separator_is_refused() -> None:
    # read as the modem reads the line, `AT+CSCS="IRA"+CSCS="HEX"` is one set and a tail that a
    # lenient module runs as a second one: which set it is in, the guard would not know
    assert "charset HEX" in (costly_command('AT+CSCS="IRA"+CSCS="HEX"') or "")
    assert "charset HEX" in (costly_command('AT+CMGF=1+CSCS="HEX"') or "")
    assert costly_command('AT+CSCS="IRA";+CSCS="HEX"') is None


@pytest.mark.parametrize("reset", ["ATZ", "restart"])
async def test_a_character_set_stored_with_at_w_is_the_one_after_a_reset(reset: str) -> None:
    # AT+CSCS="HEX" stored in the profile (AT&W), then "GSM" set: ATZ (or a reboot) brings "HEX"
    # back, where the guard kept "GSM" and let the short code 3636 go as the number 66
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        await c.command('AT+CSCS="HEX";&W')
        await c.command('AT+CSCS="GSM"')
        if reset == "ATZ":
            await c.command("ATZ")
        else:
            c.restarted("a boot URC")
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        with pytest.raises(SafetyError, match=r"character set \(AT\+CSCS\) is \"HEX\""):
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
        await c.command('AT+CSCS="IRA";&W')
        await c.command("ATZ")
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert [w for w in t.lines if w.startswith("AT+CMGS")] == ['AT+CMGS="3636"']


@pytest.mark.parametrize(
    ("answer", "goes"),
    [
        ('+CSCS: "HEX"', False),
        ('+CSCS: "484558"', False),  # "HEX" written in HEX, as some modules answer
        ('+CSCS: "0055004300530032"', False),  # "UCS2" in UCS2
        ('+CSCS: "GSM"', True),
        ('+CSCS: "IRA","GSM"', False),  # not one set: not known
    ],
)
async def test_the_character_set_read_is_the_one_the_guard_knows(answer: str, goes: bool) -> None:
    # a module left in "HEX" by the program before the run: the guard took its set for its own
    # (IRA or GSM) and let the short code 3636 go as the number 66, though the module had said
    # "HEX" to the run's AT+CSCS? (the forwarding check's)
    t = AnsweringTransport(
        {"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1", "AT+CSCS?": answer}, url="/dev/ttyUSB9"
    )
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        await c.command("AT+CSCS?")
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        if goes:
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
        else:
            with pytest.raises(
                SafetyError, match=r"character set \(AT\+CSCS\) is (\"(HEX|UCS2)\"|not known)"
            ):
                await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert [w for w in t.lines if w.startswith("AT+CMGS")] == (['AT+CMGS="3636"'] if goes else [])


async def test_the_character_set_test_command_sets_nothing() -> None:
    # AT+CSCS=? lists the sets the module supports: it was taken for a set named "?", and every
    # text-mode message after it refused
    t = AnsweringTransport(
        {"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1", "AT+CSCS=?": '+CSCS: ("IRA","GSM","UCS2")'},
        url="/dev/ttyUSB9",
    )
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        await c.command('AT+CSCS="IRA"')
        await c.command("AT+CSCS=?")
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert t.lines[-1] == 'AT+CMGS="3636"'


@pytest.mark.parametrize(("store", "reset"), [("AT&W1", "ATZ"), ("AT&W", "ATZ1"), ("AT&W0", "ATZ01")])
async def test_a_character_set_stored_in_another_profile_than_the_one_brought_back_is_not_known(
    store: str, reset: str
) -> None:
    # V.250 numbers the stored profiles: AT&W1 stores profile 1 and ATZ (ATZ0) brings back 0, which
    # holds what whoever stored it left ("HEX"); the guard took the set stored in 1 for the one back
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        for line in ['AT+CSCS="IRA"', store, reset]:
            await c.command(line)
        t.charset = "HEX"  # the other profile's set
        for line in [TEXT_MODE, "AT+CREG?"]:
            await c.command(line)
        with pytest.raises(SafetyError, match=r"character set \(AT\+CSCS\)"):
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert not [line for line in t.lines if line.startswith("AT+CMGS")]


TELIT = DriverProfile(allow_commands=("AT&Y", "AT&P"), startup_profile=("&Y", "&P"))


@pytest.mark.parametrize(
    ("startup", "profile", "known"),
    [
        ("AT&Y1", DriverProfile(allow_commands=("AT&Y",)), False),
        ("AT&P1", TELIT, False),
        ("AT&Y 01", TELIT, False),
        # a profile's `startup_profile: []` does not take AT&Y away from the guard
        ("AT&Y1", DriverProfile(allow_commands=("AT&Y",), startup_profile=()), False),
        ("AT&Y1", DriverProfile(allow_commands=("AT&Y", "AT&P"), startup_profile=("&P",)), False),
        # Hayes AT&P1 sets the pulse dialling make/break ratio: the module still starts in profile
        # 0, whose set the guard saw stored (only where the profile says &P chooses one, Telit, not)
        ("AT&P1", DriverProfile(allow_commands=("AT&P",)), True),
    ],
)
@pytest.mark.parametrize("reset", ["AT+CFUN=1,1", "ATZ", "boot"])
async def test_a_character_set_after_another_startup_profile_is_chosen_is_not_known(
    startup: str, profile: DriverProfile, known: bool, reset: str
) -> None:
    # AT&Y<n> (AT&P<n> on Telit) has the module start in stored profile n: after AT+CSCS="IRA",
    # AT&W (profile 0), AT&Y1 and a restart the module is in profile 1's set ("HEX" left by whoever
    # stored it), which the guard took for the IRA it saw stored in 0
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    client = ATClient(t, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, profile, AllowList(["3636"])) as modem:
        c = modem.client
        for line in ['AT+CSCS="IRA"', "AT&W", startup]:
            await c.command(line)
        t.charset = "IRA" if known else "HEX"  # profile 0's set, or profile 1's
        if reset == "boot":
            assert isinstance(c.guard, CommandGuard)
            c.guard.restarted("a boot notice")
        else:
            await c.command(reset)
        for line in [TEXT_MODE, "AT+CREG?"]:
            await c.command(line)
        if known:
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
        else:
            with pytest.raises(SafetyError, match=r"character set \(AT\+CSCS\)"):
                await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert len([line for line in t.lines if line.startswith("AT+CMGS")]) == known


async def test_a_character_set_set_on_the_line_of_a_reset_is_not_known() -> None:
    # ATZ;+CSCS="GSM": which the module did last, the reset (the stored "HEX" back) or the set, the
    # guard does not know (AT+CSCS="GSM";Z, the reset after the set, is refused: the client does
    # not see a reset after a ';')
    t = AnsweringTransport({"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1"}, url="/dev/ttyUSB9")
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        await c.command('AT+CSCS="HEX";&W')
        await c.command('ATZ;+CSCS="GSM"')
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        with pytest.raises(SafetyError, match=r"character set \(AT\+CSCS\) is not known"):
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    assert not [w for w in t.lines if w.startswith("AT+CMGS")]


async def test_a_reset_not_answered_says_so_in_the_character_set_refusal() -> None:
    # ATZ unanswered (a stored ATQ1 keeps even its OK back), the client's settings restored after
    # it: whether the module took its stored character set is not known, and the refusal said
    # "an AT+CSCS not answered OK", which no line had been
    t = AnsweringTransport(
        {"AT+CMGS": "+CMGS: 7", "AT+CREG?": "+CREG: 0,1", "ATZ": Answer(final="")}, url="/dev/ttyUSB9"
    )
    async with modem_on(t, AllowList(["3636"])) as modem:
        c = modem.client
        await c.command('AT+CSCS="GSM"')
        await c.command("ATZ", timeout=0.05)
        await c.command(TEXT_MODE)
        await c.command("AT+CREG?")
        with pytest.raises(SafetyError) as refused:
            await c.command_with_data('AT+CMGS="3636"', b"hi\x1a")
    said = str(refused.value)
    assert "'ATZ' was not answered" in said and "AT+CSCS not answered" not in said
    assert 'set AT+CSCS="IRA" or "GSM" first' in said
    assert not [w for w in t.lines if w.startswith("AT+CMGS")]


@pytest.mark.parametrize("line", ["ATS0=1", "ATS0=02", "ATE0S0=3", "AT S0 = 1", "AT+CSQ;S0=1"])
async def test_auto_answer_is_refused_on_a_physical_modem_unless_calls_are_expected(line: str) -> None:
    # ATS0=<n>, n > 0: the modem answers the n-th ring by itself; a data (CSD) call answered
    # connects the caller to the bench's serial line, and an answered call is billed when roaming
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match=r"S0=\d+ has the modem answer incoming calls by itself"):
            await modem.client.command(line)
        await modem.client.command("ATS0=0")  # answering nothing by itself: goes
        await modem.client.command("ATS0?")
    assert t.lines == ["ATS0=0", "ATS0?"]
    expected = AllowList(["+33612345678"], incoming_calls=True)
    t = fake()
    async with modem_on(t, expected) as modem:
        await modem.client.command(line)
    assert t.lines == [line]


async def test_auto_answer_goes_on_the_virtual_modem() -> None:
    t = fake(url="virtual://generic")
    async with modem_on(t, None) as modem:
        await modem.client.command("ATS0=1")
    assert t.lines == ["ATS0=1"]


async def test_answering_a_call_is_warned_of_on_a_physical_modem(caplog: pytest.LogCaptureFixture) -> None:
    t = fake()
    async with modem_on(t) as modem:
        with caplog.at_level("WARNING", logger="modem.safety"):
            await modem.client.command("ATA")
    assert t.lines == ["ATA"]
    assert any("'ATA' answers an incoming call" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("line", ["AT+CMEE=1;Z", "ATE0;&F", "A TZ", "AT+CSQ;Z0"])
async def test_a_reset_the_client_does_not_see_is_refused_on_a_physical_modem(line: str) -> None:
    # the module resets (its stored profile, S0 > 0 too, back) but the client, which reads a reset
    # at the start of the line only, would not set its settings and auto-answer off again
    t = fake()
    async with modem_on(t) as modem:
        with pytest.raises(SafetyError, match="at the start of its own line"):
            await modem.client.command(line)
        await modem.client.command("ATE0Z")  # seen as a reset: goes, settings set again after it
    assert t.lines[0] == "ATE0Z" and "ATQ0V1" in t.lines, t.lines


async def test_a_send_queued_behind_a_restart_sets_the_format_again_and_goes_after_it() -> None:
    # AT+CFUN=1,1 of another task goes between the driver's AT+CMGF=0 and its AT+CMGS: the send
    # waits for the module and its settings, then sets the format again, the line just before
    # AT+CMGS as the command guard wants it, not AT+CMGS=<length> to a module rebooting
    module = SilentlyResetting()
    restarts: list[asyncio.Task[object]] = []
    async with modem_on(module.transport) as modem:
        modem.client.init_sequence = ["ATE0"]  # the client's settings, set again after a restart
        await modem.client.initialise()
        await modem.sms.configure()
        modem.client.restart_wait = 0.01

        def set_then_restart(line: str) -> str:
            if not restarts:
                restarts.append(asyncio.create_task(modem.client.command("AT+CFUN=1,1")))
            return module._set(line)

        module.transport.answers["AT+CMGF="] = set_then_restart
        await modem.sms.send("+33612345678", "hi")
        await restarts[0]
    lines = module.transport.lines
    at_restart = lines.index("AT+CFUN=1,1")
    assert [line for line in lines[at_restart:] if line.startswith(("AT+CMGF=", "AT+CMGS"))] == [
        "AT+CMGF=0",  # set again after the restart, as the driver keeps it
        "AT+CMGF=0",  # the driver's, just before
        lines[-1],
    ]
    assert lines[-1].startswith("AT+CMGS=") and lines[-2] in ("AT+CMGF=0", "ATS3?")
    assert module.sent == [("pdu", lines[-1].removeprefix("AT+CMGS="))]


@pytest.mark.parametrize("restart", ["+CRESET", "+QRST=1,0", "+CPOWD=1", "+QPOWD"])
async def test_a_restart_after_the_text_mode_settings_on_its_line_leaves_them_not_known(restart: str) -> None:
    # SIMCom's AT+CRESET, Quectel's AT+QRST (listed by a bench for its other uses): the module comes
    # back with its stored format and text-mode parameters, as after AT+CFUN=1,1
    line = f"{TEXT_MODE};{restart}"
    t = fake()
    names = ("+CRESET", "+QRST", "+CPOWD", "+QPOWD")
    async with modem_on(t, AllowList(["+33612345678"], allow_commands=names)) as modem:
        await modem.client.command(line)
        with pytest.raises(SafetyError, match="not known"):
            await modem.client.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert t.lines == [line]


async def test_a_driver_profile_s_restart_after_the_text_mode_settings_leaves_them_not_known() -> None:
    # Telit's AT#REBOOT, a restart the profile declares (`restarts`) and the bench lists: the module
    # comes back with its stored format and text-mode parameters, as after the restarts the guard names
    line = f"{TEXT_MODE};#REBOOT"
    t = fake()
    client = ATClient(t, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    profile = DriverProfile(restarts=(r"#REBOOT\b",))
    async with Modem(client, profile, AllowList(["+33612345678"], allow_commands=["#REBOOT"])) as modem:
        await modem.client.command(line)
        with pytest.raises(SafetyError, match="not known"):
            await modem.client.command_with_data('AT+CMGS="+33612345678"', b"hi\x1a")
    assert t.lines == [line]


@pytest.mark.parametrize(
    ("line", "profile"),
    [
        ("AT+CMEE=1+CRESET", DriverProfile()),  # a common restart, after a value with no ';'
        ("AT+CMEE=1#REBOOT", DriverProfile(restarts=(r"#REBOOT\b",))),  # the profile's own (Telit)
        ("AT+CREG?#REBOOT", DriverProfile(restarts=(r"#REBOOT\b",))),
    ],
)
async def test_a_profile_s_restart_is_a_restart_to_costly_command_and_the_guard_alike(
    line: str, profile: DriverProfile
) -> None:
    # a module that ends the command at its value runs the rest: a restart where the client reads
    # none; the driver profile's restarts are restarts as the common ones are, to both checks
    listed = ["+CRESET", "#REBOOT"]
    why = costly_command(line, allow_commands=listed, restarts=profile.restarts)
    assert why is not None and "no ';'" in why
    t = fake()
    client = ATClient(t, watchdog=WatchdogPolicy(enabled=False))
    client.start()
    async with Modem(client, profile, AllowList(["+33612345678"], allow_commands=listed)) as modem:
        with pytest.raises(SafetyError, match="no ';'"):
            await modem.client.command(line)
        await modem.client.command(line.replace("=1", "=1;").replace("?", "?;"))  # its own command: goes
    assert t.lines == [line.replace("=1", "=1;").replace("?", "?;")]
    # listed or not, as the common restarts: on its own line, unlisted, it is not known to be safe
    assert costly_command("AT#REBOOT", allow_commands=(), restarts=profile.restarts) is not None
    assert costly_command("AT#REBOOT", allow_commands=["#REBOOT"], restarts=profile.restarts) is None


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (None, 'AT+CSCS="GSM\u00e9";+CMGS="3636"'),  # set on the send's line
        ('AT+CSCS="GSM\u00e9"', 'AT+CMGS="3636"'),  # set before, answered OK
    ],
)
async def test_a_character_set_not_known_for_a_line_not_ascii_says_so(setting: str | None, line: str) -> None:
    # a set named on a line not ASCII is not known (a module may drop the parity bit): the refusal
    # gave an empty reason, "not known ()", or said the line reset the module, which it did not
    # (a module that takes the set as it reads the name)
    await _short_code_refused(
        setting, line, r"is not known \('AT\+CSCS=\"GSM\u00e9\".*' is not ASCII", {"AT+CSCS=": ""}
    )


def _typed_a_character_at_a_time(line: bytes, edit: bool) -> str:
    """A line as a module keeps it, read one character at a time (what `bytes.translate` stands for)."""
    out: list[str] = []
    for ch in line.decode("latin-1"):
        if ch == "\b" and edit:
            if out:
                out.pop()
        elif ord(ch) >= 0x20 and ord(ch) != 0x7F:
            out.append(ch)
    return "".join(out)


def test_the_translate_fast_path_reads_data_as_a_character_at_a_time() -> None:
    # seeded random lines, dense in what the guard reads: backspaces (leading ones too), other
    # control characters, DEL, `AT`, dials, bytes with the parity bit set
    from modem.safety import _SEVEN_BITS, _seven_bit, _typed

    rng = random.Random(20261208)
    alphabet = [*b"\b\b\b\x00\x1a\x1b\x7f\n\t", *b'ATatD+;0123456789" ', *range(0x80, 0x100), *range(256)]
    for _ in range(5000):
        line = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        for edit in (True, False):
            assert _typed(line, edit) == _typed_a_character_at_a_time(line, edit), (line, edit)
        if b"\b" not in line:  # read once only: the edit changes nothing
            assert _typed(line, True) == _typed(line, False)
        assert line.translate(_SEVEN_BITS) == bytes(b & 0x7F for b in line)
        text = line.decode("latin-1")
        assert _seven_bit(text) == bytes(b & 0x7F for b in text.encode("utf-8", "surrogateescape")).decode()


@pytest.mark.parametrize(
    "line",
    [
        "ATS4=" + "0" * 5000 + "9",  # the line feed set to 9, in leading zeros
        "ATS4=" + "1" * 5000,
        "AT+CSMP=" + "1" * 5000 + ",167,0,0",
        "AT+CIPSEND=" + "9" * 5000,
        "AT+CSMP=" + "0" * 5000 + "17,167," + "0" * 5000 + "32,0",  # a TP-PID that mails the text
    ],
)
def test_a_number_of_thousands_of_digits_is_refused_not_a_crash(line: str) -> None:
    # Python converts at most 4,300 digits to an int: the guard failed with a ValueError (no
    # SafetyError: a traceback in `m2msim modem at`) where it refuses the line
    guard = CommandGuard("/dev/ttyUSB9", BENCH)
    with pytest.raises(SafetyError):
        guard.check(line, b"x" * 9 if "SEND" in line else None)
    assert costly_command("ATS4=" + "0" * 5000 + "10", ()) is None  # 10, the line feed it is


@pytest.mark.parametrize(("tail", "line"), [(b"ATD", "+33699999999;AT"), (b"hello A", "TD+33699999999;")])
async def test_data_bytes_left_without_a_line_end_are_read_with_the_next_command_line(
    tail: bytes, line: str
) -> None:
    # the far end hung up before the bytes went: the modem, back in command mode, keeps `ATD` (or
    # `A`) in its line and reads the next command line after it: `ATD+33699999999;AT`, a call,
    # where the line alone, whatever precedes its `AT`, does nothing
    t = AnsweringTransport({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER\r" + tail)
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command(line, timeout=1)
    assert b"+33699999999" not in t.written


async def test_a_sends_data_left_without_a_line_end_is_read_with_the_next_command_line() -> None:
    # a send the module gave up (its input time out, its length refused) leaves its data's last
    # line in the module's command line, before the next line the client writes
    t = AnsweringTransport({}, url="/dev/ttyUSB9", prompts=("AT+CIPSEND",))
    async with modem_on(t) as modem:
        await modem.client.command_with_data("AT+CIPSEND=8", b"xxxxxATD")
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command("+33699999999;AT", timeout=1)
        await modem.client.command("AT+CSQ", timeout=1)  # a line of its own: read as it is
        await modem.client.command("+33699999999;AT", timeout=1)  # the send's bytes are gone
    assert b"+33699999999;AT" in t.written


async def test_bytes_left_without_a_line_end_stay_before_a_line_refused() -> None:
    # a line refused is not written: the bytes the modem keeps in its line are still before the next
    t = AnsweringTransport({"ATD+33612345678": Answer(final="CONNECT 9600")}, url="/dev/ttyUSB9")
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER\rATD")
        with pytest.raises(SafetyError, match="sends an SMS"):  # (read after `ATD`, no number)
            await modem.client.command("AT+CMSS", timeout=1)
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command("+33699999999;AT", timeout=1)
    assert b"+33699999999" not in t.written


class _WriteFails(AnsweringTransport):
    """Writes the first `part` bytes of the line starting `fails` (once), then the write fails."""

    def __init__(self, answers: Mapping[str, AnswerSpec], fails: bytes, part: int) -> None:
        super().__init__(answers, url="/dev/ttyUSB9")
        self.fails, self.part = fails, part

    async def write(self, data: bytes) -> None:
        if self.fails and data.startswith(self.fails):
            self.fails = b""
            await super().write(data[: self.part])
            raise OSError(5, "Input/output error")
        await super().write(data)


@pytest.mark.parametrize("part", [0, 3])
async def test_bytes_left_without_a_line_end_stay_before_a_line_not_written(part: int) -> None:
    # the guard forgot the bytes the modem keeps in its line once it passed the next line, written
    # or not: that line's write failed (or wrote only `AT+`), and `+33699999999;AT` went after `ATD`
    t = _WriteFails({"ATD+33612345678": Answer(final="CONNECT 9600")}, b"AT+CSQ", part)
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"READ METER\rATD")
        with pytest.raises(ModemError, match="write failed"):
            await modem.client.command("AT+CSQ", timeout=1)
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command("+33699999999;AT", timeout=1)
    assert b"+33699999999" not in t.written


async def test_a_line_cut_in_its_write_is_read_before_the_next() -> None:
    # `ATD+3361` of an allowed call written, then the write failed: the modem keeps those bytes,
    # and the next line ends them, read as a call to +3361... (a number no allow-list holds)
    t = _WriteFails({}, b"ATD+33612345678;", 8)
    async with modem_on(t) as modem:
        with pytest.raises(ModemError, match="write failed"):
            await modem.client.command("ATD+33612345678;", timeout=1)
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command("2;AT", timeout=1)
        assert isinstance(modem.client.guard, CommandGuard)
        modem.client.guard.restarted("a boot notice")  # (a restart empties the module's line)
        await modem.client.command("AT+CSQ", timeout=1)
    assert t.written.count(b"ATD") == 1


async def test_bytes_left_without_a_line_end_stay_before_a_costly_line_whose_trust_check_failed() -> None:
    # a line that calls goes after a check that the answers are the client's own (AT S3?): that
    # check's write failed, the call not written, and the guard had forgotten the `A` before it
    t = _WriteFails({"ATD+33612345678": Answer(final="CONNECT 9600")}, b"", 0)
    async with modem_on(t) as modem:
        call = await modem.calls.dial_data("+33612345678")
        await call.write(b"hello A")
        t.fails = b"ATS3?"
        with pytest.raises(ModemError, match="write failed"):
            await modem.client.command("ATD+33612345678;", timeout=1)
        with pytest.raises(SafetyError, match="bytes written before it"):
            await modem.client.command("TD+33699999999;", timeout=1)
    assert b"+33699999999" not in t.written
