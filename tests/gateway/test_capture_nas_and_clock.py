"""Accounting readers (records-from-pcap, records-from-radius-detail) on what real NASes send: a NAS
named by NAS-Identifier alone, a session joined at an Interim-Update without Acct-Session-Time, a Start
re-sent after an Interim-Update, a NAS whose clock is wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from handmade_pcap import SECRET, acct, attr, ethernet, ipv4, request, response, u32, udp, write_pcap

import gateway.acct_sessions
from accounting.records import UsageRecord
from gateway.capture import ReadReport, records_from_pcap
from gateway.logs import LogReport, records_from_radius_detail
from m2msim.cli import main

T0 = 1_772_360_000  # 2026-03-01 10:13:20 UTC
GGSN, AAA = "192.0.2.1", "192.0.2.10"
NAS_ID = attr(32, b"ggsn-paris-1")


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def capture(tmp_path: Path, msgs: list[bytes], times: list[int]) -> Path:
    """Each request at its time (seconds after T0) and its response 1 ms later, over Ethernet/IPv4."""
    frames = []
    for msg, t in zip(msgs, times, strict=True):
        frames.append(((T0 + t) * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg)))))
        answer = response(msg)
        frames.append(((T0 + t) * 1_000_000 + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, answer)))))
    return write_pcap(tmp_path / "c.pcap", 1, frames)


def read(path: Path) -> tuple[list[UsageRecord], ReadReport]:
    report = ReadReport()
    return list(records_from_pcap(path, SECRET, report)), report


def spans(records: list[UsageRecord]) -> list[tuple[object, ...]]:
    return [(r.session, r.start, r.duration_s, r.bytes_up, r.bytes_down, r.sequence) for r in records]


# -- 1. Accounting-On/Off naming the NAS by NAS-Identifier alone -----------------------------------------


def test_accounting_on_by_nas_identifier_ends_the_sessions_keyed_by_nas_ip_address(tmp_path: Path) -> None:
    """The GGSN's requests carry NAS-IP-Address and NAS-Identifier; after a restart its Accounting-On
    names it by NAS-Identifier alone (RFC 2865 5.32, RFC 2866 5.1: either identifies the NAS). It ended
    nothing: the new session's Start reusing the id was a 'duplicate Start', its Stop billed as the old
    session's (dated from the old Start, 200 s early), and the other session was never listed as ended
    without a Stop. Both sessions opened before it end; the new one is billed from its own Start."""
    on = request(3, attr(40, u32(7)) + NAS_ID + attr(55, u32(T0 + 100)))
    msgs = [
        request(1, acct(1, "sess-1", event=T0) + NAS_ID),
        request(2, acct(1, "sess-2", event=T0 + 10) + NAS_ID),
        on,
        request(4, acct(1, "sess-1", event=T0 + 200) + NAS_ID),
        request(5, acct(2, "sess-1", event=T0 + 500, st=300, octets=(1_000, 2_000), terminate=1) + NAS_ID),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 10, 100, 200, 500]))
    assert spans(records) == [("sess-1", at(200), 300, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.sessions == 3
    assert report.open_sessions == ["sess-1", "sess-2"]  # the two ended by the restart, without a Stop


def test_accounting_off_by_nas_ip_address_ends_the_sessions_keyed_by_nas_identifier(tmp_path: Path) -> None:
    """The other way round: sessions whose requests carried NAS-Identifier only (keyed by it), and an
    Accounting-Off that carries NAS-IP-Address and NAS-Identifier: the NAS's sessions end."""
    no_ip = attr(4, bytes((192, 0, 2, 1)))
    off = request(3, attr(40, u32(8)) + no_ip + NAS_ID + attr(55, u32(T0 + 100)))
    msgs = [
        request(1, acct(1, "sess-1", event=T0).replace(no_ip, b"") + NAS_ID),
        off,
        request(4, acct(1, "sess-1", event=T0 + 200).replace(no_ip, b"") + NAS_ID),
        request(
            5,
            acct(2, "sess-1", event=T0 + 500, st=300, octets=(1_000, 2_000), terminate=1).replace(no_ip, b"")
            + NAS_ID,
        ),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 100, 200, 500]))
    assert spans(records) == [("sess-1", at(200), 300, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.open_sessions == ["sess-1"]


def detail_block(
    when: datetime, status: str, session: str | None = None, *, nas_ip: bool = True, **more: int
) -> str:
    """A block as FreeRADIUS's rlm_detail writes it."""
    lines = [when.strftime("%a %b %e %H:%M:%S %Y"), f"\tAcct-Status-Type = {status}"]
    if session is not None:
        lines.append(f'\tAcct-Session-Id = "{session}"')
    if nas_ip:
        lines.append("\tNAS-IP-Address = 192.0.2.1")
    lines.append('\tNAS-Identifier = "ggsn-paris-1"')
    if session is not None:
        lines.append('\tCalling-Station-Id = "33612345678"')
    names = {"st": "Acct-Session-Time", "up": "Acct-Input-Octets", "down": "Acct-Output-Octets"}
    names |= {"delay": "Acct-Delay-Time"}
    lines += [f"\t{names[k]} = {v}" for k, v in more.items() if k in names]
    if status == "Stop":
        lines.append("\tAcct-Terminate-Cause = User-Request")
    event = more.get("event")
    if event is not None:
        lines.append(f"\tEvent-Timestamp = {event}")
    lines.append(f"\tTimestamp = {int(when.timestamp())}")
    return "\n".join(lines) + "\n\n"


def read_detail(tmp_path: Path, blocks: list[str]) -> tuple[list[UsageRecord], LogReport]:
    path = tmp_path / "detail-20260301"
    path.write_text("".join(blocks))
    report = LogReport()
    return list(records_from_radius_detail(path, report)), report


def test_detail_accounting_on_by_nas_identifier_ends_the_sessions_keyed_by_nas_ip_address(
    tmp_path: Path,
) -> None:
    blocks = [
        detail_block(at(0), "Start", "sess-1", event=T0),
        detail_block(at(100), "Accounting-On", nas_ip=False, event=T0 + 100),
        detail_block(at(200), "Start", "sess-1", event=T0 + 200),
        detail_block(at(500), "Stop", "sess-1", event=T0 + 500, st=300, up=1_000, down=2_000),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(200), 300, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.open_sessions == ["sess-1"]


# -- 2. A session joined at an Interim-Update without Acct-Session-Time -----------------------------------


def strip_event(attributes: bytes, event: int) -> bytes:
    return attributes.replace(attr(55, u32(event)), b"")


@pytest.mark.parametrize("event_timestamp", [True, False])
def test_a_session_joined_at_an_interim_without_acct_session_time_is_billed_from_it(
    tmp_path: Path, event_timestamp: bool
) -> None:
    """The capture began mid-session, and the client sends Acct-Session-Time in its Stop only (RFC 2866
    5.7). Every request of the session was a reject, 'missing Acct-Session-Time', then its Stop 'of a
    session never seen before': nothing billed. The Interim is the baseline, dated by its event
    (Event-Timestamp, else when it was sent: capture time less Acct-Delay-Time, here re-sent 20 s late),
    and each later request's time from its own event; its start unknown, no time before it is said."""

    def req(ident: int, status: int, event: int, **kw: object) -> bytes:
        attributes = acct(status, event=event, **kw)  # type: ignore[arg-type]
        return request(ident, attributes if event_timestamp else strip_event(attributes, event))

    msgs = [
        req(2, 3, T0 + 600, octets=(100, 200), delay=20),
        req(3, 3, T0 + 1_200, octets=(160, 260)),
        req(4, 3, T0 + 1_200, octets=(160, 260), delay=3),  # re-sent
        req(5, 2, T0 + 1_500, st=1_500, octets=(170, 300), terminate=1),
    ]
    records, report = read(capture(tmp_path, msgs, [620, 1_200, 1_203, 1_500]))
    assert spans(records) == [
        ("sess-1", at(600), 600, 60, 60, None),
        ("sess-1", at(1_200), 300, 10, 40, None),
    ]
    assert report.rejected == 0 and report.retransmissions == 1 and report.open_sessions == []
    assert report.joined == [
        {
            "session": "sess-1",
            "at": 1,
            "session_time_s": None,
            "bytes_up_before": 100,
            "bytes_down_before": 200,
        }
    ]


def test_a_stop_waiting_for_a_late_interim_without_acct_session_time_is_billed_from_it(
    tmp_path: Path,
) -> None:
    """The capture began at a Stop; the session's Interim-Update, without Acct-Session-Time, re-sent late,
    delimits its record (the Stop's was refused as of a session never seen before)."""
    msgs = [
        request(4, acct(2, event=T0 + 1_500, st=1_500, octets=(170, 300), terminate=1)),
        request(2, acct(3, event=T0 + 1_200, octets=(160, 260), delay=310)),
    ]
    records, report = read(capture(tmp_path, msgs, [1_500, 1_510]))
    assert spans(records) == [("sess-1", at(1_200), 300, 10, 40, None)]
    assert report.rejected == 0 and len(report.joined) == 1


def test_detail_session_joined_at_an_interim_without_acct_session_time_is_billed_from_it(
    tmp_path: Path,
) -> None:
    blocks = [
        detail_block(at(600), "Interim-Update", "sess-1", event=T0 + 600, up=100, down=200),
        detail_block(at(1_200), "Interim-Update", "sess-1", event=T0 + 1_200, up=160, down=260),
        detail_block(at(1_500), "Stop", "sess-1", event=T0 + 1_500, st=1_500, up=170, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [
        ("sess-1", at(600), 600, 60, 60, None),
        ("sess-1", at(1_200), 300, 10, 40, None),
    ]
    assert report.rejected == 0 and report.joined[0]["session_time_s"] is None


# -- 3. A Start re-sent after an Interim-Update ------------------------------------------------------------


@pytest.mark.parametrize("event_timestamp", [True, False])
@pytest.mark.parametrize("after", ["interim", "stop"])
def test_a_start_re_sent_after_the_interim_a_session_was_joined_at_is_a_retransmission(
    tmp_path: Path, after: str, event_timestamp: bool
) -> None:
    """The capture began after the session's Start, whose copy the client re-sent late (RFC 2866 5.2,
    Acct-Delay-Time 605 s: unanswered, or queued) after the Interim-Update the session was joined at, or
    after its Stop. It was a 'duplicate Start' (after the Stop: a new session, listed without a Stop).
    It is a retransmission; it says where the session began, with no octets, so the Interim's octets
    and time before it are billed (the record from the Start, cause 17) and the session is no longer
    one whose beginning goes unbilled."""

    def req(ident: int, status: int, event: int, **kw: object) -> bytes:
        attributes = acct(status, event=event, **kw)  # type: ignore[arg-type]
        return request(ident, attributes if event_timestamp else strip_event(attributes, event))

    interim = req(2, 3, T0 + 600, st=600, octets=(100, 200))
    stop = req(3, 2, T0 + 900, st=900, octets=(150, 300), terminate=1)
    resent = req(9, 1, T0, delay=605 if after == "interim" else 905)
    msgs = [interim, resent, stop] if after == "interim" else [interim, stop, resent]
    times = [600, 605, 900] if after == "interim" else [600, 900, 905]
    records, report = read(capture(tmp_path, msgs, times))
    assert sorted(spans(records), key=lambda r: r[1]) == [  # type: ignore[arg-type,return-value]
        ("sess-1", at(0), 600, 100, 200, None),
        ("sess-1", at(600), 300, 50, 100, None),
    ]
    assert report.rejected == 0 and report.retransmissions == 1
    assert report.sessions == 1 and report.open_sessions == [] and report.joined == []


@pytest.mark.parametrize("copy", ["identical", "delay grown"])
def test_a_start_re_sent_after_an_interim_is_a_retransmission_billed_once(tmp_path: Path, copy: str) -> None:
    """The Start seen, then its copy after the Interim-Update (another Identifier; Acct-Delay-Time as
    it was, or grown): a retransmission, never a new session or a duplicate Start."""
    start = acct(1, event=T0)
    msgs = [
        request(1, start),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200))),
        request(7, start if copy == "identical" else acct(1, event=T0, delay=605)),
        request(3, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 605, 900]))
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1 and report.sessions == 1


def test_detail_start_written_after_the_interim_a_session_was_joined_at_is_a_retransmission(
    tmp_path: Path,
) -> None:
    blocks = [
        detail_block(at(600), "Interim-Update", "sess-1", event=T0 + 600, st=600, up=100, down=200),
        detail_block(at(605), "Start", "sess-1", event=T0, delay=605),
        detail_block(at(900), "Stop", "sess-1", event=T0 + 900, st=900, up=150, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, None),
        ("sess-1", at(600), 300, 50, 100, None),
    ]
    assert report.rejected == 0 and report.retransmissions == 1 and report.joined == []


# -- 4. A NAS whose clock is wrong ------------------------------------------------------------------------

TSHARK = shutil.which("tshark")


def tshark_times(path: Path) -> list[tuple[int, int, int]]:
    """(capture time, Event-Timestamp, Acct-Delay-Time) of each Accounting-Request, as tshark reads them."""
    fields = ["frame.time_epoch", "radius.Event_Timestamp", "radius.Acct_Delay_Time"]
    out = subprocess.run(
        [TSHARK or "tshark", "-n", "-r", str(path), "-Y", "radius.code == 4", "-T", "fields"]
        + [arg for field in fields for arg in ("-e", field)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        when, event, delay = line.split("\t")
        date = datetime.strptime(" ".join(event.split()[:4]).split(".")[0], "%b %d, %Y %H:%M:%S")
        rows.append((int(float(when)), int(date.replace(tzinfo=UTC).timestamp()), int(delay or 0)))
    return rows


@pytest.mark.parametrize("wrong", ["zero", "an hour behind", "an hour ahead"])
def test_a_nas_clock_that_is_wrong_dates_nothing_and_is_said(tmp_path: Path, wrong: str) -> None:
    """A GGSN without a clock sends Event-Timestamp 0 (1970), one with its clock an hour off sends times
    an hour from its capture's: the records were dated by them (a session of March 2026 billed in
    January 1970, or an hour early, in another day's or month's rate). An Event-Timestamp more than 10
    minutes from when the request was sent (capture time less Acct-Delay-Time, as tshark reads both) or
    before 2000 is the NAS's clock: the request is dated when it was sent, and the summary says so."""
    clock = {
        "zero": lambda t: 0,
        "an hour behind": lambda t: t - 3_600,
        "an hour ahead": lambda t: t + 3_600,
    }[wrong]
    msgs = [
        request(1, acct(1, event=clock(T0))),
        request(2, acct(3, event=clock(T0 + 600), st=600, octets=(100, 200))),
        request(5, acct(3, event=clock(T0 + 600), st=600, octets=(100, 200), delay=30)),  # re-sent
        request(3, acct(2, event=clock(T0 + 900), st=900, octets=(150, 300), terminate=1)),
    ]
    path = capture(tmp_path, msgs, [0, 600, 630, 900])
    if TSHARK is not None:  # what the reader took for when each was sent, as tshark reads the capture
        times = tshark_times(path)
        assert [when - delay for when, _event, delay in times] == [T0, T0 + 600, T0 + 600, T0 + 900]
        assert [event for _when, event, _delay in times] == [clock(T0 + t) for t in (0, 600, 600, 900)]
    records, report = read(path)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1
    assert report.clock_wrong == 4
    first = report.clock_wrong_first[0]
    assert (first["at"], first["session"], first["event_timestamp"], first["dated"]) == (
        1,
        "sess-1",
        clock(T0),
        T0,
    )
    assert report.as_dict()["clock_wrong"] == 4
    said = report.clock_wrong_said("packet")
    assert said is not None and "4 requests dated when they were sent" in said and "packet 1" in said
    off = {"zero": f"{-T0 - 900:+d} to {-T0:+d} s", "an hour behind": "-3600 s", "an hour ahead": "+3600 s"}
    assert f"their Event-Timestamp {off[wrong]} from it" in said  # (how far each was re-dated)


def test_a_request_re_sent_with_acct_delay_time_is_no_clock_wrong(tmp_path: Path) -> None:
    """An Interim-Update re-sent 20 minutes late says so in Acct-Delay-Time: its Event-Timestamp is right."""
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200), delay=1_200)),
        request(3, acct(2, event=T0 + 1_900, st=1_900, octets=(150, 300), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 1_800, 1_900]))
    assert [r.start for r in records] == [at(0), at(600)] and report.clock_wrong == 0


