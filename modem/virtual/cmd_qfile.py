"""Quectel's file commands on UFS, the module's user file storage (BG96 FILE AT Commands Manual V1.0,
chapter 2; the same commands on the EC2x / EG25): what firmware uses to put its CA certificate and
client keys into the module before AT+QSSLCFG names them.

- AT+QFLDS="UFS" `+QFLDS: <freesize>,<total_size>`; AT+QFLDS `+QFLDS: <UFS_file_size>,<UFS_file_number>`
  (the bytes the files take, how many there are).  The empty storage has the manual's example's free
  space, 12,987,840 bytes of 14,483,456 (2.1): no more fits.
- AT+QFLST[=<name_pattern>] `+QFLST: "<filename>",<file_size>` for each file (`"*"` or none: all of
  them; `*` and `?` match as wildcards; a plain name that is not there: 405).
- AT+QFUPL=<filename>[,<file_size>[,<timeout>[,<ackmode>]]] `CONNECT`, then exactly <file_size> bytes
  (default 10,240) of any value, then `+QFUPL: <upload_size>,<checksum>` and OK.  The checksum is the
  manual's (2.4, note 2): the XOR of the data's 16-bit words, an odd last byte as a high byte
  (`modem.virtual.files.xor16`), written in hexadecimal (what the module prints: `+QFUPL: 1187,2d19`
  for a 1,187-byte certificate, as reported on Quectel's forum; the manual gives no example).  No
  byte for <timeout> seconds (default 5) ends the upload with `+CME ERROR: 421` (time out), the
  bytes before it dropped (the manual does not say what becomes of them).  ACK mode (<ackmode> 1)
  is not emulated: ERROR.
- AT+QFDWL=<filename> `CONNECT`, the file's bytes, `+QFDWL: <download_size>,<checksum>`, OK.
- AT+QFDEL=<filename> (`"*"`: every file).

A <filename> may carry the storage's prefix, `UFS:cacert.pem` is `cacert.pem`.  Errors, `+CME ERROR:
<err>`, as the manual's chapter 4 numbers them: 400 invalid input value (a size of 0, a storage other
than UFS), 405 file not found, 406 invalid file name (empty, over 80 bytes, `..`, a `/` or `\\`, a
drive other than UFS: the module has no folders, and nothing reaches the host's), 407 file already
existed (AT+QFUPL does not replace a file: AT+QFDEL it first), 420 no space (a <file_size> above the
free space).  The files are kept in the modem's memory across its resets (`modem.virtual.files`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.virtual.files import FileNameError, FileStore, NoSpaceError, xor16
from modem.virtual.registry import StatefulSet
from modem.virtual.results import ERROR, OK, CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

log = logging.getLogger(__name__)

__all__ = ["QUECTEL_FILE", "read_file"]

UFS_FREE, UFS_TOTAL = 12_987_840, 14_483_456  # BG96 FILE AT Commands Manual V1.0, 2.1's example
DEFAULT_SIZE, DEFAULT_TIMEOUT = 10_240, 5
ERR_INPUT, ERR_NOT_FOUND, ERR_NAME, ERR_EXISTS, ERR_NO_SPACE, ERR_TIMEOUT = 400, 405, 406, 407, 420, 421
PREFIX = "UFS:"


def _new_store() -> FileStore:
    return FileStore(capacity=UFS_FREE, total=UFS_TOTAL)


QUECTEL_FILE = StatefulSet("quectel-file", _new_store, kept=True)
_st = QUECTEL_FILE.state


def _bare(name: str) -> str:
    """`name` without the storage's `UFS:` prefix."""
    return name[len(PREFIX) :] if name[: len(PREFIX)].upper() == PREFIX else name


def _key(st: FileStore, name: str) -> str:
    """A <filename> as the storage's key (its `UFS:` prefix dropped); CME 406 when it is none."""
    name = _bare(name)
    try:
        return st.check_name(name)
    except FileNameError:
        log.info("file name %r refused: not a file name of UFS", name)
        raise CmeError(ERR_NAME) from None


