"""How a usage or sessions CSV is written, read from its name and header: the compression its name
says (against its data's: `m2msim.compressed`), and the separator of a spreadsheet's CSV export in
a locale whose lists use `;`, and the header's misspelt columns.  Shared by `rate`, its report and
`sessions-to-records`."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from accounting.errors import UsageError
from m2msim.compressed import compression_of

CSV_NAMES = (".csv", ".txt", ".tsv")  # the ends of a CSV file's name
COMPRESSED = {
    ".gz": "gzip",
    ".zst": "zstd",
}  # what DuckDB's reader inflates (and the pass), by the name's end
_ENDS = {kind: end for end, kind in COMPRESSED.items()}


def compressed_csv(name: str, compressions: Mapping[str, str] = COMPRESSED) -> str | None:
    """The compression a file's name (lower case) says a CSV is compressed by, among these (by
    the name's end: `usage.csv.gz`, `day.txt.zst`), or None."""
    for end, kind in compressions.items():
        if name.endswith(end) and name[: -len(end)].endswith(CSV_NAMES):
            return kind
    return None


def named_compression(path: Path) -> None:
    """`UsageError` for a file named as compressed by gzip or zstd whose data are not (another's,
    or none): its name says what it should be named (rather than a decompressor's words)."""
    name = path.name.lower()
    named = next((kind for kind, end in _ENDS.items() if name.endswith(end)), None)
    if named is None:
        return
    try:
        with path.open("rb") as f:
            start = f.read(4)
    except OSError:
        return  # (the reading after says why)
    found = compression_of(start)
    if found == named or not start:
        return
    stem = path.name[: -len(_ENDS[named])]
    if found is None:
        raise UsageError(
            str(path), f"named {_ENDS[named]}, but its data are not compressed by {named}: name it {stem}"
        )
    raise UsageError(
        str(path), f"named {_ENDS[named]}, but compressed by {found}: name it {stem}{_ENDS[found]}"
    )


# Excel's first line naming the separator (`sep=;`), which it writes on request and reads back.
_SEPARATOR_NOTE = re.compile(r'"?sep=([,;\t|])"?[,;\t|]*', re.IGNORECASE)


def separator_note(line: str) -> str | None:
    """What is wrong with a first line (without its line end) that is a spreadsheet's note of the
    separator (`sep=;`) rather than the header row, saying what to do; None for another line."""
    note = _SEPARATOR_NOTE.fullmatch(line)
    if note is None:
        return None
    return (
        f"{line!r} is a spreadsheet's note of the separator, not the header row: delete that line "
        f"(the header is line 2; a {note[1]!r} between its names is read as the separator)"
    )


def other_separator(names: Sequence[str], required: Sequence[str]) -> str | None:
    """The separator a one-column header's names are split by, when it splits into the `required`
    columns (';', a tab or '|'), else None."""
    if len(names) != 1:
        return None
    for sep in (";", "\t", "|"):
        parts = [part.strip().strip('"') for part in names[0].split(sep)]
        if all(c in parts for c in required):
            return sep
    return None


def misspelt_column(
    name: str, names: Sequence[str], columns: Sequence[str], others: Collection[str] = ()
) -> str | None:
    """The column of `columns` a header's column `name` was meant to be (`names`: the header), when
    it is none of them but is close to one the header lacks (`Zone`, `zones`, `bytes_dwn`): read as
    another column, it would be left aside and every row read with the column's default (a roaming
    month billed as at home).  A column the header has is never the one meant, however close: the
    closest among those it lacks is.  Other columns (an operator's own; `others`, known ones the
    reader does not use) are left aside: None for them."""
    if name in columns or name in others:
        return None
    import difflib  # only for a column the reader does not know

    lacking = [c for c in columns if c not in names]
    near = [c for c in lacking if c == name.lower()] or difflib.get_close_matches(
        name.lower(), lacking, n=1, cutoff=0.8
    )
    return near[0] if near else None


def other_than_csv(head: bytes) -> str | None:
    """What a file whose first bytes (its first line) are these is instead of a CSV as written by
    hand or exported by a spreadsheet, saying what to do (gzip data in a file not named `.gz`, a
    zip archive or workbook, UTF-16 text, JSON), or None.  Shared by `rate` and `sessions-to-records`."""
    if head.startswith(b"\x1f\x8b"):  # (gzip's magic, in a file not named `.gz`)
        return "compressed by gzip: name it .csv.gz, or decompress it"
    if head.startswith(b"PK\x03\x04"):  # (a zip archive: an .xlsx workbook is one)
        return "a zip archive (or a spreadsheet workbook): not a CSV file; extract or export the CSV"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_ascii(head):
        return (
            "UTF-16 text (as a spreadsheet's 'Unicode text' export saves it), not UTF-8: save the "
            "sheet as CSV UTF-8, or convert the file (iconv -f UTF-16 -t UTF-8)"
        )
    if _JSON.match(head):
        return (
            "JSON text (JSON Lines, or a JSON array of records), not a CSV: convert it (DuckDB: "
            "COPY (FROM read_json('FILE')) TO 'FILE.csv' (HEADER), or TO 'FILE.parquet')"
        )
    return None


# A first line that opens a JSON object, or an array of them (after a byte order mark, blanks): no
# header of a CSV, whose first column is named.
_JSON = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:\{|\[\s*(?:\{|\]|$))")


def _utf16_ascii(head: bytes) -> bool:
    """Whether a first line reads as ASCII text in UTF-16 without a byte order mark: a NUL in every
    other byte (little- or big-endian) and none in the others."""
    pairs = head[: len(head) // 2 * 2][:64]
    if len(pairs) < 8:
        return False
    even, odd = pairs[0::2], pairs[1::2]
    return (even.count(0) == len(even) and 0 not in odd) or (odd.count(0) == len(odd) and 0 not in even)


def line_end_fault(lines: Iterable[bytes]) -> str | None:
    """What is wrong with a CSV's line ends, read from its lines as a binary file gives them (each
    ended by `\\n`, but maybe the last), saying on which line and what to do: a line ended by
    `\\r\\n` in a file whose header ends by `\\n`, or the other way round (files joined from a
    Windows export and a Unix one, a file edited on both), or a carriage return alone within a
    line; None when every line ends as the header does.  A line end within a field in quotes is
    no line's end.  DuckDB's reader refuses all three without saying where (`The CSV Parser state
    machine reached an invalid state`)."""
    crlf: bool | None = None
    quoted = False  # the line begins within a field in quotes (a line end in a quoted field)
    for number, line in enumerate(lines, 1):
        ended = line.endswith(b"\n")
        body = line[:-1] if ended else line
        quotes = body.count(b'"')
        if not quoted and not quotes and b"\r" in body[:-1]:
            return (
                f"line {number}: a carriage return (\\r) alone within the line, which DuckDB's reader "
                "cannot split: remove it (tr -d '\\r' < FILE > NEW removes every one)"
            )
        quoted ^= quotes % 2 == 1
        if quoted or not ended:
            continue
        this = body.endswith(b"\r")
        if crlf is None:
            crlf = this
        elif this != crlf:
            ends = ("\\r\\n (CRLF)", "\\n (LF)")
            was, now = (ends[0], ends[1]) if crlf else (ends[1], ends[0])
            return (
                f"line {number}: ended by {now}, where the header (line 1) ends by {was}: every line "
                "of a CSV must end alike (files of Windows and Unix joined, or a file edited on "
                "both); convert it to one (dos2unix FILE ends every line by \\n)"
            )
    return None
