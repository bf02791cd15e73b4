"""The same RADIUS accounting read from a capture (records-from-pcap) and from a FreeRADIUS detail file
(records-from-radius-detail) gives the same sessions and usage: retransmissions told from new events
by one rule, a NAS's restarts (Accounting-On) of a NAS without a real-time clock, dates a detail file
places."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from handmade_pcap import (
    SECRET,
    attr,
    ethernet,
    ipv4,
    request,
    response,
    sll,
    u32,
    udp,
    vsa3gpp,
    write_pcap,
    write_pcapng,
)

from accounting.records import UsageRecord
from gateway.acct_sessions import RETRY_WINDOW_S, EventTime
from gateway.capture import ReadReport, records_from_pcap
from gateway.logs import LogReport, records_from_radius_detail

T0 = 1_772_360_000  # 2026-03-01 10:13:20 UTC
GGSN, AAA = "192.0.2.1", "192.0.2.10"
STATUS = {1: "Start", 2: "Stop", 3: "Interim-Update", 7: "Accounting-On"}


@dataclass(frozen=True)
class Sent:
    """An Accounting-Request the GGSN sent: seen at T0 + `t`, its RADIUS Identifier, what it says."""

    t: int
    ident: int
    status: int
    session: str = ""
    event: int | None = None  # its Event-Timestamp (None: none)
    st: int | None = None
    octets: tuple[int, int] | None = None
    delay: int | None = None  # its Acct-Delay-Time (None: none)
    answered: bool = True  # the server's Accounting-Response to it is in the capture
    answer_secret: bytes = SECRET  # the secret its Response Authenticator is made with
    answer_after_us: int = 1_000  # when its Accounting-Response is seen, after it


def _attributes(sent: Sent) -> list[tuple[bytes, str]]:
    """Each attribute of the request as a capture carries it and as rlm_detail writes it."""
    parts = [(attr(40, u32(sent.status)), f"Acct-Status-Type = {STATUS[sent.status]}")]
    if sent.session:
        parts.append((attr(44, sent.session.encode()), f'Acct-Session-Id = "{sent.session}"'))
    parts.append((attr(4, bytes((192, 0, 2, 1))), "NAS-IP-Address = 192.0.2.1"))
    if sent.event is not None:
        parts.append((attr(55, u32(sent.event)), f"Event-Timestamp = {sent.event}"))
    if sent.status != 7:
        parts += [
            (attr(30, b"m2m.example"), 'Called-Station-Id = "m2m.example"'),
            (attr(31, b"33612345678"), 'Calling-Station-Id = "33612345678"'),
            (vsa3gpp(1, b"208011234567890"), '3GPP-IMSI = "208011234567890"'),
            (vsa3gpp(18, b"20801"), '3GPP-SGSN-MCC-MNC = "20801"'),
            (attr(25, b"LINE-1"), "Class = 0x4c494e452d31"),
        ]
    if sent.st is not None:
        parts.append((attr(46, u32(sent.st)), f"Acct-Session-Time = {sent.st}"))
    if sent.octets is not None:
        up, down = sent.octets
        parts += [
            (attr(42, u32(up)), f"Acct-Input-Octets = {up}"),
            (attr(43, u32(down)), f"Acct-Output-Octets = {down}"),
        ]
    if sent.status == 2:
        parts.append((attr(49, u32(1)), "Acct-Terminate-Cause = User-Request"))
    if sent.delay is not None:
        parts.append((attr(41, u32(sent.delay)), f"Acct-Delay-Time = {sent.delay}"))
    return parts


def both_ways(tmp_path: Path, requests: list[Sent], *, responses: bool = True) -> tuple[Path, Path]:
    """The requests as a capture (each `answered` 1 ms later; none if not `responses`: a capture of one
    direction) and as the detail file its server wrote."""
    frames, blocks = [], []
    for sent in requests:
        parts = _attributes(sent)
        msg = request(sent.ident, b"".join(octets for octets, _ in parts))
        ts_us = (T0 + sent.t) * 1_000_000
        frames.append((ts_us, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg)))))
        if responses and sent.answered:
            frames.append(
                (
                    ts_us + sent.answer_after_us,
                    ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg, sent.answer_secret)))),
                )
            )
        when = datetime.fromtimestamp(T0 + sent.t, UTC)
        lines = [when.strftime("%a %b %e %H:%M:%S %Y"), *(f"\t{line}" for _, line in parts)]
        blocks.append("\n".join([*lines, f"\tTimestamp = {T0 + sent.t}"]) + "\n\n")
    detail = tmp_path / "detail-20260301"
    detail.write_text("".join(blocks))
    return write_pcap(tmp_path / "c.pcap", 1, sorted(frames, key=lambda frame: frame[0])), detail


def reports_and_records(
    tmp_path: Path, requests: list[Sent], *, event_time: EventTime = "check"
) -> list[tuple[ReadReport | LogReport, list[UsageRecord]]]:
    """Each reader's report and records: the capture's, then the detail file's."""
    pcap, detail = both_ways(tmp_path, requests)
    captured, logged = ReadReport(), LogReport()
    return [
        (captured, list(records_from_pcap(pcap, SECRET, captured, event_time=event_time))),
        (logged, list(records_from_radius_detail(detail, logged, event_time=event_time))),
    ]


def read_each(tmp_path: Path, requests: list[Sent], *, responses: bool = True) -> list[tuple[object, ...]]:
    """What each reader gives (records, sessions, sessions without a Stop, retransmissions, rejects): the
    capture's, then the detail file's."""
    pcap, detail = both_ways(tmp_path, requests, responses=responses)
    captured, logged = ReadReport(), LogReport()
    got = []
    for report, records in (
        (captured, list(records_from_pcap(pcap, SECRET, captured))),
        (logged, list(records_from_radius_detail(detail, logged))),
    ):
        spans = [
            (r.session, int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up, r.bytes_down)
            for r in records
        ]
        got.append(
            (spans, report.sessions, report.open_sessions, report.retransmissions, dict(report.reasons))
        )
    return got


def read_both(tmp_path: Path, requests: list[Sent], *, responses: bool = True) -> tuple[object, ...]:
    """What each reader gives, asserted the same; returns it."""
    got = read_each(tmp_path, requests, responses=responses)
    assert got[0] == got[1]
    return got[0]


# -- a retransmission is the same request within the client's retry window --------------------------------


