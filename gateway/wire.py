"""Bytes on the wire: the TCP/IP model that bills a TCP connection, as the gateway's side uses it.

The model lives in `accounting.wire` (moved there so that the bench harness, which may import
`accounting` but not `gateway`, estimates a bench run's IP bytes by the same model the virtual
modem's network bills them with); this module re-exports it under its former name.
"""

from __future__ import annotations

from accounting.wire import (
    ACK_DELAY_S,
    DEVICE,
    HEADER,
    ICMP_ERROR_MAX,
    ICMP_HEADER,
    MSS,
    RTO_MAX_S,
    RTO_MIN_S,
    SERVER,
    SYN,
    SYN_OPTIONS,
    SYN_RETRIES,
    SYN_RTO_S,
    UDP_HEADER,
    TcpWire,
    icmp_error_size,
    measured_rto,
    play,
    prompt_acks,
    refused,
    rides,
    segments,
    syn_time,
    syns,
    unanswered,
    unreachable,
)

__all__ = [
    "ACK_DELAY_S",
    "DEVICE",
    "HEADER",
    "ICMP_ERROR_MAX",
    "ICMP_HEADER",
    "MSS",
    "RTO_MAX_S",
    "RTO_MIN_S",
    "SERVER",
    "SYN",
    "SYN_OPTIONS",
    "SYN_RETRIES",
    "SYN_RTO_S",
    "UDP_HEADER",
    "TcpWire",
    "icmp_error_size",
    "measured_rto",
    "play",
    "prompt_acks",
    "refused",
    "rides",
    "segments",
    "syn_time",
    "syns",
    "unanswered",
    "unreachable",
]
