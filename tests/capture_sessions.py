"""RADIUS sessions and their reading shared by the capture reader tests: one session's requests,
their exchange with responses, the rows of the records read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from handmade_pcap import SECRET, acct, ipv4, ipv6, request, response, udp

from accounting.records import UsageRecord
from gateway.capture import ReadReport, records_from_pcap

T0 = 1_772_360_000  # 2026-03-01 10:13:20 UTC
GGSN, AAA = "192.0.2.1", "192.0.2.10"


def session_messages(session: str = "sess-1", **kw: object) -> list[bytes]:
    """Start, Interim (600 s, 100/200 octets), Stop (900 s, 150/300 octets) of one session: requests."""
    return [
        request(1, acct(1, session, event=T0, **kw)),  # type: ignore[arg-type]
        request(2, acct(3, session, event=T0 + 600, st=600, octets=(100, 200), **kw)),  # type: ignore[arg-type]
        request(3, acct(2, session, event=T0 + 900, st=900, octets=(150, 300), terminate=1, **kw)),  # type: ignore[arg-type]
    ]


def exchange(requests: list[bytes], times: list[int] | None = None) -> list[tuple[int, bytes, bool]]:
    """(microseconds, RADIUS message, is request) for each request and its response 1 ms later."""
    times = times or [T0, T0 + 600, T0 + 900]
    out: list[tuple[int, bytes, bool]] = []
    for req, t in zip(requests, times, strict=True):
        out.append((t * 1_000_000, req, True))
        out.append((t * 1_000_000 + 1_000, response(req), False))
    return out


def v4(msg: bytes, is_request: bool, port: int = 1813) -> bytes:
    if is_request:
        return ipv4(GGSN, AAA, udp(32_768, port, msg))
    return ipv4(AAA, GGSN, udp(port, 32_768, msg))


def v6(msg: bytes, is_request: bool, port: int = 1813) -> bytes:
    if is_request:
        return ipv6(1, 10, udp(32_768, port, msg))
    return ipv6(10, 1, udp(port, 32_768, msg))


def expected(session: str = "sess-1", line: str = "LINE-1") -> list[tuple[object, ...]]:
    start = datetime.fromtimestamp(T0, UTC)
    return [
        (line, session, start, 600, 100, 200, 17, 1, "20801"),
        (line, session, start.replace(minute=23), 300, 50, 100, 0, 2, "20801"),
    ]


def rows(records: list[UsageRecord]) -> list[tuple[object, ...]]:
    return [
        (
            r.line,
            r.session,
            r.start,
            r.duration_s,
            r.bytes_up,
            r.bytes_down,
            r.cause,
            r.sequence,
            r.serving_plmn,
        )
        for r in records
    ]


def read(path: Path | list[Path], **kw: object) -> tuple[list[UsageRecord], ReadReport]:
    report = ReadReport()
    records = list(records_from_pcap(path, SECRET, report, **kw))  # type: ignore[arg-type]
    return records, report
