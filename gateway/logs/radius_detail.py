"""Usage records from FreeRADIUS `detail` files (rlm_detail: the accounting log of a RADIUS server).

A detail file is a sequence of blocks, one per Accounting-Request the server
received: a date line (`Sun Mar  1 10:00:00 2026`, the server's clock), then
one `Attribute = value` line per attribute, indented by a tab, then a blank
line.  Values are as FreeRADIUS prints them: quoted strings with C escapes
(`\\"`, `\\\\`, `\\n`, `\\NNN` octal), `0x...` octets, integers or their
dictionary names (`Acct-Status-Type = Interim-Update`), dotted addresses, and
dates in quotes (`Event-Timestamp = "Mar  1 2026 10:00:00 UTC"`).  The server
adds `Timestamp = <seconds since 1970>` when it wrote the block.

Each Start / Interim-Update / Stop block becomes a `gateway.acct_sessions.AcctRequest`
(field mapping in docs/records.md); the session rules are the capture
reader's, so a detail file and a capture of the same traffic give the same
records.  Several files (a server writes one per client and per day) are
merged in time order.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from accounting.records import UsageRecord
from gateway.acct_sessions import (
    CLOCK_FLOOR_S,
    HOLD_S,
    LATE_COPY_KEPT,
    MAX_GIGAWORDS,
    STATUS_ACCOUNTING_OFF,
    STATUS_ACCOUNTING_ON,
    STATUS_INTERIM,
    STATUS_START,
    STATUS_STOP,
    AcctRequest,
    EventTime,
    LineFrom,
    SessionTracker,
    choose_line,
    class_for_line,
    plmn_of_location,
    serving_plmn_of,
)
from gateway.logs.common import LogError, LogReport, input_files, reserve_open_files, text_lines

# Dictionary names FreeRADIUS prints for the integer attributes used here (RFC 2866, dictionary.3gpp).
STATUS_TYPES = {
    "Start": STATUS_START,
    "Stop": STATUS_STOP,
    "Interim-Update": STATUS_INTERIM,
    "Alive": STATUS_INTERIM,
}
NO_USAGE_STATUS = {"Accounting-On": 7, "Accounting-Off": 8, "Failed": 15}
TERMINATE_CAUSES = {
    "User-Request": 1,
    "Lost-Carrier": 2,
    "Lost-Service": 3,
    "Idle-Timeout": 4,
    "Session-Timeout": 5,
    "Admin-Reset": 6,
    "Admin-Reboot": 7,
    "Port-Error": 8,
    "NAS-Error": 9,
    "NAS-Request": 10,
    "NAS-Reboot": 11,
    "Port-Unneeded": 12,
    "Port-Preempted": 13,
    "Port-Suspended": 14,
    "Service-Unavailable": 15,
    "Callback": 16,
    "User-Error": 17,
    "Host-Request": 18,
}

_HEADER = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
_ATTRIBUTE = re.compile(r"^\s+([A-Za-z0-9][A-Za-z0-9_.:-]*)\s*(?:=|\+=|:=)\s*(.*?)\s*$")
_ESCAPE = re.compile(r"\\([0-7]{3}|.)")
# FreeRADIUS prints a date as strftime "%b %e %Y %H:%M:%S %Z": the month in the server's language when a
# module set the locale from the environment (rlm_perl does: "мар  1 2026 15:00:00 +05", "mars ...")
_EVENT_DATE = re.compile(r"^(\S+) (\d{1,2}) (\d{4}) (\d\d):(\d\d):(\d\d) ([A-Za-z]{2,6}|[+-]\d\d(?:\d\d)?)$")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_U32_MAX = 0xFFFF_FFFF
_QUARTER_HOUR = 900  # every zone's offset from UTC is a whole number of them (Nepal +05:45, Chatham +12:45)
_MAX_OFFSET_S = 14 * 3_600  # from UTC-12 to UTC+14

_TEXT_ATTRIBUTES = (
    "3GPP-IMSI",
    "3GPP-IMEISV",
    "Called-Station-Id",
    "3GPP-SGSN-Address",
    "3GPP-RAT-Type",
)

Block = tuple[int, datetime, dict[str, str], dict[str, int]]  # header line, header time, values, their lines


_ESCAPED = {"n": b"\n", "r": b"\r", "t": b"\t"}


def _raw(text: str) -> bytes:
    """The octets of a quoted string's contents as FreeRADIUS prints them: its characters in UTF-8
    (valid UTF-8 is printed as it is), each `\\NNN` one octet (an octet that is no UTF-8, or a control
    character), `\\n` `\\r` `\\t` theirs and `\\"` `\\\\` the character."""
    if "\\" not in text:
        return text.encode()
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode()
        code = match.group(1)
        if len(code) == 3:
            out.append(int(code, 8) & 0xFF)
        else:
            out += _ESCAPED.get(code, code.encode())
        pos = match.end()
    out += text[pos:].encode()
    return bytes(out)


def _string(value: str) -> str:
    """A value as text: a quoted string's octets (`_raw`) read as UTF-8, an octet that is none as
    `\\xNN`, as the capture reader reads the same attribute (so that distinct octets stay distinct)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _raw(value[1:-1]).decode("utf-8", "backslashreplace")
    return value


