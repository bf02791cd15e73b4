"""Records from real network logs: FreeRADIUS detail files and osmo-sgsn CDR files, written here from
the formats' documentation (rlm_detail's output; osmo-sgsn's sgsn_cdr.c columns)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from log_samples import CDR, DETAIL, HEADER

from accounting.records import UsageRecord
from gateway.logs import LogReport, records_from_osmo_cdr, records_from_radius_detail
from m2msim.cli import main

START = datetime(2026, 3, 1, 10, tzinfo=UTC)


def rows(records: list[UsageRecord]) -> list[tuple[object, ...]]:
    return [
        (
            r.line,
            r.session,
            r.start,
            r.duration_s,
            r.bytes_up,
            r.bytes_down,
            r.zone.value,
            r.cause,
            r.sequence,
        )
        for r in records
    ]


def test_detail_file_gives_a_record_per_interim_and_stop(tmp_path: Path) -> None:
    path = tmp_path / "detail-20260301"
    path.write_text(DETAIL)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert rows(records) == [
        ("33612345678", "4f2a0001", START, 43200, 1000, 5000 + (1 << 32), "fr", 17, 1),
        ("33612345678", "4f2a0001", datetime(2026, 3, 1, 22, tzinfo=UTC), 10800, 500, 1000, "fr", 24, 2),
        # after the move, in the zone where the session was opened
        ("33612345678", "4f2a0001", datetime(2026, 3, 2, 1, tzinfo=UTC), 3600, 100, 100, "fr", 0, 3),
    ]
    first = records[0]
    assert (first.imsi, first.charging_id, first.apn, first.imeisv, first.serving_plmn) == (
        "208011234567890",
        4242,
        "m2m.example",
        "3520990012345601",
        "20801",
    )
    assert report.retransmissions == 1  # the Interim re-sent with Acct-Delay-Time 7
    assert report.ignored == {"Accounting-Off": 1} and report.rejected == 0 and report.open_sessions == []


# a User-Location-Info in place of 3GPP-SGSN-MCC-MNC, by either of its names in FreeRADIUS's dictionary
_LOCATIONS = {
    "ECGI": "\t3GPP-User-Location-Info = 0x8132f45100123456",  # in the UK
    "SAI": "\t3GPP-Location-Info = 0x011300141a2b3c4d",  # in the US: a 3-digit MNC
}


def _detail_block(when: datetime, status: str, session: str, plmn: str | None, **more: int) -> str:
    said = {"Acct-Session-Time": more.get("st"), "Acct-Input-Octets": more.get("up")}
    said["Acct-Output-Octets"] = more.get("down")
    lines = [
        when.strftime("%a %b %e %H:%M:%S %Y"),
        f"\tAcct-Status-Type = {status}",
        f'\tAcct-Session-Id = "{session}"',
        "\tNAS-IP-Address = 192.0.2.1",
        '\tCalling-Station-Id = "33612345678"',
        *([f'\t3GPP-SGSN-MCC-MNC = "{plmn}"'] if plmn and plmn not in _LOCATIONS else []),
        *([_LOCATIONS[plmn]] if plmn in _LOCATIONS else []),
        *(f"\t{k} = {v}" for k, v in said.items() if v is not None),
        *(["\tAcct-Terminate-Cause = User-Request"] if status == "Stop" else []),
        f'\tEvent-Timestamp = "{when.strftime("%b %e %Y %H:%M:%S")} UTC"',
        f"\tTimestamp = {int(when.timestamp())}",
    ]
    return "\n".join(lines) + "\n\n"


def test_detail_session_moved_abroad_stays_in_the_zone_where_it_was_opened(tmp_path: Path) -> None:
    """An Interim with a changed 3GPP-SGSN-MCC-MNC (a context opened in France, moved to Belgium) cuts
    a partial record (24) and the session goes on: every record of it is in the zone where it was
    opened, its serving_plmn the network each was used in.  A session opened in Belgium is `eu`, and
    one whose Start says no network takes the zone of the first one said."""
    t = START
    blocks = [
        _detail_block(t, "Start", "fr-open", "20801"),
        _detail_block(
            t + timedelta(minutes=10), "Interim-Update", "fr-open", "20610", st=600, up=100, down=200
        ),
        _detail_block(t + timedelta(minutes=15), "Stop", "fr-open", "20610", st=900, up=150, down=300),
        _detail_block(t + timedelta(minutes=20), "Start", "be-open", "20610"),
        _detail_block(t + timedelta(minutes=25), "Stop", "be-open", "20610", st=300, up=10, down=20),
        _detail_block(t + timedelta(minutes=30), "Start", "unsaid", None),
        _detail_block(t + timedelta(minutes=35), "Interim-Update", "unsaid", "20610", st=300, up=1, down=2),
        _detail_block(t + timedelta(minutes=40), "Interim-Update", "unsaid", "20801", st=600, up=3, down=4),
        _detail_block(t + timedelta(minutes=45), "Stop", "unsaid", "20801", st=900, up=5, down=6),
    ]
    path = tmp_path / "detail-20260301"
    path.write_text("".join(blocks))
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.session, r.cause, r.serving_plmn, r.zone.value) for r in records] == [
        ("fr-open", 24, "20801", "fr"),
        ("fr-open", 0, "20610", "fr"),  # carried in Belgium, rated in France where it was opened
        ("be-open", 0, "20610", "eu"),
        ("unsaid", 17, None, "eu"),
        ("unsaid", 24, "20610", "eu"),
        ("unsaid", 0, "20801", "eu"),
    ]
    assert report.rejected == 0 and report.open_sessions == []


LONG = """\
Sun Mar  1 10:00:00 2026
\tAcct-Status-Type = Start
\tAcct-Session-Id = "7b000001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\tEvent-Timestamp = "Mar  1 2026 10:00:00 UTC"
\tTimestamp = 1772359200

Mon Mar  2 02:00:00 2026
\tAcct-Status-Type = Interim-Update
\tAcct-Session-Id = "7b000001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\tAcct-Session-Time = 57600
\tAcct-Input-Octets = 160000
\tAcct-Output-Octets = 1600
\tTimestamp = 1772416800

Tue Mar  3 02:00:00 2026
\tAcct-Status-Type = Stop
\tAcct-Session-Id = "7b000001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\tAcct-Session-Time = 144000
\tAcct-Input-Octets = 1000000
\tAcct-Output-Octets = 10000
\tAcct-Terminate-Cause = User-Request
\tTimestamp = 1772503200

"""


def _start_stop_file(
    tmp_path: Path, sessions: list[tuple[str, str | None]]
) -> tuple[list[UsageRecord], LogReport]:
    """The records of a detail file of a Start and a Stop (600 s, 100/200 octets) of each (session id,
    3GPP-SGSN-MCC-MNC as printed), 20 minutes apart."""
    blocks = []
    for i, (session, plmn) in enumerate(sessions):
        t = START + timedelta(minutes=20 * i)
        blocks.append(_detail_block(t, "Start", session, plmn))
        blocks.append(
            _detail_block(t + timedelta(minutes=10), "Stop", session, plmn, st=600, up=100, down=200)
        )
    path = tmp_path / "detail-20260301"
    path.write_text("".join(blocks))
    report = LogReport()
    return list(records_from_radius_detail(path, report)), report


def test_detail_of_several_class_attributes_the_line_id_names_the_line(tmp_path: Path) -> None:
    """A block with two Class lines, the opaque state an Access-Accept set first and the line id after
    it (`0x...` as FreeRADIUS prints octets): the line id names the line. The records were the
    MSISDN's, a line not in the inventory."""
    path = tmp_path / "detail-20260301"
    path.write_text(
        "".join(
            _detail_block(START + timedelta(minutes=10 * i), status, "s1", None, **more).replace(
                "\tNAS-IP-Address", "\tClass = 0x8f00a1ff3c5d0102\n\tClass = 0x4c494e452d31\n\tNAS-IP-Address"
            )
            for i, (status, more) in enumerate([("Start", {}), ("Stop", {"st": 600, "up": 100, "down": 200})])
        )
    )
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.line, r.bytes_up) for r in records] == [("LINE-1", 100)] and report.rejected == 0