def test_the_same_accounting_on_and_start_hours_later_are_a_reboot_read_both_ways(tmp_path: Path) -> None:
    """A NAS without Event-Timestamp counts its Identifiers from 0 at each boot: hours after its first boot
    it reboots and sends the same Accounting-On (Identifier 0) and its first session's same Start
    (Identifier 1), the same octets. The capture took both for retransmissions (the same octets on the
    same port and Identifier, whatever the time between): the restart ended nothing, the new boot's
    session was lost (its Stop a reject, 'never seen before'), where the detail file billed it."""
    boot = 20_000
    requests = [
        Sent(0, 0, 7),
        Sent(100, 1, 1, "sess-1"),
        Sent(700, 2, 2, "sess-1", st=600, octets=(100, 200)),
        Sent(boot, 0, 7),
        Sent(boot + 100, 1, 1, "sess-1"),
        Sent(boot + 700, 2, 2, "sess-1", st=600, octets=(300, 400)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("sess-1", 100, 600, 100, 200), ("sess-1", boot + 100, 600, 300, 400)]
    assert (sessions, open_sessions, retransmissions, rejects) == (2, [], 0, {})


def test_the_same_accounting_on_re_sent_within_the_retry_window_is_a_copy_read_both_ways(
    tmp_path: Path,
) -> None:
    """The NAS restarted (Accounting-On, no Event-Timestamp) and, its answer lost, re-sent it as it was
    8 s later, after its new session's Start: the capture takes the same octets for a retransmission;
    the detail file, whose server logged the copy again (past its duplicate cache), took it for another
    restart, which ended the new session: its Stop was a reject, 'never seen before', its usage lost.
    Once past the retry window, the same Accounting-On is a restart both ways."""
    requests = [
        Sent(0, 5, 1, "sess-1"),
        Sent(1_000, 0, 7),
        Sent(1_005, 1, 1, "sess-2"),
        Sent(1_008, 0, 7),
        Sent(1_600, 2, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("sess-2", 1_005, 595, 100, 200)]
    assert (sessions, open_sessions, retransmissions, rejects) == (2, ["sess-1"], 1, {})
    later = [*requests[:3], Sent(1_005 + RETRY_WINDOW_S + 1, 0, 7), requests[4]]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, later)
    assert spans == [] and open_sessions == ["sess-1", "sess-2"] and retransmissions == 0
    assert rejects == {"Stop of a session never seen before": 1}


def test_a_copy_of_an_accounting_on_re_sent_as_its_latest_copy_was_is_a_copy_read_both_ways(
    tmp_path: Path,
) -> None:
    """The NAS restarted (Accounting-On, no Event-Timestamp), had no answer, and re-sent it 20 s later with
    its Acct-Delay-Time grown (a new Identifier); a proxy re-sent that copy as it was 20 s after it. The
    capture takes the last for a retransmission of the second (the same octets within the retry window);
    the detail file ran the window from the first copy, 40 s before, not from the latest: another restart,
    which ended the session opened between, its Stop a reject, 'never seen before', its usage lost."""
    requests = [
        Sent(0, 5, 1, "sess-1"),
        Sent(1_000, 0, 7, delay=0),
        Sent(1_005, 1, 1, "sess-2"),
        Sent(1_020, 2, 7, delay=20),
        Sent(1_040, 2, 7, delay=20),
        Sent(1_600, 3, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("sess-2", 1_005, 595, 100, 200)]
    assert (sessions, open_sessions, retransmissions, rejects) == (2, ["sess-1"], 2, {})


def test_an_accounting_on_re_sent_on_its_identifier_then_on_another_is_a_copy_read_both_ways(
    tmp_path: Path,
) -> None:
    """The NAS restarted (Accounting-On, no Event-Timestamp, no Acct-Delay-Time), re-sent it as it was 25 s
    later on the same Identifier, then 25 s after that on another (the same attributes). The capture took
    the second for a retransmission by its octets, but ran the retry window of the third from the first
    (50 s before): another restart, which ended the session opened in between, its Stop a reject, 'never
    seen before', its usage lost; the detail file, which logs every copy, ran it from the second."""
    requests = [
        Sent(0, 5, 1, "sess-1"),
        Sent(1_000, 0, 7),
        Sent(1_005, 1, 1, "sess-2"),
        Sent(1_025, 0, 7),
        Sent(1_050, 2, 7),
        Sent(1_600, 3, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("sess-2", 1_005, 595, 100, 200)]
    assert (sessions, open_sessions, retransmissions, rejects) == (2, ["sess-1"], 2, {})


def test_an_unanswered_accounting_on_re_sent_past_the_retry_window_is_a_copy_where_responses_show(
    tmp_path: Path,
) -> None:
    """The NAS restarted (Accounting-On, no Event-Timestamp, no Acct-Delay-Time), had no answer and re-sent
    it as it was 45 s later (its backoff grown past the retry window), after its new session's Start. The
    capture, whose requests it saw answered, took the copy for another restart: it ended the session opened
    in between, its Stop a reject, 'never seen before', its usage lost. A request unanswered is re-sent
    until answered: a retransmission, whatever the time between. A detail file holds no responses, nor does
    a capture of one direction: both keep to the retry window (a restart), alike."""
    requests = [
        Sent(0, 5, 1, "sess-1"),
        Sent(1_000, 0, 7, answered=False),
        Sent(1_005, 1, 1, "sess-2"),
        Sent(1_045, 0, 7, answered=False),
        Sent(1_600, 3, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    captured, logged = read_each(tmp_path, requests)
    assert captured == ([("sess-2", 1_005, 595, 100, 200)], 2, ["sess-1"], 1, {})
    restart = ([], 2, ["sess-1", "sess-2"], 0, {"Stop of a session never seen before": 1})
    assert logged == restart
    assert read_both(tmp_path, requests, responses=False) == restart
    answered = [sent if sent.status != 7 else Sent(sent.t, 0, 7) for sent in requests]
    assert read_both(tmp_path, answered) == restart  # answered, then the same octets: a restart


SLOW = 40_000_000  # a server answering 40 s late


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param(
            [
                Sent(1_000, 0, 7, answer_after_us=SLOW),
                Sent(1_005, 1, 1, "sess-2", answer_after_us=SLOW),
                Sent(1_035, 0, 7, answered=False),
                Sent(1_600, 2, 2, "sess-2", st=595, octets=(100, 200), answer_after_us=SLOW),
            ],
            id="server answering late",
        ),
        pytest.param(
            [
                Sent(1_000, 0, 7, answered=False),
                Sent(1_005, 1, 1, "sess-2", answered=False),
                Sent(1_045, 0, 7),
                Sent(1_046, 1, 1, "sess-2"),
                Sent(1_600, 2, 2, "sess-2", st=595, octets=(100, 200)),
            ],
            id="capture begun while the server was down",
        ),
    ],
)
def test_an_accounting_on_re_sent_before_its_clients_first_answer_is_a_copy(
    tmp_path: Path, requests: list[Sent]
) -> None:
    """The capture holds the server's answers, but none to this client yet: the server answers 40 s late,
    or was down when the capture began and answers the NAS's copies 45 s on. The NAS re-sent its
    Accounting-On (no Event-Timestamp, no Acct-Delay-Time) past the retry window meanwhile: the capture,
    having paired no answer to the client so far, took the copy for a restart, which ended the session
    opened in between, its Stop a reject, 'never seen before', its usage lost. The answers read within the
    time requests wait to be handled in order show the capture holds them: the copy is a copy."""
    captured, _ = read_each(tmp_path, requests)
    assert captured == ([("sess-2", 1_005, 595, 100, 200)], 1, [], 1 + (len(requests) == 5), {})


# -- a NAS without a real-time clock restarting ------------------------------------------------------------

BOOT_DATE = 1_600_000_000  # 2020-09-13: where a NAS without a real-time clock starts its clock at each boot
CLOCKS = {
    "no real-time clock": lambda t: BOOT_DATE + t,
    "near the epoch": lambda t: 1_000 + t,
    "no Event-Timestamp": lambda t: None,
}


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_a_start_after_each_reboot_with_the_last_boots_event_timestamp_is_a_new_session(
    tmp_path: Path, clock: str
) -> None:
    """A NAS whose clock starts again at each boot (or that sends no Event-Timestamp) reboots twice, each
    time saying so (Accounting-On), and opens sess-1 again 100 s after each boot, its Start dated as the
    last boot's. Its session of the boot before, ended by the Accounting-On, made the second boot's Start
    a copy of its own (its Event-Timestamp): a retransmission, the session joined at its Interim-Update,
    its first 300 s and 50/60 octets billed nowhere. The Accounting-On ends that: each boot's Start opens
    its session, both ways."""
    event = CLOCKS[clock]
    requests = []
    for boot in (0, 1_000, 2_000):
        requests += [
            Sent(boot, boot // 100, 7, event=event(0)),
            Sent(boot + 100, boot // 100 + 1, 1, "sess-1", event=event(100)),
            Sent(boot + 400, boot // 100 + 2, 3, "sess-1", event=event(400), st=300, octets=(50, 60)),
        ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("sess-1", boot + 100, 300, 50, 60) for boot in (0, 1_000, 2_000)]
    assert (sessions, open_sessions, retransmissions, rejects) == (3, ["sess-1"] * 3, 0, {})


# -- dates a detail file places ------------------------------------------------------------------------------


def _cet(t: int) -> str:
    """T0 + `t` as rlm_detail writes a date in a zone named by letters (CET: UTC + 1 h in March)."""
    return datetime.fromtimestamp(T0 + t + 3_600, UTC).strftime('"%b %e %Y %H:%M:%S CET"')


def test_detail_an_accounting_on_dated_in_a_named_zone_is_placed_as_the_starts_are(tmp_path: Path) -> None:
    """Every Event-Timestamp written in CET, placed by when the server logged it: sess-1 started and
    stopped, its NAS restarted (Accounting-On at 1,200 s), then a proxy re-sent sess-1's Start from its
    queue (Acct-Delay-Time 1,500: sent at 0 s, before the restart). The Accounting-On's date, placed as
    the Starts' are, was taken as read on the NAS's clock: the two could not be compared, and the copy
    opened an empty session, listed as one without a Stop. Placed too, the copy is dated before the
    restart: a retransmission."""
    requests = [
        (0, "Start", "sess-1", _cet(0), ""),
        (
            900,
            "Stop",
            "sess-1",
            _cet(900),
            "\tAcct-Session-Time = 900\n\tAcct-Input-Octets = 150\n\tAcct-Output-Octets = 300\n",
        ),
        (1_200, "Accounting-On", "", _cet(1_200), ""),
        (1_500, "Start", "sess-1", _cet(0), "\tAcct-Delay-Time = 1500\n"),
    ]
    blocks = []
    for t, status, session, event, more in requests:
        when = datetime.fromtimestamp(T0 + t, UTC).strftime("%a %b %e %H:%M:%S %Y")
        about = f'\tAcct-Session-Id = "{session}"\n\tCalling-Station-Id = "33612345678"\n' if session else ""
        blocks.append(
            f"{when}\n\tAcct-Status-Type = {status}\n{about}\tNAS-IP-Address = 192.0.2.1\n{more}"
            f"\tEvent-Timestamp = {event}\n\tTimestamp = {T0 + t}\n\n"
        )
    detail = tmp_path / "detail-20260301"
    detail.write_text("".join(blocks))
    report = LogReport()
    records = list(records_from_radius_detail(detail, report))
    assert [(r.session, int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up) for r in records] == [
        ("sess-1", 0, 900, 150)
    ]
    assert report.sessions == 1 and report.open_sessions == [] and report.retransmissions == 1
    assert report.rejected == 0


def test_a_request_whose_response_fails_its_authenticator_stays_unanswered_and_its_copy_is_one(
    tmp_path: Path,
) -> None:
    """The server's answer to an Accounting-On failed its Response Authenticator (another secret): the NAS
    drops it (RFC 2865 3) and re-sends the request as it was 45 s later, answered then. The capture took the
    request as answered by the bad response, so the copy was another restart, ending the session opened in
    between, its usage lost. It still awaits its answer: the copy is a copy."""
    requests = [
        Sent(0, 5, 1, "sess-1"),
        Sent(1_000, 0, 7, answer_secret=b"another secret"),
        Sent(1_005, 1, 1, "sess-2"),
        Sent(1_045, 0, 7),
        Sent(1_600, 3, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    captured, _ = read_each(tmp_path, requests)
    assert captured == (
        [("sess-2", 1_005, 595, 100, 200)],
        2,
        ["sess-1"],
        1,
        {"bad Response Authenticator": 1},
    )


def test_a_nas_with_a_new_port_per_request_is_read_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NAS sends each request from a new source port (8,000 requests, one each 5 s, every tenth
    unanswered): the reader remembered every port and Identifier to the end (750,000 of them took 350 MB).
    It forgets an answered one once twice the retry window has passed, an unanswered one after hours, and
    reads the same: every session billed, every unanswered request counted."""
    import gateway.capture.reader as reader

    sizes: dict[str, int] = {}
    finish = reader._Decoder.finish

    def measured(self: reader._Decoder) -> list[object]:
        for name in ("pending", "answered", "answered_request", "request_seen"):
            sizes[name] = len(getattr(self, name))
        return finish(self)

    monkeypatch.setattr(reader._Decoder, "finish", measured)
    frames = []
    for i in range(8_000):
        session = f"s{i // 2}"
        sent = (
            Sent(i * 5, i % 256, 2, session, st=5, octets=(100, 200))
            if i % 2
            else Sent(i * 5, i % 256, 1, session)
        )
        msg = request(sent.ident, b"".join(octets for octets, _ in _attributes(sent)))
        ts_us, port = (T0 + sent.t) * 1_000_000, 1_024 + i
        frames.append((ts_us, ethernet(ipv4(GGSN, AAA, udp(port, 1813, msg)))))
        if i % 10 != 9:
            frames.append((ts_us + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, port, response(msg))))))
    report = ReadReport()
    records = list(records_from_pcap(write_pcap(tmp_path / "c.pcap", 1, frames), SECRET, report))
    assert len(records) == 4_000 and {r.bytes_up for r in records} == {100}
    assert report.unanswered_requests == 800 and report.rejected == 0 and report.retransmissions == 0
    kept_s = reader.UNANSWERED_KEPT_S
    assert sizes["pending"] <= kept_s // 50 + 1 < 800
    assert max(sizes["answered"], sizes["answered_request"]) <= 2 * reader.ANSWERED_KEPT_S // 5 + 1
    assert sizes["request_seen"] <= sizes["pending"] + 2 * reader.ANSWERED_KEPT_S // 5 + 1


def test_a_request_read_after_a_later_dated_packet_of_its_client_keeps_its_copies_known(
    tmp_path: Path,
) -> None:
    """A capture host's clock stepped back (or another interface's, merged): a client's garbled request dated
    an hour later is read before its requests dated now. Those requests and their copies are the same as
    ever: forgetting keys went by the client's latest time, so a request read then forgot itself as it was
    read, then again at its answered copy, and its third copy was read as a new request (its answer as a
    duplicate lost, the session's stop twice)."""
    stop = Sent(10, 4, 2, "s0", st=5, octets=(100, 200))
    msg = request(4, b"".join(octets for octets, _ in _attributes(stop)))
    frames = [
        ((T0 + 3_600) * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(1_025, 1813, b"\x04\x01\x00\x14garbled")))),
        ((T0 + 3_700) * 1_000_000, ethernet(ipv4("192.0.2.2", AAA, udp(1_026, 1813, b"\x04\x01\x00\x14")))),
    ]
    for t in (10, 12, 14):
        ts_us = (T0 + t) * 1_000_000
        frames.append((ts_us, ethernet(ipv4(GGSN, AAA, udp(2_000, 1813, msg)))))
        frames.append((ts_us + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, 2_000, response(msg))))))
    report = ReadReport()
    list(records_from_pcap(write_pcap(tmp_path / "c.pcap", 1, frames), SECRET, report))
    assert report.accounting_requests == 3 and report.retransmissions == 2
    assert report.duplicate_responses == 2 and report.unanswered_requests == 0


def _status_server(ident: int, nonce: int) -> bytes:
    """A Status-Server (RFC 5997) with its Message-Authenticator (not checked by the reader)."""
    attributes = attr(80, bytes(16))
    return (
        bytes((12, ident))
        + (20 + len(attributes)).to_bytes(2, "big")
        + nonce.to_bytes(16, "big")
        + attributes
    )


def _cut_pcap(path: Path, frames: list[tuple[int, bytes, int]]) -> Path:
    """A classic pcap of Ethernet frames (microseconds, frame, octets captured of it)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)]
    for ts_us, frame, kept in frames:
        head = struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, min(kept, len(frame)), len(frame))
        out.append(head + frame[:kept])
    path.write_bytes(b"".join(out))
    return path


def test_status_servers_and_cut_requests_on_new_ports_are_read_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy checks its home server with a Status-Server every 10 s, each from a new source port, every
    other one unanswered (the server down), and a NAS's requests are cut by the snapshot length (`-s 70`),
    every tenth unanswered: the reader remembered every such port and Identifier to the end (a day of them
    grew without bound). They are forgotten as requests are: an answered one after twice the retry window,
    an unanswered one after hours; the answers still pair and the unanswered cut requests still count."""
    import gateway.capture.reader as reader

    sizes: dict[str, int] = {}
    finish = reader._Decoder.finish

    def measured(self: reader._Decoder) -> list[object]:
        for name in ("pending", "answered", "answered_request", "request_seen", "status_pending", "cut"):
            sizes[name] = len(getattr(self, name))
        return finish(self)

    monkeypatch.setattr(reader._Decoder, "finish", measured)
    frames: list[tuple[int, bytes, int]] = []
    count, step = 4_000, 10
    for i in range(count):
        ts_us, port = (T0 + i * step) * 1_000_000, 1_024 + i
        probe = _status_server(i % 256, i)
        frames.append((ts_us, ethernet(ipv4("192.0.2.7", AAA, udp(port, 1813, probe))), 1_000))
        if i % 2:
            answer = ethernet(ipv4(AAA, "192.0.2.7", udp(1813, port, response(probe))))
            frames.append((ts_us + 1_000, answer, 1_000))
        sent = Sent(i * step, i % 256, 1, f"s{i}")
        msg = request(sent.ident, b"".join(octets for octets, _ in _attributes(sent)))
        frames.append((ts_us + 2_000, ethernet(ipv4(GGSN, AAA, udp(port, 1813, msg))), 70))
        if i % 10 != 9:
            answer = ethernet(ipv4(AAA, GGSN, udp(1813, port, response(msg))))
            frames.append((ts_us + 3_000, answer, 1_000))
    report = ReadReport()
    list(records_from_pcap(_cut_pcap(tmp_path / "c.pcap", frames), SECRET, report))
    assert report.status_server == count and report.unanswered_requests == count // 10
    assert report.reasons == {"packet cut by the capture's snapshot length": count}
    kept_s = reader.UNANSWERED_KEPT_S
    answered_kept = 2 * reader.ANSWERED_KEPT_S // step + 2
    assert sizes["pending"] <= kept_s // (10 * step) + 2 < count // 10
    assert sizes["status_pending"] <= kept_s // (2 * step) + 2 < count // 2
    assert max(sizes["answered"], sizes["answered_request"]) <= answered_kept
    assert sizes["request_seen"] <= sizes["pending"] + sizes["status_pending"] + answered_kept
    assert sizes["cut"] <= sizes["pending"] + answered_kept  # (the cut requests' keys forgotten with them)


@pytest.mark.parametrize("cut_after_us", [-50, 2_000])
def test_a_request_cut_by_the_snapshot_length_then_seen_whole_is_billed(
    tmp_path: Path, cut_after_us: int
) -> None:
    """A probe sees each request twice: as a mirror port's copy that the mirror session truncates (ERSPAN's
    `mtu`, a capture's `-s`) and whole on its own link. The cut copy is a reject, and it awaited its answer:
    the whole copy seen after it, the same octets on the same port and Identifier, was taken for its
    retransmission and dropped, the session's Stop lost (listed without a Stop). It is the request: read.
    A cut copy seen after the whole one and its answer awaited an answer again: counted unanswered."""
    frames: list[tuple[int, bytes, int]] = []
    for sent in (Sent(0, 1, 1, "sess-1"), Sent(600, 2, 2, "sess-1", st=600, octets=(100, 200))):
        msg = request(sent.ident, b"".join(octets for octets, _ in _attributes(sent)))
        ts_us = (T0 + sent.t) * 1_000_000
        frame = ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg)))
        frames += [
            (ts_us, frame, len(frame)),
            (ts_us + cut_after_us, frame, 70),
            (ts_us + 1_000, ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg)))), 1_000),
        ]
    frames.sort(key=lambda frame: frame[0])
    report = ReadReport()
    records = list(records_from_pcap(_cut_pcap(tmp_path / "c.pcap", frames), SECRET, report))
    assert [(r.session, int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up) for r in records] == [
        ("sess-1", 0, 600, 100)
    ]
    assert report.open_sessions == [] and report.retransmissions == 0 and report.unanswered_requests == 0
    assert report.reasons == {"packet cut by the capture's snapshot length": 2}


