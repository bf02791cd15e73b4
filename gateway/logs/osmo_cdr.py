"""Usage records from osmo-sgsn CDR files (the `cdr filename` of osmo-sgsn's configuration).

osmo-sgsn appends one CSV row per event, under the header it writes when the
file is empty::

    timestamp,imsi,imei,msisdn,cell_id,lac,hlr,event,pdp_duration,ggsn_addr,sgsn_addr,apni,eua_addr,vol_in,vol_out,charging_id

- `timestamp`: UTC, `YYYYMMDDhhmmssmmm` (milliseconds last);
- mobility events (`attach`, `update`, `detach`, `free`) fill the first eight columns only;
- PDP context events fill all sixteen: `pdp-act` (activation), `pdp-periodic`
  (every `cdr interval`, 600 s by default), `pdp-deact` (deactivation),
  `pdp-terminate` (torn down with its mobility context), `pdp-free` (freed);
- `pdp_duration`: seconds since activation; `vol_in` / `vol_out`: octets since
  activation (64-bit, cumulative), `vol_in` from the MS (uplink), `vol_out`
  to it (downlink); `charging_id`: the GGSN's charging id of the context.

Records are delimited as the SGSN delimits them: one per `pdp-periodic` row
(cause 17, time limit) and one at the context's end (`pdp-deact`: cause 0
normal; `pdp-terminate`, or a `pdp-free` with no deactivation before it:
cause 4 abnormal).  The session rules (deltas, retransmission, a context first
seen at a periodic row) are `gateway.acct_sessions`'s, with a context as a
session: id `IMSI-CHARGINGID`, unique per GGSN address.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from accounting.records import UsageRecord
from gateway.acct_sessions import STATUS_INTERIM, STATUS_START, STATUS_STOP, AcctRequest, SessionTracker
from gateway.logs.common import LogError, LogReport, input_files, reserve_open_files, text_lines

HEADER = (
    "timestamp,imsi,imei,msisdn,cell_id,lac,hlr,event,pdp_duration,"
    "ggsn_addr,sgsn_addr,apni,eua_addr,vol_in,vol_out,charging_id"
)
COLUMNS = tuple(HEADER.split(","))
MM_EVENTS = frozenset({"attach", "update", "detach", "free"})
PDP_STATUS = {
    "pdp-act": (STATUS_START, None),
    "pdp-periodic": (STATUS_INTERIM, None),
    "pdp-deact": (STATUS_STOP, 1),  # Acct-Terminate-Cause User-Request -> cause 0 (normal)
    "pdp-terminate": (STATUS_STOP, 2),  # Lost-Carrier -> cause 4 (abnormal)
    "pdp-free": (STATUS_STOP, 2),
}
NOT_AVAILABLE = frozenset({"", "N/A"})

OsmoLineFrom = Literal["msisdn", "imsi"]


class _BadRow(Exception):
    pass


def _timestamp(text: str) -> int:
    if len(text) != 17 or not text.isdigit():
        raise _BadRow(f"timestamp {text!r}: expected YYYYMMDDhhmmssmmm")
    try:
        when = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise _BadRow(f"timestamp {text!r} is not a date") from None
    return int(when.timestamp())


def _count(row: dict[str, str], name: str, bits: int = 32) -> int:
    text = row[name]
    if not text.isdigit():
        raise _BadRow(f"{name} {text!r}: expected a whole number")
    if int(text) >> bits:
        raise _BadRow(f"{name} {text}: out of range (more than {bits} bits)")
    return int(text)


def _request(row: dict[str, str], line_from: OsmoLineFrom, serving_plmn: str | None) -> AcctRequest:
    status, terminate = PDP_STATUS[row["event"]]
    when = _timestamp(row["timestamp"])
    duration = _count(row, "pdp_duration")
    charging_id = _count(row, "charging_id")
    imsi = row["imsi"] if row["imsi"] not in NOT_AVAILABLE else None
    if imsi is None:
        raise _BadRow("no IMSI: the context is not tied to a subscriber")
    line = row[line_from] if row[line_from] not in NOT_AVAILABLE else None
    if line is not None and line_from == "msisdn" and line[:1] == "+":
        # osmo-sgsn writes an MSISDN of international type and E.164 plan (the HLR's) with a '+'
        # (extract_subscr_msisdn): the line is its digits, as Calling-Station-Id names it (TS 29.061)
        line = line[1:] or None
    imei = row["imei"]
    return AcctRequest(
        status=status,
        session_id=f"{imsi}-{charging_id}",
        client=row["ggsn_addr"],
        time_s=when,
        line=line,
        event_time=when - duration if status == STATUS_START else when,
        session_time=duration,
        in_lo=_count(row, "vol_in", 63),  # (a record's octets are signed 64-bit)
        in_gw=0,  # 64-bit counters: never wrapped
        out_lo=_count(row, "vol_out", 63),
        out_gw=0,
        terminate=terminate,
        imsi=imsi,
        imeisv=imei if len(imei) == 16 and imei.isdigit() else None,
        apn=row["apni"] or None,
        charging_id=charging_id,
        serving_plmn=serving_plmn,
    )


def _rows(path: Path, report: LogReport) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line number, row by column name, or None for a row rejected here) of one CDR file."""
    header_seen = False
    # (osmo-sgsn writes the APN as the MS sent it, octets that are no UTF-8 too: one row's APN refused the
    # whole file, every record of the day lost; read as \\xNN, as the other readers read such octets)
    for number, text, ended in text_lines(path, report, escape_octets=True):
        if not text.strip():
            continue
        if header_seen and not ended:  # osmo-sgsn ends every row: the file is still being written
            report.current_file = str(path)
            report.reject(number, "row cut short", f"the file ends within it ({text[-40:]!r})")
            yield number, None
            continue
        if not header_seen:
            if text.strip() != HEADER:
                raise LogError(
                    f"{path}:{number}: not an osmo-sgsn CDR file: expected the header {HEADER!r}, "
                    f"found {text[:60]!r}"
                )
            header_seen = True
            continue
        if text.strip() == HEADER:  # a second run appended to the file after emptying it
            continue
        try:
            fields = next(csv.reader([text]))
        except csv.Error as exc:  # a field past the csv module's limit (128 KiB): a traceback before
            report.current_file = str(path)
            report.reject(number, "malformed row", str(exc))
            yield number, None
            continue
        event = fields[7] if len(fields) > 7 else ""
        if event in MM_EVENTS and len(fields) == 8:
            report.ignored[event] += 1
            continue
        if len(fields) != len(COLUMNS):
            report.current_file = str(path)
            report.reject(number, "malformed row", f"{len(fields)} fields, expected {len(COLUMNS)}")
            yield number, None
            continue
        if event not in PDP_STATUS:
            report.current_file = str(path)
            report.reject(number, "malformed row", f"unknown event {event!r}")
            yield number, None
            continue
        yield number, dict(zip(COLUMNS, fields, strict=True))
    if not header_seen:
        raise LogError(f"{path}: empty, not an osmo-sgsn CDR file")


