"""The simulator's footer claim on a usage part, bound to the file as written.

`UsageWriter` vouches in a Parquet file's footer (`FOOTER_KEY`, JSON) for what the rating then
takes without checking: the records are unique, none ends past the latest end it gives, and the
file's statistics are true.  A file read by another tool and written back (pyarrow's
`read_table` then `write_table`, with a value edited) kept that entry (pyarrow carries the
footer's key-value metadata of a file without a stored Arrow schema, as the simulator's are, into
the table's schema, and writes it back) with the same row count, and was believed whatever its
rows now held.  So the claim carries a digest of the file's layout as its footer describes it
(`layout_digests`: each row group's row count, each column chunk's offsets, sizes, value count and
null count).  The writer puts it in the footer it writes (`seal`), and the rating believes a claim
only when the digest matches the footer it reads: a file written again by another writer has
other offsets or sizes (another compression, other row groups, pages or dictionaries).  It binds
the claim against a file written again, not against a deliberate copy: one written again with the
simulator's own encodings and row groups, a value changed for another that leaves every page of
the same size, keeps the layout.  Both sides compute it by `layout_digest` from pyarrow's reading
of the footer (the rating reads the footers of the files that hold a claim once more: a fraction
of a millisecond each).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FOOTER_KEY = "m2msim.usage"  # the footer entry the rating reads (accounting.usage)
LAYOUT = "layout"  # the claim's field holding the digest of the file's layout


def layout_digest(footer: Any) -> str:
    """The digest of the layout a Parquet footer (`pyarrow.parquet.FileMetaData`) describes: each
    row group's row count, each column chunk's value count, page offsets, sizes and null count,
    integers alone (a statistic's min or max is not among them: the layout binds the claim to
    the file, the statistics are what the claim vouches for)."""
    h = hashlib.sha256()
    for g in range(footer.num_row_groups):
        group = footer.row_group(g)
        chunks = [str(group.num_rows)]
        for c in range(group.num_columns):
            chunk = group.column(c)
            stats = chunk.statistics
            nulls = stats.null_count if stats is not None and stats.has_null_count else -1
            dictionary = chunk.dictionary_page_offset if chunk.has_dictionary_page else -1
            chunks.append(
                f"{chunk.num_values},{dictionary},{chunk.data_page_offset},"
                f"{chunk.total_compressed_size},{chunk.total_uncompressed_size},{nulls}"
            )
        h.update((";".join(chunks) + "\n").encode("ascii"))
    return h.hexdigest()


def layout_digests(files: Sequence[Path]) -> dict[str, str | None]:
    """Each Parquet file's layout digest (keyed by `str(path)`), read from its footer; None for a
    file whose footer cannot be read (the caller has read it already, and refuses it there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out: dict[str, str | None] = {}
    for path in files:
        try:
            with pa.OSFile(os.fsencode(path)) as f:  # (by its bytes: a name that is not UTF-8 too)
                out[str(path)] = layout_digest(pq.read_metadata(f))
        except (OSError, ValueError, pa.ArrowException):
            out[str(path)] = None
    return out


def claim_bound(doc: Mapping[str, Any], digest: str | None) -> bool:
    """Whether a claim's layout digest is that of the footer read (`digest`)."""
    return digest is not None and doc.get(LAYOUT) == digest


def seal(path: Path, claim: Mapping[str, Any], make_writer: Any, written_as: tuple[int, int]) -> bool:
    """Add `claim`, with the digest of the file's layout, to the footer of the Parquet file `path`,
    just written and closed by this process, in place of its footer; False, and nothing done, when
    `path` is gone or is not that file any more (`written_as`: its device and inode), which is
    never touched (its folder removed, or replaced, under the writer).

    `make_writer(sink)`: a `pyarrow.parquet.ParquetWriter` of the file's schema and options on
    `sink`, whose empty footer is the new footer's start (its schema, key-value entries, writer
    version); the file's row groups are then appended to it unchanged, so the data pages, their
    offsets and statistics stay as written, and so does the digest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        f = open(os.fsencode(path), "r+b")  # noqa: SIM115 (closed below, after the digest)
    except FileNotFoundError:
        return False
    with f:
        st = os.fstat(f.fileno())
        if (st.st_dev, st.st_ino) != written_as:
            return False
        f.seek(-8, os.SEEK_END)
        size = f.tell() + 8
        length = int.from_bytes(f.read(4), "little")
        f.seek(size - 8 - length)
        # (the footer alone, after a leading magic: what a reader of the metadata needs)
        written = pq.read_metadata(pa.BufferReader(b"PAR1" + f.read(length + 8)))
        digest = layout_digest(written)
        empty = pa.BufferOutputStream()
        writer = make_writer(empty)
        writer.add_key_value_metadata({FOOTER_KEY: json.dumps({**claim, LAYOUT: digest})})
        writer.close()
        footer = pq.read_metadata(pa.BufferReader(empty.getvalue()))
        footer.append_row_groups(written)
        out = pa.BufferOutputStream()
        footer.write_metadata_file(out)
        tail = out.getvalue().to_pybytes()[4:]  # (past the leading magic "PAR1")
        f.seek(size - 8 - length)
        f.truncate()
        f.write(tail)
    return True