def _octets(value: str) -> bytes:
    """A `0x...` octets value as bytes, a quoted string as its octets (`_raw`)."""
    if value[:2].lower() == "0x":
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise ValueError(f"{value!r} is not hexadecimal octets") from None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _raw(value[1:-1])
    return value.encode()


_TIMESTAMP = re.compile(r"\s+Timestamp = \d+\s*$")  # the attribute rlm_detail writes last in a block


def _header_time(text: str) -> datetime | None:
    """The time of a date line (`Sun Mar  1 10:00:00 2026`), None when the line is not one."""
    if not _HEADER.match(text):
        return None
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:  # shaped like one, but no date ('Mon Feb 30 ...')
        return None


def read_blocks(path: Path, report: LogReport) -> Iterator[Block]:
    """The blocks of one detail file; a line that fits no block is a reject with its line number."""
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    header: tuple[int, datetime] | None = None
    seen_header = False
    last, ended = "", True
    for number, text, whole in text_lines(path, report):
        last, ended = text, whole
        if not text.strip():
            if header is not None:
                yield header[0], header[1], values, lines
            header, values, lines = None, {}, {}
            continue
        if not text[0].isspace():
            when = _header_time(text)
            if when is None:
                if not seen_header:
                    raise LogError(
                        f"{path}:{number}: not a FreeRADIUS detail file: expected a date line such as "
                        f"'Sun Mar  1 10:00:00 2026', found {text[:40]!r}"
                    )
                report.current_file = str(path)
                report.reject(
                    number, "unreadable line", f"neither a date line nor an attribute: {text[:40]!r}"
                )
                header = None
                continue
            if header is not None:  # a block with no blank line after it
                yield header[0], header[1], values, lines
            seen_header = True
            header, values, lines = (number, when), {}, {}
            continue
        match = _ATTRIBUTE.match(text)
        if header is None:
            if not seen_header:
                raise LogError(
                    f"{path}:{number}: not a FreeRADIUS detail file: attribute before any date line"
                )
            continue  # the rest of a block already rejected
        if match is None:
            report.current_file = str(path)
            report.reject(number, "unreadable line", f"not 'Attribute = value': {text.strip()[:40]!r}")
            continue
        name, value = match.group(1), match.group(2)
        if name in values and name not in _NOT_RESENT:
            # several of a type (Class, a vendor's attribute): each kept as NAME#N, in their order, which
            # a copy keeps (RFC 2865 5), as records-from-pcap digests a Start's (`_resend_form`)
            count = 2
            while f"{name}#{count}" in values:
                count += 1
            if count == 2:
                values[f"{name}#1"] = values[name]
            values[f"{name}#{count}"] = value
        if name == "Class" and name in values:  # several: the first that is a line id
            try:
                if class_for_line(_octets(values[name]), _octets(value)) != _octets(values[name]):
                    values[name], lines[name] = value, number
            except ValueError:
                pass  # (one that is no octets: the first stays, refused as the block's Class)
        values.setdefault(name, value)
        lines.setdefault(name, number)
    cut = next((c for c in report.cut_short if c["file"] == str(path)), None)
    if header is not None and cut is not None:  # (its attributes may go on past the cut)
        report.current_file = str(path)
        report.reject(
            header[0],
            "block cut short",
            f"the file's {cut['compression']} data stop after its line {cut['lines']}, before the blank "
            "line that ends a block",
        )
    elif header is not None and not (ended and _TIMESTAMP.match(last)):
        # the server ends every block with its Timestamp and a blank line: the file is still being
        # written, or a copy stopped (an attribute cut, Gigawords not there yet: octets wrong)
        report.current_file = str(path)
        report.reject(
            header[0],
            "block cut short",
            f"the file ends within its last line ({last.strip()[:40]!r})"
            if not ended
            else "the file ends before the Timestamp and the blank line that end a block (still being written?)",
        )
    elif header is not None:
        yield header[0], header[1], values, lines
    if not seen_header:
        raise LogError(f"{path}: empty, not a FreeRADIUS detail file")