def test_accounting_on_from_a_nas_whose_clock_is_wrong_ends_the_sessions_before_it(tmp_path: Path) -> None:
    """A NAS restarted without its clock (Event-Timestamp 0): its Accounting-On, dated 1970, ended no
    session opened before it (none opened before 1970), and the new session reusing the id was a
    'duplicate Start'."""
    on = request(3, attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1))) + attr(55, u32(0)))
    msgs = [
        request(1, acct(1, event=T0)),
        on,
        request(4, acct(1, event=0)),
        request(5, acct(2, event=0, st=300, octets=(1_000, 2_000), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 100, 200, 500]))
    assert spans(records) == [("sess-1", at(200), 300, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.open_sessions == ["sess-1"] and report.clock_wrong == 3


def test_detail_event_timestamp_an_hour_from_the_servers_timestamp_is_the_nas_clock(tmp_path: Path) -> None:
    """In a detail file the server's Timestamp (when it logged the request) plays the capture time's
    part; without Timestamp (the date line, which may be in the server's zone) nothing is checked."""
    blocks = [
        detail_block(at(0), "Start", "sess-1", event=T0 - 3_600),
        detail_block(at(600), "Interim-Update", "sess-1", event=T0 - 3_000, st=600, up=100, down=200),
        detail_block(at(900), "Stop", "sess-1", event=T0 - 2_700, st=900, up=150, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.clock_wrong == 3
    assert report.clock_wrong_first[0]["at"] == 1 and report.as_dict()["clock_wrong"] == 3
    untimed = [re.sub(r"\tTimestamp = \d+\n", "", b) for b in blocks]
    records, report = read_detail(tmp_path, untimed)
    assert [r.start for r in records] == [at(-3_600), at(-3_000)] and report.clock_wrong == 0


def test_cli_says_the_requests_a_wrong_nas_clock_dated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msgs = [
        request(1, acct(1, event=0)),
        request(3, acct(2, event=0, st=900, octets=(150, 300), terminate=1)),
    ]
    path = capture(tmp_path, msgs, [0, 900])
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0
    out = capsys.readouterr().out
    assert "warning: 2 requests dated when they were sent (packet time less Acct-Delay-Time)" in out
    assert "Event-Timestamp 1970-01-01T00:00:00Z where it was sent at 2026-03-01T10:13:20Z" in out
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clock_wrong"] == 2 and summary["clock_wrong_first"][1]["at"] == 3


def test_accounting_on_by_nas_ipv6_address_over_ipv6_ends_the_sessions_keyed_by_nas_identifier(
    tmp_path: Path,
) -> None:
    """A GGSN over IPv6 (RFC 3162) whose requests carry NAS-Identifier and NAS-IPv6-Address (its sessions
    keyed by NAS-Identifier), behind an 802.1ad/802.1Q double tag and with a hop-by-hop option header,
    written by scapy: its Accounting-On naming it by NAS-IPv6-Address alone ended none of them."""
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    nas6 = bytes.fromhex("20010db8000000000000000000000001")
    names = attr(95, nas6) + NAS_ID  # NAS-IPv6-Address, NAS-Identifier; no NAS-IP-Address
    no_ip = attr(4, bytes((192, 0, 2, 1)))
    msgs = [
        request(1, acct(1, event=T0).replace(no_ip, names)),
        request(3, attr(40, u32(7)) + attr(95, nas6) + attr(55, u32(T0 + 100))),
        request(4, acct(1, event=T0 + 200).replace(no_ip, names)),
        request(5, acct(2, event=T0 + 500, st=300, octets=(1_000, 2_000), terminate=1).replace(no_ip, names)),
    ]
    frames = []
    for msg, t in zip(msgs, [0, 100, 200, 500], strict=True):
        for payload, (src, dst), (sport, dport), lag in (
            (msg, ("2001:db8::1", "2001:db8::a"), (40_000, 1813), 0.0),
            (response(msg), ("2001:db8::a", "2001:db8::1"), (1813, 40_000), 0.001),
        ):
            frame = (
                Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02")
                / Dot1AD(vlan=10)
                / Dot1Q(vlan=200)
                / IPv6(src=src, dst=dst)
                / IPv6ExtHdrHopByHop()
                / UDP(sport=sport, dport=dport)
                / Raw(payload)
            )
            frame.time = T0 + t + lag
            frames.append(frame)
    path = tmp_path / "v6.pcap"
    wrpcap(str(path), frames)
    records, report = read(path)
    assert spans(records) == [("sess-1", at(200), 300, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.open_sessions == ["sess-1"] and report.unanswered_requests == 0


def test_detail_clients_over_ipv6_without_nas_attributes_are_told_apart_by_their_address(
    tmp_path: Path,
) -> None:
    """Two NASes over IPv6 that send neither NAS-IP-Address, NAS-Identifier nor NAS-IPv6-Address, with the
    same Acct-Session-Id: rlm_detail writes the address each request came from as
    Packet-Src-IPv6-Address. They were one client: the second Start a 'duplicate Start', its Stop billed
    as the first session's, the first Stop refused as after the session's Stop."""

    def from_nas(block: str, address: str) -> str:
        block = block.replace("\tNAS-IP-Address = 192.0.2.1\n", "").replace(
            '\tNAS-Identifier = "ggsn-paris-1"\n', ""
        )
        return block.replace("\tTimestamp", f"\tPacket-Src-IPv6-Address = {address}\n\tTimestamp")

    blocks = [
        from_nas(detail_block(at(0), "Start", "sess-1", event=T0), "2001:db8::1"),
        from_nas(detail_block(at(100), "Start", "sess-1", event=T0 + 100), "2001:db8::2"),
        from_nas(
            detail_block(at(600), "Stop", "sess-1", event=T0 + 600, st=600, up=100, down=200), "2001:db8::1"
        ),
        from_nas(
            detail_block(at(700), "Stop", "sess-1", event=T0 + 700, st=600, up=10, down=20), "2001:db8::2"
        ),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(100), 600, 10, 20, 1)]
    assert report.rejected == 0 and report.sessions == 2


def test_an_acct_delay_time_that_is_wrong_leaves_a_right_event_timestamp_alone(tmp_path: Path) -> None:
    """A NAS whose Acct-Delay-Time is garbage (a counter never reset) and whose Event-Timestamp is the
    capture's time: the Event-Timestamp is right, nothing is re-dated or said."""
    msgs = [
        request(1, acct(1, event=T0, delay=4_000_000)),
        request(3, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1, delay=4_000_900)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 900]))
    assert spans(records) == [("sess-1", at(0), 900, 150, 300, 1)] and report.clock_wrong == 0


@pytest.mark.parametrize("joined", [False, True])
def test_an_interim_without_session_time_re_sent_a_second_off_is_a_retransmission(
    tmp_path: Path, joined: bool
) -> None:
    """Neither Event-Timestamp nor Acct-Session-Time in the Interim-Updates: each is dated when it was sent,
    its capture time less Acct-Delay-Time, both in whole seconds. Its copy re-sent 3.2 s later says 3 s:
    dated a second after the first copy, it was a new Interim, an extra record of 1 s and no octets, the
    retransmission not counted. A copy within a second of a request of the session is a retransmission."""
    msgs = [
        request(2, strip_event(acct(3, event=T0 + 600, octets=(100, 200)), T0 + 600)),
        request(3, strip_event(acct(3, event=T0 + 600, octets=(100, 200), delay=3), T0 + 600)),
        request(4, strip_event(acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1), T0 + 900)),
    ]
    times_us = [(T0 + 600) * 10**6 + 900_000, (T0 + 604) * 10**6 + 100_000, (T0 + 900) * 10**6]
    if not joined:
        msgs.insert(0, request(1, strip_event(acct(1, event=T0), T0)))
        times_us.insert(0, T0 * 10**6)
    frames = []
    for msg, t in zip(msgs, times_us, strict=True):
        frames.append((t, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg)))))
        frames.append((t + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg))))))
    records, report = read(write_pcap(tmp_path / "c.pcap", 1, frames))
    last = [("sess-1", at(600), 300, 50, 100, None if joined else 2)]
    assert spans(records) == ([] if joined else [("sess-1", at(0), 600, 100, 200, 1)]) + last
    assert report.retransmissions == 1 and report.rejected == 0