def read_file(m: VirtualModem, name: str) -> bytes | None:
    """The bytes of UFS file `name` (`cacert.pem` or `UFS:cacert.pem`); None when the module has no
    such file, or no file system."""
    if QUECTEL_FILE.name not in m.set_states:
        return None
    st = _st(m)
    try:
        return st.read(_key(st, name))
    except (CmeError, FileNotFoundError):
        return None


@QUECTEL_FILE.command("+QFLDS")
def qflds(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.TEST:
        m.info('+QFLDS: ("UFS")')
    elif c.op is Op.EXEC:
        m.info(f"+QFLDS: {st.used},{len(st.files)}")
    elif c.op is Op.SET:
        if c.str_at(0).upper() != "UFS":
            raise CmeError(ERR_INPUT)
        m.info(f"+QFLDS: {st.free},{st.total}")
    else:
        raise CmeError(50)
    return None


@QUECTEL_FILE.command("+QFLST")
def qflst(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.TEST:
        return None
    if c.op is Op.EXEC:
        names = st.match("*")
    elif c.op is Op.SET:
        pattern = _bare(c.str_at(0))
        if "*" in pattern or "?" in pattern:
            names = st.match(pattern)
        else:
            key = _key(st, pattern)
            if key not in st.files:
                raise CmeError(ERR_NOT_FOUND)
            names = [key]
    else:
        raise CmeError(50)
    for name in names:
        m.info(f'+QFLST: "{name}",{len(st.files[name])}')
    return None


@QUECTEL_FILE.command("+QFUPL")
def qfupl(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if c.op is Op.TEST:
        m.info(f"+QFUPL: <filename>,(1-{st.free}),(1-65535),(0,1)")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    name = _key(st, c.str_at(0))
    size = c.int_at(1, DEFAULT_SIZE)
    timeout = c.int_at(2, DEFAULT_TIMEOUT, 1, 65535)
    if c.int_at(3, 0, 0, 1):
        log.info("AT+QFUPL: ACK mode is not emulated")
        return ERROR
    if size < 1:
        raise CmeError(ERR_INPUT)
    if name in st.files:
        raise CmeError(ERR_EXISTS)
    if size > st.free:
        raise CmeError(ERR_NO_SPACE)
    open_ = [True]

    def done(data: bytes) -> Final | None:
        open_[0] = False
        try:
            st.write(name, data, replace=False)
        except NoSpaceError:
            raise CmeError(ERR_NO_SPACE) from None
        except FileExistsError:
            raise CmeError(ERR_EXISTS) from None
        m.info(f"+QFUPL: {len(data)},{xor16(data):x}")
        return OK

    def watch() -> None:
        if not open_[0]:
            return
        got, last = m.entry_received
        if last + timeout > m.now:  # bytes came meanwhile: the timeout runs from the last of them
            m.schedule(last + timeout - m.now, watch)
            return
        open_[0] = False
        log.info("AT+QFUPL %s: no data for %d s after %d of %d bytes", name, timeout, got, size)
        m.end_entry(CmeError(ERR_TIMEOUT))

    final = m.prompt(done, size, banner="CONNECT")
    m.schedule(timeout, watch)
    return final


def _named(m: VirtualModem, c: Cmd) -> str | None:
    """The <filename> of a command whose only parameter it is (+QFDWL, +QFDEL); None for its test
    form (answered here), CME 50 for any other form."""
    if c.op is Op.TEST:
        m.info(f"{c.name}: <filename>")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    return _bare(c.str_at(0))


@QUECTEL_FILE.command("+QFDWL")
def qfdwl(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    name = _named(m, c)
    if name is None:
        return None
    try:
        data = st.read(_key(st, name))
    except FileNotFoundError:
        raise CmeError(ERR_NOT_FOUND) from None
    m.info("CONNECT")
    m.raw(data + b"\r\n")
    m.info(f"+QFDWL: {len(data)},{xor16(data):x}")
    return None


@QUECTEL_FILE.command("+QFDEL")
def qfdel(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    name = _named(m, c)
    if name is None:
        return None
    if name == "*":
        st.files.clear()
        return None
    try:
        st.delete(_key(st, name))
    except FileNotFoundError:
        raise CmeError(ERR_NOT_FOUND) from None
    return None
