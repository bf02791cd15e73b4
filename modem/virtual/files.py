"""A module's own file system, as the DTE sees it through AT commands: named files in a flat,
bounded storage (Quectel's UFS), held in memory per modem.

The files live in the modem's memory and nowhere else: a name is a key, never a path on the host,
so a name such as `../../etc/x` is refused (`FileNameError`) rather than reaching any folder.  The
storage is kept across the module's resets (AT+CFUN=1,1, power off and on), as flash is; it ends
with the modem, as the phonebook and the SMS storages do (the virtual modem keeps no state on disk).

The checksum of Quectel's AT+QFUPL / AT+QFDWL (BG96 FILE AT Commands Manual V1.0, 2.4 note 2): "a
16 bit checksum based on bitwise XOR.  If the number of the characters is odd, set the last
character as the high 8 bit, and the low 8 bit as 0": the XOR of the data's big-endian 16-bit words.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

__all__ = ["FileNameError", "FileStore", "NoSpaceError", "xor16"]

#: characters no module file name may hold: separators (no folder of the host, nor of the module, is
#: reachable by name), the drive separator, wildcards and quotes
_FORBIDDEN = set('/\\:*?"<>|')


class FileNameError(ValueError):
    """A name that is not a file name of the storage (empty, too long, a path, `..`)."""


class NoSpaceError(ValueError):
    """The storage cannot hold that many more bytes."""


def xor16(data: bytes) -> int:
    """The XOR of `data`'s big-endian 16-bit words, an odd last byte as the high byte of a word."""
    acc = 0
    n = len(data) - len(data) % 2
    for i in range(0, n, 2):
        acc ^= (data[i] << 8) | data[i + 1]
    if n < len(data):
        acc ^= data[n] << 8
    return acc


@dataclass(slots=True)
class FileStore:
    """Named files in `capacity` bytes (the free space of the empty storage); `total` is the size
    the module reports for the whole storage (what its own firmware takes included)."""

    capacity: int
    total: int
    max_name: int = 80
    files: dict[str, bytes] = field(default_factory=dict)

    def check_name(self, name: str) -> str:
        """`name` as a key of the storage; FileNameError when it cannot be one."""
        if (
            not name
            or len(name.encode("utf-8", "surrogateescape")) > self.max_name
            or name in (".", "..")
            or any(ch in _FORBIDDEN or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
        ):
            raise FileNameError(name)
        return name

    @property
    def used(self) -> int:
        return sum(len(d) for d in self.files.values())

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def write(self, name: str, data: bytes, replace: bool = True) -> None:
        """Store `data` under `name` (replacing what it held when `replace`); NoSpaceError when the
        storage cannot hold it, FileExistsError when `name` exists and not `replace`."""
        key = self.check_name(name)
        old = self.files.get(key)
        if old is not None and not replace:
            raise FileExistsError(key)
        if len(data) > self.free + (len(old) if old is not None else 0):
            raise NoSpaceError(key)
        self.files[key] = bytes(data)

    def read(self, name: str) -> bytes:
        """The file's bytes; FileNotFoundError when there is none of that name."""
        key = self.check_name(name)
        try:
            return self.files[key]
        except KeyError:
            raise FileNotFoundError(key) from None

    def delete(self, name: str) -> None:
        key = self.check_name(name)
        if self.files.pop(key, None) is None:
            raise FileNotFoundError(key)

    def match(self, pattern: str) -> list[str]:
        """The names `pattern` matches (`*` and `?` wildcards), in name order."""
        return sorted(n for n in self.files if fnmatch.fnmatchcase(n, pattern))
