"""SMS codec commands: decode a PDU string, encode a text into the PDUs to send, count the parts of a text.

- `sms-decode PDU [--direction mt|mo] [--no-smsc] [--length N] [--json]`
- `sms-encode TEXT --to NUMBER [--smsc N] [--alphabet A] [--class C] [--validity MIN] [--status-report]
  [--mr N] [--language L]` prints one tab-separated line per part: part, parts, AT+CMGS length, PDU
- `sms-count TEXT [--language L]` prints alphabet, units, parts, units per part, units left

Runs as `python -m modem.sms COMMAND ...`; `register(subparsers)` adds the same commands to `m2msim`.
Exit status: 0 done; 2 when the input cannot be used (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from modem.options import OptionError, check_int

from .address import Address, TypeOfNumber, decode_smsc
from .codec import encode_submit
from .dcs import Alphabet, DataCoding
from .errors import SmsCodecError
from .national import Language, tables_not_carried
from .pdu import Direction, SmsDeliver, SmsMessage, SmsSubmit, decode_pdu, parse_hex
from .reports import SmsCommand, SmsDeliverReport, SmsSubmitReport
from .segment import length_info
from .timestamp import Validity
from .udh import InformationElement
from .userdata import UserData

MAX_TPDU = 255  # octets: the <length> of AT+CMGS / +CMT
MAX_VALIDITY_MIN = 63 * 7 * 24 * 60  # the relative validity period's maximum, 63 weeks
_LANGUAGES = {lang.name.lower(): lang for lang in Language if lang}


def _addr(a: Address | None) -> str | None:
    return None if a is None else f"{a.number} (toa 0x{a.toa:02X})"


def _dcs(d: DataCoding) -> str:
    """The DCS octet and what it says (TS 23.038 4): alphabet, class, and the flags that change how
    the content reads (compressed user data is shown as octets: TS 23.042 is not decompressed)."""
    notes = [d.alphabet.value]
    if d.message_class is not None:
        notes.append(f"class {d.message_class}")
    if d.compressed:
        notes.append("compressed: TS 23.042, not decompressed, data shown as octets")
    if d.auto_delete:
        notes.append("marked for automatic deletion")
    if d.waiting is not None:
        w = d.waiting
        sense = "active" if w.active else "inactive"
        notes.append(f"{w.kind.name.lower()} waiting {sense}, {'store' if w.store else 'discard'} message")
    return f"0x{d.to_octet():02X} ({', '.join(notes)})"


def _header(ies: tuple[InformationElement, ...]) -> list[str]:
    return [f"0x{ie.iei:02X}:{ie.data.hex().upper()}" for ie in ies]


def _content(ud: UserData, out: dict[str, Any]) -> None:
    if ud.header:
        out["udh"] = _header(ud.header)
    if ud.concat:
        c = ud.concat
        out["concat"] = f"ref {c.reference} ({c.reference_bits}-bit), part {c.sequence}/{c.total}"
    if ud.ports:
        out["ports"] = f"destination {ud.ports.destination}, originator {ud.ports.originator}"
    text = ud.text
    if text is None:
        out["data"] = ud.payload.hex().upper()
    else:
        missing = tables_not_carried(ud.header) if ud.alphabet is Alphabet.GSM7 else []
        if missing:
            out["warning"] = (
                f"the header names {' and '.join(missing)}, an identifier TS 23.038 6.2.1.2.4 reserves "
                "(no table): the text is read with the default alphabet and is likely not what was sent"
            )
        out["text"] = text


def _validity(v: Validity | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return f"until {v.isoformat()}"
    if isinstance(v, timedelta):
        return f"{v} (relative)"
    return f"enhanced {v.raw.hex().upper()} ({v.period})"


def describe(msg: SmsMessage) -> dict[str, Any]:
    """The fields of a decoded message, as printable values."""
    out: dict[str, Any] = {}
    if isinstance(msg, SmsDeliver):
        out.update(type="SMS-DELIVER", smsc=_addr(msg.smsc), originator=_addr(msg.originator))
        out.update(scts=msg.scts.isoformat(), pid=f"0x{msg.pid:02X}", dcs=_dcs(msg.dcs))
        out.update(more_messages=msg.more_messages, status_report_indication=msg.status_report_indication)
        _content(msg.user_data, out)
    elif isinstance(msg, SmsSubmit):
        out.update(type="SMS-SUBMIT", smsc=_addr(msg.smsc), destination=_addr(msg.destination))
        out.update(message_reference=msg.message_reference, pid=f"0x{msg.pid:02X}", dcs=_dcs(msg.dcs))
        out["validity"] = _validity(msg.validity)
        out.update(status_report_request=msg.status_report_request, reject_duplicates=msg.reject_duplicates)
        _content(msg.user_data, out)
    elif isinstance(msg, SmsSubmitReport | SmsDeliverReport):
        kind = "SMS-SUBMIT-REPORT" if isinstance(msg, SmsSubmitReport) else "SMS-DELIVER-REPORT"
        out.update(type=kind, smsc=_addr(msg.smsc), result=msg.meaning)
        if msg.failure_cause is not None:
            out["failure_cause"] = f"0x{msg.failure_cause:02X}"
        if isinstance(msg, SmsSubmitReport):
            out["scts"] = msg.scts.isoformat()
        if msg.user_data is not None:
            _content(msg.user_data, out)
    elif isinstance(msg, SmsCommand):
        out.update(type="SMS-COMMAND", smsc=_addr(msg.smsc), message_reference=msg.message_reference)
        out.update(command_type=msg.command_type, message_number=msg.message_number)
        out.update(destination=_addr(msg.destination), data=msg.data.hex().upper() or None)
    else:
        out.update(type="SMS-STATUS-REPORT", smsc=_addr(msg.smsc), message_reference=msg.message_reference)
        out.update(recipient=_addr(msg.recipient), scts=msg.scts.isoformat())
        out.update(discharge_time=msg.discharge_time.isoformat())
        out.update(status=f"0x{msg.status:02X} {msg.meaning} ({msg.category.value})")
        if msg.user_data is not None:
            _content(msg.user_data, out)
    return {k: v for k, v in out.items() if v is not None}


def _fail(command: str, message: str) -> int:
    print(f"m2msim {command}: {message}", file=sys.stderr)
    return 2


def _direction_of(pdu: str, *, with_smsc: bool, length: int | None = None) -> Direction:
    """The direction a PDU without `--direction` is read in, from its TP-MTI (23.040 9.2.3.1): 01 is
    an SMS-SUBMIT (sent: AT+CMGS, +CMGR of a stored unsent message, what `sms-encode` prints), 00
    and 10 a DELIVER or STATUS-REPORT (received).  Their other readings (SUBMIT-REPORT,
    DELIVER-REPORT, COMMAND) are what a modem's listings and notices never hold.  A string too
    short or not hex to tell is read as received: the decoder then says what is wrong with it.
    A string as long as `--length` has no SMSC prefix (`decode_pdu` reads it so too)."""
    try:
        octets = parse_hex(pdu)
        at = decode_smsc(octets)[1] if with_smsc and length != len(octets) else 0
        mti = octets[at] & 0x03
    except (SmsCodecError, IndexError):
        return Direction.MT
    return Direction.MO if mti == 0x01 else Direction.MT


def _prefix_hint(args: argparse.Namespace) -> str:
    """When a string read with an SMSC prefix fails but decodes without one (a module that prints
    +CMGR or +CDS without it): the advice to say so, else nothing."""
    if args.no_smsc or args.length is not None:
        return ""
    try:
        direction = args.direction or _direction_of(args.pdu, with_smsc=False)
        decode_pdu(args.pdu, direction, with_smsc=False)
    except SmsCodecError:
        return ""
    return " (read without an SMSC prefix it decodes: if the modem printed none, pass --no-smsc)"


def cmd_decode(args: argparse.Namespace) -> int:
    try:
        check_int("--length", args.length, 1, MAX_TPDU)
    except OptionError as exc:
        return _fail("sms-decode", str(exc))
    direction = args.direction or _direction_of(args.pdu, with_smsc=not args.no_smsc, length=args.length)
    try:
        msg = decode_pdu(args.pdu, direction, with_smsc=not args.no_smsc, tpdu_length=args.length)
    except SmsCodecError as exc:
        return _fail("sms-decode", f"PDU: {exc}{_prefix_hint(args)}")
    fields = describe(msg)
    if args.json:
        print(json.dumps(fields, ensure_ascii=False))
    else:
        for key, value in fields.items():
            print(f"{key}: {value}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    try:
        check_int("--mr", args.mr, 0, 255)
        check_int("--validity", args.validity, 1, MAX_VALIDITY_MIN)
    except OptionError as exc:
        return _fail("sms-encode", str(exc))
    try:
        for option, value in (("--to", args.to), ("--smsc", args.smsc)):
            if value and Address.parse(value).ton == TypeOfNumber.ALPHANUMERIC:
                # (a letter for a digit, O612345678: the PDU went to a name no network routes)
                return _fail(
                    "sms-encode",
                    f"{option} {value}: not a phone number (digits, * and #, an optional leading +, "
                    "spaces or dashes between them)",
                )
        pdus = encode_submit(
            args.text,
            args.to,
            smsc=args.smsc,
            alphabet=args.alphabet,
            message_class=args.message_class,
            validity=timedelta(minutes=args.validity) if args.validity else None,
            status_report=args.status_report,
            message_reference=args.mr,
            language=_LANGUAGES[args.language] if args.language else 0,
        )
    except SmsCodecError as exc:
        return _fail("sms-encode", f"cannot encode: {exc}")
    for p in pdus:
        print(f"{p.part}\t{p.parts}\t{p.tpdu_length}\t{p.hex}")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    try:
        info = length_info(args.text, language=_LANGUAGES[args.language] if args.language else 0)
    except SmsCodecError as exc:
        return _fail("sms-count", str(exc))
    print(
        f"alphabet: {info.alphabet.value}\nunits: {info.units}\nparts: {info.parts}\n"
        f"per_part: {info.per_part}\nremaining: {info.remaining}"
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the SMS codec commands to a parser's sub-commands."""
    d = subparsers.add_parser(
        "sms-decode", help="decode an SMS PDU string (as in +CMGR, +CMGL, +CMT, AT+CMGS)"
    )
    d.add_argument("pdu", metavar="PDU", help="hex string: SMSC prefix then TPDU")
    d.add_argument(
        "--direction",
        choices=[x.value for x in Direction],
        help="mt: received (DELIVER, STATUS-REPORT); mo: sent or stored to send (SUBMIT); default: "
        "told by the message type (TP-MTI 01: a SUBMIT, sent; else received)",
    )
    d.add_argument("--no-smsc", action="store_true", help="the string has no SMSC prefix (some +CDS)")
    d.add_argument("--length", type=int, help="the <length> the modem gave (TPDU octets), checked")
    d.add_argument("--json", action="store_true", help="one JSON object instead of key: value lines")
    d.set_defaults(handler=cmd_decode)
    e = subparsers.add_parser("sms-encode", help="encode a text into the SMS-SUBMIT PDUs for AT+CMGS")
    e.add_argument("text", metavar="TEXT")
    e.add_argument("--to", required=True, help="destination: +33612345678, 0612345678")
    e.add_argument("--smsc", help="SMSC number (default: 00, the modem's stored one)")
    e.add_argument("--alphabet", choices=["gsm7", "ucs2"], help="force an alphabet (default: automatic)")
    e.add_argument(
        "--class", dest="message_class", type=int, choices=range(4), help="message class (0 = flash)"
    )
    e.add_argument("--validity", type=int, metavar="MINUTES", help="relative validity period")
    e.add_argument("--status-report", action="store_true", help="request a status report (TP-SRR)")
    e.add_argument("--mr", type=int, default=0, help="TP-MR of the first part (0..255)")
    e.add_argument("--language", choices=sorted(_LANGUAGES), help="national language shift tables")
    e.set_defaults(handler=cmd_encode)
    c = subparsers.add_parser("sms-count", help="alphabet and number of parts a text needs")
    c.add_argument("text", metavar="TEXT")
    c.add_argument("--language", choices=sorted(_LANGUAGES), help="national language shift tables")
    c.set_defaults(handler=cmd_count)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modem.sms", description="SMS PDU codec")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    args = parser.parse_args(argv)
    handler = args.handler
    assert callable(handler)
    try:
        return int(handler(args))
    except BrokenPipeError:
        # the reader of standard output went away (`| head`): the rest is lost, and the status says
        # so as SIGPIPE would (128 + 13), with no traceback and no second error at exit
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