def test_detail_serving_network_in_bcd_octets_is_read_as_its_digits(tmp_path: Path) -> None:
    r"""A 3GPP-SGSN-MCC-MNC sent as the three BCD octets of a PLMN id (TS 24.008, as in the RAI):
    FreeRADIUS prints its string with the octets that are no UTF-8 escaped ("2\364Q" for 234 15).
    It was read as the text '2ôQ', the records zone world (a UK session rated as roaming outside
    Europe). One that is no MCC+MNC at all is a reject naming its line."""
    records, report = _start_stop_file(tmp_path, [("uk", "2\\364Q"), ("bad", "UK")])
    assert [(r.session, r.serving_plmn, r.zone.value, r.bytes_up) for r in records] == [
        ("uk", "23415", "eu", 100)
    ]
    assert report.reasons == {"unusable block": 2}
    assert report.rejects[0]["line"] == 28 and "3GPP-SGSN-MCC-MNC: 0x554b ('UK') is no MCC+MNC" in str(
        report.rejects[0]["reason"]
    )


def test_detail_strings_with_octets_that_are_no_utf8_read_as_the_capture_reads_them(tmp_path: Path) -> None:
    r"""FreeRADIUS prints a string's octets that are no UTF-8 (and control characters) as `\NNN`, its
    valid UTF-8 as it is: the session id "\200A" is the octets 80 41, read as `\x80A` as the capture
    reader reads the same attribute (it was U+0080: the same traffic gave another id from a capture);
    "café" is itself."""
    records, report = _start_stop_file(tmp_path, [("\\200A", None), ('café\\001\\\\\\"', None)])
    assert [(r.session, r.bytes_up) for r in records] == [("\\x80A", 100), ('café\x01\\"', 100)]
    assert report.rejected == 0


def test_detail_without_sgsn_mcc_mnc_the_user_location_info_says_the_serving_network(tmp_path: Path) -> None:
    """3GPP-User-Location-Info (`0x...`, an ECGI in the UK) and no 3GPP-SGSN-MCC-MNC: the cell's network
    is the serving network, by either name FreeRADIUS's dictionary gives the attribute (a SAI in the
    US, 3-digit MNC). The records were zone fr, the UK session rated as at home."""
    records, report = _start_stop_file(tmp_path, [("uk", "ECGI"), ("us", "SAI")])
    assert [(r.session, r.serving_plmn, r.zone.value) for r in records] == [
        ("uk", "23415", "eu"),
        ("us", "310410", "world"),
    ]
    assert report.rejected == 0


def test_detail_record_over_12_hours_is_cut_at_the_sessions_12_hour_marks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client whose Interim-Updates come every 16 h, then 24 h (or never): its records of more than
    43,200 s were each written whole, and `m2msim rate` refused them (a data record is cut at 12 h),
    so the session's octets were billed nowhere.  They are cut at the session's 12-hour marks."""
    path = tmp_path / "detail-20260301"
    path.write_text(LONG)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    h = 3_600
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.cause, r.sequence) for r in records] == [
        (START, 12 * h, 120_000, 1_200, 17, 1),
        (START + timedelta(hours=12), 4 * h, 40_000, 400, 17, 2),  # the Interim's record, cut at 12 h
        (START + timedelta(hours=16), 8 * h, 280_000, 2_800, 17, 3),  # the Stop's record of 24 h
        (START + timedelta(hours=24), 12 * h, 420_000, 4_200, 17, 4),
        (START + timedelta(hours=36), 4 * h, 140_000, 1_400, 0, 5),
    ]
    assert report.records == 5 and report.rejected == 0
    out = tmp_path / "records.csv"
    assert main(["records-from-radius-detail", str(path), "--out", str(out)]) == 0
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "customer: c\nmonth: 2026-03\nlines:\n  - {id: '33612345678', offer: business-m2m, "
        "plan: forfait-2mo, commitment: 24, since: 2025-01-15}\n"
    )
    capsys.readouterr()
    assert main(["rate", str(inventory), str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rejects"] == []


def test_detail_accounting_on_ends_the_clients_sessions_before_a_session_id_is_reused(tmp_path: Path) -> None:
    """The client restarted (Accounting-On) and gave its next session an Acct-Session-Id it had used:
    that session is read from its own Start (it was a 'duplicate Start', and its Stop was billed as the
    old session's)."""
    blocks = DETAIL.split("\n\n")
    start, interim, stop = blocks[0], blocks[1], blocks[4]
    restart = (
        "Mon Mar  2 00:59:00 2026\n\tAcct-Status-Type = Accounting-On\n\tNAS-IP-Address = 192.0.2.1\n"
        "\tTimestamp = 1772413140"
    )
    again = start.replace("Sun Mar  1 10:00:00", "Mon Mar  2 01:00:00").replace("1772359200", "1772413200")
    again = again.replace("Mar  1 2026 10:00:00", "Mar  2 2026 01:00:00")
    stop = stop.replace("Acct-Session-Time = 57600", "Acct-Session-Time = 3600")
    path = tmp_path / "detail"
    path.write_text("\n\n".join([start, interim, restart, again, stop]) + "\n\n")
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records] == [
        (START, 43_200, 1_000, (1 << 32) + 5_000, 1),
        (datetime(2026, 3, 2, 1, tzinfo=UTC), 3_600, 1_600, (1 << 32) + 6_100, 1),
    ]
    assert report.rejected == 0 and report.ignored == {"Accounting-On": 1}
    assert report.open_sessions == ["4f2a0001"]  # the first, ended by the restart without a Stop


def test_detail_session_id_reused_without_event_timestamp_is_a_new_session(tmp_path: Path) -> None:
    """A client without Event-Timestamp restarts (Accounting-On) and gives its next session an id it had
    used 10 minutes before: its Start was taken for a re-sent copy of the old one (same signature), and
    its Stop was refused as a request after the session's Stop, the session lost. The Start written
    after the old session's Stop is a new session; the old Start re-sent 7 s late is still a copy."""
    text = re.sub(r'\tEvent-Timestamp = "[^"]*"\n', "", DETAIL)
    start = text.split("\n\n")[0]
    resent = start.replace("Acct-Delay-Time = 0", "Acct-Delay-Time = 7").replace("1772359200", "1772359207")
    later = [
        "Mon Mar  2 02:10:00 2026\n\tAcct-Status-Type = Accounting-On\n\tNAS-IP-Address = 192.0.2.1\n"
        "\tTimestamp = 1772417400",
        start.replace("Sun Mar  1 10:00:00", "Mon Mar  2 02:10:05").replace("1772359200", "1772417405"),
        'Mon Mar  2 03:10:05 2026\n\tAcct-Status-Type = Stop\n\tAcct-Session-Id = "4f2a0001"\n'
        '\tNAS-IP-Address = 192.0.2.1\n\tCalling-Station-Id = "33612345678"\n\tAcct-Session-Time = 3600\n'
        "\tAcct-Input-Octets = 700\n\tAcct-Output-Octets = 800\n\tAcct-Terminate-Cause = User-Request\n"
        "\tTimestamp = 1772421005",
    ]
    blocks = text.rstrip("\n").split("\n\n")
    path = tmp_path / "detail"
    path.write_text("\n\n".join([blocks[0], resent, *blocks[1:], *later]) + "\n\n")
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records][3:] == [
        (datetime(2026, 3, 2, 2, 10, 5, tzinfo=UTC), 3_600, 700, 800, 1)
    ]
    assert len(records) == 4 and records[0].start == START
    assert report.rejected == 0 and report.retransmissions == 2 and report.sessions == 2


