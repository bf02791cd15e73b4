"""PAP (RFC 1334) and CHAP with MD5 (RFC 1994), either side.

The network side acknowledges what it is given, as a module does: PAP's peer-id and password and
CHAP's name are recorded (CHAP sends no password, only its MD5 answer, kept as hex, with the
challenge it answers), and passed on to the network at activation, which checks them when the APN
asks for authentication.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class _Cancel(Protocol):
    def cancel(self) -> None: ...


PAP_REQ, PAP_ACK, PAP_NAK = 1, 2, 3
CHAP_CHALLENGE, CHAP_RESPONSE, CHAP_SUCCESS, CHAP_FAILURE = 1, 2, 3, 4
CHAP_NAME = b"m2msim"
CHAP_RESTART_S = 3.0  # a Challenge unanswered this long is sent again (RFC 1994 4.1), as pppd does
CHAP_MAX_CHALLENGES = 10
PAP_WAIT_S = 30.0  # no Authenticate-Request this long after LCP is up: the link ends (pppd's pap-timeout)


@dataclass(frozen=True, slots=True)
class Credentials:
    method: str  # "pap" or "chap"
    user: str
    password: str  # PAP: as sent; CHAP: "" (the response is in `response`)
    response: str = ""  # CHAP: the MD5 response, hex
    chap_id: int = 0  # CHAP: the identifier and the challenge the response answers
    challenge: bytes = b""


def chap_md5(ident: int, secret: bytes, challenge: bytes) -> bytes:
    return hashlib.md5(bytes([ident]) + secret + challenge, usedforsecurity=False).digest()


def _pkt(code: int, ident: int, body: bytes) -> bytes:
    return struct.pack("!BBH", code, ident, 4 + len(body)) + body


def _split(data: bytes) -> tuple[int, int, bytes] | None:
    if len(data) < 4:
        return None
    code, ident, length = struct.unpack("!BBH", data[:4])
    if length < 4 or length > len(data):
        return None
    return code, ident, data[4:length]


class Authenticator:
    """The network side: asks for `method` and accepts any answer; `done(credentials)` then."""

    def __init__(
        self,
        method: str,
        send: Callable[[int, bytes], None],
        random_bytes: Callable[[int], bytes],
        done: Callable[[Credentials], None],
        schedule: Callable[[float, Callable[[], None]], _Cancel] | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        self.method = method
        self._send = send
        self._random = random_bytes
        self._done = done
        self._schedule = schedule
        self._failed = failed
        self._challenge = b""
        self._ident = 0
        self._timer: _Cancel | None = None
        self.challenges_sent = 0
        self.credentials: Credentials | None = None

    def start(self) -> None:
        if self.method == "chap":
            self._challenge = self._random(16)
            self._ident = (self._ident + 1) & 0xFF
            self._send_challenge()
        elif self._schedule is not None:  # PAP: the peer speaks first; it is given PAP_WAIT_S
            self._timer = self._schedule(PAP_WAIT_S, self._pap_timeout)

    def _pap_timeout(self) -> None:
        self._timer = None
        if self.credentials is None and self._failed is not None:
            self._failed(f"PAP: no Authenticate-Request in {PAP_WAIT_S:g} s")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send_challenge(self) -> None:
        """The Challenge, sent again (same identifier and value) until a Response comes."""
        self.challenges_sent += 1
        self._send(0xC223, _pkt(CHAP_CHALLENGE, self._ident, bytes([16]) + self._challenge + CHAP_NAME))
        if self._schedule is not None:
            self._timer = self._schedule(CHAP_RESTART_S, self._timeout)

    def _timeout(self) -> None:
        self._timer = None
        if self.credentials is not None:
            return
        if self.challenges_sent < CHAP_MAX_CHALLENGES:
            self._send_challenge()
        elif self._failed is not None:
            self._failed(f"CHAP: no Response to {self.challenges_sent} Challenges")

    def receive(self, protocol: int, data: bytes) -> None:
        parts = _split(data)
        if parts is None:
            return
        code, ident, body = parts
        if protocol == 0xC023 and self.method == "pap" and code == PAP_REQ:
            if len(body) < 1 or len(body) < 2 + body[0]:
                return
            user = body[1 : 1 + body[0]]
            rest = body[1 + body[0] :]
            password = rest[1 : 1 + rest[0]]
            self._send(0xC023, _pkt(PAP_ACK, ident, bytes([8]) + b"Login ok"))
            self._finish(Credentials("pap", user.decode("latin-1"), password.decode("latin-1")))
        elif protocol == 0xC223 and self.method == "chap" and code == CHAP_RESPONSE and ident == self._ident:
            if len(body) < 1 or len(body) < 1 + body[0]:
                return
            value, name = body[1 : 1 + body[0]], body[1 + body[0] :]
            self._send(0xC223, _pkt(CHAP_SUCCESS, ident, b"Welcome"))
            self._finish(Credentials("chap", name.decode("latin-1"), "", value.hex(), ident, self._challenge))

    def _finish(self, credentials: Credentials) -> None:
        self.stop()
        if self.credentials is None:  # a repeated request (our Ack was lost) is acked again, reported once
            self.credentials = credentials
            self._done(credentials)


class Peer:
    """The device side: answers the network's PAP or CHAP with `user` / `password`."""

    def __init__(
        self,
        method: str,
        user: str,
        password: str,
        send: Callable[[int, bytes], None],
        done: Callable[[bool], None],
    ) -> None:
        self.method = method
        self.user = user.encode()
        self.password = password.encode()
        self._send = send
        self._done = done

    def start(self) -> None:
        if self.method == "pap":
            body = bytes([len(self.user)]) + self.user + bytes([len(self.password)]) + self.password
            self._send(0xC023, _pkt(PAP_REQ, 1, body))

    def receive(self, protocol: int, data: bytes) -> None:
        parts = _split(data)
        if parts is None:
            return
        code, ident, body = parts
        if protocol == 0xC223 and code == CHAP_CHALLENGE and body:
            challenge = body[1 : 1 + body[0]]
            value = chap_md5(ident, self.password, challenge)
            self._send(0xC223, _pkt(CHAP_RESPONSE, ident, bytes([16]) + value + self.user))
        elif (protocol, code) in ((0xC023, PAP_ACK), (0xC223, CHAP_SUCCESS)):
            self._done(True)
        elif (protocol, code) in ((0xC023, PAP_NAK), (0xC223, CHAP_FAILURE)):
            self._done(False)