def test_an_ntp_step_back_without_acct_session_time_is_no_late_interim_nor_a_wrap(tmp_path: Path) -> None:
    """A NAS sends Interim-Updates every 300 s without Acct-Session-Time (RFC 2866 5.7 names it for a Stop
    only) nor Gigawords; NTP steps its clock back 400 s (less than the 10 minutes a clock is taken as right
    within). Its next Interim, sent at 600 s, is dated 200 s: taken for an Interim delivered late, it cut the
    first record, and its counters above the held one's were a 32-bit wrap: 4 GiB billed, the records out of
    order. Sent after the session's last request, its counters no lower, it is no late Interim: its clock
    went back, and it is dated when it was sent (listed as a clock that is wrong), both ways."""
    requests = [
        Sent(0, 1, 1, "s1", event=T0),
        Sent(300, 2, 3, "s1", event=T0 + 300, octets=(10, 20)),
        Sent(600, 3, 3, "s1", event=T0 + 200, octets=(30, 40)),
        Sent(900, 4, 3, "s1", event=T0 + 500, octets=(50, 60)),
        Sent(1_200, 5, 2, "s1", event=T0 + 800, st=1_200, octets=(70, 80)),
    ]
    for report, records in reports_and_records(tmp_path, requests):
        assert [(int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up, r.bytes_down) for r in records] == [
            (0, 300, 10, 20),
            (300, 300, 20, 20),
            (600, 300, 20, 20),
            (900, 300, 20, 20),
        ]
        assert report.clock_wrong == 2 and report.counter_wraps == 0 and report.rejected == 0


