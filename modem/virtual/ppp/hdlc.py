"""RFC 1662 HDLC-like framing: flags, control-character escaping under an ACCM, and the 16-bit FCS.

A frame on the line is `7E | address FF | control 03 | protocol | information | FCS-16 | 7E`, every
octet between the flags that is 7E, 7D or (below 0x20) in the sender's async control character map
sent as `7D, octet ^ 0x20`.  With Address-and-Control-Field-Compression the FF 03 is left out, with
Protocol-Field-Compression a protocol below 0x100 is sent as one octet.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

FLAG = 0x7E
ESCAPE = 0x7D
FCS_INIT = 0xFFFF
FCS_GOOD = 0xF0B8  # the FCS computed over a frame's octets including its own FCS
ALL_CONTROL = 0xFFFFFFFF  # the default ACCM: every octet below 0x20 escaped


# FCS-16 is CRC-CCITT with reflected input and output (polynomial 0x8408 bit-reversed, RFC 1662
# appendix C).  binascii.crc_hqx computes the unreflected CRC-CCITT in C: reflecting each octet of
# the data and the 16-bit register before and after gives the same value as the table of C.2.
_REFLECT8 = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reflect16(v: int) -> int:
    return _REFLECT8[v & 0xFF] << 8 | _REFLECT8[v >> 8]


def fcs16(data: bytes, fcs: int = FCS_INIT) -> int:
    """The running FCS-16 (RFC 1662 appendix C.2) of `data` from `fcs`."""
    return _reflect16(binascii.crc_hqx(data.translate(_REFLECT8), _reflect16(fcs)))


def _escape_table(accm: int) -> bytes:
    """bytes.translate can't expand, so: the set of octets to escape under `accm`."""
    out = bytearray([FLAG, ESCAPE])
    out += bytes(b for b in range(32) if accm >> b & 1)
    return bytes(out)


_ESCAPES: dict[int, tuple[bytes, ...]] = {}


def escape(data: bytes, accm: int) -> bytes:
    """`data` with every octet that must be escaped (flag, escape, control characters in `accm`) escaped."""
    octets = _ESCAPES.get(accm)
    if octets is None:
        octets = _ESCAPES[accm] = tuple(bytes([b]) for b in _escape_table(accm))
    out = data
    # ESCAPE first, so the escapes added for other octets are not escaped again.
    for o in octets[1:2] + octets[:1] + octets[2:]:
        if o in out:
            out = out.replace(o, bytes([ESCAPE, o[0] ^ 0x20]))
    return out


def encode_frame(
    protocol: int, info: bytes, *, accm: int = ALL_CONTROL, acfc: bool = False, pfc: bool = False
) -> bytes:
    """One frame, flags included, as sent on the line."""
    head = b"" if acfc else b"\xff\x03"
    head += bytes([protocol]) if pfc and protocol < 0x100 and protocol & 1 else protocol.to_bytes(2, "big")
    body = head + info
    fcs = fcs16(body) ^ 0xFFFF
    body += bytes([fcs & 0xFF, fcs >> 8])
    return bytes([FLAG]) + escape(body, accm) + bytes([FLAG])


@dataclass(slots=True)
class FrameDecoder:
    """Frames from a byte stream: `feed(data)` returns the (protocol, information) of each good frame.

    `accm`: the receive map; control characters in it that arrive unescaped are dropped (a DCE's
    flow-control characters).  Frames with a bad FCS, too short, or aborted (7D 7E) are counted in
    `bad` and dropped, as RFC 1662 says.
    """

    accm: int = ALL_CONTROL
    max_frame: int = 65_536
    bad: int = 0
    good: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _esc: bool = False
    _skip: bool = False  # inside an over-long frame: drop up to the next flag

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        frames: list[tuple[int, bytes]] = []
        buf = self._buf
        accm = self.accm
        start = 0
        n = len(data)
        while start < n:
            end = data.find(FLAG, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._skip:
                self._add(chunk, accm)
                if len(buf) > self.max_frame:
                    self._skip = True
                    self.bad += 1
                    buf.clear()
            if end < 0:
                break
            start = end + 1
            if self._skip:
                self._skip = False
                self._esc = False
                continue
            if self._esc:  # 7D 7E: an aborted frame
                self._esc = False
                if buf:
                    self.bad += 1
                buf.clear()
                continue
            if buf:
                frame = self._frame(bytes(buf))
                buf.clear()
                if frame is not None:
                    frames.append(frame)
        return frames

    def _add(self, chunk: bytes, accm: int) -> None:
        if not chunk:
            return
        if accm:
            chunk = bytes(b for b in chunk if b >= 0x20 or not accm >> b & 1)
        if self._esc:
            if not chunk:
                return
            self._buf.append(chunk[0] ^ 0x20)
            chunk = chunk[1:]
            self._esc = False
        if ESCAPE not in chunk:
            self._buf += chunk
            return
        parts = chunk.split(bytes([ESCAPE]))
        self._buf += parts[0]
        for part in parts[1:-1]:
            if part:
                self._buf.append(part[0] ^ 0x20)
                self._buf += part[1:]
            # an empty part: 7D 7D, the second escape escaped -> undefined; ignore like an abort of one octet
        last = parts[-1]
        if last:
            self._buf.append(last[0] ^ 0x20)
            self._buf += last[1:]
        else:
            self._esc = True

    def _frame(self, body: bytes) -> tuple[int, bytes] | None:
        if len(body) < 4 or fcs16(body) != FCS_GOOD:
            self.bad += 1
            return None
        body = body[:-2]
        if body[:2] == b"\xff\x03":
            body = body[2:]
        if not body:
            self.bad += 1
            return None
        if body[0] & 1:  # a compressed (one-octet) protocol field
            protocol, info = body[0], body[1:]
        elif len(body) >= 2:
            protocol, info = int.from_bytes(body[:2], "big"), body[2:]
        else:
            self.bad += 1
            return None
        self.good += 1
        return protocol, info