def test_event_time_trust_takes_every_event_timestamp_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accounting replayed a day later (tcpreplay into a lab, radclient to a server logging a detail
    file) keeps its requests' first times in Event-Timestamp: `--event-time trust` dates the records
    by them, where the default re-dates them to the replay, saying so."""
    day = 86_400
    msgs = [
        request(1, acct(1, event=T0 - day)),
        request(3, acct(2, event=T0 - day + 900, st=900, octets=(150, 300), terminate=1)),
    ]
    path = capture(tmp_path, msgs, [0, 900])
    trusted = ReadReport()
    records = list(records_from_pcap(path, SECRET, trusted, event_time="trust"))
    assert [(r.start, r.duration_s) for r in records] == [(at(-day), 900)] and trusted.clock_wrong == 0
    records, checked = read(path)
    assert [r.start for r in records] == [at(0)] and checked.clock_wrong == 2
    args = ["records-from-pcap", str(path), "--secret", SECRET.decode(), "--json"]
    assert main([*args, "--event-time", "trust"]) == 0
    assert json.loads(capsys.readouterr().out)["clock_wrong"] == 0

    blocks = [
        detail_block(at(0), "Start", "sess-1", event=T0 - day),
        detail_block(at(900), "Stop", "sess-1", event=T0 - day + 900, st=900, up=150, down=300),
    ]
    (tmp_path / "detail").write_text("".join(blocks))
    report = LogReport()
    records = list(records_from_radius_detail(tmp_path / "detail", report, event_time="trust"))
    assert [r.start for r in records] == [at(-day)] and report.clock_wrong == 0
    assert (
        main(["records-from-radius-detail", str(tmp_path / "detail"), "--event-time", "trust", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["clock_wrong"] == 0
    with pytest.raises(SystemExit) as refused:
        main(["records-from-radius-detail", str(tmp_path / "detail"), "--event-time", "now"])
    assert refused.value.code == 2
    assert "invalid choice: 'now'" in capsys.readouterr().err


def test_accounting_on_ends_no_session_of_another_nas_sharing_its_nas_identifier(tmp_path: Path) -> None:
    """Two GGSNs of one pool give the same NAS-Identifier (a name not unique, as RFC 2865 5.32 allows it
    to be) with their own NAS-IP-Address.  One restarts: its Accounting-On, naming it by both, ended the
    other GGSN's session too (an alias of the shared NAS-Identifier), whose Stop was then refused and
    its octets never billed.  Only the sessions of the NAS it names end."""
    ip_a, ip_b = attr(4, bytes((192, 0, 2, 1))), attr(4, bytes((192, 0, 2, 2)))
    on = request(3, attr(40, u32(7)) + ip_a + NAS_ID + attr(55, u32(T0 + 100)))
    msgs = [
        request(1, acct(1, "sess-a", event=T0) + NAS_ID),
        request(2, acct(1, "sess-b", event=T0 + 10).replace(ip_a, ip_b) + NAS_ID),
        on,
        request(
            4,
            acct(2, "sess-b", event=T0 + 500, st=490, octets=(1_000, 2_000), terminate=1).replace(ip_a, ip_b)
            + NAS_ID,
        ),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 10, 100, 500]))
    assert spans(records) == [("sess-b", at(10), 490, 1_000, 2_000, 1)]
    assert report.rejected == 0 and report.open_sessions == ["sess-a"]


# -- 5. A Start logged again, a NAS restarted without Accounting-On ---------------------------------------


def untimed(status: int, t: int, **kw: object) -> bytes:
    """A request of a client that sends no Event-Timestamp (its event at T0 + t)."""
    return strip_event(acct(status, event=T0 + t, **kw), T0 + t)  # type: ignore[arg-type]


@pytest.mark.parametrize("after", ["interim", "stop"])
@pytest.mark.parametrize("copy", ["as it was", "through a proxy"])
def test_an_identical_start_without_event_timestamp_sent_again_late_is_a_retransmission(
    tmp_path: Path, after: str, copy: str
) -> None:
    """A client without Event-Timestamp; its Start is sent again (RFC 5080 2.2.1: under another
    Identifier, the attributes the same; Acct-Delay-Time not grown, or a proxy's Proxy-State added and
    Acct-Delay-Time grown by less than the time gone) after the session's Interim-Update, or after its
    Stop. The copy, dated when it was sent, was taken for the Start of a new session the NAS restarted
    into: the first session ended without a Stop and the Stop billed as a new session of 900 s from the
    copy (its first 600 s and 100/200 octets billed twice); after the Stop, a new session listed as
    without one. The same attributes are the same request: a retransmission."""
    start = untimed(1, 0)
    interim = request(2, untimed(3, 600, st=600, octets=(100, 200)))
    stop = request(3, untimed(2, 900, st=900, octets=(150, 300), terminate=1))
    again = request(7, start if copy == "as it was" else untimed(1, 0, delay=5) + attr(33, b"proxy-7"))
    msgs = (
        [request(1, start), interim, again, stop]
        if after == "interim"
        else [request(1, start), interim, stop, again]
    )
    times = [0, 600, 605, 900] if after == "interim" else [0, 600, 900, 905]
    records, report = read(capture(tmp_path, msgs, times))
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1
    assert report.sessions == 1 and report.open_sessions == []


def test_detail_start_logged_again_identical_after_an_interim_is_a_retransmission(tmp_path: Path) -> None:
    """The same in a detail file: the server logged the Start again (its own Timestamp and packet header,
    through another proxy; the client's attributes the same) after the Interim-Update."""
    header = "\tPacket-Src-IP-Address = 192.0.2.{}\n\tPacket-Src-Port = {}\n\tTimestamp"
    blocks = [
        detail_block(at(0), "Start", "sess-1").replace("\tTimestamp", header.format(1, 32768)),
        detail_block(at(600), "Interim-Update", "sess-1", st=600, up=100, down=200),
        detail_block(at(605), "Start", "sess-1").replace("\tTimestamp", header.format(7, 1814)),
        detail_block(at(900), "Stop", "sess-1", st=900, up=150, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1 and report.open_sessions == []
    # another attribute (a new Framed-IP-Address...) or an Acct-Delay-Time gone down: another request
    blocks[2] = detail_block(at(605), "Start", "sess-1").replace(
        "\tTimestamp", '\tClass = "LINE-2"\n\tTimestamp'
    )
    records, report = read_detail(tmp_path, blocks)
    assert report.sessions == 2 and report.open_sessions == ["sess-1"]


@pytest.mark.parametrize("after", ["interim", "stop"])
def test_a_nas_restarted_into_an_identical_start_is_told_by_its_counters(tmp_path: Path, after: str) -> None:
    """The NAS restarts without Accounting-On and opens a new session with the same id and attributes
    (no Event-Timestamp): its Start is taken for a copy, but the next Interim-Update's counters and
    Acct-Session-Time are below the session's, and it began (its time less Acct-Session-Time) when that
    Start was sent: the old session ended without a Stop (or with it), the new one is billed from its
    Start."""
    start = untimed(1, 0)
    first = request(2, untimed(3 if after == "interim" else 2, 600, st=600, octets=(100, 200), terminate=1))
    msgs = [
        request(1, start),
        first,
        request(7, start),
        request(8, untimed(3, 1_305, st=600, octets=(30, 40))),
        request(9, untimed(2, 1_505, st=800, octets=(50, 60), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 705, 1_305, 1_505]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(705), 600, 30, 40, 1),
        ("sess-1", at(1_305), 200, 20, 20, 2),
    ]
    assert report.rejected == 0 and report.retransmissions == 0 and report.sessions == 2
    assert report.open_sessions == (["sess-1"] if after == "interim" else [])


@pytest.mark.parametrize("gigawords", [True, False])
def test_counters_reset_by_a_nas_restart_without_accounting_on_open_a_new_session(
    tmp_path: Path, gigawords: bool
) -> None:
    """A GGSN restarts without Accounting-On, numbers its sessions afresh and the new session's Start is
    lost: its Interim-Update (Event-Timestamp 1305, Acct-Session-Time 600: begun at 705, after the
    session's last request at 600) has counters below the session's. Every request of the new session
    was a reject, 'counters went backwards', until its counters passed the old ones, then billed as
    the difference from them; without Gigawords, a wrap (4 GiB billed). The old session ends without
    a Stop; the new one is joined at that Interim, its octets before it listed."""
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200), gigawords=gigawords)),
        request(8, acct(3, event=T0 + 1_305, st=600, octets=(30, 40), gigawords=gigawords)),
        request(9, acct(3, event=T0 + 1_905, st=1_200, octets=(130, 240), gigawords=gigawords)),
        request(10, acct(2, event=T0 + 2_105, st=1_400, octets=(150, 260), terminate=1, gigawords=gigawords)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 1_305, 1_905, 2_105]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(1_305), 600, 100, 200, None),
        ("sess-1", at(1_905), 200, 20, 20, None),
    ]
    assert report.rejected == 0 and report.sessions == 2 and report.open_sessions == ["sess-1"]
    assert report.counter_wraps == 0
    assert [(j["session_time_s"], j["bytes_up_before"], j["bytes_down_before"]) for j in report.joined] == [
        (600, 30, 40)
    ]
    blocks = [
        detail_block(at(0), "Start", "sess-1", event=T0),
        detail_block(at(600), "Interim-Update", "sess-1", event=T0 + 600, st=600, up=100, down=200),
        detail_block(at(1_305), "Interim-Update", "sess-1", event=T0 + 1_305, st=600, up=30, down=40),
        detail_block(at(1_905), "Stop", "sess-1", event=T0 + 1_905, st=1_200, up=130, down=240),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(1_305), 600, 100, 200, None)]
    assert report.rejected == 0 and report.open_sessions == ["sess-1"]


def test_counters_below_the_sessions_from_a_request_sent_late_without_saying_so_stay_a_reject(
    tmp_path: Path,
) -> None:
    """Without Event-Timestamp, an Interim-Update held 20 minutes and sent without Acct-Delay-Time looks
    like a new session's (its time less Acct-Session-Time after the session's last request): nothing
    says a restart, and it stays 'counters went backwards', the session going on."""
    msgs = [
        request(1, untimed(1, 0)),
        request(3, untimed(3, 1_200, st=1_200, octets=(200, 400))),
        request(5, untimed(1, 1_600, session="sess-2")),  # (the session's records are given: no cut)
        request(2, untimed(3, 600, st=600, octets=(100, 200))),
        request(4, untimed(2, 2_400, st=2_400, octets=(300, 500), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 1_200, 1_600, 2_000, 2_400]))
    assert spans(records) == [
        ("sess-1", at(0), 1_200, 200, 400, 1),
        ("sess-1", at(1_200), 1_200, 100, 100, 2),
    ]
    assert report.reasons == {"counters went backwards": 1} and report.open_sessions == ["sess-2"]


def test_a_second_stop_with_other_counters_is_said_so(tmp_path: Path) -> None:
    """Two Stops of a session that differ (a NAS correcting itself, or two NASes under one id): the first
    closes the session and is billed; the second is a reject that says so."""
    msgs = [
        request(1, acct(1, event=T0)),
        request(2, acct(2, event=T0 + 600, st=600, octets=(100, 200), terminate=1)),
        request(3, acct(2, event=T0 + 600, st=600, octets=(150, 250), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 610]))
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1)]
    assert [r.reason for r in report.rejects] == [
        "request after the session's Stop: session 'sess-1': a second Stop, its Acct-Session-Time or "
        "counters not those of the Stop that closed the session, which is kept"
    ]


# -- 6. A NAS that holds its accounting and sends it later (store and forward) ---------------------------

# (session, status, Event-Timestamp less T0, Acct-Session-Time, octets up, down) of a GGSN cut off from
# its accounting server from 700 s to 4,000 s: what it queued meanwhile goes in a burst when it is back,
# without Acct-Delay-Time
BACKLOG = [
    ("sess-a", 1, 0, None, 0, 0),
    ("sess-a", 3, 600, 600, 100, 200),
    ("sess-b", 1, 1_000, None, 0, 0),  # queued from here on
    ("sess-a", 3, 1_200, 1_200, 150, 300),
    ("sess-b", 3, 1_600, 600, 10, 20),
    ("sess-a", 2, 1_800, 1_800, 170, 350),
    ("sess-b", 2, 2_200, 1_200, 30, 40),
]
BACKLOG_SENT = [0, 600, 4_000, 4_001, 4_002, 4_003, 4_004]
BACKLOG_RECORDS = [
    ("sess-a", at(0), 600, 100, 200, 1),
    ("sess-a", at(600), 600, 50, 100, 2),
    ("sess-b", at(1_000), 600, 10, 20, 1),
    ("sess-a", at(1_200), 600, 20, 50, 3),
    ("sess-b", at(1_600), 600, 20, 20, 2),
]