def test_detail_folder_with_freeradius_auth_and_reply_logs_reads_only_the_accounting(tmp_path: Path) -> None:
    """FreeRADIUS's auth_log and reply_log write the Access-Requests and their Access-Accepts in the
    detail format, by default next to the accounting (radacct/<client>/auth-detail-YYYYMMDD,
    reply-detail-YYYYMMDD), each block with its Packet-Type (as FreeRADIUS 3.2 wrote them here): a
    folder read gave a reject, 'no Acct-Status-Type', per authentication. They carry no usage and are
    counted by their Packet-Type; a block without Acct-Status-Type that is no such log is still a reject."""
    folder = tmp_path / "radacct" / "192.0.2.1"
    folder.mkdir(parents=True)
    (folder / "detail-20260301").write_text(DETAIL)
    (folder / "auth-detail-20260301").write_text(
        'Sun Mar  1 09:59:59 2026\n\tPacket-Type = Access-Request\n\tUser-Name = "208011234567890"\n'
        '\tNAS-IP-Address = 192.0.2.1\n\tCalling-Station-Id = "33612345678"\n'
        '\tCalled-Station-Id = "m2m.example"\n\t3GPP-IMSI = "208011234567890"\n'
        "\tFramed-Protocol = GPRS-PDP-Context\n\tService-Type = Framed-User\n\tTimestamp = 1772359199\n\n"
    )
    (folder / "reply-detail-20260301").write_text(
        "Sun Mar  1 09:59:59 2026\n\tPacket-Type = Access-Accept\n\tClass = 0x8f00a1ff3c5d0102\n"
        "\tAcct-Interim-Interval = 43200\n\tFramed-IP-Address = 10.1.2.3\n\tTimestamp = 1772359199\n\n"
    )
    report = LogReport()
    records = list(records_from_radius_detail(tmp_path / "radacct", report))
    assert records == list(records_from_radius_detail(folder / "detail-20260301", LogReport()))
    assert report.rejected == 0 and report.ignored == {
        "Access-Request": 1,
        "Access-Accept": 1,
        "Accounting-Off": 1,
    }
    (folder / "detail-20260302").write_text(
        DETAIL.split("\n\n")[1].replace("\tAcct-Status-Type = Interim-Update\n", "") + "\n\n"
    )
    report = LogReport()
    list(records_from_radius_detail(tmp_path / "radacct", report))
    assert report.reasons == {"unusable block": 1} and "no Acct-Status-Type" in str(
        report.rejects[0]["reason"]
    )


@pytest.mark.parametrize(("zone", "offset"), [("+04", 4 * 60), ("-03", -3 * 60), ("+0530", 5 * 60 + 30)])
def test_detail_event_timestamp_in_a_numeric_zone_is_read_exactly(
    tmp_path: Path, zone: str, offset: int
) -> None:
    """FreeRADIUS prints Event-Timestamp in its server's zone, `%Z`: tzdata names many zones by their
    offset (Asia/Dubai `+04`, America/Sao_Paulo `-03`); such blocks were refused ('is not a date'),
    every record of a server there lost. The offset is exact: the Start's time is the event's, not
    the Timestamp the server wrote 3 s later."""

    def local(match: re.Match[str]) -> str:
        when = datetime.strptime(match.group(1), "%b %d %Y %H:%M:%S") + timedelta(minutes=offset)
        return f'Event-Timestamp = "{when:%b} {when.day:2d} {when:%Y %H:%M:%S} {zone}"'

    text = re.sub(r'Event-Timestamp = "(.*) UTC"', local, DETAIL).replace("1772359200", "1772359203")
    assert '"Mar  1 2026 14:00:00 +04"' in text or zone != "+04"
    path = tmp_path / "detail"
    path.write_text(text)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert report.rejected == 0 and len(records) == 3
    assert records[0].start == START


@pytest.mark.parametrize(
    ("zone", "offset", "late_s"),
    [("CET", 60, 60), ("CEST", 120, 60), ("EST", -300, 400), ("NPT", 345, 30)],  # (Asia/Kathmandu)
)
def test_detail_event_timestamp_in_a_named_zone_is_placed_by_its_offset(
    tmp_path: Path, zone: str, offset: int, late_s: int
) -> None:
    """A server in Europe/Paris (America/New_York, Asia/Kathmandu) prints Event-Timestamp in `CET` or
    `CEST`, whose offset is not in the text: it is the whole number of quarter hours that dates the
    event nearest to when the client sent it. A client without Acct-Delay-Time whose Start reached the
    server `late_s` late, then re-sent it: the session started at the Timestamp the server wrote, that
    much late (at the end of a month, in the next one), and the copy was a reject, 'duplicate Start'."""
    start = START.replace(month=7) if zone == "CEST" else START

    def local(match: re.Match[str]) -> str:
        when = datetime.strptime(match.group(1), "%b %d %Y %H:%M:%S") + timedelta(minutes=offset)
        when += timedelta(days=(start - START).days)
        return f'Event-Timestamp = "{when:%b} {when.day:2d} {when:%Y %H:%M:%S} {zone}"'

    shift = int((start - START).total_seconds())
    blocks = re.sub(r'Event-Timestamp = "(.*) UTC"', local, DETAIL).split("\n\n")
    blocks = [
        re.sub(r"Timestamp = (\d+)", lambda m: f"Timestamp = {int(m.group(1)) + shift}", b).replace(
            "\tAcct-Delay-Time = 0\n", ""
        )
        for b in blocks
    ]
    first = blocks[0].replace(
        f"Timestamp = {1772359200 + shift}", f"Timestamp = {1772359200 + shift + late_s}"
    )
    again = first.replace(
        f"Timestamp = {1772359200 + shift + late_s}", f"Timestamp = {1772359200 + shift + late_s + 5}"
    )
    path = tmp_path / "detail"
    path.write_text("\n\n".join([first, again, *blocks[1:]]))
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert report.rejected == 0 and report.retransmissions == 2 and len(records) == 3
    assert records[0].start == start


@pytest.mark.parametrize(
    ("march", "zone", "hours"),
    [("мар", "+05", 5), ("mars", "UTC", 0), ("Mär", "+01", 1)],  # as FreeRADIUS 3.2 wrote them here
)
def test_detail_event_timestamp_with_the_month_in_the_servers_language_is_read(
    tmp_path: Path, march: str, zone: str, hours: int
) -> None:
    """FreeRADIUS prints Event-Timestamp with strftime's %b: with rlm_perl loaded (Perl sets the locale
    from the environment) a server whose LANG is Russian, French or German writes "мар  1 2026 15:00:00
    +05". Every such block was refused ('is not a date'): all the server's records lost. The month is the
    one that dates the event nearest to when it was sent (the Timestamp the server wrote); the records
    are those of the same file in English."""

    def local(match: re.Match[str]) -> str:
        when = datetime.strptime(match.group(1), "%b %d %Y %H:%M:%S") + timedelta(hours=hours)
        return f'Event-Timestamp = "{march} {when.day:2d} {when:%Y %H:%M:%S} {zone}"'

    text = re.sub(r'Event-Timestamp = "(.*) UTC"', local, DETAIL)
    assert f'"{march}  1 2026 {10 + hours}:00:00 {zone}"' in text
    path = tmp_path / "detail"
    path.write_text(text)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    english = tmp_path / "english"
    english.write_text(DETAIL)
    assert records == list(records_from_radius_detail(english, LogReport())) and report.rejected == 0
    # at a month's turn: written at 00:00:05 on 1 March, the event of 23:59:30 is on 28 February
    start, interim = text.split("\n\n")[:2]
    start = start.replace(f'"{march}  1 2026 {10 + hours}:00:00 {zone}"', '"févr. 28 2026 23:59:30 UTC"')
    path.write_text(start.replace("1772359200", "1772323205") + "\n\n" + interim + "\n\n")
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [r.start for r in records] == [
        datetime(2026, 2, 28, 23, 59, 30, tzinfo=UTC)
    ] and report.rejected == 0


