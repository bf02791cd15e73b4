"""How a usage or sessions CSV is written, read from its name and header: the compression its name
says (against its data's: `m2msim.compressed`), and the separator of a spreadsheet's CSV export in
a locale whose lists use `;`, and the header's misspelt columns.  Shared by `rate`, its report and
`sessions-to-records`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