def test_requests_a_nas_held_without_acct_delay_time_are_dated_by_their_event_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GGSN cut off from its accounting server queues its requests and sends them when it is back,
    without Acct-Delay-Time saying how long it held them (RFC 2866 5.2 asks for it; not every NAS
    does). Their Event-Timestamps, 2,200 to 3,000 s before they were sent, were taken for a clock that
    is wrong: the requests were dated when they were sent, and sess-b, whose Start was in the queue,
    billed 3,000 s late (its records at 4,000 s). The NAS's requests before the queue were on time, the
    queued ones are in order, after the last of those and sent within 10 minutes of each other, and
    every Interim-Update and Stop agrees with its session's start and Acct-Session-Time: a NAS that held
    them, not a clock. They are dated by their Event-Timestamp, and the summary says so."""
    msgs = [
        request(
            i + 1, acct(status, session, event=T0 + event, st=st, octets=None if st is None else (up, down))
        )
        for i, (session, status, event, st, up, down) in enumerate(BACKLOG)
    ]
    path = capture(tmp_path, msgs, BACKLOG_SENT)
    records, report = read(path)
    assert spans(records) == BACKLOG_RECORDS
    assert report.rejected == 0 and report.clock_wrong == 0 and report.clock_held == 5
    assert report.clock_held_s == (1_804, 3_000)  # (held least and most: sent less Event-Timestamp)
    first = report.clock_held_first[0]
    assert (first["at"], first["session"], first["held_s"]) == (5, "sess-b", 3_000)
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0
    out = capsys.readouterr().out
    assert "warning: 5 requests sent 1804 to 3000 s after their Event-Timestamp" in out
    assert "their NAS held them (store and forward)" in out
    blocks = [
        detail_block(at(t), {1: "Start", 2: "Stop", 3: "Interim-Update"}[status], session, event=T0 + event)
        if st is None
        else detail_block(
            at(t),
            {2: "Stop", 3: "Interim-Update"}[status],
            session,
            event=T0 + event,
            st=st,
            up=up,
            down=down,
        )
        for (session, status, event, st, up, down), t in zip(BACKLOG, BACKLOG_SENT, strict=True)
    ]
    records, detail_report = read_detail(tmp_path, blocks)
    assert spans(records) == BACKLOG_RECORDS and detail_report.clock_held == 5
    third = 1 + sum(block.count("\n") for block in blocks[:2])  # (the date line of sess-b's Start)
    assert detail_report.as_dict()["clock_held_first"][0]["at"] == third


@pytest.mark.parametrize("case", ["set back while it sends", "set back while it is quiet", "never right"])
def test_a_clock_set_back_is_not_taken_for_requests_held(tmp_path: Path, case: str) -> None:
    """What a NAS that holds its requests does not look like: a clock set back 30 minutes while the NAS
    sends (its next request dated before its last one), or while it is quiet (an Interim-Update whose
    Event-Timestamp disagrees with its session's start and Acct-Session-Time), or a clock never right.
    Those requests are dated when they were sent, as before, and listed as a NAS clock that is wrong."""
    back = 0 if case == "never right" else 1_800
    if case == "set back while it sends":
        plan = [
            (1, "sess-a", 0, None, 0),
            (1, "sess-b", 1_000, None, back),
            (2, "sess-a", 1_200, 1_200, back),
        ]
    else:
        plan = [(1, "sess-a", 0, None, 3_600 if back == 0 else 0), (2, "sess-a", 3_000, 3_000, back or 3_600)]
    msgs = [
        request(
            i + 1,
            acct(
                status, session, event=T0 + t - off, st=st, octets=None if st is None else (5, 6), terminate=1
            ),
        )
        for i, (status, session, t, st, off) in enumerate(plan)
    ]
    records, report = read(capture(tmp_path, msgs, [t for _s, _n, t, _st, _o in plan]))
    assert report.clock_held == 0 and report.clock_wrong == sum(off > 0 for *_x, off in plan)
    assert [r.start for r in records] == [at(0)]


def reused_after_stop() -> list[bytes]:
    """A session stopped at 600 s; a new session given its id by a NAS restarted without Accounting-On,
    begun at 705 s (its Start lost): its Interim-Update (1,305 s) and Stop (1,505 s)."""
    return [
        request(1, acct(1, event=T0)),
        request(2, acct(2, event=T0 + 600, st=600, octets=(100, 200), terminate=1)),
        request(8, acct(3, event=T0 + 1_305, st=600, octets=(30, 40))),
        request(9, acct(2, event=T0 + 1_505, st=800, octets=(50, 60), terminate=1)),
    ]


def test_a_session_reusing_the_id_of_one_stopped_is_told_by_its_times(tmp_path: Path) -> None:
    """The session stopped; the GGSN restarts without Accounting-On and gives the id to a new session
    whose Start is lost: its Interim-Update and Stop, within the hour the stopped session is remembered,
    were 'request after the session's Stop', the new session lost. It began (Event-Timestamp less
    Acct-Session-Time: 705) after the Stop (600): a new session, joined at its Interim."""
    msgs = reused_after_stop()
    records, report = read(capture(tmp_path, msgs, [0, 600, 1_305, 1_505]))
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(1_305), 200, 20, 20, None)]
    assert report.rejected == 0 and report.sessions == 2 and report.open_sessions == []
    assert [(j["session_time_s"], j["bytes_up_before"]) for j in report.joined] == [(600, 30)]


def read_start_copy_after_interim(
    tmp_path: Path, start: bytes, again: bytes
) -> tuple[list[UsageRecord], ReadReport]:
    """A session's Start (0 s), Interim-Update (600 s), a copy of its Start `again` (605 s), its Stop."""
    msgs = [
        request(1, start),
        request(2, untimed(3, 600, st=600, octets=(100, 200))),
        request(7, again),
        request(3, untimed(2, 900, st=900, octets=(150, 300), terminate=1)),
    ]
    return read(capture(tmp_path, msgs, [0, 600, 605, 900]))


@pytest.mark.parametrize("where", ["after the Vendor-Specifics", "before them"])
def test_a_start_copy_whose_acct_delay_time_follows_a_vendor_specific_is_a_retransmission(
    tmp_path: Path, where: str
) -> None:
    """A client without Event-Timestamp whose Acct-Delay-Time comes after its 3GPP Vendor-Specifics (as
    many GGSNs order them); its Start sent again after the Interim-Update, no proxy on the way, with
    Acct-Delay-Time grown by less than the time gone. records-from-pcap cut Acct-Delay-Time out of the
    Start's attributes only when it came before the first Vendor-Specific: here the copy differed from
    the Start, was taken for a new session's, and the Stop billed as that session's, from the copy
    (its first 600 s and octets billed twice), where records-from-radius-detail (attributes by name)
    took it for the copy it is. Wherever Acct-Delay-Time is, the copy is a retransmission."""
    start = untimed(1, 0)
    again = untimed(1, 0, delay=5)
    if where == "before them":  # (Acct-Delay-Time moved before the first Vendor-Specific)
        delay = attr(41, u32(5))
        again = again.replace(delay, b"").replace(attr(31, b"33612345678"), attr(31, b"33612345678") + delay)
    records, report = read_start_copy_after_interim(tmp_path, start, again)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1
    assert report.sessions == 1 and report.open_sessions == []


def test_a_held_request_of_a_session_the_nas_restarted_into_is_counted_held_once(tmp_path: Path) -> None:
    """The session stopped on time; the GGSN, cut off from its accounting server, restarted without
    Accounting-On and gave the id to a new session whose Start is lost; its Interim-Update and Stop,
    queued, go when the GGSN is back, without Acct-Delay-Time. The Interim, read again as the new
    session's first request once the stopped session was found over, was counted held twice (the
    summary said 3 requests held, the list gave the Interim twice). Each request held is counted once."""
    msgs = reused_after_stop()
    records, report = read(capture(tmp_path, msgs, [0, 600, 4_000, 4_001]))
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(1_305), 200, 20, 20, None)]
    assert report.rejected == 0 and report.sessions == 2 and report.open_sessions == []
    assert report.clock_held == 2 and [h["at"] for h in report.clock_held_first] == [5, 7]


def test_a_clock_set_back_while_quiet_is_no_queue_past_when_the_queue_began(tmp_path: Path) -> None:
    """A NAS's clock is set back an hour while it is quiet. The first Start after (sess-b at 7,200 s,
    Event-Timestamp 3,600) cannot be told from one it held (documented); but each request after it,
    seen within 10 minutes of the one before and in order, was taken for the queue going on, so the NAS's
    Event-Timestamps were taken as long as it kept sending: sess-c, opened at 12,001 s, billed from
    8,401 s, an hour early. A NAS holds the events from before it is back: a request whose Event-Timestamp
    is after the queue's first was sent (sess-b's Interim-Update at 11,400 s, dated 7,800) is not one,
    and from then on the clock is wrong: sess-c is dated when it was sent."""
    plan = [(1, "sess-a", 0, 0, None), (2, "sess-a", 600, 0, 600)]  # (status, session, sent, set back, st)
    plan += [(1, "sess-b", 7_200, 3_600, None)]
    plan += [(3, "sess-b", t, 3_600, t - 7_200) for t in range(7_800, 12_000, 600)]
    plan += [(2, "sess-b", 12_000, 3_600, 4_800), (1, "sess-c", 12_001, 3_600, None)]
    plan += [(2, "sess-c", 12_601, 3_600, 600)]
    msgs = [
        request(
            i + 1,
            acct(
                status,
                session,
                event=T0 + t - back,
                st=st,
                octets=None if st is None else (st, st),
                terminate=1,
            ),
        )
        for i, (status, session, t, back, st) in enumerate(plan)
    ]
    records, report = read(capture(tmp_path, msgs, [t for _s, _n, t, _b, _st in plan]))
    assert [(r.start, r.duration_s) for r in records if r.session == "sess-c"] == [(at(12_001), 600)]
    assert report.clock_held == 1 + 6  # (sess-b's Start, and its Interims dated up to 7,200 s)
    assert report.rejected == 0 and report.clock_wrong == len(plan) - 2 - report.clock_held


def test_detail_an_interim_held_past_its_quarter_hour_is_no_nas_restart(tmp_path: Path) -> None:
    """A server in Paris writes Event-Timestamp as a date in CET, placed at the quarter hour nearest to when
    the request was sent (docs/records.md: off by quarter hours for one held 7.5 minutes or more without
    Acct-Delay-Time). An Interim-Update held 8 minutes is placed 15 minutes late (2,100 s, not 1,200): it
    seemed to begin (less its Acct-Session-Time) after the session's last request, and was taken for a
    new session the NAS restarted into: the session ended without a Stop, its 600 s and 50/100 octets
    to that Interim billed nowhere (listed as before a joined session's baseline), the rest dated 15
    minutes late. A placed time tells no restart: the session goes on, billed whole, as before."""

    def block(sent: int, status: str, event: int, **kw: int) -> str:
        paris = datetime.fromtimestamp(T0 + event + 3_600, UTC).strftime("%b %e %Y %H:%M:%S CET")
        return detail_block(at(sent), status, "sess-1", **kw).replace(
            "\tTimestamp", f'\tEvent-Timestamp = "{paris}"\n\tTimestamp'
        )

    blocks = [
        block(0, "Start", 0),
        block(600, "Interim-Update", 600, st=600, up=100, down=200),
        block(1_680, "Interim-Update", 1_200, st=1_200, up=150, down=300),  # (held 8 minutes)
        block(1_800, "Interim-Update", 1_800, st=1_800, up=170, down=350),
        block(2_400, "Stop", 2_400, st=2_400, up=200, down=400),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(600), 600, 50, 100, 2),
        ("sess-1", at(1_200), 600, 20, 50, 3),
        ("sess-1", at(1_800), 600, 30, 50, 4),
    ]
    assert (
        report.rejected == 0 and report.sessions == 1 and report.open_sessions == [] and report.joined == []
    )


