"""What a writer killed by SIGKILL leaves beside a single-file output (docs/reliability.md, point 3).

Its temporary file carries m2msim, the host and the process in its name; the next write of the same
output on this host removes it once that process is gone, and touches nothing else: a live writer's
file, another host's, another output's, a folder or a link under such a name, the user's files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from m2msim.cli import main
from m2msim.outputs import host_name, private_folder, temporary_name

SESSIONS = "line,start,duration_s,bytes_up,bytes_down\n336,2026-03-01T00:00:00Z,100,10,20\n"
WRITER = """
import sys
from pathlib import Path
from m2msim.outputs import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half of a file")
    print(tmp.name, flush=True)
    sys.stdin.read()  # until killed
"""


def _killed_writer(out: Path) -> tuple[str, int]:
    """The temporary file's name a writer of `out` left when SIGKILL stopped it, and its PID."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()  # the file is written: the writer waits on its stdin
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdout.close()
    return name, proc.pid


def test_a_killed_writers_temporary_file_is_removed_at_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "usage.csv"
    left, pid = _killed_writer(out)
    assert left.startswith(f".m2msim-usage.csv.tmp-{host_name()}-{pid}-"), left
    assert (tmp_path / left).read_bytes() == b"half of a file"  # (what SIGKILL leaves)
    other_host = f".m2msim-usage.csv.tmp-{host_name()}x-{pid}-0123abcd"
    live = temporary_name(out).name  # this process's: alive
    older = f".m2msim-usage.csv.tmp-{pid}-0123abcd"  # an older version's name: no host to tell
    other_output = f".m2msim-usage.csv.gz.tmp-{host_name()}-{pid}-0123abcd"
    for name in (other_host, live, older, other_output, "notes.txt"):
        (tmp_path / name).write_bytes(b"kept")
    folder = tmp_path / f".m2msim-usage.csv.tmp-{host_name()}-{pid}-89abcdef"
    folder.mkdir()
    link = tmp_path / f".m2msim-usage.csv.tmp-{host_name()}-{pid}-01234567"
    link.symlink_to(tmp_path / "notes.txt")
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(SESSIONS, encoding="utf-8")
    assert main(["sessions-to-records", str(sessions), str(out)]) == 0
    assert not (tmp_path / left).exists()
    for name in (other_host, live, older, other_output, "notes.txt"):
        assert (tmp_path / name).read_bytes() == b"kept", name
    assert folder.is_dir() and link.is_symlink()
    assert out.read_bytes().startswith(b'"line"')


SPILLER = """
from accounting.usage import connect
con = connect(threads=1)
folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
open(folder + "/spill.bin", "wb").write(b"spilled rows")
print(folder, flush=True)
import sys
sys.stdin.read()  # until killed
"""


def test_the_duckdb_spill_folder_of_a_killed_rating_is_removed_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's spill folder was removed at exit only: a rating killed by SIGKILL or the OOM killer
    left it in the temporary directory, with gigabytes of spilled rows for a large month. The next
    process of this host that makes its own removes it; a live process's, another host's, a file of
    that name and another program's folder are kept."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", SPILLER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    left = Path(proc.stdout.readline().strip())  # its folder holds a spill file: it waits on stdin
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    proc.stdin.close()
    proc.stdout.close()
    assert left.parent == tmp_path and (left / "spill.bin").exists()
    host = host_name()
    kept = [
        tmp_path / f"m2msim-duckdb-{host}-{os.getpid()}-abcd1234",  # a live process's
        tmp_path / f"m2msim-duckdb-{host}x-{proc.pid}-abcd1234",  # another host's
        tmp_path / f"m2msim-duckdbx-{host}-{proc.pid}-abcd1234",  # another program's
    ]
    for folder in kept:
        folder.mkdir()
    a_file = tmp_path / f"m2msim-duckdb-{host}-{proc.pid}-0123abcd"
    a_file.write_bytes(b"kept")
    made = private_folder("m2msim-duckdb")
    assert not left.exists()
    assert made.is_dir() and made.name.startswith(f"m2msim-duckdb-{host}-{os.getpid()}-")
    assert all(folder.is_dir() for folder in kept) and a_file.read_bytes() == b"kept"