def test_detail_start_without_event_timestamp_is_when_the_client_sent_it(tmp_path: Path) -> None:
    """No Event-Timestamp: the Start is when the client sent it, the Timestamp the server wrote less
    Acct-Delay-Time (it was re-sent 5 s late); the records started 5 s late."""
    text = DETAIL.replace(
        '\tEvent-Timestamp = "Mar  1 2026 10:00:00 UTC"\n\tAcct-Delay-Time = 0\n\tTimestamp = 1772359200',
        "\tAcct-Delay-Time = 5\n\tTimestamp = 1772359205",
    )
    assert text != DETAIL
    path = tmp_path / "detail"
    path.write_text(text)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [r.start for r in records][:1] == [START] and len(records) == 3 and report.rejected == 0


def test_detail_interim_written_after_the_next_one_closes_its_own_record(tmp_path: Path) -> None:
    """The 22:00 Interim-Update reached the server only after the 01:00 one (re-sent, Acct-Delay-Time
    10,807 s): it was refused as counters going backwards, and the 15 hours until 01:00 cut at the
    12-hour mark with their octets spread in proportion to time. It closes its own record."""
    blocks = DETAIL.split("\n\n")
    late = blocks[2].replace("Acct-Delay-Time = 7", "Acct-Delay-Time = 10807")
    late = late.replace("Timestamp = 1772402407", "Timestamp = 1772413207")
    path = tmp_path / "detail"
    path.write_text("\n\n".join([blocks[0], blocks[3], late, *blocks[4:]]))
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.duration_s, r.bytes_up, r.bytes_down, r.cause, r.sequence) for r in records] == [
        (43_200, 1_000, 2**32 + 5_000, 17, 1),
        (10_800, 500, 1_000, 24, 2),
        (3_600, 100, 100, 0, 3),
    ]
    assert report.rejected == 0


def _written_late(block: str, when: datetime, written: datetime) -> str:
    """`block` (an event at `when`) as the server wrote it at `written`: re-sent, with Acct-Delay-Time."""
    late = block.replace(f"Timestamp = {int(when.timestamp())}", f"Timestamp = {int(written.timestamp())}")
    delay = int((written - when).total_seconds())
    return late.replace("\tEvent-Timestamp", f"\tAcct-Delay-Time = {delay}\n\tEvent-Timestamp")


def test_detail_late_interim_after_an_accounting_on_is_the_ended_sessions(tmp_path: Path) -> None:
    """The client restarted (Accounting-On), then re-sent from its queue an Interim-Update and the Stop
    of a session the restart ended: the Interim opened a session of its own (no records, listed
    without a Stop), the Stop billed on it; the ended session's record kept both periods."""
    t = START
    blocks = [
        _detail_block(t, "Start", "s1", "20801"),
        _detail_block(
            t + timedelta(seconds=1_200), "Interim-Update", "s1", "20801", st=1_200, up=3_000, down=300
        ),
        "Sun Mar  1 10:21:40 2026\n\tAcct-Status-Type = Accounting-On\n\tNAS-IP-Address = 192.0.2.1\n"
        f"\tTimestamp = {int(t.timestamp()) + 1_300}\n\n",
        _written_late(
            _detail_block(
                t + timedelta(seconds=600), "Interim-Update", "s1", "20801", st=600, up=1_000, down=100
            ),
            t + timedelta(seconds=600),
            t + timedelta(seconds=1_301),
        ),
        _written_late(
            _detail_block(t + timedelta(seconds=1_250), "Stop", "s1", "20801", st=1_250, up=3_500, down=350),
            t + timedelta(seconds=1_250),
            t + timedelta(seconds=1_302),
        ),
    ]
    path = tmp_path / "detail"
    path.write_text("".join(blocks))
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert [(r.duration_s, r.bytes_up, r.bytes_down, r.cause, r.sequence) for r in records] == [
        (600, 1_000, 100, 17, 1),
        (600, 2_000, 200, 17, 2),
        (50, 500, 50, 0, 3),
    ]
    assert report.rejected == 0 and report.joined == [] and report.open_sessions == []


def test_detail_file_begun_at_a_stop_gives_its_record_from_the_late_interim_after_it(tmp_path: Path) -> None:
    """The day's file begins with a session's Stop; the Interim-Update before it, re-sent, was written
    next: the Stop was refused as never seen, the session joined at the Interim listed without a
    Stop, its last record billed nowhere."""
    t = START
    stop = _detail_block(t + timedelta(seconds=1_200), "Stop", "s1", "20801", st=1_200, up=3_000, down=300)
    interim = _detail_block(
        t + timedelta(seconds=600), "Interim-Update", "s1", "20801", st=600, up=1_000, down=100
    )
    path = tmp_path / "detail"
    path.write_text(stop + _written_late(interim, t + timedelta(seconds=600), t + timedelta(seconds=1_201)))
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert rows(records) == [
        ("33612345678", "s1", t + timedelta(seconds=600), 600, 2_000, 200, "fr", 0, None),
    ]
    assert report.rejected == 0 and report.open_sessions == []