def _timed(
    index: int, path: Path, report: LogReport
) -> Iterator[tuple[str, int, int, dict[str, str] | None]]:
    """(timestamp, file index, line number, row) of one CDR file; a row whose timestamp is unusable
    keeps the place of the row before it."""
    when = ""
    for number, row in _rows(path, report):
        if row is not None and len(row["timestamp"]) == 17 and row["timestamp"].isdigit():
            when = row["timestamp"]  # YYYYMMDDhhmmssmmm: in time order as text
        yield when, index, number, row


def records_from_osmo_cdr(
    inputs: Path | str | Sequence[Path | str],
    report: LogReport | None = None,
    *,
    line_from: OsmoLineFrom = "msisdn",
    serving_plmn: str | None = None,
) -> Iterator[UsageRecord]:
    """Usage records from osmo-sgsn CDR files (files, or folders of them, merged in time order: a file
    rotated by logrotate, `sgsn.cdr.1`, holds the rows before those of `sgsn.cdr`).

    `LogError` (`file:line: reason`) when a file is not a CDR file; a row that
    cannot be used is a reject in `report` with its file and line.
    """
    paths: Iterable[Path | str] = [inputs] if isinstance(inputs, (str, Path)) else inputs
    report = report if report is not None else LogReport()
    files = input_files(paths, "CDR", report)
    reserve_open_files(files)
    return _records(files, report, line_from, serving_plmn)


def _records(
    files: list[Path], report: LogReport, line_from: OsmoLineFrom, serving_plmn: str | None
) -> Iterator[UsageRecord]:
    tracker = SessionTracker(report)
    # (GGSN, charging id) -> (IMSI, volumes) at the context's closing row
    closed: dict[tuple[str, str], tuple[str, str, str]] = {}
    ggsn_of: dict[tuple[str, str], str] = {}  # (IMSI, charging id) -> the GGSN of the context's rows
    names = [str(f) for f in files]
    merged = heapq.merge(*(_timed(i, f, report) for i, f in enumerate(files)), key=lambda item: item[:3])
    for _when, index, number, row in merged:
        report.current_file = names[index]
        report.entries += 1
        if row is None:
            continue
        context = (row["imsi"], row["charging_id"])
        if row["ggsn_addr"]:
            ggsn_of[context] = row["ggsn_addr"]
        else:  # the GGSN deleted the context: osmo-sgsn's last row has lost its GTP side (no address)
            row["ggsn_addr"] = ggsn_of.get(context, "")
        key = (row["ggsn_addr"], row["charging_id"])
        end = closed.get(key)
        if (
            PDP_STATUS[row["event"]][0] == STATUS_STOP
            and end is not None
            and end[1:] == (row["vol_in"], row["vol_out"])
            and row["imsi"] in (end[0], "N/A")
        ):
            # pdp-free after pdp-deact; pdp-deact and pdp-free after pdp-terminate, which parts the
            # context from its subscriber (IMSI, IMEI and MSISDN N/A)
            report.ignored[f"{row['event']} after the context's end"] += 1
            continue
        try:
            req = _request(row, line_from, serving_plmn)
        except _BadRow as exc:
            report.reject(number, "malformed row", str(exc))
            continue
        report.accounting_requests += 1
        if req.status == STATUS_START:
            # a log repeats no row: a pdp-act on the id of an open context is a new context, and that
            # one ended without a row (osmo-sgsn restarted)
            tracker.end_without_stop(req.client, req.session_id)
        records = tracker.request(req, number)
        if req.status == STATUS_STOP:
            closed[key] = (row["imsi"], row["vol_in"], row["vol_out"])
        elif req.status == STATUS_START:  # a new context on the charging id (osmo-ggsn reuses them)
            closed.pop(key, None)
        yield from records
    tracker.finish()
