"""TLS on a module's TCP connection: real TLS (Python's `ssl` in memory, `SSLObject` with two
`MemoryBIO`), so that the bytes on the wire are the records a TLS client really sends and receives.

A connection of `modem.virtual.sockets` opened with `TlsSettings` carries a `TlsSession`: the stack
sends its ClientHello once the TCP handshake is over, feeds it what the server sends as it reaches
the module, and says the connection is up (`on_up`) when the TLS handshake is done, or failed
(`on_fail` with `FAIL_TLS`) when it is not.  Every record, the handshake's, the data's and the
close_notify, crosses the link and is billed as any TCP data is (`gateway.wire.TcpWire`, segment by
segment): nothing is estimated.  The plain bytes go to and come from the command sets as on a plain
connection.

What a module checks (`TlsSettings.verify`): nothing (SIMCom's HTTPS, Quectel's seclevel 0), or the
server's chain against a CA file of the module's file system (`modem.virtual.files`; Quectel's
seclevel 1 and 2); the server's name is not checked (no
module's manual says it is).  Versions and cipher suites are the module's own (SIM800 and BG96
stop at TLS 1.2: no TLS 1.3 on either).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache

log = logging.getLogger(__name__)

__all__ = ["TlsError", "TlsSession", "TlsSettings", "cipher_name"]

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class TlsError(Exception):
    """Settings that cannot make a TLS client (an unreadable CA file, an unknown cipher suite)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """A module's TLS client: the versions it offers, its cipher suites (an OpenSSL cipher string;
    empty: OpenSSL's default list), whether it checks the server's chain and against which CA
    certificates, and a client certificate and key (mutual authentication): the bytes of the files
    in the module's own file system (PEM or DER), never a path on the host.  `missing` names a file
    the settings name that the module does not have: the client cannot be made."""

    min_version: str = "1.2"
    max_version: str = "1.2"
    ciphers: str = ""
    verify: bool = False
    ca: bytes = b""
    cert: bytes = b""
    key: bytes = b""
    missing: str = ""

    def context(self) -> ssl.SSLContext:
        """The client context; TlsError when a file is missing or unusable, or the settings are refused."""
        if self.missing:
            raise TlsError(f"{self.missing}: no such file in the module's file system")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        old = self.min_version in ("1.0", "1.1")
        if self.min_version not in VERSIONS or self.max_version not in VERSIONS:
            raise TlsError(
                f"TLS {self.min_version}-{self.max_version}: not offered by this machine's OpenSSL"
            )
        try:
            with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: modules still offer them
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = VERSIONS[self.min_version]
                ctx.maximum_version = VERSIONS[self.max_version]
            if self.ciphers or old:  # OpenSSL refuses TLS 1.0 / 1.1 above security level 0
                ctx.set_ciphers((self.ciphers or "DEFAULT") + (":@SECLEVEL=0" if old else ""))
            if self.verify:
                ctx.verify_mode = ssl.CERT_REQUIRED
                if not self.ca:
                    raise TlsError("no CA certificate to check the server's chain against")
                ctx.load_verify_locations(cadata=_pem_or_der(self.ca))
            else:
                ctx.verify_mode = ssl.CERT_NONE
            if self.cert:
                _load_chain(ctx, self.cert, self.key)
        except (OSError, ssl.SSLError, ValueError, KeyError) as exc:
            raise TlsError(f"{exc}") from None
        return ctx


def _pem_or_der(data: bytes) -> str | bytes:
    """What `load_verify_locations(cadata=...)` takes: PEM as text, DER as bytes."""
    return data.decode("latin-1") if b"-----BEGIN" in data else data


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Python's `ssl` reads a certificate chain from files only: the module's bytes go to a private
    temporary folder (mode 0700) for the time of the call, and the folder is removed at once."""
    with tempfile.TemporaryDirectory(prefix="m2msim-tls-") as folder:
        certfile = os.path.join(folder, "cert")
        keyfile = os.path.join(folder, "key") if key else None
        with open(os.open(certfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(cert)
        if keyfile is not None:
            with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(key)
        ctx.load_cert_chain(certfile, keyfile)


@cache
def _cipher_names() -> dict[int, str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return {c["id"] & 0xFFFF: c["name"] for c in ctx.get_ciphers()}


def cipher_name(code: int) -> str | None:
    """OpenSSL's name of the TLS cipher suite `code` (IANA, e.g. 0xC02F), None when it has none."""
    return _cipher_names().get(code)


@dataclass(slots=True, eq=False)
class TlsSession:
    """One TLS client in memory: records in (`feed`), records out (`take`)."""

    obj: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO
    up: bool = False
    failed: bool = False
    #: why the handshake or the connection failed (OpenSSL's reason), "" while it has not
    error: str = ""
    #: the server's fatal alert ended it (SIMCom's 606), not the module's own check or a broken record
    alert: bool = False
    closed: bool = False  # the server's close_notify came
    sent_notify: bool = False

    @classmethod
    def client(cls, settings: TlsSettings, server_name: str) -> TlsSession:
        """A client for `server_name` (sent as SNI unless it is an address); TlsError from the settings."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        name = None if _is_address(server_name) else server_name
        ctx = settings.context()
        try:
            obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=name)
        except ValueError as exc:  # no name a ClientHello can carry (empty labels, one past 63 octets)
            raise TlsError(f"{server_name!r}: {exc}") from None
        return cls(obj, incoming, outgoing)

    def take(self) -> bytes:
        """The records waiting to leave."""
        return self.outgoing.read()

    def start(self) -> bytes:
        """The ClientHello."""
        self._handshake()
        return self.take()

    def _handshake(self) -> None:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        self.up = True
        log.debug("TLS up: %s, %s", self.obj.version(), self.obj.cipher())

    def _fail(self, exc: ssl.SSLError) -> None:
        self.failed = True
        self.error = exc.reason or str(exc)
        self.alert = "ALERT" in self.error.upper()
        log.info("TLS failed: %s", self.error)

    def feed(self, data: bytes) -> bytes:
        """Records from the server; the plain bytes they carry (none during the handshake).  After
        it, `up`, `failed` or `closed` say what happened; `take` has what goes back (the client's
        Finished, an alert)."""
        if self.failed:
            return b""
        self.incoming.write(data)
        if not self.up:
            self._handshake()
            if not self.up:
                return b""
        plain = bytearray()
        while True:
            try:
                chunk = self.obj.read(16384)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            except ssl.SSLError as exc:
                self._fail(exc)
                break
            if not chunk:
                break
            plain += chunk
        return bytes(plain)

    def seal(self, data: bytes) -> bytes:
        """`data` as records."""
        self.obj.write(data)
        return self.take()

    def close_notify(self) -> bytes:
        """The close_notify alert (once; nothing after a failure)."""
        if self.sent_notify or self.failed or not self.up:
            return b""
        self.sent_notify = True
        with contextlib.suppress(ssl.SSLError):  # the server's close_notify is not waited for
            self.obj.unwrap()
        return self.take()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