def test_a_start_without_event_timestamp_and_a_nas_clock_ahead_tell_no_restart(tmp_path: Path) -> None:
    """A GGSN sends no Event-Timestamp in its Start (dated when it was captured) but does in its
    Interim-Updates, from a clock 400 s ahead of the capture's (within the 10 minutes that are taken
    as right), an Interim every 300 s. The second Interim seemed to begin (400 s, its Event-Timestamp
    less Acct-Session-Time) after the first (300 s), and was taken for a new session the NAS
    restarted into: the session ended without a Stop, its second record billed nowhere. The session's
    start and the Interim's Event-Timestamp are on two clocks: no restart is told from them."""
    msgs = [request(1, untimed(1, 0))]
    msgs += [
        request(2 + i, acct(3, event=T0 + st + 400, st=st, octets=(st, 2 * st)))
        for i, st in enumerate((300, 600, 900))
    ]
    msgs += [request(9, acct(2, event=T0 + 1_600, st=1_200, octets=(1_200, 2_400), terminate=1))]
    records, report = read(capture(tmp_path, msgs, [0, 300, 600, 900, 1_200]))
    assert spans(records) == [("sess-1", at(st), 300, 300, 600, 1 + st // 300) for st in (0, 300, 600, 900)]
    assert (
        report.rejected == 0 and report.sessions == 1 and report.open_sessions == [] and report.joined == []
    )


def attributes_of(message: bytes) -> list[bytes]:
    """The attributes of a request's attribute octets, each whole, in order."""
    found, pos = [], 0
    while pos < len(message):
        found.append(message[pos : pos + message[pos + 1]])
        pos += message[pos + 1]
    return found


@pytest.mark.parametrize("order", ["types reordered", "a type's own order changed"])
def test_a_start_copy_whose_attributes_a_proxy_reordered_by_type_is_a_retransmission(
    tmp_path: Path, order: str
) -> None:
    """A client without Event-Timestamp; its Start, with two Class attributes (a server's and a
    proxy's), is sent again after the Interim-Update through a proxy that adds Proxy-State and puts the
    attributes in another order of their types (RFC 2865 5: allowed across types, never within one).
    records-from-pcap digested the attributes in the order they came: the copy was another request,
    taken for a new session's Start, and the Stop billed from it (the first 600 s and their octets
    billed twice), where records-from-radius-detail (attributes by name) took it for the copy it is.
    The order across types tells nothing; the order of the Class attributes still does."""
    start = untimed(1, 0) + attr(25, b"\x01opaque-state")
    parts = attributes_of(untimed(1, 0, delay=5) + attr(25, b"\x01opaque-state"))
    classes = [a for a in parts if a[0] == 25]
    others = [a for a in parts if a[0] != 25]
    if order == "a type's own order changed":
        classes.reverse()
    again = b"".join([*others[::-1], attr(33, b"proxy-7"), *classes])
    records, report = read_start_copy_after_interim(tmp_path, start, again)
    if order == "types reordered":
        assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
        assert report.rejected == 0 and report.retransmissions == 1
        assert report.sessions == 1 and report.open_sessions == []
    else:  # another request: the Start of a session the NAS restarted into
        assert report.sessions == 2 and report.open_sessions == ["sess-1"]


def test_a_restarts_start_like_a_stopped_ones_is_billed_when_its_interim_comes_after_the_hour(
    tmp_path: Path,
) -> None:
    """A client without Event-Timestamp; its session stopped at 900 s, and a new session, restarted
    into without Accounting-On, has the same id and attributes: its Start (4,000 s) is taken for a copy
    of the old one's. Its first Interim-Update (4,600 s) came more than the hour the stopped session is
    remembered after its Stop: the copy was forgotten with it, the session joined at the Interim, its
    first 600 s and their octets billed nowhere. The copy is kept as a possible new session's Start
    until the new session's first request comes (within the old session's Interim interval and an
    hour): that began when the copy was sent, a new session billed from it. The same through a detail
    file."""
    msgs = [
        request(1, untimed(1, 0)),
        request(2, untimed(3, 600, st=600, octets=(100, 200))),
        request(3, untimed(2, 900, st=900, octets=(150, 300), terminate=1)),
        request(4, untimed(1, 4_000)),
        request(5, untimed(3, 4_600, st=600, octets=(30, 40))),
        request(6, untimed(2, 4_800, st=800, octets=(50, 60), terminate=1)),
    ]
    times = [0, 600, 900, 4_000, 4_600, 4_800]
    expected = [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(600), 300, 50, 100, 2),
        ("sess-1", at(4_000), 600, 30, 40, 1),
        ("sess-1", at(4_600), 200, 20, 20, 2),
    ]
    records, report = read(capture(tmp_path, msgs, times))
    assert spans(records) == expected
    assert report.rejected == 0 and report.retransmissions == 0 and report.sessions == 2
    assert report.joined == [] and report.open_sessions == []
    assert report.as_dict()["start_copies_unanswered"] == 0
    blocks = [
        detail_block(at(0), "Start", "sess-1"),
        detail_block(at(600), "Interim-Update", "sess-1", st=600, up=100, down=200),
        detail_block(at(900), "Stop", "sess-1", st=900, up=150, down=300),
        detail_block(at(4_000), "Start", "sess-1"),
        detail_block(at(4_600), "Interim-Update", "sess-1", st=600, up=30, down=40),
        detail_block(at(4_800), "Stop", "sess-1", st=800, up=50, down=60),
    ]
    detail_records, detail_report = read_detail(tmp_path, blocks)
    assert spans(detail_records) == expected
    assert detail_report.rejected == 0 and detail_report.joined == [] and detail_report.sessions == 2


def test_a_start_copy_no_session_followed_is_a_copy_said_so(tmp_path: Path) -> None:
    """The Start copy, kept as a possible new session's, that no request of a new session followed
    (another session's requests go on, hours later): a copy, counted as a retransmission and said."""
    msgs = [
        request(1, untimed(1, 0)),
        request(2, untimed(2, 900, st=900, octets=(150, 300), terminate=1)),
        request(3, untimed(1, 1_000)),
        request(4, untimed(1, 9_000, session="sess-2")),
        request(5, untimed(2, 9_900, session="sess-2", st=900, octets=(1, 2), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 900, 1_000, 9_000, 9_900]))
    assert [r.session for r in records] == ["sess-1", "sess-2"]
    assert report.rejected == 0 and report.retransmissions == 1 and report.sessions == 2
    assert report.as_dict()["start_copies_unanswered"] == 1


@pytest.mark.parametrize("late", ["Acct-Delay-Time grown", "Acct-Delay-Time as it was"])
def test_a_late_copy_after_a_restarts_start_leaves_it(tmp_path: Path, late: str) -> None:
    """A client without Event-Timestamp restarts without Accounting-On after its session's Interim-
    Update: its new session's Start (700 s) has the old one's id and attributes, taken for a copy; then a
    true copy of the old Start comes late (800 s: through a proxy, its Acct-Delay-Time grown, or not).
    Only the latest copy was kept: the new session's Interim-Update (begun at 700 s) matched no copy,
    its counters below the old session's a 'counters went backwards' reject, the new session lost. The
    copies sent at different times are both kept: the Interim began when the restart's Start was sent."""
    again = untimed(1, 0, delay=800) if late == "Acct-Delay-Time grown" else untimed(1, 0)
    msgs = [
        request(1, untimed(1, 0)),
        request(2, untimed(3, 600, st=600, octets=(100, 200))),
        request(3, untimed(1, 700)),
        request(4, again),
        request(5, untimed(3, 1_300, st=600, octets=(30, 40))),
        request(6, untimed(2, 1_500, st=800, octets=(50, 60), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 700, 800, 1_300, 1_500]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(700), 600, 30, 40, 1),
        ("sess-1", at(1_300), 200, 20, 20, 2),
    ]
    assert report.rejected == 0 and report.retransmissions == 1 and report.sessions == 2
    assert report.open_sessions == ["sess-1"]


@pytest.mark.parametrize("order", ["lines reordered", "its Class lines swapped"])
def test_detail_start_logged_again_is_a_copy_by_its_attributes_in_their_order_by_type(
    tmp_path: Path, order: str
) -> None:
    """The Start block written again after the Interim-Update with two Class lines (a server's and a
    proxy's): records-from-radius-detail compared the first of each name only, so a copy with its Class
    attributes in another order (another request, RFC 2865 5, a new session's Start in a capture) was a
    copy. Attributes of different types in any order, those of one type in theirs: as records-from-pcap."""
    classes = '\tClass = "LINE-1"\n\tClass = 0x016f70617175652d7374617465\n'
    start = detail_block(at(0), "Start", "sess-1").replace("\tTimestamp", classes + "\tTimestamp")
    head, *attributes, _stamp = start.rstrip("\n").split("\n")
    if order == "lines reordered":
        kept = [line for line in attributes if line.startswith("\tClass")]  # (in their order)
        attributes = [line for line in attributes if not line.startswith("\tClass")][::-1] + kept
    else:
        attributes[-2:] = attributes[-1:-3:-1]
    again = "\n".join([head.replace(at(0).strftime("%H:%M:%S"), at(605).strftime("%H:%M:%S")), *attributes])
    again += f"\n\tTimestamp = {T0 + 605}\n\n"
    blocks = [
        start,
        detail_block(at(600), "Interim-Update", "sess-1", st=600, up=100, down=200),
        again,
        detail_block(at(900), "Stop", "sess-1", st=900, up=150, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    if order == "lines reordered":
        assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
        assert report.rejected == 0 and report.retransmissions == 1 and report.sessions == 1
    else:
        assert report.sessions == 2 and report.open_sessions == ["sess-1"]


# -- 7. A Start copy that comes more than an hour after its session's Stop ---------------------------------

LATE_COPY_AT = 5_100  # (the Stop at 900 s: forgotten as closed at 4,500 s)


@pytest.mark.parametrize(
    "copy",
    [
        "Event-Timestamp, Acct-Delay-Time as it was",
        "Event-Timestamp, Acct-Delay-Time grown",
        "no Event-Timestamp, Acct-Delay-Time grown",
        "no Event-Timestamp, Acct-Delay-Time as it was",
    ],
)
def test_a_start_copy_more_than_an_hour_after_the_stop_is_a_late_copy(
    tmp_path: Path, copy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The session's Start re-sent (RFC 2866 5.2: the NAS re-sends it until answered, Acct-Delay-Time
    grown, or a proxy or store-and-forward queue sends it again as it was) 70 minutes after the session's
    Stop: once the stopped session was forgotten (an hour), the copy opened a new session with no octets,
    listed among the sessions without a Stop. It carries the Event-Timestamp of the session's Start, or
    (none) its attributes: a late copy, counted in `start_copies_late` and said, no new session."""
    timed = copy.startswith("Event-Timestamp")
    grown = LATE_COPY_AT if copy.endswith("grown") else None

    def req(status: int, t: int, **kw: object) -> bytes:
        return acct(status, event=T0 + t, **kw) if timed else untimed(status, t, **kw)  # type: ignore[arg-type]

    msgs = [
        request(1, req(1, 0)),
        request(2, req(3, 600, st=600, octets=(100, 200))),
        request(3, req(2, 900, st=900, octets=(150, 300), terminate=1)),
        request(4, acct(1, event=T0, delay=grown) if timed else untimed(1, 0, delay=grown)),
    ]
    path = capture(tmp_path, msgs, [0, 600, 900, LATE_COPY_AT])
    records, report = read(path)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.sessions == 1 and report.open_sessions == []
    assert report.retransmissions == 1 and report.as_dict()["start_copies_late"] == 1
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0
    assert "warning: 1 Starts came more than an hour after their session's Stop" in capsys.readouterr().out


@pytest.mark.parametrize("written", ["in seconds", "as a date in CET"])
def test_detail_start_logged_again_more_than_an_hour_after_the_stop_is_a_late_copy(
    tmp_path: Path, written: str
) -> None:
    """The same in a detail file: the Start block written again (a relay re-sending its backlog) 70
    minutes after the Stop, its Event-Timestamp the session's Start's. Written as a date in a zone named
    by letters, the copy's is placed at the quarter hour nearest to when it was logged (docs/records.md),
    not where the Start's was: its attributes, Event-Timestamp's text with them, say it is the copy."""

    def block(sent: int, status: str, event: int, **kw: int) -> str:
        if written == "in seconds":
            return detail_block(at(sent), status, "sess-1", event=T0 + event, **kw)
        paris = datetime.fromtimestamp(T0 + event + 3_600, UTC).strftime("%b %e %Y %H:%M:%S CET")
        return detail_block(at(sent), status, "sess-1", **kw).replace(
            "\tTimestamp", f'\tEvent-Timestamp = "{paris}"\n\tTimestamp'
        )

    blocks = [
        block(0, "Start", 0),
        block(600, "Interim-Update", 600, st=600, up=100, down=200),
        block(900, "Stop", 900, st=900, up=150, down=300),
        block(LATE_COPY_AT, "Start", 0),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.sessions == 1 and report.open_sessions == []
    assert report.as_dict()["start_copies_late"] == 1


@pytest.mark.parametrize("timed", [True, False])
def test_a_new_session_reusing_the_id_more_than_an_hour_after_the_stop_is_billed(
    tmp_path: Path, timed: bool
) -> None:
    """What a late copy is not: a new session given the stopped one's id 70 minutes after its Stop, its
    Start dated then (Event-Timestamp), or without Event-Timestamp its attributes the same (a NAS
    restarted without Accounting-On): its Interim-Update and Stop begin when that Start was sent, and
    it is billed from it."""

    def req(status: int, t: int, **kw: object) -> bytes:
        return acct(status, event=T0 + t, **kw) if timed else untimed(status, t, **kw)  # type: ignore[arg-type]

    new = LATE_COPY_AT
    msgs = [
        request(1, req(1, 0)),
        request(2, req(3, 600, st=600, octets=(100, 200))),
        request(3, req(2, 900, st=900, octets=(150, 300), terminate=1)),
        request(4, req(1, new)),
        request(5, req(3, new + 600, st=600, octets=(30, 40))),
        request(6, req(2, new + 800, st=800, octets=(50, 60), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 900, new, new + 600, new + 800]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(600), 300, 50, 100, 2),
        ("sess-1", at(new), 600, 30, 40, 1),
        ("sess-1", at(new + 600), 200, 20, 20, 2),
    ]
    assert report.rejected == 0 and report.sessions == 2 and report.open_sessions == []
    assert report.joined == [] and report.as_dict()["start_copies_late"] == 0


def test_late_copies_past_the_memory_kept_are_said_not_silently_new_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day of stopped sessions' Starts was kept whatever their number (about 450 bytes each: hundreds of
    megabytes for an operator's day). At most `--late-copies` are kept, the oldest forgotten first: two
    sessions stopped, one kept. The late copy of the one kept is still a late copy; the late copy of the
    one forgotten opens a session, but is counted and said (dated before the end of a session forgotten),
    with the count of those forgotten and the option that keeps more."""
    msgs, times = [], []
    for n, sid in enumerate(("sess-1", "sess-2")):
        msgs += [
            request(4 * n + 1, acct(1, sid, event=T0 + 10 * n)),
            request(4 * n + 2, acct(2, sid, event=T0 + 900 + 10 * n, st=900, octets=(150, 300), terminate=1)),
        ]
        times += [10 * n, 900 + 10 * n]
    msgs += [request(9, acct(1, "sess-2", event=T0 + 10)), request(10, acct(1, "sess-1", event=T0))]
    times += [LATE_COPY_AT, LATE_COPY_AT + 10]
    order = sorted(range(len(times)), key=times.__getitem__)
    path = capture(tmp_path, [msgs[i] for i in order], [times[i] for i in order])
    report = ReadReport()
    records = list(records_from_pcap(path, SECRET, report, late_copies=1))
    assert len(records) == 2 and report.sessions == 3 and report.open_sessions == ["sess-1"]
    summary = report.as_dict()
    assert summary["start_copies_late"] == 1 and summary["start_copies_late_first"]["session"] == "sess-2"  # type: ignore[index]
    assert summary["late_copies_forgotten"] == 1 and summary["starts_after_forgotten"] == 1
    assert summary["starts_after_forgotten_first"]["session"] == "sess-1"  # type: ignore[index]
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode(), "--late-copies", "1"]) == 0
    out = capsys.readouterr().out
    assert "warning: 1 stopped sessions' Starts were forgotten within a day of their Stop" in out
    assert "1 Starts dated before the end of one opened a session" in out and "raise --late-copies" in out
    # the default keeps both: the two copies are late copies
    report = ReadReport()
    assert len(list(records_from_pcap(path, SECRET, report))) == 2
    assert report.as_dict()["start_copies_late"] == 2 and report.as_dict()["late_copies_forgotten"] == 0
    assert report.sessions == 2 and report.open_sessions == []


@pytest.mark.parametrize("copy", ["Event-Timestamp", "Acct-Delay-Time grown", "as it was"])
def test_detail_late_copies_past_the_memory_kept_are_said(tmp_path: Path, copy: str) -> None:
    """The same in a detail file, the Starts with Event-Timestamp or (none) re-sent with Acct-Delay-Time
    grown, or as they were: one session's Start kept (its copy a late copy), the other's forgotten (its
    copy opens a session, counted as dated before the end of a session forgotten, or, dated when it was
    sent, as a copy of its Start by its attributes: it was not counted)."""

    def start(sent: int, sid: str, event: int, **kw: int) -> str:
        if copy == "Event-Timestamp":
            return detail_block(at(sent), "Start", sid, event=T0 + event, **kw)
        if copy == "as it was":
            return detail_block(at(sent), "Start", sid, delay=0)
        return detail_block(at(sent), "Start", sid, delay=sent - event)

    blocks = [
        start(0, "sess-1", 0),
        start(10, "sess-2", 10),
        detail_block(at(900), "Stop", "sess-1", event=T0 + 900, st=900, up=150, down=300),
        detail_block(at(910), "Stop", "sess-2", event=T0 + 910, st=900, up=150, down=300),
        start(LATE_COPY_AT, "sess-2", 10),
        start(LATE_COPY_AT + 10, "sess-1", 0),
    ]
    path = tmp_path / "detail-20260301"
    path.write_text("".join(blocks))
    report = LogReport()
    records = list(records_from_radius_detail(path, report, late_copies=1))
    assert len(records) == 2 and report.sessions == 3 and report.open_sessions == ["sess-1"]
    summary = report.as_dict()
    assert summary["start_copies_late"] == 1 and summary["late_copies_forgotten"] == 1
    assert summary["starts_after_forgotten"] == 1
    records, report = read_detail(tmp_path, blocks)
    assert report.sessions == 2 and report.as_dict()["start_copies_late"] == 2


# -- 8. A Vendor-Specific attribute carrying several sub-attributes ----------------------------------------


def cisco(*subs: tuple[int, bytes]) -> bytes:
    """One Vendor-Specific of Cisco (vendor 9) carrying the sub-attributes (type, value) in order."""
    return attr(26, u32(9) + b"".join(bytes((t, len(v) + 2)) + v for t, v in subs))


AVPAIR, NAS_PORT = 1, 2  # Cisco-AVPair, Cisco-NAS-Port


@pytest.mark.parametrize(
    "copy",
    [
        "sub-attributes of other types reordered",
        "sub-attributes split into one Vendor-Specific each",
        "a later sub-attribute changed",
        "a type's own order changed",
    ],
)
def test_a_start_copy_whose_vendor_sub_attributes_a_proxy_reordered_is_a_retransmission(
    tmp_path: Path, copy: str
) -> None:
    """A client without Event-Timestamp whose Start carries one Vendor-Specific with several
    sub-attributes (RFC 2865 5.26); its Start sent again after the Interim-Update through a proxy that
    decodes and encodes it again, its sub-attributes of different types in another order, or each in a
    Vendor-Specific of its own (as FreeRADIUS encodes them). records-from-pcap took the whole
    Vendor-Specific for one attribute of the type of its first sub-attribute: the copy was another
    request, taken for a new session's Start, and the Stop billed from it (the first 600 s and their
    octets billed twice), where records-from-radius-detail (a line per sub-attribute, by name) took it
    for the copy it is. Each sub-attribute is digested by its vendor and type: their order across types
    tells nothing; a later sub-attribute changed, or the order of those of one type, still does."""
    first = [(AVPAIR, b"ip:addr-pool=m2m"), (AVPAIR, b"ip:dns=192.0.2.53"), (NAS_PORT, b"Gi0/0/1")]
    start = untimed(1, 0) + cisco(*first)
    if copy == "sub-attributes of other types reordered":
        vsas = cisco(first[2], first[0], first[1])
    elif copy == "sub-attributes split into one Vendor-Specific each":
        vsas = b"".join(cisco(sub) for sub in first)
    elif copy == "a later sub-attribute changed":
        vsas = cisco(first[0], first[1], (NAS_PORT, b"Gi0/0/2"))
    else:
        vsas = cisco(first[1], first[0], first[2])
    again = untimed(1, 0, delay=5) + attr(33, b"proxy-7") + vsas
    records, report = read_start_copy_after_interim(tmp_path, start, again)
    if copy.startswith("sub-attributes"):
        assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
        assert report.rejected == 0 and report.retransmissions == 1
        assert report.sessions == 1 and report.open_sessions == []
    else:  # another request: the Start of a session the NAS restarted into
        assert report.sessions == 2 and report.open_sessions == ["sess-1"]


# -- 9. A NAS that flushes its backlog while it sends live traffic -----------------------------------------


@pytest.mark.parametrize("reader", ["capture", "detail"])
def test_a_backlog_flushed_while_the_nas_sends_live_traffic_is_dated_by_its_event_timestamps(
    tmp_path: Path, reader: str
) -> None:
    """The GGSN of the store-and-forward case is back at 3,999 s and sends its live traffic as it comes
    (a new session's Start, at once; its Interim-Update amid the backlog) while it flushes its queue.
    The first queued request came after a request on time and later than its own Event-Timestamp: taken
    for a clock set back, it and the rest of the queue were dated when they were sent (sess-b billed
    3,000 s late). The NAS was silent between its requests on time at 600 s and 3,999 s: it held what
    happened in between, and those requests are dated by their Event-Timestamp, the live ones too."""
    live = [("sess-c", 1, 3_999, None, 0, 0), ("sess-c", 3, 4_002, 3, 1, 2), ("sess-c", 2, 4_300, 301, 5, 6)]
    plan = [*BACKLOG[:2], live[0], *BACKLOG[2:4], live[1], *BACKLOG[4:], live[2]]
    sent = [*BACKLOG_SENT[:2], 3_999, *BACKLOG_SENT[2:4], 4_002, *BACKLOG_SENT[4:], 4_300]
    if reader == "capture":
        msgs = [
            request(
                i + 1,
                acct(status, session, event=T0 + event, st=st, octets=None if st is None else (up, down)),
            )
            for i, (session, status, event, st, up, down) in enumerate(plan)
        ]
        records, report = read(capture(tmp_path, msgs, sent))
    else:
        names = {1: "Start", 2: "Stop", 3: "Interim-Update"}
        more = ("st", "up", "down")
        blocks = [
            detail_block(
                at(t),
                names[status],
                session,
                event=T0 + event,
                **dict(zip(more, (st, up, down), strict=True)),
            )
            if st is not None
            else detail_block(at(t), names[status], session, event=T0 + event)
            for (session, status, event, st, up, down), t in zip(plan, sent, strict=True)
        ]
        records, report = read_detail(tmp_path, blocks)
    assert [s for s in spans(records) if s[0] != "sess-c"] == BACKLOG_RECORDS
    assert [s for s in spans(records) if s[0] == "sess-c"] == [
        ("sess-c", at(3_999), 3, 1, 2, 1),
        ("sess-c", at(4_002), 298, 4, 4, 2),
    ]
    assert report.rejected == 0 and report.clock_wrong == 0 and report.clock_held == 5


def test_a_clock_set_back_long_after_a_silence_is_not_taken_for_a_backlog(tmp_path: Path) -> None:
    """What the silence does not cover: the NAS, quiet from 0 to 3,600 s (its requests on time on either
    side), has its clock set back 30 minutes 700 s after it came back; the Start it sends then, dated
    inside the silence, comes later than a backlog flushed on return would: a clock that is wrong."""
    plan = [("sess-a", 0, 0), ("sess-b", 3_600, 0), ("sess-c", 4_300, 1_800)]
    msgs = [request(i + 1, acct(1, session, event=T0 + t - off)) for i, (session, t, off) in enumerate(plan)]
    _records, report = read(capture(tmp_path, msgs, [t for _s, t, _o in plan]))
    assert report.clock_held == 0 and report.clock_wrong == 1


def test_detail_start_with_a_placed_event_timestamp_logged_again_is_a_copy(tmp_path: Path) -> None:
    """A Start whose Event-Timestamp is a date in a zone named by letters, logged again 10 minutes later
    after the session's Interim-Update: the copy's date is placed by when it was logged, a quarter hour
    from the Start's, so its time tells nothing; its attributes, the date's text with them, say it is the
    copy (a detail Start with an Event-Timestamp read, not placed, is told by that alone, as in captures)."""

    def block(sent: int, status: str, **kw: int) -> str:
        paris = datetime.fromtimestamp(T0 + 3_600, UTC).strftime("%b %e %Y %H:%M:%S CET")
        return detail_block(at(sent), status, "sess-1", **kw).replace(
            "\tTimestamp", f'\tEvent-Timestamp = "{paris}"\n\tTimestamp'
        )

    blocks = [
        block(0, "Start"),
        detail_block(at(600), "Interim-Update", "sess-1", event=T0 + 600, st=600, up=100, down=200),
        block(605, "Start"),
        detail_block(at(900), "Stop", "sess-1", event=T0 + 900, st=900, up=150, down=300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert spans(records) == [("sess-1", at(0), 600, 100, 200, 1), ("sess-1", at(600), 300, 50, 100, 2)]
    assert report.rejected == 0 and report.retransmissions == 1 and report.sessions == 1


@pytest.mark.parametrize("when", ["during the session", "more than an hour after its Stop"])
def test_a_start_copy_re_sent_late_as_it_was_is_no_wrong_clock(tmp_path: Path, when: str) -> None:
    """The session's Start re-sent as it was (a proxy or a queue: Acct-Delay-Time not grown) 25 minutes
    into the session, or 70 minutes after its Stop: its Event-Timestamp, the Start's, is far from when it
    was sent. It was counted and warned as a NAS clock that is wrong, and the NAS's clock taken for wrong
    from then on: a session the NAS held next (its Start and Stop sent 11 minutes late) was dated when
    sent. It is a copy of the Start (a retransmission), the NAS's clock is right, and the requests it
    held are dated by their Event-Timestamps."""
    copy_at = 1_500 if when == "during the session" else LATE_COPY_AT
    stop_at = 1_800 if when == "during the session" else 900
    plan = [
        (0, acct(1, event=T0)),
        (600, acct(3, event=T0 + 600, st=600, octets=(100, 200))),
        (stop_at, acct(2, event=T0 + stop_at, st=stop_at, octets=(150, 300), terminate=1)),
        (copy_at, acct(1, event=T0)),
        (copy_at + 1, acct(1, "sess-2", event=T0 + copy_at - 700)),
        (copy_at + 2, acct(2, "sess-2", event=T0 + copy_at - 600, st=100, octets=(5, 6), terminate=1)),
    ]
    plan.sort(key=lambda item: item[0])
    msgs = [request(i + 1, attributes) for i, (_t, attributes) in enumerate(plan)]
    records, report = read(capture(tmp_path, msgs, [t for t, _a in plan]))
    assert report.clock_wrong == 0 and report.clock_held == 2 and report.retransmissions == 1
    assert [(r.session, r.start) for r in records if r.session == "sess-2"] == [("sess-2", at(copy_at - 700))]


def test_stopped_sessions_are_remembered_under_the_same_key_in_every_process(tmp_path: Path) -> None:
    """Stopped sessions' Starts are remembered by a 64-bit digest of (client, Acct-Session-Id), not the whole
    key: two sessions whose digests agree share one memory (a new session's Start taken for a late copy of
    the other's). With Python's `hash()` which ones agree changed with PYTHONHASHSEED, so a capture could be
    read one way in one run and another way in the next. The digest is the same in every process."""
    msgs, times = [], []
    for n, sid in enumerate(("sess-1", "sess-2", "sess-3")):
        msgs += [
            request(2 * n + 1, acct(1, sid, event=T0 + 10 * n)),
            request(2 * n + 2, acct(2, sid, event=T0 + 900 + 10 * n, st=900, octets=(150, 300), terminate=1)),
        ]
        times += [10 * n, 900 + 10 * n]
    msgs.append(request(7, acct(1, "sess-4", event=T0 + LATE_COPY_AT)))  # (the three forgotten as closed)
    times.append(LATE_COPY_AT)
    path = capture(tmp_path, msgs, times)
    script = (
        "import sys\n"
        "from gateway.acct_sessions import SessionTracker\n"
        "from gateway.capture import ReadReport, records_from_pcap\n"
        "kept = []\n"
        "init = SessionTracker.__init__\n"
        "def spy(self, *a, **k):\n"
        "    init(self, *a, **k)\n"
        "    kept.append(self)\n"
        "SessionTracker.__init__ = spy\n"
        f"list(records_from_pcap({str(path)!r}, {SECRET!r}, ReadReport()))\n"
        "print(sorted(kept[0].stopped))\n"
    )
    seen = []
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        seen.append(run.stdout)
    assert seen[0].count(",") == 2  # the three sessions remembered
    assert seen[0] == seen[1]


def test_a_start_digests_its_session_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Start is looked up among the stopped sessions remembered (a late copy?), then opens its session,
    which drops any memory of its key: the key's digest (about 2 µs) was made twice for each session, and
    is made once; the sessions read are the same."""
    made: list[tuple[object, str]] = []
    digest = gateway.acct_sessions._stopped_key

    def counted(key: tuple[object, str]) -> int:
        made.append(key)
        return digest(key)

    monkeypatch.setattr(gateway.acct_sessions, "_stopped_key", counted)
    msgs = [
        request(1, acct(1, "sess-1", event=T0)),
        request(2, acct(2, "sess-1", event=T0 + 900, st=900, octets=(150, 300), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 900]))
    assert report.sessions == 1 and len(records) == 1
    assert len(made) == 1


@pytest.mark.parametrize("stale_kept", [1024, 0])  # 0: the entry left behind dropped at once
def test_a_session_id_used_again_takes_no_place_among_the_late_copies_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stale_kept: int
) -> None:
    """`--late-copies N` keeps N stopped sessions' Starts. One whose id a new session took again is no
    longer kept, but its place was still counted: a NAS reusing its session ids (one per line) filled
    the places with them, and sessions were forgotten, counted and warned of with fewer than N kept.
    Three sessions stopped, the second's id opened again, the third stopped after: two kept with
    `--late-copies 2`, and the late copy of the first is still told."""
    msgs, times = [], []
    for n, (sid, start) in enumerate((("sess-b", 0), ("sess-a", 10), ("sess-c", 6_000))):
        msgs += [
            request(2 * n + 1, acct(1, sid, event=T0 + start)),
            request(2 * n + 2, acct(2, sid, event=T0 + start + 900, st=900, octets=(150, 300), terminate=1)),
        ]
        times += [start, start + 900]
    msgs.append(request(7, acct(1, "sess-a", event=T0 + LATE_COPY_AT)))  # (a new session, the id again)
    times.append(LATE_COPY_AT)
    msgs.append(request(8, acct(1, "sess-b", event=T0)))  # the first session's Start, late
    times.append(11_000)
    order = sorted(range(len(times)), key=times.__getitem__)
    path = capture(tmp_path, [msgs[i] for i in order], [times[i] for i in order])
    monkeypatch.setattr(gateway.acct_sessions, "_STALE_KEPT", stale_kept)
    report = ReadReport()
    records = list(records_from_pcap(path, SECRET, report, late_copies=2))
    summary = report.as_dict()
    assert len(records) == 3 and report.open_sessions == ["sess-a"]
    assert summary["late_copies_forgotten"] == 0 and summary["starts_after_forgotten"] == 0
    assert summary["start_copies_late"] == 1 and summary["start_copies_late_first"]["session"] == "sess-b"  # type: ignore[index]


@pytest.mark.parametrize("restart", [7_200, 1_200])
def test_a_start_after_accounting_on_with_the_stopped_sessions_event_timestamp_is_a_new_session(
    tmp_path: Path, restart: int
) -> None:
    """A NAS without a real-time clock starts each boot at the same time (here 2020-09-13) and counts
    its session ids from the same number: two hours after a session stopped, the NAS restarts, says so
    by Accounting-On, and opens a session with the same id whose Start carries the same Event-Timestamp.
    It was taken for a late copy of the stopped session's Start: the new session joined at its
    Interim-Update, its first 600 s and 30/40 octets never billed. After the Accounting-On it is a new
    session, billed whole.  A restart within the hour the stopped session is still held as closed
    (`CLOSED_MEMORY_S`: 1,200 s) lost the new session whole: its Start taken for a retransmission, its
    Interim-Update and Stop refused as requests after the session's Stop."""
    boot = 1_600_000_000
    msgs = [
        request(1, acct(1, event=boot)),
        request(2, acct(2, event=boot + 600, st=600, octets=(100, 200), terminate=1)),
        request(3, attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1))) + attr(55, u32(boot))),
        request(4, acct(1, event=boot)),
        request(5, acct(3, event=boot + 600, st=600, octets=(30, 40))),
        request(6, acct(2, event=boot + 900, st=900, octets=(50, 60), terminate=1)),
    ]
    times = [0, 600, restart - 1, restart, restart + 600, restart + 900]
    records, report = read(capture(tmp_path, msgs, times))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(restart), 600, 30, 40, 1),
        ("sess-1", at(restart + 600), 300, 20, 20, 2),
    ]
    assert report.joined == [] and report.as_dict()["start_copies_late"] == 0 and report.sessions == 2
    assert report.retransmissions == 0