@pytest.mark.parametrize(("first_ends", "boot"), [(3, 5_000), (2, 1_000)])
def test_a_nas_without_a_clock_rebooting_into_the_same_id_without_accounting_on_opens_a_new_session(
    tmp_path: Path, first_ends: int, boot: int
) -> None:
    """A NAS without a real-time clock (its Event-Timestamps from 2020 at each boot: a clock that is wrong,
    its requests dated when sent) reboots without Accounting-On and gives the old id to its new session,
    whose Start carries the old Start's Event-Timestamp (the first session open, or stopped 400 s before).
    That Start was a copy of the old one: the new session was merged into it, dated there, its first
    record's octets lost (open), or all its requests rejects, 'request after the session's Stop'. Its next
    request began when that Start was sent: the new session's, opened from it, both ways. A copy of the
    Start re-sent as it was during the session (a proxy) is still a copy."""
    requests = [
        Sent(0, 1, 1, "s1", event=BOOT_DATE + 100),
        Sent(600, 2, first_ends, "s1", event=BOOT_DATE + 700, st=600, octets=(10, 20)),
        Sent(boot, 1, 1, "s1", event=BOOT_DATE + 100),
        Sent(boot + 600, 2, 3, "s1", event=BOOT_DATE + 700, st=600, octets=(30, 40)),
        Sent(boot + 1_200, 3, 2, "s1", event=BOOT_DATE + 1_300, st=1_200, octets=(50, 60)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("s1", 0, 600, 10, 20), ("s1", boot, 600, 30, 40), ("s1", boot + 600, 600, 20, 20)]
    assert (sessions, open_sessions, retransmissions, rejects) == (
        2,
        ["s1"] if first_ends == 3 else [],
        0,
        {},
    )
    if first_ends == 3:
        proxied = [
            *requests[:2],
            Sent(900, 7, 1, "s1", event=BOOT_DATE + 100),
            Sent(1_200, 3, 3, "s1", event=BOOT_DATE + 1_300, st=1_200, octets=(30, 40)),
            Sent(1_800, 4, 2, "s1", event=BOOT_DATE + 1_900, st=1_800, octets=(50, 60)),
        ]
        spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, proxied)
        assert spans == [("s1", 0, 600, 10, 20), ("s1", 600, 600, 20, 20), ("s1", 1_200, 600, 20, 20)]
        assert (sessions, open_sessions, retransmissions, rejects) == (1, [], 1, {})


