"""A run folder's usage read by `rate`, `compare`, `sql` and `report`, and its capture read by
`records-from-pcap`, are the run's whole usage and capture, as its marker lists them: a part missing
(deleted, a copy cut short), another run's part beside the run's own (an `rsync` without `--delete`
of a run made again with fewer shards) or a part of another size than the run wrote are refused,
exit 2 and one line naming it (they were read as the run's whole, exit 0, the counts and the bill
silently those of other records); so is the capture of a run that has not ended."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from filewatch import wait_in
from fuzzing import assert_cli_contract, run_cli

import accounting.cli as accounting_cli
import accounting.usage as usage_module
import gateway.capture.cli as capture_cli
import reports.data as report_data
import reports.run_report as run_report
from m2msim.compressed import Salvaged, zstd_content_size
from m2msim.rundir import swap_in

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "default.yaml"
INVENTORY = ROOT / "scenarios" / "example-month" / "inventory.yaml"


SMALL = ["--days", "1", "--max-lines", "10", "--shard-devices", "10", "--capture"]


def _run(out: Path, seed: int) -> Path:
    argv = ["run", str(SCENARIO), *SMALL, "--no-merge", "--no-invoice", "--seed", str(seed)]
    result = run_cli([*argv, "--out", str(out)])
    assert result.rc == 0, result
    assert len(list((out / "usage").glob("part-*.parquet"))) >= 3
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("runs")
    return _run(d / "a", 3), _run(d / "b", 4)


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, copy_function=shutil.copy2)  # (as `cp -a`: sizes and times kept)
    return to


def _readers(run: Path, tmp: Path) -> list[list[str]]:
    return [
        ["rate", str(INVENTORY), str(run / "usage")],
        ["compare", str(INVENTORY), str(run / "usage")],
        ["sql", str(run), "SELECT count(*) FROM usage"],
        ["report", str(run), "--out", str(tmp / "page.html")],
    ]


def _refused(run: Path, tmp: Path, said: str) -> None:
    for argv in _readers(run, tmp):
        result = run_cli(argv)
        assert_cli_contract(result, allowed=(2,))
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and result.out == "", result
        assert lines[0].startswith(f"m2msim {argv[0]}: ") and said in lines[0], result
    assert not (tmp / "page.html").exists()


def test_the_whole_run_is_read(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(runs[0], tmp_path / "copy")
    for argv in _readers(run, tmp_path):
        result = run_cli(argv)
        assert result.rc == 0, result
    # a part given by name is read as given
    assert run_cli(["rate", str(INVENTORY), str(run / "usage" / "part-00001.parquet")]).rc == 0


def test_a_missing_part_is_said(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(runs[0], tmp_path / "copy")
    (run / "usage" / "part-00001.parquet").unlink()
    _refused(run, tmp_path, "usage/part-00001.parquet, one of the files the run wrote")
    _refused(run, tmp_path, "is missing")


def test_another_runs_part_beside_the_runs_own_is_said(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(runs[0], tmp_path / "copy")
    parts = sorted((run / "usage").glob("part-*.parquet"))
    stale = run / "usage" / f"part-{len(parts):05d}.parquet"  # (the next shard's name: as rsync leaves it)
    shutil.copy2(runs[1] / "usage" / "part-00000.parquet", stale)
    _refused(run, tmp_path, f"{stale}: not one of the files the run wrote there")


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_to_a_runs_part_beside_it_is_said(runs: tuple[Path, Path], tmp_path: Path, link: str) -> None:
    """A link in the run's `usage/` to one of its parts is a file the run did not write: refused as
    another run's part is (the readers read each file once, but a run folder holds what its marker
    lists)."""
    run = _copy(runs[0], tmp_path / "copy")
    parts = sorted((run / "usage").glob("part-*.parquet"))
    extra = run / "usage" / f"part-{len(parts):05d}.parquet"
    if link == "symlink":
        extra.symlink_to(parts[0].name)
    else:
        os.link(parts[0], extra)
    _refused(run, tmp_path, f"{extra}: not one of the files the run wrote there")


def test_a_part_replaced_by_another_runs_is_said(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(runs[0], tmp_path / "copy")
    mine, theirs = run / "usage" / "part-00000.parquet", runs[1] / "usage" / "part-00000.parquet"
    assert mine.stat().st_size != theirs.stat().st_size
    shutil.copy2(theirs, mine)
    _refused(
        run,
        tmp_path,
        f"{mine}: {theirs.stat().st_size:,} bytes, the run wrote {runs[0].joinpath(mine.relative_to(run)).stat().st_size:,}",
    )


def _swap_on_call(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, new: Path, run: Path, before: bool
) -> None:
    """Have `module.name`, at its first call, put the run `new` in the place of `run` as `m2msim
    run --force` does (`swap_in`), before or after it does its work."""
    real = getattr(module, name)
    done: list[bool] = []

    def swapping(*args: object, **kwargs: object) -> object:
        if before and not done:
            done.append(True)
            swap_in(new, run)
        result = real(*args, **kwargs)
        if not before and not done:
            done.append(True)
            swap_in(new, run)
        return result

    monkeypatch.setattr(module, name, swapping)


def _changed_said(argv: list[str], folder: Path) -> None:
    result = run_cli(argv)
    assert_cli_contract(result, allowed=(2,))
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and result.out == "", result
    assert lines[0].startswith(f"m2msim {argv[0]}: {folder}: the run folder changed while it was read"), (
        result
    )


@pytest.mark.parametrize("command", ["rate", "compare"])
@pytest.mark.parametrize(
    "where",
    [
        # between the listing of usage/ and the parts' states: the old run's list, the new run's parts
        (usage_module, "file_state", True),
        # between the check of the run's whole usage and its reading: a run read unchecked
        (accounting_cli, "not_whole_run", False),
    ],
    ids=["listed", "checked"],
)
def test_a_run_put_in_place_while_its_usage_is_read_is_said(
    runs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    where: tuple[object, str, bool],
) -> None:
    run = _copy(runs[0], tmp_path / "run")
    new = _copy(runs[1], tmp_path / ".m2msim-run.tmp-new")  # (the second run, whole, beside it)
    _swap_on_call(monkeypatch, *where[:2], new, run, where[2])
    _changed_said([command, str(INVENTORY), str(run / "usage")], run / "usage")
    assert not new.exists()  # (swapped in: the second run is in place)


def _swapped_at(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: object, name: str
) -> Path:
    """A copy of the first run, the second put in its place when `module.name` is first called."""
    run = _copy(runs[0], tmp_path / "run")
    new = _copy(runs[1], tmp_path / ".m2msim-run.tmp-new")
    _swap_on_call(monkeypatch, module, name, new, run, True)
    return run


def test_sql_of_a_run_put_in_place_while_it_is_read_is_said(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the old run's JSON files read, then the new run put in place, then the usage queried
    run = _swapped_at(runs, tmp_path, monkeypatch, report_data, "connect")
    _changed_said(["sql", str(run), "SELECT count(*) FROM usage"], run)
    # without a swap, the same query answers
    assert run_cli(["sql", str(run), "SELECT count(*) FROM usage"]).rc == 0


@pytest.mark.parametrize("command", ["rate", "compare"])
def test_a_run_put_in_place_before_the_report_page_is_said(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # the month rated, then the new run put in place, then the page drawn from the usage read again:
    # a page of the new run beside an invoice of the old, exit 0
    run = _swapped_at(runs, tmp_path, monkeypatch, run_report, "render_rating_report")
    out, page = tmp_path / "out.txt", tmp_path / "page.html"
    result = run_cli([command, str(INVENTORY), str(run / "usage"), "--out", str(out), "--report", str(page)])
    assert result.rc == 2 and result.out == "" and "Traceback" not in result.err, result
    # (the month's warnings said as it was rated, the inventory being another month's: then one line)
    said = [line for line in result.err.splitlines() if ": warning: " not in line]
    assert len(said) == 1, result
    assert said[0].startswith(f"m2msim {command}: {run / 'usage'}: the run folder changed while it was read")
    assert not out.exists() and not page.exists()


def test_a_run_put_in_place_while_its_capture_is_read_is_said(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the capture's parts listed and checked whole, then the new run put in place, then read: the
    # new run's parts read under the old run's list, exit 0
    run = _swapped_at(runs, tmp_path, monkeypatch, capture_cli, "records_from_pcap")
    out = tmp_path / "r.csv"
    _changed_said(["records-from-pcap", str(run / "capture"), "--out", str(out)], run / "capture")
    assert not out.exists()
    # without a swap, the same capture is read
    assert run_cli(["records-from-pcap", str(run / "capture"), "--out", str(out)]).rc == 0


def test_a_runs_usage_compressed_since_is_the_runs(tmp_path: Path) -> None:
    """`usage.csv` gzip'ed after the run (`report` and `sql` read `usage.csv.gz`): the run's file
    compressed, not another's."""
    run = tmp_path / "c"
    argv = ["run", str(SCENARIO), "--days", "1", "--max-lines", "5", "--csv", "--no-invoice"]
    assert run_cli([*argv, "--out", str(run)]).rc == 0
    shutil.rmtree(run / "usage")
    (run / "usage.parquet").unlink()
    (run / "usage.csv.gz").write_bytes(gzip.compress((run / "usage.csv").read_bytes()))
    (run / "usage.csv").unlink()
    for argv in (["sql", str(run), "SELECT count(*) FROM usage"], ["report", str(run)]):
        result = run_cli(argv)
        assert result.rc == 0, result