def test_detail_blocks_that_cannot_be_used_are_rejects_with_file_and_line(tmp_path: Path) -> None:
    text = DETAIL.replace("\tAcct-Input-Octets = 1600", "\tAcct-Input-Octets = lots")
    text = text.replace(
        "Mon Mar  2 01:00:00 2026\n", "Mon Mar  2 01:00:00 2026\n\tthis is not an attribute\n"
    )
    path = tmp_path / "detail"
    path.write_text(text)
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    assert len(records) == 2
    bad_line = text.splitlines().index("\tAcct-Input-Octets = lots") + 1
    assert {
        "file": str(path),
        "line": bad_line,
        "reason": "unusable block: Acct-Input-Octets: 'lots' is not an integer",
    } in report.rejects
    assert report.reasons == {"unusable block": 1, "unreadable line": 1}


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("Mon Mar  2 01:00:00 2026", "Mon Feb 30 01:00:00 2026", "unreadable line: neither a date line"),
        ("Mar  2 2026 01:00:00 UTC", "Feb 30 2026 01:00:00 UTC", "unusable block: Event-Timestamp: 'Feb 30"),
        (
            '"Mar  2 2026 01:00:00 UTC"',
            "99999999999999",
            "unusable block: Event-Timestamp: 99999999999999 is out",
        ),
        (
            "= 54000",
            "= 999999999999999",
            "unusable block: Acct-Session-Time: 999999999999999 is out of range",
        ),
        (
            "= 1500",
            "= 99999999999999999999999",
            "unusable block: Acct-Input-Octets: 99999999999999999999999 is out",
        ),
        (  # 32 bits, but octets past 2^63: the Parquet writer's traceback
            "Acct-Output-Gigawords = 1",
            "Acct-Output-Gigawords = 2147483648",
            "unusable block: Acct-Output-Gigawords: 2147483648 is out of range (more than 2^31 - 1",
        ),
    ],
)
def test_detail_dates_and_integers_that_cannot_be_are_rejects_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, reason: str
) -> None:
    """A date line or Event-Timestamp shaped like a date but none (Feb 30), an integer beyond the 32 bits
    of a RADIUS integer: a block of a damaged or edited file. They stopped the command with a traceback
    (ValueError, OverflowError, or pyarrow's when writing --out)."""
    assert old in DETAIL
    path = tmp_path / "detail"
    path.write_text(DETAIL.replace(old, new, 1))
    out = tmp_path / "usage.parquet"
    assert main(["records-from-radius-detail", str(path), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 1 and summary["rejects"][0]["reason"].startswith(reason), summary["rejects"]


def test_detail_record_past_the_year_9999_is_a_reject_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Event-Timestamp written as a date has no 32-bit bound: a session started late in 9999 whose
    Interim-Update ends past the year 9999 stopped the command with OverflowError.  (Blocks without
    Timestamp: with it, an Event-Timestamp so far from it is a NAS clock that is wrong, and the request
    is dated when it was sent.)"""
    path = tmp_path / "detail"
    text = re.sub(r"\tTimestamp = \d+\n", "", DETAIL)
    path.write_text(text.replace('"Mar  1 2026 10:00:00 UTC"', '"Dec 31 9999 23:00:00 UTC"', 1))
    assert main(["records-from-radius-detail", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 0 and summary["reasons"] == {"malformed Accounting-Request": 4}
    assert summary["rejects"][0]["line"] == 19  # (the first Interim-Update's date line)
    assert "Acct-Session-Time 43200 from its start" in summary["rejects"][0]["reason"]
    assert "out of range (outside the years 1 to 9999)" in summary["rejects"][0]["reason"]


def test_osmo_cdr_counts_beyond_their_columns_range_are_rejects(tmp_path: Path) -> None:
    lines = CDR.splitlines()
    lines[3] = lines[3].replace(",pdp-periodic,600,", ",pdp-periodic,99999999999999,")
    lines[4] = lines[4].replace(",5000000000,9001", ",99999999999999999999999,9001")
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    list(records_from_osmo_cdr(path, report))
    assert [r["reason"] for r in report.rejects] == [
        "malformed row: pdp_duration 99999999999999: out of range (more than 32 bits)",
        "malformed row: vol_out 99999999999999999999999: out of range (more than 63 bits)",
    ]
    # 2^63 fits 64 bits, not a record's signed 64-bit octets (the Parquet writer's traceback)
    lines = CDR.splitlines()
    lines[4] = lines[4].replace(",5000000000,9001", f",{1 << 63},9001")
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "usage.parquet"
    assert main(["records-from-osmo-cdr", str(path), "--out", str(out)]) == 0
    assert pq.read_table(out).num_rows == 2


def test_osmo_cdr_row_of_a_field_past_the_csv_limit_is_a_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row holding a field longer than the csv module's limit (128 KiB: a damaged file, a line of
    NULs or of another writer): the command ended in a traceback (`_csv.Error: field larger than
    field limit`). It is a rejected row, listed, and the other rows are converted."""
    lines = CDR.splitlines()
    lines[3] = lines[3].replace(",hlr1,", ',"' + "x" * 200_000 + '",', 1)
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "usage.parquet"
    assert main(["records-from-osmo-cdr", str(path), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 1 and summary["rejects"][0]["line"] == 4
    assert summary["rejects"][0]["reason"].startswith("malformed row: field larger than field limit")
    assert summary["records"] == pq.read_table(out).num_rows == 2


def test_detail_folder_of_clients_and_days_is_merged_in_time_order(tmp_path: Path) -> None:
    blocks = DETAIL.split("\n\n")
    other = DETAIL.replace('"4f2a0001"', '"77aa0002"').replace("192.0.2.1", "192.0.2.2")
    (tmp_path / "radacct" / "192.0.2.1").mkdir(parents=True)
    (tmp_path / "radacct" / "192.0.2.2").mkdir(parents=True)
    (tmp_path / "radacct" / "192.0.2.1" / "detail-20260301").write_text("\n\n".join(blocks[:3]) + "\n\n")
    (tmp_path / "radacct" / "192.0.2.1" / "detail-20260302").write_text("\n\n".join(blocks[3:]))
    (tmp_path / "radacct" / "192.0.2.2" / "detail-20260301").write_text(other)
    report = LogReport()
    records = list(records_from_radius_detail(tmp_path / "radacct", report))
    assert len(records) == 6 and report.sessions == 2 and report.rejected == 0
    assert [r.start for r in records] == sorted(r.start for r in records)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02garbage", "binary data"),
        (b"\xff\xfe\x00", "binary data"),
        (b"caf\xe9\n", "not UTF-8"),
        (b"timestamp,imsi\n", "expected a date line"),
    ],
)
def test_unusable_detail_file_exits_2_naming_file_and_line(
    tmp_path: Path, content: bytes, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "detail"
    path.write_bytes(content)
    assert main(["records-from-radius-detail", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and needle in err[0]


def test_detail_cli_writes_records_and_refuses_its_input_as_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "detail"
    path.write_text(DETAIL)
    out = tmp_path / "usage.csv"
    assert main(["records-from-radius-detail", str(path), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 3 and summary["lines"] == 1 and summary["retransmissions"] == 1
    assert out.read_text().splitlines()[0].startswith('"line","type","start"')
    assert main(["records-from-radius-detail", str(path), "--out", str(path)]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert path.read_text() == DETAIL


# -- osmo-sgsn ------------------------------------------------------------------------------------


def test_osmo_cdr_gives_a_record_per_periodic_row_and_one_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "sgsn.cdr"
    path.write_text(CDR)
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report, serving_plmn="20801"))
    t0 = datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)
    assert rows(records) == [
        ("33612345678", "208011234567890-9001", t0, 600, 1200, 34000, "fr", 17, 1),
        (
            "33612345678",
            "208011234567890-9001",
            t0.replace(minute=10),
            600,
            300,
            5_000_000_000 - 34000,
            "fr",
            17,
            2,
        ),
        ("33612345678", "208011234567890-9001", t0.replace(minute=20), 300, 300, 100, "fr", 0, 3),
    ]
    assert (
        records[0].charging_id == 9001
        and records[0].apn == "m2m.example"
        and records[0].serving_plmn == "20801"
    )
    assert report.ignored == {"attach": 1, "detach": 1, "pdp-free after the context's end": 1}
    assert report.rejected == 0 and report.open_sessions == []


def test_osmo_cdr_apn_with_octets_that_are_no_utf8_leaves_the_file_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """osmo-sgsn writes the APN as the MS sent it in its activation (osmo_apn_to_str copies the labels'
    octets): a device configured with the APN 'm2m.caf\xe9' in Latin-1 put an octet that is no UTF-8 in
    its rows. The whole file was refused ('not UTF-8 text', exit 2), every record of the day lost; the
    APN is now `m2m.caf\xe9` as text, as the other readers read such octets, and the records are read."""
    path = tmp_path / "sgsn.cdr"
    path.write_bytes(CDR.encode().replace(b"m2m.example", b"m2m.caf\xe9"))
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    assert [(r.apn, r.bytes_up) for r in records] == [
        ("m2m.caf\\xe9", 1200),
        ("m2m.caf\\xe9", 300),
        ("m2m.caf\\xe9", 300),
    ]
    assert report.rejected == 0
    assert main(["records-from-osmo-cdr", str(path), "--out", str(tmp_path / "u.csv")]) == 0
    assert "m2m.caf\\xe9" in (tmp_path / "u.csv").read_text()


def test_osmo_cdr_international_msisdn_names_the_line_by_its_digits(tmp_path: Path) -> None:
    """osmo-sgsn writes an MSISDN of international type and E.164 plan, as an HLR gives it, with a '+'
    (sgsn's extract_subscr_msisdn): the line is its digits, as a RADIUS log's Calling-Station-Id names
    the same device. The records were line '+33612345678', a line the inventory (and the detail file
    of the same traffic) names 33612345678."""
    path = tmp_path / "sgsn.cdr"
    path.write_text(CDR.replace(",33612345678,", ",+33612345678,"))
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    assert [r.line for r in records] == ["33612345678"] * 3 and report.rejected == 0
    detail = tmp_path / "detail-20260301"
    detail.write_text(DETAIL)
    assert {r.line for r in records_from_radius_detail(detail)} == {records[0].line}


def test_osmo_cdr_rows_after_pdp_terminate_without_a_subscriber_are_not_rejects(tmp_path: Path) -> None:
    """osmo-sgsn's pdp-terminate parts the context from its MM context before the GGSN confirms the
    delete: the pdp-deact and pdp-free rows that follow carry IMSI, IMEI and MSISDN `N/A`. They were
    rejected as malformed, two rejects per abnormal release; they repeat the ended context."""
    lines = CDR.splitlines()[:4]
    lines.append(
        lines[3]
        .replace("pdp-periodic,600,", "pdp-terminate,900,")
        .replace("20260301101001", "20260301101501")
    )
    for event, ms in (("pdp-deact", "002"), ("pdp-free", "003")):
        lines.append(
            f"20260301101501{ms},N/A,N/A,N/A,-1,-1,N/A,{event},900,192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,"
            "1200,34000,9001"
        )
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    assert [(r.duration_s, r.bytes_up, r.bytes_down, r.cause) for r in records] == [
        (600, 1200, 34000, 17),
        (300, 0, 0, 4),
    ]
    assert report.rejected == 0 and report.open_sessions == []
    assert report.ignored == {
        "attach": 1,
        "pdp-deact after the context's end": 1,
        "pdp-free after the context's end": 1,
    }


def test_osmo_cdr_folder_rotated_by_logrotate_is_read_in_time_order(tmp_path: Path) -> None:
    """logrotate leaves the older rows in `sgsn.cdr.1` beside the current `sgsn.cdr`, which sorts first
    by name: the context's act and first periodic rows were read after the later ones (joined mid-way,
    1,200 and 34,000 octets lost, the context left open). Rows are merged by their timestamps."""
    lines = CDR.splitlines()
    folder = tmp_path / "cdr"
    folder.mkdir()
    (folder / "sgsn.cdr.1").write_text("\n".join(lines[:4]) + "\n")
    (folder / "sgsn.cdr").write_text("\n".join([lines[0], *lines[4:]]) + "\n")
    (tmp_path / "whole.cdr").write_text(CDR)
    want = rows(list(records_from_osmo_cdr(tmp_path / "whole.cdr", LogReport())))
    report = LogReport()
    assert rows(list(records_from_osmo_cdr(folder, report))) == want and len(want) == 3
    assert report.joined == [] and report.open_sessions == [] and report.rejected == 0


def test_osmo_cdr_without_serving_plmn_is_zone_fr(tmp_path: Path) -> None:
    """Without --serving-plmn the records have no serving network and zone fr, as documented (they
    were zone world: a lab's traffic rated as roaming outside Europe)."""
    path = tmp_path / "sgsn.cdr"
    path.write_text(CDR)
    records = list(records_from_osmo_cdr(path, LogReport()))
    assert {(r.serving_plmn, r.zone.value) for r in records} == {(None, "fr")} and len(records) == 3


def test_osmo_cdr_context_deleted_by_the_ggsn_ends_at_its_pdp_free_row(tmp_path: Path) -> None:
    """The GGSN deletes the context (Delete PDP Context Request): osmo-sgsn drops its GTP side, then
    frees it once the MS acknowledges; that last row has no ggsn_addr, sgsn_addr, apni nor eua_addr.
    It was a Stop of a session never seen (another GGSN), the context left open and the octets since
    its last periodic row lost."""
    lines = CDR.splitlines()[:4]
    lines.append(
        "20260301101501000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-free,900,,,,,"
        "1300,35000,9001"
    )
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    assert [(r.duration_s, r.bytes_up, r.bytes_down, r.cause, r.apn) for r in records] == [
        (600, 1200, 34000, 17, "m2m.example"),
        (300, 100, 1000, 4, "m2m.example"),
    ]
    assert report.rejected == 0 and report.open_sessions == []


def test_osmo_cdr_charging_id_reused_by_the_next_context_that_ends_alike(tmp_path: Path) -> None:
    """osmo-ggsn's charging id is its first free context slot: one device's contexts all get charging
    id 1. A second context that ended with the volumes the first had ended with (none: an idle
    context) had its pdp-deact taken for the first's repeated end: it was never closed, and the
    third context was a duplicate Start dated from the second's activation."""

    def row(ts: str, event: str, duration: int, vin: int, vout: int) -> str:
        return (
            f"2026030{ts},208011234567890,3520990012345601,33612345678,1234,10,,{event},{duration},"
            f"192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,{vin},{vout},1"
        )

    lines = [HEADER]
    for hour, end in (("10", 60), ("11", 120)):
        lines += [
            row(f"1{hour}0000000", "pdp-act", 0, 0, 0),
            row(f"1{hour}0{end // 60}00000", "pdp-deact", end, 0, 0),
        ]
        lines.append(row(f"1{hour}0{end // 60}00002", "pdp-free", end, 0, 0))
    lines += [row("1120000000", "pdp-act", 0, 0, 0), row("1121000000", "pdp-periodic", 600, 500, 700)]
    lines += [row("1121500000", "pdp-deact", 900, 800, 900), row("1121500002", "pdp-free", 900, 800, 900)]
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    t0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert [(r.start, r.duration_s, r.bytes_up, r.cause, r.sequence) for r in records] == [
        (t0, 60, 0, 0, 1),
        (t0.replace(hour=11), 120, 0, 0, 1),
        (t0.replace(hour=12), 600, 500, 17, 1),
        (t0.replace(hour=12, minute=10), 300, 300, 0, 2),
    ]
    assert report.rejected == 0 and report.open_sessions == []
    assert report.ignored == {"pdp-free after the context's end": 3}


def test_osmo_cdr_context_left_open_by_a_restart_is_not_merged_with_the_next(tmp_path: Path) -> None:
    """The lab restarts (osmo-sgsn and osmo-ggsn): the open context gets no closing row, and the
    device's next context has its session id (osmo-ggsn numbers charging ids from 1 again). That
    pdp-act was a duplicate Start and the new context's volumes were taken as the old one's: refused
    as going backwards, then billed as deltas from the old counters (50,000 octets up lost)."""
    lines = [HEADER]
    for ts, event, duration, vin, vout in (
        ("1000", "pdp-act", 0, 0, 0),
        ("1010", "pdp-periodic", 600, 50_000, 70_000),
        ("1100", "pdp-act", 0, 0, 0),
        ("1110", "pdp-periodic", 600, 1_000, 2_000),
        ("1120", "pdp-periodic", 1_200, 60_000, 90_000),
        ("1125", "pdp-deact", 1_500, 61_000, 91_000),
    ):
        lines.append(
            f"20260301{ts}00000,208011234567890,3520990012345601,33612345678,1234,10,,{event},{duration},"
            f"192.0.2.1,192.0.2.50,m2m.example,10.0.0.7,{vin},{vout},1"
        )
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    t0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert [(r.start, r.bytes_up, r.bytes_down, r.sequence) for r in records] == [
        (t0, 50_000, 70_000, 1),
        (t0.replace(hour=11), 1_000, 2_000, 1),
        (t0.replace(hour=11, minute=10), 59_000, 88_000, 2),
        (t0.replace(hour=11, minute=20), 1_000, 1_000, 3),
    ]
    assert report.rejected == 0 and report.open_sessions == ["208011234567890-1"]  # the first, unended


def _compressed(raw: bytes, codec: str) -> bytes:
    import gzip

    import pyarrow as pa

    return gzip.compress(raw) if codec == "gzip" else pa.Codec("zstd").compress(raw, asbytes=True)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_logs_rotated_and_compressed_give_the_records_of_the_plain_ones(
    tmp_path: Path, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A detail file or CDR file compressed by logrotate (gzip, or zstd), whatever its name, in a
    folder beside plain ones: the records of the plain files (it was refused as binary data).
    One cut short before a first whole line is refused, naming it, and nothing is written."""
    blocks = DETAIL.split("\n\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "detail-20260301").write_text("\n\n".join(blocks[:3]) + "\n\n")
    (plain / "detail").write_text("\n\n".join(blocks[3:]))
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    packed = _compressed(("\n\n".join(blocks[:3]) + "\n\n").encode(), codec)
    (rotated / "detail-20260301.1").write_bytes(packed)  # (no name to say it: its bytes do)
    (rotated / "detail").write_text("\n\n".join(blocks[3:]))
    want = rows(list(records_from_radius_detail(plain, LogReport())))
    assert rows(list(records_from_radius_detail(rotated, LogReport()))) == want and len(want) == 3
    cdr = tmp_path / "sgsn.cdr.1"
    cdr.write_bytes(_compressed(CDR.encode(), codec))
    (tmp_path / "sgsn.cdr").write_text(CDR)
    assert rows(list(records_from_osmo_cdr(cdr, LogReport(), serving_plmn="20801"))) == rows(
        list(records_from_osmo_cdr(tmp_path / "sgsn.cdr", LogReport(), serving_plmn="20801"))
    )
    (rotated / "detail-20260301.1").write_bytes(packed[:12])  # (cut later: read up to the cut, below)
    out = tmp_path / "out.csv"
    assert main(["records-from-radius-detail", str(rotated), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{rotated / 'detail-20260301.1'}: its {codec} data are cut short before a first whole line" in err
    assert not out.exists()


def test_osmo_cdr_bad_rows_are_rejects_with_their_line(tmp_path: Path) -> None:
    lines = CDR.splitlines()
    lines[3] = lines[3].replace(",1200,34000,", ",1200,-5,")
    lines.insert(5, "20260301,short,row")
    path = tmp_path / "sgsn.cdr"
    path.write_text("\n".join(lines) + "\n")
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    assert report.reasons == {"malformed row": 2}
    assert [r["line"] for r in report.rejects] == [4, 6]
    assert "vol_out '-5'" in str(report.rejects[0]["reason"])
    assert len(records) == 2  # the rows after the bad one still give records


def test_osmo_cdr_cli_refuses_a_file_without_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("line,type,start\n")
    assert main(["records-from-osmo-cdr", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:1: not an osmo-sgsn CDR file" in err and "\n" not in err
    good = tmp_path / "sgsn.cdr"
    good.write_text(CDR)
    assert main(["records-from-osmo-cdr", str(good), "--serving-plmn", "2080"]) == 2
    capsys.readouterr()
    assert main(["records-from-osmo-cdr", str(good), "--serving-plmn", "99901"]) == 2  # MCC 999: unassigned
    err = capsys.readouterr().err
    assert "--serving-plmn '99901': MCC 999 of '99901' is not an assigned mobile country code" in err
    assert err.count("\n") == 1
    assert main(["records-from-osmo-cdr", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 3


@pytest.mark.parametrize(
    "case", ["detail-off-only", "detail-rejected", "cdr-mm-only", "cdr-rejected", "two-files"]
)
def test_logs_without_a_usable_entry_say_so_and_exit_1(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No accounting entry of the logs could be used (none there, every one rejected): one warning
    line on stderr naming the files and why, the summary's `warning`, the output written (empty) and
    exit 1, as records-from-pcap does. It was an empty output and exit 0 without a word."""
    blocks = DETAIL.split("\n\n")
    lines = CDR.splitlines()
    command, files = "records-from-radius-detail", [tmp_path / "detail"]
    if case == "detail-off-only":  # (a client's restart alone)
        files[0].write_text(blocks[5] + "\n\n")
        why = "none there, only entries without usage (1 Accounting-Off)"
    elif case == "detail-rejected":  # the log began after the session's Interim-Updates: a Stop alone
        files[0].write_text(blocks[4] + "\n\n")
        why = f"1 entries rejected, 1 as Stop of a session never seen before ({files[0]}:1: '4f2a0001': no Start"
    elif case == "two-files":
        files.append(tmp_path / "detail-2")
        files[0].write_text(blocks[5] + "\n\n")
        files[1].write_text(blocks[4] + "\n\n")
        why = f"1 entries rejected, 1 as Stop of a session never seen before ({files[1]}:1: "
    else:
        command, files = "records-from-osmo-cdr", [tmp_path / "sgsn.cdr"]
        if case == "cdr-mm-only":
            files[0].write_text("\n".join([lines[0], lines[1], lines[7]]) + "\n")
            why = "none there, only entries without usage (1 attach, 1 detach)"
        else:
            files[0].write_text("\n".join([lines[0], lines[2].replace(",0,0,9001", ",0,-1,9001")]) + "\n")
            why = f"1 entries rejected, 1 as malformed row ({files[0]}:2: vol_out '-1': expected a whole number)"
    out = tmp_path / "usage.csv"
    argv = [command, *map(str, files), "--out", str(out)]
    assert main([*argv, "--json"]) == 1
    captured = capsys.readouterr()
    names = ", ".join(map(str, files))
    line = captured.err.strip()
    assert "\n" not in line and line.startswith(
        f"m2msim {command}: warning: {names}: no usable accounting entry, no records: "
    )
    assert why in line, line
    summary = json.loads(captured.out)
    assert summary["warning"] == line.removeprefix(f"m2msim {command}: warning: ")
    assert out.read_text().count("\n") == 1  # the header: written, empty
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == line and f"  warning: {summary['warning']}\n" in captured.out
    # a log with a usable entry says nothing
    files[0].write_text(DETAIL if command == "records-from-radius-detail" else CDR)
    assert main([command, str(files[0]), "--json"]) == 0 and capsys.readouterr().err == ""


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
@pytest.mark.parametrize("log", ["detail", "cdr"])
def test_a_compressed_log_cut_short_is_read_up_to_its_last_whole_line(
    tmp_path: Path, codec: str, log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log rotated and compressed, cut short (a copy that stopped, a disk that filled up): read up
    to the last whole line its data give (gzip's every octet, zstd's up to its last whole block), a
    part of a line after it no entry, a detail block the cut may end within a reject, one warning
    line naming the file and the last whole line, `cut_short` in the summary. It was refused (exit
    2), nothing written: the records of every entry before the cut lost."""
    import gzip

    import pyarrow as pa

    raw = (DETAIL if log == "detail" else CDR).encode()
    if codec == "gzip":
        packed = gzip.compress(raw)
        cut = len(packed) - (100 if log == "detail" else 35)
        given = zlib.decompressobj(31).decompress(packed[:cut])  # all the octets the cut data give
    else:  # two frames, cut within the second: the first's octets
        half = len(raw) // 2 if log == "detail" else raw.index(b"pdp-deact") + 20
        first = pa.Codec("zstd").compress(raw[:half], asbytes=True)
        packed = first + pa.Codec("zstd").compress(raw[half:], asbytes=True)
        cut, given = len(first) + 40, raw[:half]
    assert not given.endswith(b"\n")  # (cut within a line)
    lines = given.count(b"\n")
    path = tmp_path / ("detail-20260301.1" if log == "detail" else "sgsn.cdr.1")
    path.write_bytes(packed[:cut])
    plain = tmp_path / "plain"  # the entries that end before the cut
    plain.write_bytes(
        given[: given.rindex(b"\n\n") + 2] if log == "detail" else given[: given.rindex(b"\n") + 1]
    )
    if log == "detail":
        command = "records-from-radius-detail"
        want = rows(list(records_from_radius_detail(plain, LogReport())))
        got = rows(list(records_from_radius_detail(path, report := LogReport())))
        assert report.reasons == {"block cut short": 1}  # the block the cut ends within
    else:
        command = "records-from-osmo-cdr"
        want = rows(list(records_from_osmo_cdr(plain, LogReport())))
        got = rows(list(records_from_osmo_cdr(path, report := LogReport())))
        assert report.rejected == 0
    assert got == want and want
    out = tmp_path / "usage.csv"
    assert main([command, str(path), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["records"] == len(want) and len(out.read_text().splitlines()) == len(want) + 1
    assert (
        summary["cut_short"]
        == report.cut_short
        == [
            {
                "file": str(path),
                "lines": lines,
                "compression": codec,
                "reason": f"{path}: its {codec} data are cut short after line {lines}",
            }
        ]
    )
    assert captured.err == (
        f"m2msim {command}: warning: {path}: its {codec} data are cut short after line {lines}: read up to "
        f"there, its records are complete only up to line {lines} (a copy that stopped, or a disk that "
        "filled up?)\n"
    )


def test_a_folder_of_more_logs_than_open_files_allowed_is_read(tmp_path: Path) -> None:
    """A radacct folder of many clients' daily detail files (40 clients: 1,200 a month), plain and
    compressed: every file merged by time is open at once, and past the soft limit of open files
    (1,024 by default) the run stopped, "cannot be read (Too many open files)". The soft limit is
    raised up to the hard one; read here with a soft limit of 64 and 80 files."""
    import gzip

    radacct = tmp_path / "radacct"
    for client in range(8):
        folder = radacct / f"192.0.2.{client + 1}"
        folder.mkdir(parents=True)
        for day in range(1, 11):
            text = DETAIL.replace('"4f2a0001"', f'"s{client}-{day}"').replace(
                "192.0.2.1", f"192.0.2.{client + 1}"
            )
            path = folder / f"detail-202603{day:02d}"
            if day % 2:
                path.write_bytes(gzip.compress(text.encode()))
            else:
                path.write_text(text)
    script = (
        "import resource, sys\n"
        "from m2msim.cli import main\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["records-from-radius-detail", str(radacct), "--json"]
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["records"] == 3 * 80 and summary["sessions"] == 80 and len(summary["files"]) == 80


@pytest.mark.parametrize("end", ["within-a-number", "before-gigawords", "after-timestamp"])
def test_a_detail_file_still_being_written_bills_no_part_of_a_block(tmp_path: Path, end: str) -> None:
    """The day's detail file read while FreeRADIUS writes it (or a copy that stopped) ends within
    its last block: an Acct-Output-Octets of 6100 cut to 61, its Gigawords not written yet, was
    read as a Stop whose counter went down, taken for a 32-bit wrap: 4 GiB billed that were never
    used, without a word; a Stop cut before its Acct-Terminate-Cause closed its record with cause 4
    (abnormal), not 0. Such a block is a reject ('block cut short') and its session left open; one
    that ends with the Timestamp the server writes last is whole, its blank line not written yet."""
    if end == "within-a-number":
        cut = DETAIL.index("Acct-Output-Octets = 6100") + len("Acct-Output-Octets = 61")
    elif end == "before-gigawords":
        cut = DETAIL.index("\tAcct-Input-Gigawords = 0\n\tAcct-Output-Gigawords = 1\n\tAcct-Terminate")
    else:
        cut = DETAIL.index("\tTimestamp = 1772416800\n") + len("\tTimestamp = 1772416800\n")
    path = tmp_path / "detail-20260302"
    path.write_text(DETAIL[:cut])
    report = LogReport()
    records = list(records_from_radius_detail(path, report))
    (tmp_path / "whole").write_text(DETAIL)
    whole = rows(list(records_from_radius_detail(tmp_path / "whole", LogReport())))
    if end == "after-timestamp":  # the Stop whole
        assert rows(records) == whole[:3] and report.rejected == 0
        return
    assert rows(records) == whole[:2] and report.counter_wraps == 0
    assert report.reasons == {"block cut short": 1} and report.rejects[0]["line"] == 66
    assert report.open_sessions == ["4f2a0001"]


@pytest.mark.parametrize(("row", "cut"), [(4, -3), (5, -3)])
def test_an_osmo_cdr_file_still_being_written_uses_no_part_of_a_row(
    tmp_path: Path, row: int, cut: int
) -> None:
    """A CDR file read while osmo-sgsn writes it ends within its last row: a pdp-periodic row whose
    charging id 9001 was cut to 90 opened a session of its own, joined mid-way and left open; a
    pdp-deact cut alike was a Stop of a session never seen. The row is a reject that says so."""
    lines = CDR.splitlines(keepends=True)
    path = tmp_path / "sgsn.cdr"
    path.write_text("".join(lines[:row]) + lines[row][:cut])
    report = LogReport()
    records = list(records_from_osmo_cdr(path, report))
    path.write_text("".join(lines[:row]))
    assert rows(records) == rows(list(records_from_osmo_cdr(path, LogReport())))
    assert report.joined == [] and report.open_sessions == ["208011234567890-9001"]
    assert report.reasons == {"row cut short": 1} and report.rejects[0]["line"] == row + 1
    assert str(report.rejects[0]["reason"]).startswith("row cut short: the file ends within it (")


@pytest.mark.parametrize("log", ["detail", "cdr"])
def test_a_log_emptied_while_it_is_read_is_refused_by_name(
    tmp_path: Path, log: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log emptied while it is read (logrotate's copytruncate copies the day's file, then empties
    it under the reader): the reading stopped at the end of what it had buffered, the records after
    it lost without a word. Now one line naming the file, exit 2, nothing written."""
    import gateway.logs.common as common

    blocks = DETAIL.split("\n\n")
    if log == "detail":
        command, module = "records-from-radius-detail", "gateway.logs.radius_detail"
        text = "".join("\n\n".join(blocks[:5]).replace('"4f2a0001"', f'"s{k}"') + "\n\n" for k in range(30))
    else:
        command, module = "records-from-osmo-cdr", "gateway.logs.osmo_cdr"
        rows_ = CDR.splitlines()
        text = (
            rows_[0]
            + "\n"
            + "".join(
                "\n".join(r.replace(",9001", f",{9001 + k}") for r in rows_[1:]) + "\n" for k in range(60)
            )
        )
    path = tmp_path / "live.log"
    path.write_text(text)
    assert len(text) > 4 * 8192  # (more than the reading buffers at once)
    reading = common.text_lines

    def emptied(p: Path, report: LogReport, **kw: bool) -> object:
        for n, item in enumerate(reading(p, report, **kw), 1):
            if n == 2:
                p.write_bytes(b"")  # (truncated in place, as copytruncate does)
            yield item

    monkeypatch.setattr(f"{module}.text_lines", emptied)
    out = tmp_path / "usage.csv"
    assert main([command, str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"m2msim {command}: {path}: changed while it was read ({len(text)} bytes when opened, 0 now"
    )
    assert err.endswith("(nothing written)\n") and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    ("command", "text"), [("records-from-radius-detail", DETAIL), ("records-from-osmo-cdr", CDR)]
)
def test_a_log_given_twice_is_read_once_and_the_repeat_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, text: str
) -> None:
    """A log given again (in a folder given and by its name, by a link, or the same name twice) was
    read again: its records right (its entries taken as repeats) but every entry counted twice in
    the summary. Each file is read once, under the first name given; each repeat is listed."""
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "log-20260301"
    path.write_text(text)
    (tmp_path / "link").symlink_to(path)
    assert main([command, str(path), "--json"]) in (0, 1)
    once = json.loads(capsys.readouterr().out)
    argv = [command, str(folder), str(path), str(tmp_path / "link"), str(path)]
    assert main([*argv, "--json"]) in (0, 1)
    summary = json.loads(capsys.readouterr().out)
    assert summary["entries"] == once["entries"] > 0 and summary["records"] == once["records"]
    assert summary["retransmissions"] == once["retransmissions"] and summary["files"] == [str(path)]
    assert summary["skipped_reasons"] == {
        str(path): f"given twice: read once, from {path}",
        str(tmp_path / "link"): f"the same file as {path}: read once, from {path}",
    }
    main(argv)
    assert f"  skipped {tmp_path / 'link'}: the same file as {path}" in capsys.readouterr().out