@pytest.mark.parametrize("first_answer_after_us", [3_500_000, 3_700_000])
def test_the_answer_to_a_copy_re_sent_on_its_identifier_with_acct_delay_time_is_no_bad_answer(
    tmp_path: Path, first_answer_after_us: int
) -> None:
    """A NAS re-sends its Stop 3 s later on the same Identifier with Acct-Delay-Time 3 (new octets, a new
    Request Authenticator: the Identifier is the only link), and the server, slow, answers both copies. The
    answer to the first copy, seen after the second, was checked against the second's authenticator: a
    reject, 'bad Response Authenticator' (a wrong secret, said the summary), or, seen after the second's
    answer, one 'without a request'. It answers the copy before: a duplicate response, no reject."""
    stop = Sent(600, 2, 2, "s1", st=600, octets=(100, 200), delay=0)
    copies = [
        request(2, b"".join(octets for octets, _ in _attributes(sent)))
        for sent in (stop, Sent(603, 2, 2, "s1", st=600, octets=(100, 200), delay=3))
    ]
    start = request(1, b"".join(octets for octets, _ in _attributes(Sent(0, 1, 1, "s1"))))
    us = 1_000_000

    def answer(msg: bytes) -> bytes:
        return ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg))))

    frames = [
        (T0 * us, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, start)))),
        (T0 * us + 1_000, answer(start)),
        ((T0 + 600) * us, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, copies[0])))),
        ((T0 + 603) * us, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, copies[1])))),
        ((T0 + 600) * us + first_answer_after_us, answer(copies[0])),
        ((T0 + 603) * us + 600_000, answer(copies[1])),
    ]
    report = ReadReport()
    records = list(
        records_from_pcap(
            write_pcap(tmp_path / "c.pcap", 1, sorted(frames, key=lambda f: f[0])), SECRET, report
        )
    )
    assert [(r.session, r.duration_s, r.bytes_up) for r in records] == [("s1", 600, 100)]
    assert report.reasons == {} and report.duplicate_responses == 1 and report.unanswered_requests == 0
    assert report.retransmissions == 1


