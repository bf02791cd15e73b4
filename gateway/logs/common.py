"""What the log adapters share: the report, the error, and the input files."""

from __future__ import annotations

import io
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from gateway.acct_sessions import Rejects, main_reject_said, no_usable_said
from m2msim.compressed import Salvaged, compression_of
from m2msim.fdlimit import FdLimitError, raise_fd_limit
from m2msim.inputs import each_once

MAX_LISTED_REJECTS = 1_000
FDS_SPARE = 64  # the interpreter, imports, the output, its temporary file...


class LogError(Exception):
    """A log file that cannot be used at all (`file:line: reason`)."""


class LogReport(Rejects):
    """Counts of a log read, and every entry it could not use, with its file and line."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []
        self.entries = 0  # blocks (detail) or rows (CDR) read
        self.accounting_requests = 0
        self.ignored: Counter[str] = Counter()  # entries that carry no usage, by kind
        self.reasons: Counter[str] = Counter()
        self.rejects: list[dict[str, object]] = []
        self.current_file = ""
        # compressed files whose data stop within a line, read up to it: file, last whole line, ...
        self.cut_short: list[dict[str, object]] = []
        self.skipped: dict[str, str] = {}  # names of a file given before (`input_files`) -> why

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    @property
    def no_usable_entries(self) -> str | None:
        """Why no accounting entry of the logs could be used (none opened or joined a session: none
        there, all rejected), naming them; None when some could."""
        if self.sessions or self.joined:
            return None
        said = no_usable_said(self.files, "accounting entry")
        if self.rejected:
            listed = ((f"{r['file']}:{r['line']}", str(r["reason"])) for r in self.rejects)
            return said + main_reject_said(self.reasons, "entries", listed)
        if self.accounting_requests:
            return said + f"{self.accounting_requests} accounting entries (none with usage)"
        ignored = ", ".join(f"{count} {kind}" for kind, count in sorted(self.ignored.items()))
        return said + "none there" + (f", only entries without usage ({ignored})" if ignored else "")

    def reject(self, where: int, category: str, detail: str = "") -> None:
        self.reasons[category] += 1
        if len(self.rejects) < MAX_LISTED_REJECTS:
            reason = f"{category}: {detail}" if detail else category
            self.rejects.append({"file": self.current_file, "line": where, "reason": reason})

    def as_dict(self) -> dict[str, object]:
        return {
            "files": list(self.files),
            "entries": self.entries,
            "accounting_requests": self.accounting_requests,
            "ignored": dict(sorted(self.ignored.items())),
            "records": self.records,
            "sessions": self.sessions,
            "retransmissions": self.retransmissions,
            **self.start_copies(),
            "joined_sessions": list(self.joined),
            "counter_wraps": self.counter_wraps,
            "clock_wrong": self.clock_wrong,
            "clock_wrong_first": list(self.clock_wrong_first),
            "delay_wrong": self.delay_wrong,
            "delay_wrong_first": self.delay_wrong_first,
            "clock_unset": self.clock_unset,
            "clock_unset_first": self.clock_unset_first,
            "clock_unset_undated": self.clock_unset_undated,
            "clock_held": self.clock_held,
            "clock_held_first": list(self.clock_held_first),
            "open_sessions": list(self.open_sessions),
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "warning": self.no_usable_entries,
            "cut_short": list(self.cut_short),
            "skipped_files": list(self.skipped),
            "skipped_reasons": dict(self.skipped),
            "rejects": list(self.rejects),
        }


def input_files(inputs: Iterable[Path | str], kind: str, report: LogReport) -> list[Path]:
    """Files as given, and every regular (not hidden) file under a folder, by name, each read once
    (`m2msim.inputs.each_once`: a name of a file given before is in `report.skipped`, with why; it
    was read again, every entry counted twice); `LogError` if none."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise LogError(f"{path}: folder holds no {kind} file")
            files += found
        elif not path.exists():
            raise LogError(f"{path}: no such file")
        elif not path.is_file():
            raise LogError(f"{path}: not a file")
        else:
            files.append(path)
    files, repeats = each_once(files)
    report.skipped = {str(path): why for path, why in repeats}
    report.files = [str(f) for f in files]
    return files


def reserve_open_files(files: list[Path]) -> None:
    """Raise the open-file limit for `files`, every one open while they are merged by time (a radacct
    folder of 40 clients' daily files holds 1,200 a month); `LogError` when it cannot be."""
    try:
        raise_fd_limit(len(files) + FDS_SPARE, fewer="read fewer files at once")
    except FdLimitError as exc:
        raise LogError(f"{len(files)} files to merge: {exc}") from None


def _opened(path: Path) -> tuple[io.BufferedIOBase, Salvaged | None]:
    """The file's bytes, decompressed when they are gzip's or zstd's (a log rotated and
    compressed, whatever its name: `detail-20260301.gz`, `sgsn.cdr.1.zst`): then with them, what
    says whether the data were cut short."""
    stream = path.open("rb")
    kind = compression_of(stream.read(4))
    if kind is None:
        stream.seek(0)
        return stream, None
    stream.close()
    data = Salvaged(path, kind)
    return data.stream(), data


def text_lines(
    path: Path, report: LogReport, *, escape_octets: bool = False
) -> Iterator[tuple[int, str, bool]]:
    """(line number, text without its end, whether it has its end: only a file's last line may
    not) of a UTF-8 text file, maybe compressed by gzip or zstd;
    `LogError` on bytes that are not text (with `escape_octets`, an octet that is no UTF-8 is read
    as `\\xNN`: a log that copies a field as a device sent it), or compressed data damaged or cut
    before a first whole line, or a plain file emptied or cut while it is read (logrotate's
    copytruncate).  Compressed
    data cut short later (a copy that stopped, a disk that filled up) are read up to their last
    whole line (a part of a line after it is no entry), in `report.cut_short`."""
    try:
        stream, data = _opened(path)
        size = os.fstat(stream.fileno()).st_size if data is None else 0
    except OSError as exc:
        raise LogError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    number = done = 0
    with stream:
        try:
            for number, raw in enumerate(stream, 1):
                done += len(raw)
                if data is not None and data.cut and not raw.endswith(b"\n"):
                    number -= 1  # (the line the data stop within)
                    break
                if b"\0" in raw:
                    raise LogError(f"{path}:{number}: binary data (NUL byte), not a text log")
                try:
                    text = raw.decode("utf-8", "backslashreplace" if escape_octets else "strict")
                except UnicodeDecodeError as exc:
                    raise LogError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1})") from None
                yield number, text.rstrip("\r\n"), raw.endswith(b"\n")
        except (OSError, zlib.error) as exc:  # (gzip's, or pyarrow's zstd stream's)
            raise LogError(f"{path}: its compressed data are damaged ({exc}) after line {number}") from None
        if done < size:  # (a file that grows is read on: its lines are only added)
            raise LogError(
                f"{path}: changed while it was read ({size} bytes when opened, {os.fstat(stream.fileno()).st_size} "
                f"now: emptied or cut, as logrotate's copytruncate does) after line {number}: nothing read "
                "from it stands; read it once it is complete, or a copy"
            )
    if data is not None and data.cut:
        if not number:
            raise LogError(f"{path}: its {data.kind} data are cut short before a first whole line")
        report.cut_short.append(
            {
                "file": str(path),
                "lines": number,
                "compression": data.kind,
                "reason": f"{path}: its {data.kind} data are cut short after line {number}",
            }
        )
