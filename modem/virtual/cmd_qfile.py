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
- AT+QFOPEN=<filename>[,<mode>] `+QFOPEN: <filehandle>` (mode 0 opens, creating the file if need be;
  1 creates or empties it; 2 read only, 405 when there is none; a file opened already: 426; the
  handles are numbered from 1 in the order of opening), AT+QFOPEN? `+QFOPEN: "<name>",<fh>,<mode>`;
  AT+QFREAD=<fh>[,<length>] `CONNECT <n>`, the n bytes from the file pointer (all the rest without
  <length>), OK; AT+QFWRITE=<fh>[,<length>[,<timeout>]] `CONNECT`, exactly <length> bytes (default
  10,240) written at the pointer, `+QFWRITE: <written>,<file size>`, OK (414 on a read-only handle,
  421 as for AT+QFUPL); AT+QFSEEK=<fh>,<offset>[,<position>] (0 from the start, 1 from the pointer, 2
  back from the end; ERROR past either end, as the manual's notes say); AT+QFPOSITION=<fh>
  `+QFPOSITION: <offset>`; AT+QFCLOSE=<fh>.  An unknown handle: 416.  The response formats of
  AT+QFREAD and AT+QFWRITE are those Quectel's own BG95 SDK parses (`CONNECT %d`, `+QFWRITE: %d,%d`).

A <filename> may carry the storage's prefix, `UFS:cacert.pem` is `cacert.pem`.  Errors, `+CME ERROR:
<err>`, as the manual's chapter 4 numbers them (the table as Quectel's BG95 SDK lists it too): 400
invalid input value (a size of 0, a storage other than UFS), 405 file not found, 406 invalid file name (empty, over 80 bytes, `..`, a `/` or `\\`, a
drive other than UFS: the module has no folders, and nothing reaches the host's), 407 file already
existed (AT+QFUPL does not replace a file: AT+QFDEL it first), 420 no space (a <file_size> above the
free space), 414 read only, 416 invalid file descriptor, 421 time out, 426 file already opened.  The
files are kept in the modem's memory across its resets (`modem.virtual.files`); the open handles are
not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
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
ERR_READ_ONLY, ERR_HANDLE, ERR_OPENED = 414, 416, 426
CREATE, TRUNCATE, READ_ONLY = 0, 1, 2  # AT+QFOPEN's <mode>
PREFIX = "UFS:"


@dataclass(slots=True)
class Handle:
    """A file opened with AT+QFOPEN: its name, open mode and file pointer."""

    name: str
    mode: int
    pos: int = 0


@dataclass(slots=True)
class Ufs:
    """The storage (kept across resets, as flash) and the open files (lost with a reset)."""

    store: FileStore = field(default_factory=lambda: FileStore(capacity=UFS_FREE, total=UFS_TOTAL))
    handles: dict[int, Handle] = field(default_factory=dict)
    next_handle: int = 1


def _on_reset(m: VirtualModem) -> None:
    QUECTEL_FILE.state(m).handles.clear()  # the files stay; what was open is closed


QUECTEL_FILE = StatefulSet("quectel-file", Ufs, _on_reset, kept=True)


def _st(m: VirtualModem) -> FileStore:
    return QUECTEL_FILE.state(m).store


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

    def done(data: bytes) -> Final | None:
        try:
            st.write(name, data, replace=False)
        except NoSpaceError:
            raise CmeError(ERR_NO_SPACE) from None
        except FileExistsError:
            raise CmeError(ERR_EXISTS) from None
        m.info(f"+QFUPL: {len(data)},{xor16(data):x}")
        return OK

    return _receive(m, size, timeout, f"AT+QFUPL {name}", done)


def _receive(
    m: VirtualModem, size: int, timeout: int, what: str, done: Callable[[bytes], Final | None]
) -> Final:
    """`CONNECT`, then exactly `size` bytes to `done`; no byte for `timeout` seconds ends it with
    CME 421 (time out), what came dropped (AT+QFUPL, AT+QFWRITE)."""

    def watch() -> None:
        seq, got, last = m.entry_received
        if seq != mine:  # this prompt ended (all its bytes came, or a reset closed it)
            return
        if last + timeout > m.now:  # bytes came meanwhile: the timeout runs from the last of them
            m.schedule(last + timeout - m.now, watch)
            return
        log.info("%s: no data for %d s after %d of %d bytes", what, timeout, got, size)
        m.end_entry(CmeError(ERR_TIMEOUT))

    final = m.prompt(done, size, banner="CONNECT")
    mine = m.entry_received[0]
    m.schedule(timeout, watch)
    return final


def _set_form(m: VirtualModem, c: Cmd, test: str) -> bool:
    """True for the set form (`=...`) of a command that has only it and its test form; the test form
    is answered here (`+NAME: <test>`, then False), any other form is CME 50."""
    if c.op is Op.TEST:
        m.info(f"{c.name}: {test}")
        return False
    if c.op is not Op.SET:
        raise CmeError(50)
    return True


def _named(m: VirtualModem, c: Cmd) -> str | None:
    """The <filename> of a command whose only parameter it is (+QFDWL, +QFDEL); None for its test form."""
    return _bare(c.str_at(0)) if _set_form(m, c, "<filename>") else None


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


# ----- open files: AT+QFOPEN, AT+QFREAD, AT+QFWRITE, AT+QFSEEK, AT+QFPOSITION, AT+QFCLOSE -------


def _handle(m: VirtualModem, c: Cmd) -> tuple[int, Handle]:
    """The open file of <filehandle> (the first parameter); CME 416 when none is open so."""
    fh = c.int_at(0)
    handle = QUECTEL_FILE.state(m).handles.get(fh)
    if handle is None:
        raise CmeError(ERR_HANDLE)
    return fh, handle


@QUECTEL_FILE.command("+QFOPEN")
def qfopen(m: VirtualModem, c: Cmd) -> Final | None:
    ufs = QUECTEL_FILE.state(m)
    st = ufs.store
    if c.op is Op.TEST:
        m.info("+QFOPEN: <filename>,(0-2)")
        return None
    if c.op is Op.READ:
        for fh, h in sorted(ufs.handles.items()):
            m.info(f'+QFOPEN: "{h.name}",{fh},{h.mode}')
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    name = _key(st, _bare(c.str_at(0)))
    mode = c.int_at(1, CREATE, 0, 2)
    if any(h.name == name for h in ufs.handles.values()):
        raise CmeError(ERR_OPENED)
    if mode == READ_ONLY and name not in st.files:
        raise CmeError(ERR_NOT_FOUND)
    if mode == TRUNCATE or name not in st.files:
        st.write(name, b"")
    fh = ufs.next_handle
    ufs.next_handle += 1
    ufs.handles[fh] = Handle(name, mode)
    m.info(f"+QFOPEN: {fh}")
    return None


@QUECTEL_FILE.command("+QFREAD")
def qfread(m: VirtualModem, c: Cmd) -> Final | None:
    if not _set_form(m, c, "<filehandle>,<length>"):
        return None
    _, h = _handle(m, c)
    data = _st(m).files.get(h.name, b"")
    want = c.int_at(1, len(data), 1)
    chunk = data[h.pos : h.pos + want]
    h.pos += len(chunk)
    m.info(f"CONNECT {len(chunk)}")
    m.raw(chunk + b"\r\n")
    return None


@QUECTEL_FILE.command("+QFWRITE")
def qfwrite(m: VirtualModem, c: Cmd) -> Final | None:
    st = _st(m)
    if not _set_form(m, c, f"<filehandle>,(1-{st.free}),(1-65535)"):
        return None
    fh, h = _handle(m, c)
    size = c.int_at(1, DEFAULT_SIZE, 1)
    timeout = c.int_at(2, DEFAULT_TIMEOUT, 1, 65535)
    if h.mode == READ_ONLY:
        raise CmeError(ERR_READ_ONLY)
    old = st.files.get(h.name, b"")
    if max(h.pos + size, len(old)) - len(old) > st.free:
        raise CmeError(ERR_NO_SPACE)

    def done(data: bytes) -> Final | None:
        current = st.files.get(h.name, b"")
        new = current[: h.pos] + b"\0" * max(0, h.pos - len(current)) + data + current[h.pos + len(data) :]
        try:
            st.write(h.name, new)
        except NoSpaceError:
            raise CmeError(ERR_NO_SPACE) from None
        h.pos += len(data)
        m.info(f"+QFWRITE: {len(data)},{len(new)}")
        return OK

    return _receive(m, size, timeout, f"AT+QFWRITE {fh}", done)


@QUECTEL_FILE.command("+QFSEEK")
def qfseek(m: VirtualModem, c: Cmd) -> Final | None:
    if not _set_form(m, c, "<filehandle>,<offset>,(0-2)"):
        return None
    _, h = _handle(m, c)
    offset = c.int_at(1)
    size = len(_st(m).files.get(h.name, b""))
    where = c.int_at(2, 0, 0, 2)
    # 0 from the beginning, 1 from the pointer, 2 back from the end (the manual: "the handle will move forth")
    pos = offset if where == 0 else h.pos + offset if where == 1 else size - offset
    if not 0 <= pos <= size:  # "If <position> is 0 and <offset> exceeds the file size ... ERROR"
        return ERROR
    h.pos = pos
    return None


@QUECTEL_FILE.command("+QFPOSITION")
def qfposition(m: VirtualModem, c: Cmd) -> Final | None:
    if not _set_form(m, c, "<filehandle>"):
        return None
    _, h = _handle(m, c)
    m.info(f"+QFPOSITION: {h.pos}")
    return None


@QUECTEL_FILE.command("+QFCLOSE")
def qfclose(m: VirtualModem, c: Cmd) -> Final | None:
    if not _set_form(m, c, "<filehandle>"):
        return None
    fh, _ = _handle(m, c)
    del QUECTEL_FILE.state(m).handles[fh]
    return None