def test_an_acct_delay_time_of_minus_one_dates_nothing_before_2000(tmp_path: Path) -> None:
    """A NAS sends Acct-Delay-Time -1 (4294967295 as RFC 2866's unsigned 32 bits) in a Start without
    Event-Timestamp: the session was dated when it was 'sent', 136 years before, in 1889, and every record
    with it, without a word. A delay that would have a request sent before 2000 is none: the Start is
    dated when seen, counted and named in the summary, both ways."""
    requests = [
        Sent(0, 1, 1, "s1", delay=(1 << 32) - 1),
        Sent(600, 2, 2, "s1", st=600, octets=(10, 20)),
    ]
    pcap, detail = both_ways(tmp_path, requests)
    captured, logged = ReadReport(), LogReport()
    for report, records, unit in (
        (captured, list(records_from_pcap(pcap, SECRET, captured)), "packet 1"),
        (logged, list(records_from_radius_detail(detail, logged)), "line 1"),
    ):
        assert [(int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up) for r in records] == [(0, 600, 10)]
        assert report.delay_wrong == 1 and report.rejected == 0
        said = report.delay_wrong_said(unit.split()[0])
        assert said is not None and said.endswith(f"{unit}, session 's1', Acct-Delay-Time 4294967295")


def test_an_acct_session_time_of_minus_one_is_a_reject_not_136_years_of_records(tmp_path: Path) -> None:
    """An Interim-Update carries Acct-Session-Time 4294967295 (a NAS sending -1): it gave 99,421 records of
    12 hours up to the year 2162, the Interim's octets spread over them, and the session's Stop was a
    reject, 'counters went backwards', the session listed without a Stop. It is a malformed request, a
    reject naming the attribute; the Stop bills the session, both ways."""
    requests = [
        Sent(0, 1, 1, "s1", event=T0),
        Sent(600, 2, 3, "s1", event=T0 + 600, st=(1 << 32) - 1, octets=(10, 20)),
        Sent(1_200, 3, 2, "s1", event=T0 + 1_200, st=1_200, octets=(30, 40)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("s1", 0, 1_200, 30, 40)]
    assert (sessions, open_sessions, retransmissions, rejects) == (
        1,
        [],
        0,
        {"malformed Accounting-Request": 1},
    )


def test_an_acct_session_time_of_minus_one_in_the_first_request_seen_dates_no_session_in_1889(
    tmp_path: Path,
) -> None:
    """The capture (or detail file) begins during a session, and the first request seen of it, an
    Interim-Update, carries Acct-Session-Time 4294967295 (a NAS sending -1): the session was joined there,
    begun 136 years before, in 1889, and each later request of it a reject, 'counters went backwards', its
    usage lost. It is a malformed request as it is in a session whose Start was seen: the session is
    joined at its next Interim-Update, which the Stop bills from, both ways."""
    requests = [
        Sent(600, 2, 3, "s1", event=T0 + 600, st=(1 << 32) - 1, octets=(10, 20)),
        Sent(1_200, 3, 3, "s1", event=T0 + 1_200, st=1_200, octets=(30, 40)),
        Sent(1_800, 4, 2, "s1", event=T0 + 1_800, st=1_800, octets=(50, 70)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("s1", 1_200, 600, 20, 30)]
    assert (sessions, open_sessions, retransmissions, rejects) == (
        1,
        [],
        0,
        {"malformed Accounting-Request": 1},
    )


def test_a_session_dated_by_a_nas_clock_ahead_taken_as_written_keeps_its_usage(tmp_path: Path) -> None:
    """With `--event-time trust`, a NAS whose clock is two days ahead dates its Start by it, and its Stop
    carries Acct-Session-Time and no Event-Timestamp: the session's end, two days after the Stop was seen,
    was taken for no session's time, the Stop a reject and the session's usage lost. A session time is
    refused only when it would have the session begun before 2000: the Stop bills it, both ways."""
    ahead = 2 * 86_400
    requests = [
        Sent(0, 1, 1, "s1", event=T0 + ahead),
        Sent(90_000, 2, 2, "s1", st=90_000, octets=(10, 20)),
    ]
    for report, records in reports_and_records(tmp_path, requests, event_time="trust"):
        assert sum(r.bytes_up for r in records) == 10 and sum(r.duration_s for r in records) == 90_000
        assert records[0].start.timestamp() == T0 + ahead and report.rejected == 0


def test_a_request_after_a_cut_one_on_its_identifier_is_read_once(tmp_path: Path) -> None:
    """A capture whose snapshot length cuts the long requests alone (`-s 180`): a NAS sending from one port
    takes again, within the minute, the Identifier of a request cut and answered, for an Interim-Update
    without Acct-Session-Time, seen whole, which it re-sends as it was 3 s on, unanswered. The key was still
    taken for one seen cut alone: the copy was read again as the request seen whole, dated 3 s later (no
    Acct-Delay-Time), an extra record and no retransmission. It is a retransmission."""
    long_interim = Sent(10, 2, 3, "s9-" + "9" * 40, st=10, octets=(1, 2))
    frames: list[tuple[int, bytes, int]] = []
    for sent, seen, kept, answered in (
        (Sent(0, 1, 1, "s1"), [0], 1_000, True),
        (long_interim, [10], 180, True),
        (Sent(20, 2, 3, "s1", octets=(10, 20)), [20, 23], 1_000, False),
        (Sent(600, 3, 2, "s1", st=600, octets=(30, 40)), [600], 1_000, True),
    ):
        msg = request(sent.ident, b"".join(octets for octets, _ in _attributes(sent)))
        for t in seen:
            frames.append(((T0 + t) * 1_000_000, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg))), kept))
        if answered:
            answer = ethernet(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg))))
            frames.append(((T0 + seen[-1]) * 1_000_000 + 1_000, answer, 1_000))
    assert len(frames[2][1]) > 180 > len(frames[4][1])  # (the cut one is longer than the snapshot length)
    report = ReadReport()
    records = list(records_from_pcap(_cut_pcap(tmp_path / "c.pcap", frames), SECRET, report))
    assert [(int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up) for r in records] == [
        (0, 20, 10),
        (20, 580, 20),
    ]
    assert report.retransmissions == 1 and report.reasons == {
        "packet cut by the capture's snapshot length": 1
    }


def test_an_idle_interim_re_sent_after_the_next_one_is_a_copy_not_a_clock_set_back(tmp_path: Path) -> None:
    """A NAS sends Interim-Updates without Acct-Session-Time; its first one's answer is lost, and it re-sends
    it as it was (Acct-Delay-Time not updated) after its next one, the session idle in between (the same
    counters). Its Event-Timestamp before the next Interim's, though sent after it, counters no lower, was
    taken for the NAS's clock set back: an extra record, and a clock said wrong. It is a copy of a request
    seen (the same time and counters), a retransmission, both ways."""
    idle = [  # (seen, Identifier, Event-Timestamp): the same counters in each
        Sent(t, ident, 3, "s1", event=T0 + said, octets=(10, 20))
        for t, ident, said in ((300, 2, 300), (600, 3, 600), (605, 2, 300))
    ]
    requests = [Sent(0, 1, 1, "s1", event=T0), *idle, Sent(900, 4, 2, "s1", st=900, octets=(30, 40))]
    for report, records in reports_and_records(tmp_path, requests):
        assert [(int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up) for r in records] == [
            (0, 300, 10),
            (300, 300, 0),
            (600, 300, 20),
        ]
        assert report.retransmissions == 1 and report.clock_wrong == 0 and report.rejected == 0