def _capture_refused(run: Path, tmp_path: Path, said: str) -> None:
    """records-from-pcap of the run's capture exits 2 with the one line `said`, writing nothing."""
    result = run_cli(["records-from-pcap", str(run / "capture"), "--out", str(tmp_path / "r.csv")])
    assert_cli_contract(result, allowed=(2,))
    assert result.err == f"m2msim records-from-pcap: {said}\n", result
    assert not (tmp_path / "r.csv").exists()


def test_a_missing_capture_part_is_said(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = _copy(runs[0], tmp_path / "copy")
    assert run_cli(["records-from-pcap", str(run / "capture")]).rc == 0
    (run / "capture" / "part-00002.pcap").unlink()
    _capture_refused(
        run,
        tmp_path,
        f"{run / 'capture'}: capture/part-00002.pcap, one of the files the run wrote "
        f"({run / '.m2msim-run.json'} lists it), is missing (deleted, or lost by a copy cut short): not "
        "the run's whole capture; run it again, or copy it again whole",
    )
    # a capture given by name is read as given
    assert run_cli(["records-from-pcap", str(run / "capture" / "part-00001.pcap")]).rc == 0
    # the run folder given, not its capture/: said where the capture is (it said only 'no pcap')
    result = run_cli(["records-from-pcap", str(run)])
    assert_cli_contract(result, allowed=(2,))
    assert result.err == (
        f"m2msim records-from-pcap: {run}: folder holds no pcap or pcapng file: its capture is in "
        f"{run / 'capture'}, give that folder\n"
    ), result


def _first_packets(capture: bytes, count: int) -> bytes:
    """A classic pcap's file header and first `count` packets: a copy stopped between two packets."""
    at = 24
    for _ in range(count):
        at += 16 + int.from_bytes(capture[at + 8 : at + 12], "little")
    return capture[:at]


def test_a_capture_part_compressed_is_the_runs_when_whole(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """`gzip -k` of a capture part beside it is the same capture, read once; a part compressed in its
    place is the run's. A part cut short between two packets (a copy that stopped), then compressed,
    was read as the run's whole, exit 0 and without a word, the records of the packets it lost
    missing: it is refused as the plain part cut so is, naming it."""
    run = _copy(runs[0], tmp_path / "copy")

    def counts() -> tuple[int, ...]:
        result = run_cli(["records-from-pcap", str(run / "capture"), "--json"])
        assert result.rc == 0, result
        said = json.loads(result.out)
        return said["records"], said["packets"], said["accounting_requests"], len(said["skipped_files"])

    records, packets, requests, skipped = counts()
    assert records > 100 and skipped == 0
    part = run / "capture" / "part-00001.pcap"
    raw = part.read_bytes()
    packed = part.with_name(part.name + ".gz")
    packed.write_bytes(gzip.compress(raw))  # (gzip -k)
    assert counts() == (records, packets, requests, 1)
    part.unlink()  # (gzip)
    assert counts() == (records, packets, requests, 0)
    kept = _first_packets(raw, 40)
    packed.write_bytes(gzip.compress(kept))
    _capture_refused(
        run,
        tmp_path,
        f"{packed}: {len(kept):,} bytes decompressed, the run wrote {len(raw):,} of "
        f"capture/part-00001.pcap ({run / '.m2msim-run.json'}): not the file the run wrote (cut short "
        "before it was compressed, or replaced): not the run's whole capture; run it again, or copy it "
        "again whole",
    )


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd command (Debian zstd)")
def test_a_capture_part_compressed_by_zstd_is_decompressed_once(
    runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part compressed by `zstd` in its place was decompressed whole twice: once to check its size
    against the run's marker, once to be read (0.087 s of CPU more for a 46 MB part). Its frames' headers
    say the size: it is decompressed once. A part cut short before it was compressed is still
    refused, naming the size it holds."""
    run = _copy(runs[0], tmp_path / "copy")
    part = run / "capture" / "part-00000.pcap"
    raw = part.read_bytes()
    plain = json.loads(run_cli(["records-from-pcap", str(run / "capture"), "--json"]).out)
    subprocess.run(["zstd", "-q", "--rm", str(part)], check=True)
    packed = part.with_name(part.name + ".zst")
    decompressed: list[int] = []
    salvaged = Salvaged.__iter__

    def counted(self: Salvaged) -> Iterator[bytes]:
        for piece in salvaged(self):
            decompressed.append(len(piece))
            yield piece

    monkeypatch.setattr(Salvaged, "__iter__", counted)
    result = run_cli(["records-from-pcap", str(run / "capture"), "--json"])
    assert result.rc == 0, result
    said = json.loads(result.out)
    assert (said["records"], said["packets"]) == (plain["records"], plain["packets"])
    assert said["skipped_files"] == [] and sum(decompressed) == len(raw)
    kept = _first_packets(raw, 40)
    packed.write_bytes(
        subprocess.run(["zstd", "-q", "-c"], input=kept, capture_output=True, check=True).stdout
    )
    _capture_refused(
        run,
        tmp_path,
        f"{packed}: {len(kept):,} bytes decompressed, the run wrote {len(raw):,} of "
        f"capture/part-00000.pcap ({run / '.m2msim-run.json'}): not the file the run wrote (cut short "
        "before it was compressed, or replaced): not the run's whole capture; run it again, or copy it "
        "again whole",
    )


def test_the_capture_of_a_killed_run_is_not_read_as_the_runs(tmp_path: Path) -> None:
    # killed once its first shard's capture is whole (the second shard's begun): its temporary
    # folder holds the capture of the shards done, which records-from-pcap read as a run's, exit 0
    out = tmp_path / "r"
    argv = [sys.executable, "-m", "m2msim", "run", str(SCENARIO), *SMALL, "--out", str(out)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        tmp = wait_in(tmp_path, lambda: next(tmp_path.glob(".m2msim-r.tmp-*"), None), 120, "the run's folder")
        capture = wait_in(
            tmp, lambda: tmp / "capture" if (tmp / "capture").is_dir() else None, 120, "capture/"
        )
        second = capture / "part-00001.pcap"
        wait_in(capture, lambda: True if second.exists() else None, 120, "a second capture part")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    result = run_cli(["records-from-pcap", str(tmp / "capture"), "--out", str(tmp_path / "r.csv")])
    assert_cli_contract(result, allowed=(2,))
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and result.out == "", result
    assert lines[0].startswith(
        f"m2msim records-from-pcap: {tmp}: the folder of an m2msim run that has not ended"
    )
    assert not (tmp_path / "r.csv").exists()


def test_a_later_output_removed_from_beside_a_runs_usage_parquet_is_not_a_part_missing(
    tmp_path: Path,
) -> None:
    """A file m2msim wrote into the run folder after the run (the records rebuilt from its capture,
    `--out RUN/records.parquet`: its marker lists it) and removed since is no part of the run's
    `usage.parquet`, read whole: `sql` and `report` refused the run as missing it."""
    run = tmp_path / "m"
    argv = ["run", str(SCENARIO), "--days", "1", "--max-lines", "10", "--shard-devices", "10", "--no-invoice"]
    assert run_cli([*argv, "--out", str(run)]).rc == 0
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("line,start,duration_s,bytes_up,bytes_down\nL1,2026-03-01T00:00:00Z,60,1,1\n")
    assert run_cli(["sessions-to-records", str(sessions), str(run / "records.parquet")]).rc == 0
    (run / "records.parquet").unlink()
    for argv in (["sql", str(run), "SELECT count(*) FROM usage"], ["report", str(run)]):
        result = run_cli(argv)
        assert result.rc == 0, result
    # a part of the run's usage/ missing is still said, by the readers of the parts
    (run / "usage" / "part-00001.parquet").unlink()
    result = run_cli(["rate", str(INVENTORY), str(run / "usage")])
    assert_cli_contract(result, allowed=(2,))
    assert "usage/part-00001.parquet, one of the files the run wrote" in result.err, result


def test_a_runs_usage_given_as_the_current_folder_is_checked_as_by_its_name(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`cd RUN/usage && m2msim rate INV .`: the folder `.` has no name and `Path('.').parent` is `.`,
    so neither the run above it nor a killed run's unfinished mark was found: a part missing, or
    the parts of a run that had not ended, were rated as the month's, exit 0."""
    run = _copy(runs[0], tmp_path / "copy")
    (run / "usage" / "part-00001.parquet").unlink()
    result = run_cli(["rate", str(INVENTORY), "."], cwd=run / "usage")
    assert_cli_contract(result, allowed=(2,))
    assert result.err.startswith("m2msim rate: .: usage/part-00001.parquet, one of the files the run wrote")
    killed = _copy(runs[1], tmp_path / ".m2msim-copy.tmp-host-1-x")
    (killed / ".m2msim-run.json").unlink()
    (killed / ".m2msim-unfinished.json").write_text('{"out": "copy", "host": "host", "pid": 1}\n')
    result = run_cli(["rate", str(INVENTORY), "."], cwd=killed / "usage")
    assert_cli_contract(result, allowed=(2,))
    assert "the folder of an m2msim run that has not ended" in result.err, result


def test_a_runs_usage_given_by_a_link_to_it_is_checked_as_by_its_name(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`ln -s RUN/usage march && m2msim rate INV march`: the link's name is not `usage`, so neither
    the run above the folder it names nor a killed run's unfinished mark was found: a part missing,
    or the parts of a run that had not ended, were rated as the month's, exit 0 (as `.` in it was)."""
    run = _copy(runs[0], tmp_path / "copy")
    (run / "usage" / "part-00001.parquet").unlink()
    (tmp_path / "march").symlink_to(run / "usage")
    result = run_cli(["rate", str(INVENTORY), str(tmp_path / "march")])
    assert_cli_contract(result, allowed=(2,))
    assert "usage/part-00001.parquet, one of the files the run wrote" in result.err, result
    killed = _copy(runs[1], tmp_path / ".m2msim-copy.tmp-host-1-x")
    (killed / ".m2msim-run.json").unlink()
    (killed / ".m2msim-unfinished.json").write_text('{"out": "copy", "host": "host", "pid": 1}\n')
    (tmp_path / "april").symlink_to(killed / "usage")
    result = run_cli(["rate", str(INVENTORY), str(tmp_path / "april")])
    assert_cli_contract(result, allowed=(2,))
    assert "the folder of an m2msim run that has not ended" in result.err, result
    # the run's whole usage by a link: read as by its name
    (tmp_path / "whole").symlink_to(runs[1] / "usage")
    assert run_cli(["rate", str(INVENTORY), str(tmp_path / "whole")]).rc == 0
    # a run whose usage/ is a link to where it was moved (another disk): checked by the link's name
    moved = _copy(runs[0], tmp_path / "moved")
    (moved / "usage").rename(tmp_path / "elsewhere")
    (moved / "usage").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "part-00001.parquet").unlink()
    result = run_cli(["rate", str(INVENTORY), str(moved / "usage")])
    assert_cli_contract(result, allowed=(2,))
    assert "usage/part-00001.parquet, one of the files the run wrote" in result.err, result


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd command (Debian zstd)")
def test_zstd_content_size_is_what_the_frames_say_or_none(tmp_path: Path) -> None:
    """The frames' content sizes summed (several frames, a skippable frame, with or without their
    checksum), without decompressing; None when a frame does not say it (written by a stream of
    unknown length) or the data are cut short."""
    import pyarrow as pa

    data = bytes(range(256)) * 3_000 + os.urandom(200_000)  # (blocks compressed and raw)

    source = tmp_path / "data"
    source.write_bytes(data)

    def zstd(*args: str) -> bytes:  # (of a file: its size known, said in the frame)
        return subprocess.run(
            ["zstd", "-q", "-c", *args, str(source)], capture_output=True, check=True
        ).stdout

    skippable = bytes.fromhex("52 2a 4d 18 03 00 00 00 61 62 63")
    cases = {
        "one": (zstd(), len(data)),
        "no-checksum": (zstd("--no-check"), len(data)),
        "two-and-a-skippable": (zstd() + skippable + zstd("--no-check"), 2 * len(data)),
        "cut": (zstd()[:-7], None),
    }
    for name, (packed, size) in cases.items():
        path = tmp_path / f"{name}.zst"
        path.write_bytes(packed)
        assert zstd_content_size(path) == size, name
    with pa.output_stream(str(tmp_path / "stream.zst"), compression="zstd") as out:
        out.write(data)
    (tmp_path / "stdin.zst").write_bytes(
        subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    )
    assert zstd_content_size(tmp_path / "stream.zst") is None
    assert zstd_content_size(tmp_path / "stdin.zst") is None
