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
from typing import Any

import pytest

from m2msim.cli import main
from m2msim.outputs import atomic_path, host_name, private_folder, temporary_name

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


LIVE_WRITER = """
import sys
from pathlib import Path
from m2msim.outputs import atomic_path
with atomic_path(Path(sys.argv[1]), tag=sys.argv[2]) as tmp:
    with tmp.open("wb") as f:
        f.write(bytes.fromhex(sys.argv[3]))
    print(tmp.name, flush=True)
    sys.stdin.read()  # until killed
"""


def _killed_live_writer(out: Path, tag: str, data: bytes) -> tuple[Path, int]:
    """The file a writer of `out` filling a `tag` temporary as it goes left when SIGKILL stopped it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LIVE_WRITER, str(out), tag, data.hex()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    name = proc.stdout.readline().strip()  # written: the writer waits on its stdin
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    proc.stdin.close()
    proc.stdout.close()
    return out.parent / name, proc.pid


def _packet(payload: bytes) -> bytes:
    return (1).to_bytes(4, "little") + bytes(4) + len(payload).to_bytes(4, "little") * 2 + payload


PCAP_HEADER = (
    bytes.fromhex("d4c3b2a102000400") + bytes(8) + (65535).to_bytes(4, "little") + (1).to_bytes(4, "little")
)


def test_what_a_killed_serve_wrote_as_it_went_is_kept_by_any_write_of_that_output(
    tmp_path: Path,
) -> None:
    """A writer's temporary file filled as it goes (`modem serve`'s records, `rec`, and capture,
    `pcap`) is kept when its writer was killed, by any m2msim write of that output: renamed beside it,
    cut after its last whole record or packet, never over a file; one with no whole record removed."""
    out, capture = tmp_path / "usage.csv", tmp_path / "gateway.pcap"
    record = b'"336","2026-03-01T00:00:00Z"\n'
    rec, pid = _killed_live_writer(out, "rec", b'"line","start"\n' + record + b'"337","2026-')
    assert rec.name.startswith(f".m2msim-usage.csv.rec-{host_name()}-{pid}-")
    taken = tmp_path / f"usage.recovered-{host_name()}-{pid}.csv"
    taken.write_bytes(b"the user's")  # a file at the name it would get: never replaced
    packets = PCAP_HEADER + _packet(b"A" * 60) + _packet(b"B" * 70)
    pcap, pcap_pid = _killed_live_writer(capture, "pcap", packets + _packet(b"C" * 80)[:50])
    empty = tmp_path / f".m2msim-usage.csv.rec-{host_name()}-{pcap_pid}-0123abcd"  # (a dead writer's)
    empty.write_bytes(b'"line","start"\n"33')  # no whole record: nothing to keep
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(SESSIONS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "m2msim", "sessions-to-records", str(sessions), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    kept = tmp_path / f"usage.recovered-{host_name()}-{pid}-2.csv"
    assert kept.read_bytes() == b'"line","start"\n' + record and taken.read_bytes() == b"the user's"
    assert not rec.exists() and not empty.exists() and pcap.exists()  # (another output's)
    assert done.stderr.splitlines() == [
        f"WARNING m2msim.outputs: {kept}: holds the usage records of a modem serve that did not end (killed), "
        "up to its last written record"
    ]
    with atomic_path(capture, tag="pcap") as tmp:
        tmp.write_bytes(PCAP_HEADER)
    kept_pcap = tmp_path / f"gateway.recovered-{host_name()}-{pcap_pid}.pcap"
    assert kept_pcap.read_bytes() == packets and not pcap.exists()  # the cut packet cut off


INTERRUPTED_SPILL = """
import signal
import m2msim.outputs

made = m2msim.outputs.private_folder


def made_then_interrupted(*args, **kwargs):
    folder = made(*args, **kwargs)
    print(folder, flush=True)
    signal.raise_signal(signal.SIGINT)  # (Ctrl-C, as the folder was just made)
    return folder


m2msim.outputs.private_folder = made_then_interrupted
from accounting.usage import connect
connect(threads=1)
"""


def test_the_duckdb_spill_folder_made_as_ctrl_c_came_is_removed_at_exit(tmp_path: Path) -> None:
    """SIGINT right after DuckDB's spill folder was made, before its removal at exit was
    registered, left `m2msim-duckdb-HOST-PID-...` in the temporary directory for good: its removal
    is now registered first, and the folder made with the signal held back until it is known."""
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_SPILL],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=60,
    )
    assert "KeyboardInterrupt" in proc.stderr
    made = Path(proc.stdout.strip())
    assert made.parent == tmp_path and made.name.startswith(f"m2msim-duckdb-{host_name()}-")
    assert not made.exists()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_a_dead_ratings_spill_folder_is_removed_interrupts_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's spill folder was made with SIGINT, SIGTERM and SIGHUP held back, and the removal of
    the spill folders killed ratings left (gigabytes, seconds to remove) with it: a Ctrl-C then
    waited for the whole removal.  That removal is done before the signals are held."""
    import shutil

    import accounting.usage
    import m2msim.outputs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(accounting.usage, "_SPILL", [])
    monkeypatch.setattr(accounting.usage, "_SPILL_REMOVED_AT_EXIT", [True])  # (the test removes it)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert proc.wait(timeout=30) == 0
    left = tmp_path / f"m2msim-duckdb-{host_name()}-{proc.pid}-abcd1234"
    (left / "spill").mkdir(parents=True)
    came: list[str] = []
    rmtree = shutil.rmtree

    def removing(path: str, *args: Any, **kwargs: Any) -> None:
        try:
            signal.raise_signal(signal.SIGINT)  # (Ctrl-C as the dead rating's spill files go)
        except KeyboardInterrupt:
            came.append("at once")
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr(m2msim.outputs.shutil, "rmtree", removing)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        made = Path(accounting.usage._spill_folder())
    except KeyboardInterrupt:
        came.append("after")
    finally:
        signal.signal(signal.SIGINT, before)
    assert came == ["at once"]
    assert not left.exists() and made.parent == tmp_path and made.is_dir()