def _sessions_capture(
    tmp_path: Path, sessions: list[tuple[str, int]], copies: list[tuple[str, int, int]]
) -> Path:
    """Each (id, start) a session of 900 s (Start, Stop), and each (id, its Start's time, seen at) a copy of
    a Start as it was; in time order."""
    msgs, times = [], []
    for sid, start in sessions:
        msgs += [
            request(1, acct(1, sid, event=T0 + start)),
            request(2, acct(2, sid, event=T0 + start + 900, st=900, octets=(150, 300), terminate=1)),
        ]
        times += [start, start + 900]
    for n, (sid, start, seen) in enumerate(copies):
        msgs.append(request(10 + n, acct(1, sid, event=T0 + start)))  # (each its own Identifier)
        times.append(seen)
    order = sorted(range(len(times)), key=times.__getitem__)
    return capture(tmp_path, [msgs[i] for i in order], [times[i] for i in order])


def test_at_the_late_copies_kept_the_oldest_remembered_is_forgotten_first(tmp_path: Path) -> None:
    """`--late-copies 2`: sess-1 and sess-2 stopped, sess-1's id opened again (its place given up) and
    stopped, sess-3 stopped; sess-4's Start, once the three are past the hour, remembers them: of the
    three kept, sess-2 (remembered before the second sess-1) is forgotten. Its Start's copy opens a
    session, counted; the copies of sess-1's second Start and of sess-3's are late copies."""
    path = _sessions_capture(
        tmp_path,
        [("sess-1", 0), ("sess-2", 10), ("sess-1", 5_000), ("sess-3", 6_000), ("sess-4", 10_600)],
        [("sess-2", 10, 11_000), ("sess-1", 5_000, 11_010), ("sess-3", 6_000, 11_020)],
    )
    report = ReadReport()
    records = list(records_from_pcap(path, SECRET, report, late_copies=2))
    summary = report.as_dict()
    assert len(records) == 5 and report.sessions == 6 and report.open_sessions == ["sess-2"]
    assert summary["late_copies_forgotten"] == 1 and summary["starts_after_forgotten"] == 1
    assert summary["starts_after_forgotten_first"]["session"] == "sess-2"  # type: ignore[index]
    assert summary["start_copies_late"] == 2 and summary["start_copies_late_first"]["session"] == "sess-1"  # type: ignore[index]