class _BadBlock(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _integer(
    values: dict[str, str],
    lines: dict[str, int],
    name: str,
    names: dict[str, int] | None = None,
    *,
    gigawords: bool = False,
) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    text = _string(value)
    if names is not None and text in names:
        return names[text]
    try:
        number = int(text, 0) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        raise _BadBlock(lines[name], f"{name}: {text!r} is not an integer") from None
    if number < 0:
        raise _BadBlock(lines[name], f"{name}: {number} is negative")
    if number > _U32_MAX:  # RADIUS integers (and FreeRADIUS's Timestamp until 2106) are 32-bit
        raise _BadBlock(lines[name], f"{name}: {number} is out of range (more than 32 bits)")
    if gigawords and number > MAX_GIGAWORDS:
        raise _BadBlock(
            lines[name], f"{name}: {number} is out of range (more than 2^31 - 1: octets past 2^63 - 1)"
        )
    return number


def _event_time(
    values: dict[str, str], lines: dict[str, int], written: int | None
) -> tuple[int | None, bool]:
    """Event-Timestamp in seconds, and whether it was placed: a date in UTC/GMT or a numeric zone (`+04`)
    as it says; a date in a zone named otherwise (`CET`: its offset is not in the text) is placed by the
    offset in whole quarter hours that dates it nearest to Timestamp - Acct-Delay-Time (when the client
    sent it), or that time when no offset within 14 h does (so off by quarter hours when the client held
    it 7.5 minutes or more without Acct-Delay-Time saying so). A
    month named in the server's language (`мар`, `mars`, `Mär`) is the one that dates the event nearest
    to Timestamp - Acct-Delay-Time (when the client sent it): the other months are weeks away."""
    value = values.get("Event-Timestamp")
    if value is None:
        return None, False
    text = _string(value)
    if text.isdigit():
        if int(text) > _U32_MAX:
            raise _BadBlock(
                lines["Event-Timestamp"], f"Event-Timestamp: {text} is out of range (more than 32 bits)"
            )
        return int(text), False
    match = _EVENT_DATE.match(" ".join(text.split()))
    if match is None:
        raise _BadBlock(lines["Event-Timestamp"], f"Event-Timestamp: {text!r} is not a date")
    month_name, zone = match.group(1), match.group(7)
    day, year, hour, minute, second = (int(match.group(i)) for i in range(2, 7))
    month = _MONTHS.get(month_name)
    dates = []  # the date in each month it may be in: its own, or every one for a month in another language
    for number in [month] if month is not None else range(1, 13):
        try:
            dates.append(int(datetime(year, number, day, hour, minute, second, tzinfo=UTC).timestamp()))
        except ValueError:
            continue
    if not dates:
        raise _BadBlock(lines["Event-Timestamp"], f"Event-Timestamp: {text!r} is not a date")
    if zone in ("UTC", "GMT"):
        offset = 0
    elif zone[0] in "+-":  # a zone tzdata names by its offset (+04 Dubai, -03 Sao Paulo, +0530): exact
        offset = (int(zone[1:3]) * 3_600 + int(zone[3:5] or 0) * 60) * (1 if zone[0] == "+" else -1)
    elif written is None:
        raise _BadBlock(
            lines["Event-Timestamp"], f"Event-Timestamp in zone {zone} and no Timestamp to place it"
        )
    else:  # a zone named otherwise (CET, CEST, EST...): its offset is not in the text, but a whole number
        # of quarter hours (every zone's since 1972), within 14 h: the one that dates the event nearest
        # to when the client sent it (Timestamp - Acct-Delay-Time), exact unless the client held it
        # 7.5 minutes or more without saying so in Acct-Delay-Time
        sent = written - (_integer(values, lines, "Acct-Delay-Time") or 0)
        placed = [date - round((date - sent) / _QUARTER_HOUR) * _QUARTER_HOUR for date in dates]
        near = [when for when, date in zip(placed, dates, strict=True) if abs(date - when) <= _MAX_OFFSET_S]
        return (min(near, key=lambda when: abs(when - sent)) if near else sent), True
    if month is not None:
        return dates[0] - offset, False
    if written is None:
        raise _BadBlock(
            lines["Event-Timestamp"],
            f"Event-Timestamp: {text!r}: month {month_name!r} in the server's language and no Timestamp "
            "to place it",
        )
    # a month named in another language: the one that dates the event nearest to when it was sent
    sent = written - (_integer(values, lines, "Acct-Delay-Time") or 0)
    return min((date - offset for date in dates), key=lambda when: abs(when - sent)), False


# what names the accounting client, in this order: the NAS's own attributes, else the address the server
# got the request from (rlm_detail writes Packet-Src-IPv6-Address for a client over IPv6)
_CLIENT_NAMES = (
    "NAS-IP-Address",
    "NAS-Identifier",
    "NAS-IPv6-Address",
    "Packet-Src-IP-Address",
    "Packet-Src-IPv6-Address",
)


# what a block holds but the client's request: the server's own lines (rlm_detail's Timestamp and packet
# header: a copy may come through another proxy or port, and the session's key names the client; the
# policies' Acct-Unique-Session-Id, a detail reader's re-send count), and what a client may change in a
# request it re-sends (RFC 2866 5.2: Acct-Delay-Time; a proxy's Proxy-State)
_NOT_RESENT = frozenset(
    {
        "Timestamp",
        "Packet-Src-IP-Address",
        "Packet-Src-IPv6-Address",
        "Acct-Delay-Time",
        "Proxy-State",
        "Message-Authenticator",
        "Acct-Unique-Session-Id",
        "Packet-Original-Timestamp",
        "Packet-Transmit-Counter",
        "Packet-Src-Port",
        "Packet-Dst-Port",
        "Packet-Dst-IP-Address",
        "Packet-Dst-IPv6-Address",
    }
)


def _resend_form(values: dict[str, str]) -> int:
    """A digest of a Start block's attributes but those a copy re-sent, or logged again, may change
    (`_NOT_RESENT`): by name (a proxy may reorder attributes of different types), those of one name in
    their order (NAME#N, `read_blocks`: it keeps them in order, RFC 2865 5)."""
    return hash(tuple(sorted((name, value) for name, value in values.items() if name not in _NOT_RESENT)))


def _request(block: Block, line_from: LineFrom) -> AcctRequest | None:
    header_line, header_time, values, lines = block
    if "Acct-Status-Type" not in values:
        if _kind(values) is None:
            raise _BadBlock(header_line, "no Acct-Status-Type")
        return None  # an authentication log's block
    status_text = _string(values["Acct-Status-Type"])
    status = NO_USAGE_STATUS.get(status_text)
    if status is None:
        status = _integer(values, lines, "Acct-Status-Type", STATUS_TYPES)
    written = _integer(values, lines, "Timestamp")
    client = next(
        (_string(values[name]) for name in _CLIENT_NAMES if name in values),
        "",
    )
    nas_names = tuple(
        _string(values[name]) if name in values else None
        for name in ("NAS-IP-Address", "NAS-Identifier", "NAS-IPv6-Address")
    )
    time_s = written if written is not None else int(header_time.timestamp())
    if status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF):  # no usage: the client's sessions end
        event, placed = _event_time(values, lines, written)
        delay = _integer(values, lines, "Acct-Delay-Time")
        return AcctRequest(
            status=status,
            session_id="",
            client=client,
            nas_names=nas_names,
            time_s=time_s,
            time_sure=written is not None,
            event_time=event,
            event_placed=placed,  # (when it was sent, as a Start's placed date is: not the NAS's clock)
            delay=delay,
            reset_id=_string(values.get("Acct-Session-Id", "")),
        )
    if status not in (STATUS_START, STATUS_INTERIM, STATUS_STOP):
        return None
    session_id = _string(values.get("Acct-Session-Id", ""))
    if not session_id:
        raise _BadBlock(header_line, "no Acct-Session-Id")
    class_value = None
    if "Class" in values:
        try:
            class_value = _octets(values["Class"])
        except ValueError as exc:
            raise _BadBlock(lines["Class"], f"Class: {exc}") from None
    ms_tz = None
    for tz_name in ("3GPP-MS-Time-Zone", "3GPP-MS-TimeZone"):  # FreeRADIUS's name, then TS 29.061's
        if tz_name in values:
            try:
                ms_tz = _octets(values[tz_name])
            except ValueError as exc:
                raise _BadBlock(lines[tz_name], f"{tz_name}: {exc}") from None
            break
    serving_plmn = None
    if "3GPP-SGSN-MCC-MNC" in values:
        try:
            serving_plmn = serving_plmn_of(_octets(values["3GPP-SGSN-MCC-MNC"]))
        except ValueError as exc:
            raise _BadBlock(lines["3GPP-SGSN-MCC-MNC"], f"3GPP-SGSN-MCC-MNC: {exc}") from None
    for name in ("3GPP-User-Location-Info", "3GPP-Location-Info"):  # (dictionary.3gpp names it both ways)
        if serving_plmn is None and name in values:  # the cell's network: where the device is served
            try:
                serving_plmn = plmn_of_location(_octets(values[name]))
            except ValueError as exc:
                raise _BadBlock(lines[name], f"{name}: {exc}") from None
    calling = values.get("Calling-Station-Id")
    text_of = {name: _string(values[name]) for name in _TEXT_ATTRIBUTES if name in values}
    event_time, event_placed = _event_time(values, lines, written)
    # A Start's attributes are digested when its Event-Timestamp does not tell a copy (none, before 2000,
    # or a date placed, not read): two Starts with one are alike only with the same, and a copy of it is
    # told by that (its signature) first, as records-from-pcap does
    timed = event_time is not None and event_time >= CLOCK_FLOOR_S and not event_placed
    return AcctRequest(
        status=status,
        session_id=session_id,
        client=client,
        nas_names=nas_names,
        time_s=time_s,
        time_sure=written is not None,
        line=choose_line(class_value, _string(calling) if calling is not None else None, line_from),
        event_time=event_time,
        event_placed=event_placed,
        session_time=_integer(values, lines, "Acct-Session-Time"),
        in_lo=_integer(values, lines, "Acct-Input-Octets"),
        in_gw=_integer(values, lines, "Acct-Input-Gigawords", gigawords=True),
        out_lo=_integer(values, lines, "Acct-Output-Octets"),
        out_gw=_integer(values, lines, "Acct-Output-Gigawords", gigawords=True),
        terminate=_integer(values, lines, "Acct-Terminate-Cause", TERMINATE_CAUSES),
        delay=_integer(values, lines, "Acct-Delay-Time"),
        resend_form=_resend_form(values) if status == STATUS_START and not timed else None,
        imsi=text_of.get("3GPP-IMSI"),
        imeisv=text_of.get("3GPP-IMEISV"),
        apn=text_of.get("Called-Station-Id"),
        charging_id=_integer(values, lines, "3GPP-Charging-ID"),
        serving_plmn=serving_plmn,
        sgsn=text_of.get("3GPP-SGSN-Address"),
        rat=text_of.get("3GPP-RAT-Type"),
        ms_tz=ms_tz,
    )


