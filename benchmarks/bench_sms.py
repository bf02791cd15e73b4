"""SMS PDU codec speed: encode + decode messages per second, against python-gsmmodem's codec in the same run.

Figures:
- short GSM 7-bit message (one PDU): encode_submit + decode_pdu;
- long UCS2 message (Cyrillic, 8 parts): encode, decode every part, reassemble;
- septet packing of 160 septets: the integer-based packer against a bit-by-bit reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from modem.sms import (
    Direction,
    Reassembler,
    SmsSubmit,
    decode_pdu,
    encode_submit,
    pack_septets,
    unpack_septets,
)

SHORT = "Meter 0042 index 123456.7 kWh, battery 3.61 V, RSSI -71 dBm [ok]"
LONG = ("Показания счётчика: 123456 кВт·ч; батарея 3,61 В; сигнал −71 дБм. " * 8)[:520]
DEST = "+33612345678"


def _rate(fn: Callable[[], object], seconds: float, rounds: int = 5) -> float:
    """Best calls per second of `fn` over `rounds` slices of about `seconds / rounds` each
    (the best slice is the least disturbed by other work on a shared machine)."""
    best = 0.0
    for _ in range(rounds):
        n = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds / rounds
        while True:
            fn()
            n += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - t0))
    return best


def ours_short() -> None:
    for pdu in encode_submit(SHORT, DEST):
        decode_pdu(pdu.hex, Direction.MO)


def ours_long() -> None:
    r = Reassembler(timeout=60)
    whole = None
    for pdu in encode_submit(LONG, DEST, message_reference=7):
        msg = decode_pdu(pdu.hex, Direction.MO)
        assert isinstance(msg, SmsSubmit)
        whole = r.add(msg, now=0.0)
    assert whole is not None


def _gsmmodem() -> tuple[Callable[[], None], Callable[[], None]] | None:
    try:
        from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
    except ImportError:
        return None

    def short() -> None:
        for p in encodeSmsSubmitPdu(DEST, SHORT, requestStatusReport=False):
            decodeSmsPdu(bytes(p.data).hex())

    def long() -> None:
        parts = {}
        for p in encodeSmsSubmitPdu(DEST, LONG, reference=7, requestStatusReport=False):
            d = decodeSmsPdu(bytes(p.data).hex())
            parts[d["udh"][0].number] = d["text"]
        "".join(parts[i] for i in sorted(parts))

    return short, long


def naive_pack(codes: bytes) -> bytes:
    """Reference packer: one bit at a time."""
    bits: list[int] = []
    for c in codes:
        bits.extend((c >> i) & 1 for i in range(7))
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        out[i // 8] |= b << (i % 8)
    return bytes(out)


def naive_unpack(data: bytes, count: int) -> bytes:
    out = bytearray(count)
    for i in range(count * 7):
        if data[i // 8] >> (i % 8) & 1:
            out[i // 7] |= 1 << (i % 7)
    return bytes(out)


def main(quick: bool) -> None:
    secs = 0.3 if quick else 2.0
    parts = len(encode_submit(LONG, DEST))
    codes = bytes(i % 128 for i in range(160))
    assert naive_pack(codes) == pack_septets(codes)
    assert naive_unpack(pack_septets(codes), 160) == unpack_septets(pack_septets(codes), 160)

    s = _rate(ours_short, secs)
    lg = _rate(ours_long, secs)
    print(f"short GSM 7-bit ({len(SHORT)} chars, 1 PDU), encode+decode: {s:,.0f} messages/s")
    print(
        f"long UCS2 ({len(LONG)} chars, {parts} parts), encode+decode+reassemble: {lg:,.0f} messages/s "
        f"({lg * parts:,.0f} parts/s)"
    )
    theirs = _gsmmodem()
    if theirs is not None:
        ts = _rate(theirs[0], secs)
        tl = _rate(theirs[1], secs)
        print(f"python-gsmmodem-new, same work: short {ts:,.0f} messages/s, long {tl:,.0f} messages/s")
        print(f"ratio ours/theirs: short {s / ts:.1f}x, long {lg / tl:.1f}x")

    p = _rate(lambda: pack_septets(codes), secs)
    pn = _rate(lambda: naive_pack(codes), secs)
    packed = pack_septets(codes)
    u = _rate(lambda: unpack_septets(packed, 160), secs)
    un = _rate(lambda: naive_unpack(packed, 160), secs)
    print(
        f"pack 160 septets: {p:,.0f}/s vs bit-by-bit {pn:,.0f}/s ({p / pn:.1f}x); "
        f"unpack: {u:,.0f}/s vs {un:,.0f}/s ({u / un:.1f}x)"
    )
