"""The sans-IO AT parser: event sequences for real module output, whatever the read boundaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modem.at import ATParser, Command, Data, Event, Final, Prompt, Response, Result, Urc
from modem.drivers.quectel import PUSHED_DATA as QUECTEL_PUSHED
from modem.drivers.simcom import PUSHED_DATA as SIMCOM_PUSHED

VENDOR_PUSHED = SIMCOM_PUSHED + QUECTEL_PUSHED  # what the SIMCom and Quectel drivers hand their parser


def run(steps: list[tuple[Command | None, bytes]], chunk_sizes: list[int] | None = None) -> list[Event]:
    """Feed each step's bytes (after announcing its command), optionally cut into chunks."""
    parser = ATParser(VENDOR_PUSHED)
    events: list[Event] = []
    sizes = iter(chunk_sizes or [])
    for cmd, data in steps:
        if cmd is not None:
            parser.begin(cmd)
        if chunk_sizes is None:
            events += parser.feed(data)
            events += parser.flush()  # the modem falls quiet after each step
            continue
        i = 0
        while i < len(data):
            n = max(1, next(sizes, 1))
            events += parser.feed(data[i : i + n])
            i += n
        events += parser.flush()
    return merge_data(events)


def merge_data(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for e in events:
        if isinstance(e, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + e.data)
        else:
            out.append(e)
    return out


OK = Final(Result.OK, "OK", True)


def test_boot_urcs_without_command() -> None:
    # SIM800 power-on sequence (SIM800 Series AT Command Manual V1.10, "Unsolicited result code").
    events = run(
        [(None, b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n")]
    )
    assert [e.name for e in events if isinstance(e, Urc)] == [
        "RDY",
        "+CFUN",
        "+CPIN",
        "Call Ready",
        "SMS Ready",
    ]
    assert all(isinstance(e, Urc) for e in events)


def test_a_boot_notice_inside_an_answer_is_not_its_line() -> None:
    # a SIM7600 says PB DONE some seconds after boot, maybe as the manufacturer is read: it was
    # taken for the answer's first line, and the manufacturer read as "PB DONE"
    events = run(
        [(Command("AT+CGMI"), b"\r\nPB DONE\r\n\r\nSIMCOM INCORPORATED\r\n\r\nSMS DONE\r\n\r\nOK\r\n")]
    )
    assert events == [
        Urc("PB DONE", "PB DONE"),
        Response("SIMCOM INCORPORATED"),
        Urc("SMS DONE", "SMS DONE"),
        OK,
    ]


def test_echo_on_and_off_give_the_same_events() -> None:
    on = run([(Command("AT+CSQ"), b"AT+CSQ\r\r\n+CSQ: 21,0\r\n\r\nOK\r\n")])
    off = run([(Command("AT+CSQ"), b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n")])
    assert on == off == [Response("+CSQ: 21,0"), OK]


def test_registration_lines_are_told_apart_by_their_fields() -> None:
    cmd = Command("AT+CREG?")
    events = run([(cmd, b'\r\n+CREG: 1\r\n+CREG: 2,"1A2B","00C3"\r\n+CREG: 2,1,"1A2B","00C3"\r\n\r\nOK\r\n')])
    assert events == [
        Urc("+CREG", "+CREG: 1"),
        Urc("+CREG", '+CREG: 2,"1A2B","00C3"'),
        Response('+CREG: 2,1,"1A2B","00C3"'),
        OK,
    ]


def test_registration_urc_during_another_command() -> None:
    events = run([(Command("AT+CSQ"), b"\r\n+CREG: 1\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n")])
    assert events == [Urc("+CREG", "+CREG: 1"), Response("+CSQ: 9,99"), OK]


def test_urcs_interleaved_in_a_multiline_answer() -> None:
    body = (
        b'\r\n+CMGL: 1,1,,23\r\n07913386094000F0040B913366\r\n+CMTI: "SM",2\r\n'
        b"^RSSI:17\r\n+CMGL: 2,1,,23\r\nRING\r\n\r\nOK\r\n"
    )
    events = run([(Command("AT+CMGL=4"), body)])
    assert events == [
        Response("+CMGL: 1,1,,23"),
        Response("07913386094000F0040B913366"),
        Urc("+CMTI", '+CMTI: "SM",2'),
        Urc("^RSSI", "^RSSI:17"),
        Response("+CMGL: 2,1,,23"),
        Response("RING"),  # the text of message 2, not a call: 27.005 says the body follows the header
        OK,
    ]


def test_cme_and_cms_errors_numeric_and_verbose() -> None:
    events = run(
        [
            (Command("AT+CPIN?"), b"\r\n+CME ERROR: 14\r\n"),
            (Command("AT+CPIN?"), b"\r\n+CME ERROR: SIM busy\r\n"),
            (Command("AT+CMGS=12"), b"\r\n+CMS ERROR: 330\r\n"),
            (Command("AT+FOO"), b"\r\nERROR\r\n"),
        ]
    )
    assert events == [
        Final(Result.CME_ERROR, "+CME ERROR: 14", False, "14"),
        Final(Result.CME_ERROR, "+CME ERROR: SIM busy", False, "SIM busy"),
        Final(Result.CMS_ERROR, "+CMS ERROR: 330", False, "330"),
        Final(Result.ERROR, "ERROR", False),
    ]


def test_numeric_result_codes_v0() -> None:
    # V.250 §5.7.1: with ATV0 a result is `<code><CR>`, no line feed.
    events = run(
        [
            (Command("ATV0"), b"0\r"),
            (Command("ATE0"), b"0\r"),
            (Command("AT+FOO"), b"4\r"),
            (None, b"2\r"),
            (Command("ATD0612345678"), b"7\r"),
            (Command("ATD0612345678;"), b"3\r"),
            (Command("ATD0612345678;"), b"8\r"),
            (Command("ATD0612345678;"), b"6\r"),
        ]
    )
    assert events == [
        Final(Result.OK, "0", True),
        Final(Result.OK, "0", True),
        Final(Result.ERROR, "4", False),
        Urc("RING", "2"),
        Final(Result.BUSY, "7", False),
        Final(Result.NO_CARRIER, "3", False),
        Final(Result.NO_ANSWER, "8", False),
        Final(Result.NO_DIALTONE, "6", False),
    ]


def test_a_one_digit_answer_is_information_in_verbose_mode() -> None:
    # ATV1, the default: results are words, so `0` answering ATS0? (auto-answer off) is the value,
    # and `2` answering ATS7? is not RING
    events = run(
        [
            (Command("ATS0?"), b"\r\n0\r\n\r\nOK\r\n"),
            (Command("ATS7?"), b"\r\n2\r\n\r\nOK\r\n"),
            (Command("AT+FOO"), b"\r\n4\r\n\r\nERROR\r\n"),
        ]
    )
    assert events == [
        Response("0"),
        OK,
        Response("2"),
        OK,
        Response("4"),
        Final(Result.ERROR, "ERROR", False),
    ]


def test_a_one_digit_answer_in_numeric_mode_ends_with_cr_lf_and_the_result_with_cr() -> None:
    # ATV0: information text is `<text><CR><LF>`, a result code `<digit><CR>` (V.250 §5.7.1)
    events = run(
        [
            (Command("ATE0V0"), b"0\r"),
            (Command("ATS0?"), b"0\r\n0\r"),
            (Command("ATS7?"), b"2\r\n0\r"),
            (None, b"2\r"),
            (Command("ATS0=1V1"), b"0\r"),  # back to words: its own result may be either
            (Command("ATS0?"), b"\r\n1\r\n\r\nOK\r\n"),
        ]
    )
    assert events == [
        Final(Result.OK, "0", True),
        Response("0"),
        Final(Result.OK, "0", True),
        Response("2"),
        Final(Result.OK, "0", True),
        Urc("RING", "2"),
        Final(Result.OK, "0", True),
        Response("1"),
        OK,
    ]
    parser = ATParser()
    parser.begin(Command("ATV0"))
    parser.feed(b"\r\nOK\r\n")  # a module answering the switch in the old format
    assert not parser.verbose
    parser.begin(Command("AT&F"))  # the factory settings: words
    assert parser.feed(b"0\r") + parser.flush() == [Final(Result.OK, "0", True)] and parser.verbose
    # ATZ: the stored profile's format (AT&W may have stored ATV0), which the next result tells
    parser.begin(Command("ATZ"))
    assert parser.feed(b"0\r") + parser.flush() == [Final(Result.OK, "0", True)]
    assert parser.verbose is None
    parser.begin(Command("ATE0"))
    assert parser.feed(b"0\r") + parser.flush() == [Final(Result.OK, "0", True)]
    assert parser.verbose is False


def test_call_progress_finals_only_for_dial_commands() -> None:
    events = run(
        [(Command("AT+CSQ"), b"\r\nNO CARRIER\r\n\r\n+CSQ: 9,0\r\n\r\nOK\r\n"), (None, b"\r\nNO CARRIER\r\n")]
    )
    assert events == [
        Urc("NO CARRIER", "NO CARRIER"),
        Response("+CSQ: 9,0"),
        OK,
        Urc("NO CARRIER", "NO CARRIER"),
    ]
    busy = run([(Command("ATD+33612345678;"), b"\r\nBUSY\r\n")])
    assert busy == [Final(Result.BUSY, "BUSY", False)]


def test_prompt_without_line_end_and_echoed_text() -> None:
    # 27.005 §3.5.1 text mode: AT+CMGS="<da>" -> "> "; the echoed text and Ctrl-Z are dropped.
    parser = ATParser()
    parser.begin(Command('AT+CMGS="+33612345678"'))
    assert parser.feed(b'AT+CMGS="+33612345678"\r\r\n> ') == [Prompt()]
    parser.expect_echo("Hello\x1a")
    assert parser.feed(b"Hello\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n") == [Response("+CMGS: 7"), OK]


def test_echoed_text_glued_to_a_numeric_mode_answer() -> None:
    # ATE1 ATV0: the answer after the text has no leading CR LF (V.250 §5.7.1), so the echo of
    # the text and its Ctrl-Z run straight into `+CMGS: <mr>`; the final is the numeric 0.
    parser = ATParser()
    parser.begin(Command("ATE1V0"))
    assert parser.feed(b"ATE1V0\r0\r") == []  # held: an LF next would make it text
    assert parser.holding and parser.flush() == [Final(Result.OK, "0", True)]
    parser.begin(Command("AT+CMGS=17"))
    assert parser.feed(b"AT+CMGS=17\r\r\n> ") == [Prompt()]
    parser.expect_echo("0011000B913316214365F70000AA03C8F40C\x1a")
    answer = parser.feed(b"0011000B913316214365F70000AA03C8F40C\x1a+CMGS: 4\r\n0\r") + parser.flush()
    assert answer == [Response("+CMGS: 4"), Final(Result.OK, "0", True)]
    # a module that does not echo the Ctrl-Z: the text and the answer meet without a separator
    parser.begin(Command('AT+CMGS="+33612345678"'))
    assert parser.feed(b'AT+CMGS="+33612345678"\r\r\n> ') == [Prompt()]
    parser.expect_echo("relev\u00e9 42\x1a")
    answer = parser.feed("relevé 42+CMGS: 5\r\n0\r".encode()) + parser.flush()
    assert answer == [Response("+CMGS: 5"), Final(Result.OK, "0", True)]
    # echo off (ATE0): an answer that starts like the text is the answer
    parser.begin(Command('AT+CMGS="+33612345678"'))
    assert parser.feed(b"\r\n> ") == [Prompt()]
    parser.expect_echo("+CM\x1a")
    assert parser.feed(b"\r\n+CMGS: 6\r\n\r\nOK\r\n") == [Response("+CMGS: 6"), OK]


def test_data_mode_after_connect_until_no_carrier() -> None:
    events = run(
        [
            (
                Command("ATD0612345678", data_mode=True),
                b"\r\nCONNECT 9600\r\nOK\r\nbinary\x00\xff\r\nNO CARRIER\r\nRING\r\n",
            )
        ]
    )
    assert events == [
        Final(Result.CONNECT, "CONNECT 9600", True, "9600"),
        Data(b"OK\r\nbinary\x00\xff"),
        Urc("NO CARRIER", "NO CARRIER"),
        Urc("RING", "RING"),
    ]


def test_connect_ok_is_not_a_connect_result() -> None:
    # SIM800 TCP/IP Application Note: AT+CIPSTART answers OK, then "CONNECT OK" later.
    events = run([(Command('AT+CIPSTART="TCP","10.0.0.1","80"'), b"\r\nOK\r\n\r\nCONNECT OK\r\n")])
    assert events == [OK, Urc("CONNECT OK", "CONNECT OK")]


def test_connect_with_length_is_followed_by_payload() -> None:
    cmd = Command("AT+QFREAD=1027,5", connect_payload=True)
    events = run([(cmd, b"\r\nCONNECT 5\r\nOK\r\n\r\n+QFREAD: 5\r\n\r\nOK\r\n")])
    assert events == [Response("CONNECT 5", b"OK\r\n\r"), Response("+QFREAD: 5"), OK]


def test_quectel_qird_payload_by_length_even_if_it_looks_like_ok() -> None:
    # BG96 TCP/IP AT Commands Manual, AT+QIRD example: +QIRD: <n><CR><LF><data><CR><LF>OK
    cmd = Command("AT+QIRD=0,1500", payload_fields={"+QIRD": 0})
    events = run([(cmd, b"\r\n+QIRD: 8\r\nOK\r\nER\r\n\r\n\r\nOK\r\n")])
    assert events == [Response("+QIRD: 8", b"OK\r\nER\r\n"), OK]
    empty = run([(cmd, b"\r\n+QIRD: 0\r\n\r\nOK\r\n")])
    assert empty == [Response("+QIRD: 0", b""), OK]


def test_simcom_ciprxget_payload_and_urc() -> None:
    # SIM800 AT manual §8.2.26: +CIPRXGET: 2,<reqlength>,<cnflength> then the data.
    cmd = Command("AT+CIPRXGET=2,1460", payload_fields={"+CIPRXGET": 1})
    events = run([(cmd, b"\r\n+CIPRXGET: 1\r\n\r\n+CIPRXGET: 2,5,0\r\nhello\r\nOK\r\n")])
    assert events == [Urc("+CIPRXGET", "+CIPRXGET: 1"), Response("+CIPRXGET: 2,5,0", b"hello"), OK]


def test_simcom_vendor_finals_and_socket_notices() -> None:
    send = Command("AT+CIPSEND=5", finals={"SEND OK": True, "SEND FAIL": False})
    cifsr = Command("AT+CIFSR", final_pattern=r"\d+\.\d+\.\d+\.\d+")
    events = run(
        [
            (send, b"\r\n> "),
            (None, b"\r\nSEND OK\r\n"),
            (cifsr, b"\r\n10.78.245.128\r\n"),
            (None, b"\r\nCLOSED\r\n1, CLOSED\r\nRECV FROM:1.2.3.4:5000\r\n+PDP: DEACT\r\n"),
        ]
    )
    assert events == [
        Prompt(),
        Final(Result.VENDOR, "SEND OK", True),
        Response("10.78.245.128"),
        Final(Result.VENDOR, "10.78.245.128", True),
        Urc("CLOSED", "CLOSED"),
        Urc("CLOSED", "1, CLOSED"),
        Urc("RECV FROM", "RECV FROM:1.2.3.4:5000"),
        Urc("+PDP", "+PDP: DEACT"),
    ]


def test_simcom_server_notices_are_urcs() -> None:
    # AT+CIPSERVER answers OK, then "SERVER OK"; each client of the server is announced.
    events = run(
        [
            (Command("AT+CIPSERVER=1,8080"), b"\r\nOK\r\n\r\nSERVER OK\r\n"),
            (None, b"\r\n0, REMOTE IP: 10.1.2.3\r\n\r\nREMOTE IP: 10.1.2.4\r\n"),
            (Command("AT+CIPSERVER=0"), b"\r\nOK\r\n\r\nSERVER CLOSE\r\n"),
        ]
    )
    assert events == [
        OK,
        Urc("SERVER OK", "SERVER OK"),
        Urc("REMOTE IP", "0, REMOTE IP: 10.1.2.3"),
        Urc("REMOTE IP", "REMOTE IP: 10.1.2.4"),
        OK,
        Urc("SERVER CLOSE", "SERVER CLOSE"),
    ]


def test_pushed_socket_data_urcs() -> None:
    events = run([(None, b'+IPD,5:a\r\nbc\r\n+RECEIVE,0,3:\r\nxyz\r\n+QIURC: "recv",0,4\r\n\r\nOK\r\n')])
    assert events == [
        Urc("+IPD", "+IPD,5", None, b"a\r\nbc"),
        Urc("+RECEIVE", "+RECEIVE,0,3:", None, b"xyz"),
        Urc("+QIURC", '+QIURC: "recv",0,4', None, b"\r\nOK"),
    ]
    notice = run([(None, b'\r\n+QIURC: "recv",0\r\n')])
    assert notice == [Urc("+QIURC", '+QIURC: "recv",0')]


def test_the_generic_parser_knows_no_vendor_framing() -> None:
    parser = ATParser()
    events = parser.feed(b'+IPD,5:a\r\n+QIURC: "recv",0,4\r\n')
    assert events == [Urc("+IPD", "+IPD,5:a"), Urc("+QIURC", '+QIURC: "recv",0,4')]


def test_two_line_message_urcs() -> None:
    # 27.005 §3.4.1: +CMT: [<alpha>],<length><CR><LF><pdu>; +CDS: <length><CR><LF><pdu> in PDU mode.
    events = run(
        [
            (
                Command("AT+CSQ"),
                b"\r\n+CMT: ,24\r\n07913386094000F0040B913366\r\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n",
            ),
            (
                None,
                b'\r\n+CDS: 25\r\n0006D60B911326880736F4\r\n+CDS: 6,214,"+31628870634",145,"05/01/20"\r\n',
            ),
        ]
    )
    assert events == [
        Urc("+CMT", "+CMT: ,24", "07913386094000F0040B913366"),
        Response("+CSQ: 5,0"),
        OK,
        Urc("+CDS", "+CDS: 25", "0006D60B911326880736F4"),
        Urc("+CDS", '+CDS: 6,214,"+31628870634",145,"05/01/20"'),
    ]


def test_an_empty_text_mode_message_has_an_empty_text_line() -> None:
    # 27.005 §3.4.3/§4.1 text mode: `<header><CR><LF><data>`; an empty SMS (anybody may send one)
    # has empty data, and the OK after it, or the next message's header, is not its text
    head = '"REC READ","+33611111111",,"26/12/06,10:00:00+04"'
    assert run([(Command("AT+CMGR=1"), f"\r\n+CMGR: {head}\r\n\r\n\r\nOK\r\n".encode())]) == [
        Response(f"+CMGR: {head}"),
        Response(""),
        OK,
    ]
    listing = f"\r\n+CMGL: 1,{head}\r\n\r\n+CMGL: 2,{head}\r\nOK\r\n\r\nOK\r\n"
    assert run([(Command('AT+CMGL="ALL"'), listing.encode())]) == [
        Response(f"+CMGL: 1,{head}"),
        Response(""),
        Response(f"+CMGL: 2,{head}"),
        Response("OK"),  # that message's text
        OK,
    ]
    # in PDU mode the PDU is never empty: a blank line before it (as some fakes frame it) is no text
    pdu = b"\r\n+CMGR: 0,,5\r\n\r\n07913366003000F0\r\n\r\nOK\r\n"
    assert run([(Command("AT+CMGR=1"), pdu)]) == [Response("+CMGR: 0,,5"), Response("07913366003000F0"), OK]
    pushed = b'\r\n+CMT: "+33611111111",,"26/12/06,10:00:00+04"\r\n\r\n'
    events = run([(None, pushed), (Command("AT+CSQ"), b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n")])
    assert events == [
        Urc("+CMT", '+CMT: "+33611111111",,"26/12/06,10:00:00+04"', ""),
        Response("+CSQ: 21,0"),
        OK,
    ]


def test_line_noise_is_counted_but_not_text_nor_echoed_sms_text() -> None:
    parser = ATParser()
    parser.begin(Command('AT+CMGS="+33612345678"'))
    parser.feed(b"\r\n> ")
    parser.expect_echo("h\xe9llo\x1a")
    parser.feed("h\xe9llo\x1a\r\n+CMGS: 4\r\n\r\nOK\r\n".encode())  # UTF-8 text, its Ctrl-Z
    parser.begin(Command("AT+COPS?"))
    parser.feed('\r\n+COPS: 0,0,"R\xe9union"\r\n\r\nOK\r\n'.encode())
    parser.begin(Command("AT+COPS?"))  # a module answering in latin-1: 8-bit letters, not noise
    parser.feed(b'\r\n+COPS: 0,0,"R\xe9union \xc9le"\r\n\r\nOK\r\n')
    assert parser.noise_bytes == 0
    parser.feed(b"\xe0\x00\xfc\r\n\x80\x1c\xf8\r\n")  # an OK at another baud rate
    assert parser.noise_bytes == 6


def test_answers_to_the_read_form_only() -> None:
    events = run(
        [
            (Command('AT+CUSD=1,"*100#",15'), b'\r\nOK\r\n\r\n+CUSD: 0,"Balance 5 EUR",15\r\n'),
            (Command("AT+CUSD?"), b"\r\n+CUSD: 1\r\n\r\nOK\r\n"),
            (Command("AT+CLIP?"), b'\r\n+CLIP: "+33612345678",145,,,,0\r\n+CLIP: 1,1\r\n\r\nOK\r\n'),
        ]
    )
    assert events == [
        OK,
        Urc("+CUSD", '+CUSD: 0,"Balance 5 EUR",15'),
        Response("+CUSD: 1"),
        OK,
        Urc("+CLIP", '+CLIP: "+33612345678",145,,,,0'),
        Response("+CLIP: 1,1"),
        OK,
    ]


def test_chained_commands_accept_both_prefixes() -> None:
    events = run([(Command("AT+CSQ;+CREG?"), b"\r\n+CSQ: 20,0\r\n\r\n+CREG: 0,5\r\n\r\nOK\r\n")])
    assert events == [Response("+CSQ: 20,0"), Response("+CREG: 0,5"), OK]


def test_line_noise_is_dropped_but_text_is_kept() -> None:
    events = run(
        [
            (
                Command("AT+CGSN"),
                b"\x9f\xe3\xff\x81\r\n\xea\xb1\xa9\xc3\xa9\r\n869262030000012\r\n\r\nOK\r\n",
            ),
            (Command("AT+COPS?"), b'\r\n\x00\x1b\r\n+COPS: 0,0,"Orange F"\r\nRelev\xc3\xa9\r\n\r\nOK\r\n'),
        ]
    )
    assert events == [
        Response("869262030000012"),
        OK,
        Response('+COPS: 0,0,"Orange F"'),
        Response("Relevé"),
        OK,
    ]
    body = run(
        [(Command("AT+CMGR=1"), '\r\n+CMGR: "REC READ","+7900",,"26/03/01"\r\nПривет\r\n\r\nOK\r\n'.encode())]
    )
    assert body[1] == Response("Привет")  # message text is never noise


def test_a_nul_or_ff_glued_to_a_line_does_not_hide_the_final() -> None:
    # A UART break or a module's reset leaves NUL / 0xFF bytes on the line they arrive with:
    # the OK after them is still the final result (it was an answer line, and the command hung).
    events = run(
        [
            (Command("AT+CSQ"), b"\r\n+CSQ: 21,0\x00\r\n\x00OK\r\n"),
            (Command("AT+CGMI"), b"\r\n\xffQuectel\r\n\xff\xffOK\x00\r\n\x00RING\r\n"),
        ]
    )
    assert events == [Response("+CSQ: 21,0"), OK, Response("Quectel"), OK, Urc("RING", "RING")]


def test_stray_final_with_no_command_is_not_a_final() -> None:
    events = run([(None, b"\r\nOK\r\n")])
    assert events == [Urc("OK", "OK")]


def test_vendor_noise_and_call_notices_during_a_command() -> None:
    # Huawei ^RSSI / ^BOOT noise, 27.007 +CRING with AT+CRC=1, Quectel +QIND.
    body = (
        b"\r\n^BOOT:12345,0,0,0,6\r\n+CRING: VOICE\r\n+CGSN: 866425030000019\r\n+QIND: SMS DONE\r\n\r\nOK\r\n"
    )
    events = run([(Command("AT+CGSN"), body)])
    assert events == [
        Urc("^BOOT", "^BOOT:12345,0,0,0,6"),
        Urc("+CRING", "+CRING: VOICE"),
        Response("+CGSN: 866425030000019"),
        Urc("+QIND", "+QIND: SMS DONE"),
        OK,
    ]


TRANSCRIPTS: list[list[tuple[Command | None, bytes]]] = [
    [
        (None, b"\r\nRDY\r\n\r\n+CPIN: READY\r\n"),
        (Command("AT+CREG?"), b"AT+CREG?\r\r\n+CREG: 1\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
    ],
    [(Command("AT+QIRD=0,1500", payload_fields={"+QIRD": 0}), b"\r\n+QIRD: 6\r\n\r\nOK\r\n\r\n\r\nOK\r\n")],
    [
        (
            Command("ATD123", data_mode=True),
            b"\r\nCONNECT 9600\r\nab\r\nNO\r\n\r\nNO CARRIER\r\n+CMT: ,3\r\n00AA\r\n",
        )
    ],
    [
        (Command("AT+CMGS=23"), b"\r\n> "),
        (None, b"\r\n+CMGS: 9\r\n\r\nOK\r\n"),
        (None, b"+IPD,3:\r\n\r\n2\r"),
    ],
    [
        (
            Command("AT+CMGR=2"),
            b'\r\n+CMGR: "REC READ","+33611111111",,"26/12/06,10:00:00+04"\r\n\r\n\r\nOK\r\n',
        ),
        (None, b'\r\n+CMT: "+33611111111",,"26/12/06,10:00:00+04"\r\n\r\n'),
        (Command("AT"), b"\r\nOK\r\n"),
    ],
    [
        (Command("ATV0"), b"0\r"),
        (Command("ATS0?"), b"0\r\n0\r"),
        (
            Command("AT+CIPRXGET=2,9", payload_fields={"+CIPRXGET": 1}),
            b"+CIPRXGET: 1\r\n+CIPRXGET: 2,3,0\r\n\r\n\n\r\nOK\r\n",
        ),
    ],
]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    index=st.integers(min_value=0, max_value=len(TRANSCRIPTS) - 1),
    sizes=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=200),
)
def test_any_split_gives_the_same_events(index: int, sizes: list[int]) -> None:
    steps = TRANSCRIPTS[index]
    assert run(steps, sizes) == run(steps)


def test_every_single_byte_boundary() -> None:
    for steps in TRANSCRIPTS:
        whole = run(steps)
        for k, (_, data) in enumerate(steps):
            for cut in range(1, len(data)):
                sizes: list[int] = []
                for j, (_, d) in enumerate(steps):
                    sizes += [cut, len(d) - cut] if j == k else [len(d)]
                assert run(steps, sizes) == whole, (k, cut)


URC_POOL = [
    "RING",
    '+CMTI: "SM",4',
    "+CREG: 1",
    '+CGREG: 5,"00C3","0A2B"',
    '+CEREG: 1,"1A2B","01A2D101",7',
    "^RSSI:17",
    "NO CARRIER",
    '+QIURC: "closed",0',
    "0, CLOSED",
    "Call Ready",
    "PB DONE",
    '+CUSD: 0,"Solde 5 EUR",15',
    '+CLIP: "+33612345678",145,,,,0',
    "+CRING: VOICE",
]
ANSWER_LINES = ['+CREG: 2,1,"00C3","0A2B"', "+CSQ: 21,0", "+CGREG: 0,1", "+CEREG: 0,5"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    echo=st.booleans(),
    placement=st.lists(st.tuples(st.integers(0, len(ANSWER_LINES)), st.sampled_from(URC_POOL)), max_size=8),
    sizes=st.lists(st.integers(min_value=1, max_value=11), min_size=1, max_size=100),
)
def test_urcs_anywhere_in_an_answer(echo: bool, placement: list[tuple[int, str]], sizes: list[int]) -> None:
    cmd = Command("AT+CREG?;+CSQ;+CGREG?;+CEREG?")
    lines: list[tuple[str, bool]] = []  # (line, is_urc)
    for i, answer in enumerate([*ANSWER_LINES, None]):
        lines += [(urc, True) for pos, urc in placement if pos == i]
        if answer is not None:
            lines.append((answer, False))
    wire = (cmd.line + "\r" if echo else "") + "".join(f"\r\n{text}\r\n" for text, _ in lines) + "\r\nOK\r\n"
    events = run([(cmd, wire.encode())], sizes)
    kinds = [Urc if is_urc else Response for _, is_urc in lines]
    assert [type(e) for e in events] == [*kinds, Final]
    assert [e.line for e in events if isinstance(e, Urc)] == [t for t, u in lines if u]
    assert [e.line for e in events if isinstance(e, Response)] == ANSWER_LINES
    assert events[-1] == OK


# 27.005 §3.4.1 text mode with AT+CSDH=1: `+CMT: <oa>,[<alpha>],<scts>,<tooa>,<fo>,<pid>,<dcs>,<sca>,
# <tosca>,<length><CR><LF><data>`; anybody can text line breaks, so the text may hold whole lines
# that read as a final result, an error or a URC.
_TEXT = 'hi\r\nOK\r\n+CME ERROR: 10\nERROR\r+CMTI: "SM",3\r\nbye'
_CMT_HEAD = f'+CMT: "+33611111111",,"26/12/07,10:00:00+04",145,4,0,0,"+33689004000",145,{len(_TEXT)}'


def _text_while_answering() -> list[tuple[Command | None, bytes]]:
    return [
        (Command("AT+CSQ"), f"\r\n{_CMT_HEAD}\r\n{_TEXT}\r\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n".encode()),
        (None, f"\r\n{_CMT_HEAD}\r\n{_TEXT}\r\n".encode()),
    ]


def test_a_text_mode_cmt_with_its_length_takes_every_line_of_its_text() -> None:
    """The text's lines past the first were the answer's: its `OK` ended AT+CSQ before the modem's
    own answer, whose lines came as URCs and a late OK."""
    expected = [Urc("+CMT", _CMT_HEAD, _TEXT), Response("+CSQ: 5,0"), OK, Urc("+CMT", _CMT_HEAD, _TEXT)]
    assert run(_text_while_answering()) == expected
    assert run(_text_while_answering(), chunk_sizes=[1] * 1000) == expected
    assert run(_text_while_answering(), chunk_sizes=[3, 7, 2, 11] * 100) == expected


def test_a_text_mode_cmt_without_its_length_takes_its_next_line_whatever_it_reads() -> None:
    """A text line `+IPD,5:hello` was read as the socket data a SIMCom module pushes, and `> ` read
    alone as a prompt: the text came as an empty URC and what followed went astray."""
    head = '+CMT: "+33611111111",,"26/12/07,10:00:00+04"'
    for text in ("+IPD,5:hello", "> ", "OK", "+CME ERROR: 10", '+CMTI: "SM",1', "RING"):
        steps = [(Command("AT+CSQ"), f"\r\n{head}\r\n{text}\r\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n".encode())]
        expected = [Urc("+CMT", head, text), Response("+CSQ: 5,0"), OK]
        assert run(steps) == expected, text
        assert run(steps, chunk_sizes=[1] * 1000) == expected, text


def test_text_mode_reads_with_the_length_take_every_line_of_a_message() -> None:
    """AT+CMGR / AT+CMGL in text mode with AT+CSDH=1: the text, line breaks and all, up to its
    <length>; its `OK` line used to end the answer."""
    head = f'"REC READ","+33611111111",,"26/12/07,10:00:00+04",145,4,0,0,"+33689004000",145,{len(_TEXT)}'
    read = f"\r\n+CMGR: {head}\r\n{_TEXT}\r\n\r\nOK\r\n".encode()
    expected = [Response(f"+CMGR: {head}"), Response(_TEXT), OK]
    assert run([(Command("AT+CMGR=1"), read)]) == expected
    assert run([(Command("AT+CMGR=1"), read)], chunk_sizes=[1] * 1000) == expected
    first = f'1,"REC READ","+33611111111",,"26/12/07,10:00:00+04",145,{len(_TEXT)}'
    second = '2,"REC READ","+33622222222",,"26/12/07,10:01:00+04",145,0'
    listing = f"\r\n+CMGL: {first}\r\n{_TEXT}\r\n+CMGL: {second}\r\n\r\n\r\nOK\r\n".encode()
    assert run([(Command('AT+CMGL="ALL"'), listing)], chunk_sizes=[2] * 1000) == [
        Response(f"+CMGL: {first}"),
        Response(_TEXT),
        Response(f"+CMGL: {second}"),
        Response(""),  # an empty message: <length> 0
        OK,
    ]


def test_a_text_mode_status_report_read_or_listed_has_no_text_line() -> None:
    """27.005 §3.4.2/3: a status report's header is all there is (`+CMGR: <stat>,<fo>,<mr>,...`); the
    line after it was taken for its text: the next message's header in a listing, whose text then
    read as an answer line and its `OK` as the final result, the rest of the listing lost."""
    report = '"REC READ",6,0,"+447700900123",145,"26/03/02,08:00:04+00","26/03/02,08:00:04+00",0'
    message = '2,"REC READ","+33600000001",,"26/03/02,08:00:09+00"'
    listing = f"\r\n+CMGL: 1,{report}\r\n+CMGL: {message}\r\nOK\r\n\r\nOK\r\n".encode()
    assert run([(Command('AT+CMGL="ALL"'), listing)]) == [
        Response(f"+CMGL: 1,{report}"),
        Response(f"+CMGL: {message}"),
        Response("OK"),  # that message's text
        OK,
    ]
    read = f"\r\n+CMGR: {report}\r\n\r\nOK\r\n".encode()
    assert run([(Command("AT+CMGR=1"), read)]) == [Response(f"+CMGR: {report}"), OK]
    # a text-mode +CDS has its fields on its one line; in PDU mode its PDU follows
    cds = '+CDS: 6,0,"+447700900123",145,"26/03/02,08:00:04+00","26/03/02,08:00:04+00",0'
    steps = [(Command("AT+CSQ"), f"\r\n{cds}\r\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n".encode())]
    assert run(steps) == [Urc("+CDS", cds), Response("+CSQ: 5,0"), OK]