@pytest.mark.parametrize("said", [BOOT_DATE + 100, None], ids=["clock wrong", "no Event-Timestamp"])
def test_a_start_re_sent_seconds_later_is_no_new_sessions_start(tmp_path: Path, said: int | None) -> None:
    """A NAS re-sends its Start 3 s later on a new Identifier without updating Acct-Delay-Time, and its
    first Interim-Update's first copy is lost, the copy re-sent as late seen: that Interim began when the
    Start's copy was sent, and was taken for a new session's under the same id (a NAS restarted without
    Accounting-On), the session split in two, the first listed without a Stop, its records dated 3 s late.
    A copy sent within the client's retry window of the Start is the Start's own: one session."""

    def event(offset: int) -> int | None:
        return None if said is None else said + offset

    requests = [
        Sent(0, 1, 1, "s1", event=event(0)),
        Sent(3, 2, 1, "s1", event=event(0)),
        Sent(603, 3, 3, "s1", event=event(600), st=600, octets=(10, 20)),
        Sent(1_200, 4, 2, "s1", event=event(1_200), st=1_200, octets=(30, 40)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert spans == [("s1", 0, 600, 10, 20), ("s1", 600, 600, 20, 20)]
    assert (sessions, open_sessions, retransmissions, rejects) == (1, [], 1, {})


# -- a server down for over a minute as the capture began ----------------------------------------------------

DOWN = [
    Sent(1_000, 0, 7, answered=False),
    Sent(1_005, 1, 1, "sess-2", answered=False),
    Sent(1_045, 0, 7, answered=False),
    Sent(1_125, 0, 7),  # the server back, 125 s on: it answers this copy
    Sent(1_126, 1, 1, "sess-2"),
    Sent(1_600, 2, 2, "sess-2", st=595, octets=(100, 200)),
]


def test_an_accounting_on_re_sent_while_the_server_is_down_for_minutes_is_a_copy(tmp_path: Path) -> None:
    """The server was down when the capture began and answered nothing for 125 s: the NAS re-sent its
    Accounting-On (no Event-Timestamp, no Acct-Delay-Time) 45 s and 125 s on, its new session's Start
    between. No answer to the client came within the 60 s requests wait to be handled in order, so the
    copy 45 s on was taken for a restart: it ended sess-2, whose Stop was a reject, 'never seen before',
    its usage lost. The capture holds the server's answers to the client (later): a request still
    unanswered is re-sent until answered, a copy however late. A capture of one direction cannot tell,
    and keeps to the retry window (a restart)."""
    captured, _ = read_each(tmp_path, DOWN)
    assert captured == ([("sess-2", 1_005, 595, 100, 200)], 1, [], 3, {})
    one_way, _ = read_each(tmp_path, DOWN, responses=False)
    # (each copy a restart: sess-2 ended at each, its Start's copy 121 s on a new session)
    assert one_way == ([("sess-2", 1_126, 595, 100, 200)], 2, ["sess-2"], 0, {})


def test_an_accounting_on_re_sent_on_its_identifier_with_acct_delay_time_grown_is_a_copy(
    tmp_path: Path,
) -> None:
    """The NAS re-sent its unanswered Accounting-On on the same Identifier, its Acct-Delay-Time grown (30,
    then 90 s, counted from its first retry, not from the first copy: sent 15 and 35 s after it by it),
    other octets. Its time sent 1 s apart or more, and past the retry window of the copy before, each copy
    was a restart, which ended sess-2 (its Stop a reject, 'never seen before'). A rebooted NAS sends its
    Accounting-On afresh (its Acct-Delay-Time 0 again): the same one on the same Identifier, unanswered,
    its Acct-Delay-Time grown, is the copy re-sent, whether the capture holds the answers or not."""
    requests = [
        Sent(1_000, 0, 7, delay=0, answered=False),
        Sent(1_005, 1, 1, "sess-2", answered=False),
        Sent(1_045, 0, 7, delay=30, answered=False),
        Sent(1_125, 0, 7, delay=90),
        Sent(1_126, 1, 1, "sess-2"),
        Sent(1_600, 2, 2, "sess-2", st=595, octets=(100, 200)),
    ]
    for responses in (True, False):
        captured, _ = read_each(tmp_path, requests, responses=responses)
        assert captured == ([("sess-2", 1_005, 595, 100, 200)], 1, [], 3, {})
    # the Identifier given to another request since (the NAS gave the Accounting-On up): a restart
    taken = [requests[0], Sent(1_005, 0, 1, "sess-2", answered=False), requests[2]]
    captured, _ = read_each(tmp_path, taken)
    assert captured == ([], 1, ["sess-2"], 0, {})
    # rebooted 100 s on, its Acct-Delay-Time 0 again: a restart, which ends sess-2 (sess-3 its new session)
    rebooted = [*requests[:3], Sent(1_100, 0, 7, delay=0), Sent(1_105, 1, 1, "sess-3")]
    captured, _ = read_each(tmp_path, rebooted)
    assert captured == ([], 2, ["sess-2", "sess-3"], 1, {})


def test_a_readers_clock_never_set_is_said_once_and_dated_by_event_timestamp_both_ways(
    tmp_path: Path,
) -> None:
    """A probe, and a server, without a real-time clock: the capture's packets and the detail file's
    Timestamps count from 1970 (302 s on), the NAS's clock right. Every request was flagged, its
    Acct-Delay-Time (2 s) as one that would have it sent before 2000 and its Event-Timestamp as a NAS clock
    wrong, the session dated in 1970. Both readers say their clock was not set, once, and date the
    session by its Event-Timestamps."""
    sent = [
        Sent(302 - T0, 1, 1, "sess-1", event=T0, delay=2),
        Sent(902 - T0, 2, 3, "sess-1", event=T0 + 600, st=600, octets=(100, 200), delay=2),
        Sent(1_202 - T0, 3, 2, "sess-1", event=T0 + 900, st=900, octets=(150, 300), delay=2),
    ]
    assert read_both(tmp_path, sent) == (
        [("sess-1", 0, 600, 100, 200), ("sess-1", 600, 300, 50, 100)],
        1,
        [],
        0,
        {},
    )
    for (report, _), unit in zip(reports_and_records(tmp_path, sent), ("packet", "line"), strict=True):
        assert (report.clock_unset, report.clock_unset_undated) == (3, 0)
        assert (report.delay_wrong, report.clock_wrong, report.clock_held) == (0, 0, 0)
        said = report.clock_unset_warning(unit)
        assert (
            said is not None
            and "was not set (3 Accounting-Requests" in said
            and "1970-01-01T00:05:02Z" in said
        )


def test_a_readers_clock_set_part_way_dates_a_session_begun_before_by_its_later_requests(
    tmp_path: Path,
) -> None:
    """The probe's (and the server's) clock counts from 1970 at its boot and is set by NTP 500 s on.
    sess-2's Start, without Event-Timestamp, was seen before (at 1970-01-01T00:06:40Z by that clock);
    its Interim-Update and Stop after, by a clock set right, their Acct-Session-Time saying when it
    began. Its records were dated in 1970 all the same (the Interim's at 00:06:40, the Stop's at 00:16:40),
    outside any period billed, where its later requests date it: begun 600 s before its Interim. A
    session of Event-Timestamps (sess-1) is dated by them throughout. sess-3's requests carry no
    Acct-Session-Time: its time from 1970 to its Interim (56 years) made the Interim and the Stop rejects,
    'Acct-Session-Time 1772360... would have it begun before 2000', their usage lost; the time between
    its Start and its Interim cannot be known, and is counted as none: its usage billed at its Interim."""
    step = T0 - 500  # (the clock put forward by this much, 500 s after the probe's boot)
    requests = [
        Sent(302 - step, 1, 1, "sess-1", event=T0 - 198, delay=2),
        Sent(400 - step, 4, 1, "sess-2"),
        Sent(450 - step, 7, 1, "sess-3"),
        Sent(602, 2, 3, "sess-1", event=T0 + 600, st=798, octets=(100, 200), delay=2),
        Sent(1_000, 5, 3, "sess-2", st=600, octets=(100, 200)),
        Sent(1_100, 8, 3, "sess-3", octets=(10, 20)),
        Sent(1_300, 6, 2, "sess-2", st=900, octets=(150, 300)),
        Sent(1_400, 9, 2, "sess-3", octets=(15, 30)),
    ]
    spans, sessions, open_sessions, retransmissions, rejects = read_both(tmp_path, requests)
    assert sorted(spans) == [
        ("sess-1", -198, 798, 100, 200),
        ("sess-2", 400, 600, 100, 200),
        ("sess-2", 1_000, 300, 50, 100),
        ("sess-3", 1_100, 0, 10, 20),
        ("sess-3", 1_100, 300, 5, 10),
    ]
    assert (sessions, open_sessions, retransmissions, rejects) == (3, ["sess-1"], 0, {})


def test_the_look_ahead_pass_reads_every_capture_given_compressed_or_of_another_link_type(
    tmp_path: Path,
) -> None:
    """The server down as in `DOWN`, its answers captured by another probe on its side (a pcapng of Linux
    cooked frames, compressed by gzip), the NAS's requests by one on the NAS's (a pcap of Ethernet): the
    look-ahead pass reads both captures, as the records' pass merges them, and finds the answers to the
    client in the second, 80 s past the copy (past the 60 s wait): the copies are copies. Given alone,
    the NAS's capture (of one direction) keeps to the retry window: each copy a restart."""
    requests, answers = [], []
    for sent in DOWN:
        msg = request(sent.ident, b"".join(octets for octets, _ in _attributes(sent)))
        ts_us = (T0 + sent.t) * 1_000_000
        requests.append((ts_us, ethernet(ipv4(GGSN, AAA, udp(32_768, 1813, msg)))))
        if sent.answered:
            answers.append((0, ts_us + 1_000, sll(ipv4(AAA, GGSN, udp(1813, 32_768, response(msg))))))
    nas = write_pcap(tmp_path / "nas.pcap", 1, requests)
    server = tmp_path / "server.pcapng.gz"
    server.write_bytes(gzip.compress(write_pcapng(tmp_path / "server.pcapng", [113], answers).read_bytes()))
    (tmp_path / "server.pcapng").unlink()
    for files, expected in (
        ([nas, server], ([("sess-2", 1_005, 595, 100, 200)], 1, [], 3)),
        ([nas], ([("sess-2", 1_126, 595, 100, 200)], 2, ["sess-2"], 0)),
    ):
        report = ReadReport()
        records = list(records_from_pcap(files, SECRET, report))
        spans = [
            (r.session, int(r.start.timestamp()) - T0, r.duration_s, r.bytes_up, r.bytes_down)
            for r in records
        ]
        assert (spans, report.sessions, report.open_sessions, report.retransmissions) == expected
        assert report.rejected == 0


def test_an_acct_delay_time_of_minus_one_under_a_clock_never_set_is_no_delay(tmp_path: Path) -> None:
    """A probe (and a server) without a real-time clock, 302 s after its boot, and a NAS sending -1 as the
    Start's Acct-Delay-Time (4294967295, no Event-Timestamp): the delay was kept as given, the clock unset
    being no ground to judge it, and the session dated 136 years before 1970, in 1833. A delay of 2^31 s
    or more (68 years: a negative number) is no delay whatever the clock: the session is dated by the
    reader's clock, as the warning says, and the delay counted in `delay_wrong`."""
    sent = [
        Sent(302 - T0, 1, 1, "sess-1", delay=4_294_967_295),
        Sent(902 - T0, 2, 3, "sess-1", st=600, octets=(100, 200)),
        Sent(1_202 - T0, 3, 2, "sess-1", st=900, octets=(150, 300)),
    ]
    assert read_both(tmp_path, sent) == (
        [("sess-1", 302 - T0, 600, 100, 200), ("sess-1", 902 - T0, 300, 50, 100)],
        1,
        [],
        0,
        {},
    )
    for report, _ in reports_and_records(tmp_path, sent):
        assert (report.clock_unset, report.clock_unset_undated, report.delay_wrong) == (3, 3, 1)


def test_an_accounting_on_of_a_later_event_on_its_identifier_with_acct_delay_time_grown_is_a_restart(
    tmp_path: Path,
) -> None:
    """The NAS's Accounting-On unanswered (the server down), it rebooted 200 s on and sent its Accounting-On
    afresh on the same Identifier, queued 5 s at boot (Acct-Delay-Time 5, above the first's 0), its
    Event-Timestamp the new boot's: no copy (a copy keeps its event's time), a restart, which ends sess-2,
    both ways; and so with the server answering neither."""
    for answered in (True, False):
        requests = [
            Sent(1_000, 0, 7, event=T0 + 1_000, delay=0, answered=False),
            Sent(1_005, 1, 1, "sess-2", event=T0 + 1_005, answered=answered),
            Sent(1_200, 0, 7, event=T0 + 1_195, delay=5, answered=answered),
            Sent(1_205, 1, 1, "sess-3", event=T0 + 1_205, answered=answered),
            Sent(1_800, 2, 2, "sess-3", event=T0 + 1_800, st=595, octets=(100, 200), answered=answered),
        ]
        assert read_both(tmp_path, requests) == ([("sess-3", 1_205, 595, 100, 200)], 2, ["sess-2"], 0, {})