def test_a_stopped_sessions_start_is_remembered_a_day_after_its_stop_not_more(tmp_path: Path) -> None:
    """A Start copy seen a day after its session's Stop (to the second) is a late copy; one seen a second
    later opens a session (the memory is a day: not counted as forgotten for `--late-copies`). sess-1's
    id was opened again before (its first place given up, first in the queue): sess-2's Start is still
    forgotten at its time, and the second sess-1's kept to its own."""
    day = gateway.acct_sessions.LATE_COPY_MEMORY_S
    path = _sessions_capture(
        tmp_path,
        [("sess-1", 0), ("sess-2", 10), ("sess-1", 5_000)],
        [
            ("sess-2", 10, 910 + day),
            ("sess-2", 10, 911 + day),
            ("sess-1", 5_000, 5_900 + day),
            ("sess-1", 5_000, 5_901 + day),
        ],
    )
    records, report = read(path)
    summary = report.as_dict()
    assert len(records) == 3 and report.sessions == 5
    assert report.open_sessions == ["sess-1", "sess-2"]
    assert summary["start_copies_late"] == 2 and report.retransmissions == 2
    assert summary["late_copies_forgotten"] == 0 and summary["starts_after_forgotten"] == 0


# (the stopped session held closed an hour, or remembered after: `_Stopped`, by its Event-Timestamp)
@pytest.mark.parametrize(
    ("timed", "seen"), [(True, 1_500), (False, 1_500), (True, LATE_COPY_AT), (False, LATE_COPY_AT)]
)
def test_a_start_from_before_accounting_on_re_sent_after_it_is_no_new_session(
    tmp_path: Path, seen: int, timed: bool
) -> None:
    """A session stopped, its NAS restarted (Accounting-On at 1,200 s), then a proxy re-sent the session's
    Start from its queue: its Event-Timestamp (or, without one, its Acct-Delay-Time: sent at 0 s) dates
    it before the Accounting-On, so it is the session's from before the reboot, re-sent: a copy. It opened
    an empty session, listed as one without a Stop; without Event-Timestamp, past the hour the session is
    held as closed, still (the Accounting-On had cleared the Start's attributes, all that tells the copy)."""
    delay = seen if not timed else None

    def start(**kw: object) -> bytes:
        return acct(1, event=T0, **kw) if timed else untimed(1, 0, **kw)  # type: ignore[arg-type]

    stop = {"st": 900, "octets": (150, 300), "terminate": 1}
    on = attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1)))
    msgs = [
        request(1, start()),
        request(2, acct(2, event=T0 + 900, **stop) if timed else untimed(2, 900, **stop)),  # type: ignore[arg-type]
        request(3, on + attr(55, u32(T0 + 1_200)) if timed else on),
        request(4, start(delay=delay)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 900, 1_200, seen]))
    assert spans(records) == [("sess-1", at(0), 900, 150, 300, 1)]
    assert report.sessions == 1 and report.open_sessions == [] and report.rejected == 0
    assert report.retransmissions == 1


@pytest.mark.parametrize("timed", [True, False])
def test_a_start_after_accounting_on_on_another_clock_than_its_is_a_new_session(
    tmp_path: Path, timed: bool
) -> None:
    """The NAS restarts within the hour and opens a session with the stopped one's id and attributes.
    Its Accounting-On and its Starts are dated on two clocks: the Accounting-On without Event-Timestamp
    (dated when sent) and the Starts by a NAS clock without a real-time clock (2020-09-13 at each boot);
    or the Accounting-On with an Event-Timestamp five minutes ahead and the Starts without one.  Dated
    before the Accounting-On only by comparing the two clocks, the new session's Start was taken for the
    stopped session's re-sent from before the reboot: its Interim-Update and Stop refused, nothing of it
    billed."""
    boot = 1_600_000_000
    on = attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1)))
    if timed:
        msgs = [
            request(1, acct(1, event=boot)),
            request(2, acct(2, event=boot + 600, st=600, octets=(100, 200), terminate=1)),
            request(3, on),
            request(4, acct(1, event=boot)),
            request(5, acct(3, event=boot + 600, st=600, octets=(30, 40))),
            request(6, acct(2, event=boot + 900, st=900, octets=(50, 60), terminate=1)),
        ]
    else:
        msgs = [
            request(1, untimed(1, 0)),
            request(2, untimed(2, 600, st=600, octets=(100, 200), terminate=1)),
            request(3, on + attr(55, u32(T0 + 1_200 + 300))),
            request(4, untimed(1, 1_210)),
            request(5, untimed(3, 1_810, st=600, octets=(30, 40))),
            request(6, untimed(2, 2_110, st=900, octets=(50, 60), terminate=1)),
        ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 1_200, 1_210, 1_810, 2_110]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(1_210), 600, 30, 40, 1),
        ("sess-1", at(1_810), 300, 20, 20, 2),
    ]
    assert report.sessions == 2 and report.rejected == 0 and report.retransmissions == 0