def _kind(values: dict[str, str]) -> str | None:
    """What a block that is not accounting is: its Packet-Type, which rlm_detail writes for every packet
    but an Accounting-Request (auth_log and reply_log, by default next to the accounting detail files in
    radacct/<client>/, log Access-Requests and their replies as `auth-detail-YYYYMMDD`,
    `reply-detail-YYYYMMDD`); None for an Accounting-Request."""
    packet_type = _string(values.get("Packet-Type", "Accounting-Request"))
    return None if packet_type == "Accounting-Request" else packet_type


def _timed(index: int, path: Path, report: LogReport) -> Iterator[tuple[int, int, int, Block]]:
    for block in read_blocks(path, report):
        values = block[2]
        stamp = _string(values.get("Timestamp", ""))
        when = int(stamp) if stamp.isdigit() else int(block[1].timestamp())
        yield when, index, block[0], block


def records_from_radius_detail(
    inputs: Path | str | Sequence[Path | str],
    report: LogReport | None = None,
    *,
    line_from: LineFrom = "auto",
    event_time: EventTime = "check",
    late_copies: int = LATE_COPY_KEPT,
) -> Iterator[UsageRecord]:
    """Usage records from FreeRADIUS detail files (files, or folders of them, merged in time order).

    `event_time`: "check" dates a block whose Event-Timestamp is far from its `Timestamp` (when the
    server logged it) as one without it; "trust" takes every Event-Timestamp as written.

    `LogError` (`file:line: reason`) when a file is not a detail file; a block
    that cannot be used is a reject in `report` with its file and line.
    """
    paths: Iterable[Path | str] = [inputs] if isinstance(inputs, (str, Path)) else inputs
    report = report if report is not None else LogReport()
    files = input_files(paths, "detail", report)
    reserve_open_files(files)
    return _records(files, report, line_from, event_time, late_copies)


def _records(
    files: list[Path],
    report: LogReport,
    line_from: LineFrom,
    event_time: EventTime = "check",
    late_copies: int = LATE_COPY_KEPT,
) -> Iterator[UsageRecord]:
    # (records held: a late Interim-Update still closes its record; an Event-Timestamp far from Timestamp
    # is the NAS's clock)
    tracker = SessionTracker(
        report, hold_s=HOLD_S, check_clock=event_time == "check", late_copies_kept=late_copies
    )
    names = [str(f) for f in files]
    merged = heapq.merge(*(_timed(i, f, report) for i, f in enumerate(files)), key=lambda item: item[:3])
    for _when, index, line, block in merged:
        report.current_file = names[index]
        report.entries += 1
        try:
            req = _request(block, line_from)
        except _BadBlock as exc:
            report.reject(exc.line, "unusable block", str(exc))
            continue
        if req is None or req.status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF):
            values = block[2]
            report.ignored[_kind(values) or _string(values.get("Acct-Status-Type", "?"))] += 1
            if req is not None:  # Accounting-On/Off: the client's sessions end
                yield from tracker.request(req, line)  # (and its records held long enough are given)
            continue
        report.accounting_requests += 1
        yield from tracker.request(req, line)
    yield from tracker.finish()