def test_a_start_after_accounting_on_with_the_event_timestamp_of_a_session_closed_then_is_a_new_session(
    tmp_path: Path,
) -> None:
    """A NAS without a real-time clock (2020-09-13 at each boot) opened a session 3,100 s after its boot;
    it stopped, the NAS restarted within the hour (Accounting-On at 1,200 s) and opened a session with the
    same id 3,100 s after that boot, its Start with the same Event-Timestamp, after the stopped session
    was forgotten as closed (an hour after its Stop) and remembered for its late copies: the new session
    was taken for a late copy of the stopped one's Start, joined at its Interim-Update, its first 600 s
    and 30/40 octets never billed."""
    boot = 1_600_000_000
    msgs = [
        request(1, acct(1, event=boot + 3_100)),
        request(2, acct(2, event=boot + 3_700, st=600, octets=(100, 200), terminate=1)),
        request(3, attr(40, u32(7)) + attr(4, bytes((192, 0, 2, 1))) + attr(55, u32(boot))),
        request(4, acct(1, event=boot + 3_100)),
        request(5, acct(3, event=boot + 3_700, st=600, octets=(30, 40))),
        request(6, acct(2, event=boot + 4_000, st=900, octets=(50, 60), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 1_200, 4_300, 4_900, 5_200]))
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(4_300), 600, 30, 40, 1),
        ("sess-1", at(4_900), 300, 20, 20, 2),
    ]
    assert report.joined == [] and report.as_dict()["start_copies_late"] == 0 and report.sessions == 2


def _accounting_on(t: int, *, ident: int, event: int | None, delay: int | None = None) -> bytes:
    """An Accounting-On with its Acct-Session-Id, at `t` s (seen), its Event-Timestamp `event` if any."""
    on = attr(40, u32(7)) + attr(44, b"on-1") + attr(4, bytes((192, 0, 2, 1)))
    on += attr(55, u32(event)) if event is not None else b""
    return request(ident, on + (attr(41, u32(delay)) if delay is not None else b""))


@pytest.mark.parametrize("timed", [True, False])
def test_an_accounting_on_re_sent_late_is_a_copy_not_a_restart(tmp_path: Path, timed: bool) -> None:
    """The NAS restarted (Accounting-On at 1,200 s), then opened and stopped sess-2; a proxy re-sent the
    Accounting-On (its Event-Timestamp, or, without one, its Acct-Delay-Time: sent at 1,200 s) and sess-2's
    Start at 3,000 s.  The copy of the Accounting-On was a restart again: sess-2, opened after the first,
    taken for one before it, and its Start's copy an empty session listed without a Stop."""

    def start(sid: str, t: int, **kw: object) -> bytes:
        return acct(1, sid, event=T0 + t, **kw) if timed else untimed(1, t, session=sid, **kw)  # type: ignore[arg-type]

    def stop(sid: str, t: int) -> bytes:
        kw = {"st": 600, "octets": (150, 300), "terminate": 1}
        return acct(2, sid, event=T0 + t, **kw) if timed else untimed(2, t, session=sid, **kw)  # type: ignore[arg-type]

    event = T0 + 1_200 if timed else None
    msgs = [
        request(1, start("sess-1", 0)),
        request(2, stop("sess-1", 600)),
        _accounting_on(1_200, ident=3, event=event),
        request(4, start("sess-2", 1_300)),
        request(5, stop("sess-2", 1_900)),
        _accounting_on(3_000, ident=6, event=event, delay=None if timed else 1_800),
        request(7, start("sess-2", 1_300, delay=1_800)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 600, 1_200, 1_300, 1_900, 3_000, 3_100]))
    assert spans(records) == [("sess-1", at(0), 600, 150, 300, 1), ("sess-2", at(1_300), 600, 150, 300, 1)]
    assert report.sessions == 2 and report.open_sessions == [] and report.rejected == 0
    assert report.retransmissions == 2 and report.clock_wrong == 0


@pytest.mark.parametrize("clock", ["no Event-Timestamp", "no real-time clock"])
def test_a_nas_restarting_twice_with_the_same_accounting_on_ends_its_sessions_twice(
    tmp_path: Path, clock: str
) -> None:
    """A NAS without Event-Timestamp, or without a real-time clock (2020-09-13 at each boot), sends the
    same Accounting-On at each restart (Identifiers counted on): the second, sent 1,000 s after the first,
    is a restart, no copy; it ends sess-1, whose id the new boot's session takes."""
    boot = 1_600_000_000

    def start(t: int) -> bytes:
        return acct(1, event=boot + t) if clock == "no real-time clock" else untimed(1, t)

    event = boot if clock == "no real-time clock" else None
    msgs = [
        _accounting_on(0, ident=1, event=event),
        request(2, start(100)),
        _accounting_on(1_000, ident=3, event=event),
        request(4, start(150)),
        request(5, acct(2, event=T0 + 1_700, st=600, octets=(150, 300), terminate=1)),
    ]
    records, report = read(capture(tmp_path, msgs, [0, 100, 1_000, 1_100, 1_700]))
    assert spans(records) == [("sess-1", at(1_100), 600, 150, 300, 1)]
    assert report.sessions == 2 and report.open_sessions == ["sess-1"] and report.rejected == 0
    assert report.retransmissions == 0


def test_detail_an_accounting_on_logged_again_late_is_a_copy_not_a_restart(tmp_path: Path) -> None:
    """As in a capture: the Accounting-On logged again at 3,000 s (a proxy re-sent it) made sess-2, opened
    after the first, one before it, and its Start logged again an empty session without a Stop."""
    blocks = [
        detail_block(at(0), "Start", "sess-1", event=T0),
        detail_block(at(600), "Stop", "sess-1", event=T0 + 600, st=600, up=150, down=300),
        detail_block(at(1_200), "Accounting-On", "on-1", event=T0 + 1_200),
        detail_block(at(1_300), "Start", "sess-2", event=T0 + 1_300),
        detail_block(at(1_900), "Stop", "sess-2", event=T0 + 1_900, st=600, up=150, down=300),
        detail_block(at(3_000), "Accounting-On", "on-1", event=T0 + 1_200),
        detail_block(at(3_100), "Start", "sess-2", event=T0 + 1_300),
    ]
    records, report = read_detail(tmp_path, blocks)
    assert [(r.session, r.start, r.duration_s) for r in records] == [
        ("sess-1", at(0), 600),
        ("sess-2", at(1_300), 600),
    ]
    assert report.open_sessions == [] and report.retransmissions == 2 and report.clock_wrong == 0


@pytest.mark.parametrize("reader", ["capture", "detail"])
def test_a_nas_without_real_time_clock_restarting_is_no_copy_when_event_timestamps_are_trusted(
    tmp_path: Path, reader: str
) -> None:
    """`--event-time trust` checks no clock: a NAS without a real-time clock (2020-09-13 at each boot)
    sends the same Accounting-On at each restart, and its new boot's session the same Start and Stop as
    the first's. The second Accounting-On, sent 1,000 s after the first, was taken for a copy (its
    Event-Timestamp taken for a right clock's, unchecked): the first session, held as closed, was not
    ended by it, so the new boot's session was a retransmission of it, lost."""
    boot = 1_600_000_000
    if reader == "capture":
        stop = {"st": 600, "octets": (150, 300), "terminate": 1}
        msgs = [
            _accounting_on(0, ident=1, event=boot),
            request(2, acct(1, event=boot + 100)),
            request(3, acct(2, event=boot + 700, **stop)),  # type: ignore[arg-type]
            _accounting_on(1_000, ident=4, event=boot),
            request(5, acct(1, event=boot + 100)),
            request(6, acct(2, event=boot + 700, **stop)),  # type: ignore[arg-type]
        ]
        path = capture(tmp_path, msgs, [0, 100, 700, 1_000, 1_100, 1_700])
        report: ReadReport | LogReport = ReadReport()
        records = list(records_from_pcap(path, SECRET, report, event_time="trust"))
    else:
        blocks = [
            detail_block(at(0), "Accounting-On", "on-1", event=boot),
            detail_block(at(100), "Start", "sess-1", event=boot + 100),
            detail_block(at(700), "Stop", "sess-1", event=boot + 700, st=600, up=150, down=300),
            detail_block(at(1_000), "Accounting-On", "on-1", event=boot),
            detail_block(at(1_100), "Start", "sess-1", event=boot + 100),
            detail_block(at(1_700), "Stop", "sess-1", event=boot + 700, st=600, up=150, down=300),
        ]
        (tmp_path / "detail").write_text("".join(blocks))
        report = LogReport()
        records = list(records_from_radius_detail(tmp_path / "detail", report, event_time="trust"))
    first = datetime.fromtimestamp(boot + 100, UTC)
    assert [(r.session, r.start, r.duration_s) for r in records] == [("sess-1", first, 600)] * 2
    assert report.sessions == 2 and report.retransmissions == 0 and report.open_sessions == []


def test_late_copies_below_zero_keeps_none_as_zero_does(tmp_path: Path) -> None:
    """`records_from_pcap(late_copies=-1)` (the library's callers pass any int; the command line refuses
    it) keeps no stopped session's Start, as 0 does: a NAS without Event-Timestamp's forgotten Start
    stopped the read (its attributes' memory emptied past its end: StopIteration)."""
    msgs = [
        request(1, untimed(1, 0)),
        request(2, untimed(2, 900, st=900, octets=(150, 300), terminate=1)),
        request(3, untimed(1, 1_000, session="sess-2")),
    ]
    path = capture(tmp_path, msgs, [0, 900, 1_000 + LATE_COPY_AT])
    got = {}
    for kept in (0, -1):
        report = ReadReport()
        got[kept] = (spans(list(records_from_pcap(path, SECRET, report, late_copies=kept))), report.as_dict())
    assert got[-1] == got[0] and got[0][1]["late_copies_forgotten"] == 1


# -- a capture whose own clock was never set ---------------------------------------------------------------


def test_a_capture_whose_clock_was_never_set_is_said_once_and_dated_by_event_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A probe without a real-time clock captures from 1970-01-01 (its uptime), the GGSN's clock right and
    its requests carrying Acct-Delay-Time (2 s) and Event-Timestamp. Every request was flagged: its
    Acct-Delay-Time as one that would have it sent before 2000 (`delay_wrong`), its Event-Timestamp as a
    NAS clock wrong (`clock_wrong`), and the session dated in 1970 by the probe's clock. The capture's
    clock unset is said once, its requests' Event-Timestamps taken as written (nothing to check them
    against), their Acct-Delay-Times kept: the records are the session's."""
    msgs = [
        request(1, acct(1, event=T0, delay=2)),
        request(2, acct(3, event=T0 + 600, st=600, octets=(100, 200), delay=2)),
        request(3, acct(2, event=T0 + 900, st=900, octets=(150, 300), terminate=1, delay=2)),
    ]
    frames = []
    for i, (msg, t) in enumerate(zip(msgs, (302, 902, 1_202), strict=True)):  # (uptime: s since boot)
        frames.append((t * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg), ident=i))))
        frames.append((t * 1_000_000 + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg))))))
    path = write_pcap(tmp_path / "probe.pcap", 1, frames)
    records, report = read(path)
    assert spans(records) == [
        ("sess-1", at(0), 600, 100, 200, 1),
        ("sess-1", at(600), 300, 50, 100, 2),
    ]
    assert (report.delay_wrong, report.clock_wrong, report.clock_held) == (0, 0, 0)
    assert report.clock_unset == 3
    assert report.as_dict()["clock_unset_first"] == {"at": 1, "file": str(path), "time": 302}
    said = report.clock_unset_warning("packet")
    assert said == (
        f"the capture's clock was not set (3 Accounting-Requests captured before 2000, the first: {path} "
        "packet 1, at 1970-01-01T00:05:02Z: a probe without a real-time clock): their Event-Timestamps are taken as "
        "written, unchecked, their Acct-Delay-Times as given"
    )
    assert main(["records-from-pcap", str(path), "--secret", SECRET.decode()]) == 0
    out = capsys.readouterr().out
    assert out.count("warning:") == 1 and f"warning: {said}" in out


@pytest.mark.parametrize(
    ("seen", "undated", "count", "dated"),
    [
        ([1_000], 0, "1 Accounting-Request captured", None),
        (
            [302, 902],
            1,
            "2 Accounting-Requests captured",
            "; 1 without Event-Timestamp is dated by that clock",
        ),
        ([302, 902, 1_202], 3, "3 Accounting-Requests captured", "; 3 without Event-Timestamp are dated"),
    ],
)
def test_the_unset_clock_warning_counts_its_requests_as_they_are(
    seen: list[int], undated: int, count: str, dated: str | None
) -> None:
    """The warning of a capture's clock never set says how many requests it saw so and how many of them
    are dated by that clock: it said '1 Accounting-Requests' of one, and '0 without Event-Timestamp are
    dated by that clock, not when they happened' of a capture whose requests all had one, as if some were
    misdated."""
    report = ReadReport()
    report.current_file = "probe.pcap"
    for i, t in enumerate(seen):
        report.clock_unset_said(i + 1, t, None if i < undated else t + 946_684_800)
    said = report.clock_unset_warning("packet")
    assert said is not None and f"was not set ({count} before 2000, the first: " in said, said
    ending = "their Acct-Delay-Times as given" if dated is None else "not when they happened"
    assert said.endswith(ending if undated != 1 else "not when it happened"), said
    assert ("without Event-Timestamp" in said) == (dated is not None), said
    if dated is not None:
        assert dated in said, said
