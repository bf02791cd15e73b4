"""No command writes over a file m2msim did not write (docs/reliability.md, point 4).

For every command that writes a file: a file of the user's at the output's path is kept byte for byte
and the command exits 2 with one line naming it, before its work; m2msim's own earlier output (as
this version or an older one wrote it) is replaced; an empty file is replaced; `--force` replaces
the user's file.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from handmade_pcap import acct, ethernet, ipv4, request, udp, write_pcap, write_pcapng

from accounting.usage_writer import UsageWriter
from m2msim.cli import main
from m2msim.outputs import OutputError, atomic_path, refuse_foreign

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"
INV, USAGE = MONTH / "inventory.yaml", MONTH / "usage.csv"
FAST = "virtual://simcom-sim800?seed=2&speed=50"
FOREIGN = b"precious: the user's own notes\n"

SESSIONS = "line,start,duration_s,bytes_up,bytes_down\n336,2026-03-01T00:00:00Z,100,10,20\n"
DETAIL = """\
Sun Mar  1 10:00:00 2026
\tAcct-Status-Type = Start
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\tEvent-Timestamp = "Mar  1 2026 10:00:00 UTC"

Sun Mar  1 10:10:00 2026
\tAcct-Status-Type = Stop
\tAcct-Session-Id = "4f2a0001"
\tNAS-IP-Address = 192.0.2.1
\tCalling-Station-Id = "33612345678"
\tAcct-Session-Time = 600
\tAcct-Input-Octets = 1000
\tAcct-Output-Octets = 5000
\tEvent-Timestamp = "Mar  1 2026 10:10:00 UTC"

"""
CDR = (
    "timestamp,imsi,imei,msisdn,cell_id,lac,hlr,event,pdp_duration,ggsn_addr,sgsn_addr,apni,eua_addr,"
    "vol_in,vol_out,charging_id\n"
    "20260301100001000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-act,0,192.0.2.1,"
    "192.0.2.50,m2m.example,10.0.0.7,0,0,9001\n"
    "20260301102501000,208011234567890,3520990012345601,33612345678,1234,10,hlr1,pdp-deact,1500,192.0.2.1,"
    "192.0.2.50,m2m.example,10.0.0.7,1800,5000,9001\n"
)


@dataclass(frozen=True)
class Case:
    """A command writing `out` (a name in the test's folder): its arguments and its exit status."""

    out: str
    argv: Callable[[Path, Path], list[str]]  # (folder, out) -> arguments
    status: int = 0
    option: str = "--out"
    extra: tuple[str, ...] = ()  # files of a run that a next run refuses (removed between runs)
    link: bool = True  # whether `out` may be given as a symbolic link


def _rate_folder(d: Path) -> Path:
    folder = d / "month"
    if not (folder / "invoice.json").exists():
        folder.mkdir(exist_ok=True)
        assert main(["rate", str(INV), str(USAGE), "--json", "--out", str(folder / "invoice.json")]) == 0
        shutil.copy(USAGE, folder / "usage.csv")
    return folder


def _input(d: Path, name: str, text: str) -> str:
    (d / name).write_text(text)
    return str(d / name)


CASES = {
    "rate --out": Case("invoice.txt", lambda d, o: ["rate", str(INV), str(USAGE), "--out", str(o)]),
    "rate --json --out": Case(
        "i.json", lambda d, o: ["rate", str(INV), str(USAGE), "--json", "--out", str(o)]
    ),
    "compare --out": Case("c.txt", lambda d, o: ["compare", str(INV), str(USAGE), "--out", str(o)]),
    "compare --json --out": Case(
        "c.json", lambda d, o: ["compare", str(INV), str(USAGE), "--json", "--out", str(o)]
    ),
    "rate --report": Case(
        "month.html", lambda d, o: ["rate", str(INV), str(USAGE), "--report", str(o)], option="--report"
    ),
    "compare --report": Case(
        "c.html", lambda d, o: ["compare", str(INV), str(USAGE), "--report", str(o)], option="--report"
    ),
    "report --out": Case("page.html", lambda d, o: ["report", str(_rate_folder(d)), "--out", str(o)]),
    "report (FOLDER/report.html)": Case(
        "month/report.html", lambda d, o: ["report", str(_rate_folder(d))], option="", link=False
    ),
    "sessions-to-records .csv": Case(
        "records.csv",
        lambda d, o: ["sessions-to-records", _input(d, "s.csv", SESSIONS), str(o)],
        option="OUT",
    ),
    "sessions-to-records .parquet": Case(
        "records.parquet",
        lambda d, o: ["sessions-to-records", _input(d, "s.csv", SESSIONS), str(o)],
        option="OUT",
    ),
    "records-from-radius-detail": Case(
        "r.parquet", lambda d, o: ["records-from-radius-detail", _input(d, "detail", DETAIL), "--out", str(o)]
    ),
    "records-from-osmo-cdr": Case(
        "r.csv", lambda d, o: ["records-from-osmo-cdr", _input(d, "cdr.csv", CDR), "--out", str(o)]
    ),
    "records-from-pcap": Case(  # a capture without accounting: exit 1, the (empty) records written
        "p.parquet",
        lambda d, o: ["records-from-pcap", str(write_pcap(d / "c.pcap", 1, [])), "--out", str(o)],
        status=1,
    ),
    "bench --junit": Case(
        "bench.xml",
        lambda d, o: ["bench", "register", "--modem-url", FAST, "--out", str(d / "b"), "--junit", str(o)],
        option="--junit",
        extra=("b/transcript.jsonl",),
    ),
    "bench --out (report.txt)": Case(
        "b/report.txt",
        lambda d, o: ["bench", "register", "--modem-url", FAST, "--out", str(o.parent)],
        extra=("b/transcript.jsonl",),
        link=False,
    ),
}


def _fresh(d: Path, case: Case) -> None:
    """Whatever a previous run of the case left that is not its output (a bench's transcript)."""
    for name in case.extra:
        (d / name).unlink(missing_ok=True)


def _refused(case: Case, d: Path, given: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = case.argv(d, given)
    before = sorted(p.name for p in given.parent.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and was not written by m2msim" in err[0] and "--force" in err[0], err
    assert f"{case.option} {given}:".strip() in err[0], err
    assert sorted(p.name for p in given.parent.iterdir()) == before  # nothing written beside it


@pytest.mark.parametrize("name", list(CASES))
def test_a_file_m2msim_did_not_write_is_kept_and_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    out = tmp_path / case.out
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(FOREIGN)
    _refused(case, tmp_path, out, capsys)
    assert out.read_bytes() == FOREIGN
    if not case.link:
        return
    # a symbolic link to the user's file: the file it names is kept too, and the link
    link = out.with_name("link-" + out.name)
    link.symlink_to(out.name)
    _refused(case, tmp_path, link, capsys)
    assert out.read_bytes() == FOREIGN and link.is_symlink()


@pytest.mark.parametrize("name", list(CASES))
def test_its_own_output_an_empty_file_and_with_force_a_foreign_one_are_replaced(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    out = tmp_path / case.out
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"")  # an empty file (`touch`): nothing to lose
    assert main(case.argv(tmp_path, out)) == case.status, capsys.readouterr().err
    written = out.read_bytes()
    assert written and written != FOREIGN
    first = os.stat(out).st_ino
    _fresh(tmp_path, case)
    assert main(case.argv(tmp_path, out)) == case.status, capsys.readouterr().err  # its own: replaced
    assert os.stat(out).st_ino != first and out.read_bytes()
    out.write_bytes(FOREIGN)
    _fresh(tmp_path, case)
    assert main([*case.argv(tmp_path, out), "--force"]) == case.status, capsys.readouterr().err
    assert out.read_bytes() not in (FOREIGN, b"")
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".m2msim-")] == []


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n].link])  # (a file option)
def test_a_file_named_through_a_folder_not_yet_made_is_refused_before_the_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out new/../keep.txt` names `keep.txt` once `new` is made: checked as given (nothing
    there), it was refused only after the work, and the folder `new` was left behind."""
    case = CASES[name]
    out = tmp_path / case.out
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(FOREIGN)
    given = out.parent / "new" / ".." / out.name
    argv = case.argv(tmp_path, given)  # (its inputs made)
    before = sorted(p.name for p in out.parent.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and was not written by m2msim" in err[0], err
    assert out.read_bytes() == FOREIGN
    assert sorted(p.name for p in out.parent.iterdir()) == before  # no `new`, nothing beside it


def _sessions_input(d: Path) -> Path:
    return Path(_input(d, "s.csv", SESSIONS))


# An output named as one of the command's inputs through a folder not yet made: (input, arguments)
SAME_AS_INPUT: dict[str, tuple[Callable[[Path], Path], Callable[[Path, Path], list[str]]]] = {
    "rate --out": (lambda d: d / "usage.csv", lambda u, o: ["rate", str(INV), str(u), "--out", str(o)]),
    "compare --out": (lambda d: d / "usage.csv", lambda u, o: ["compare", str(INV), str(u), "--out", str(o)]),
    "rate --report": (lambda d: d / "usage.csv", lambda u, o: ["rate", str(INV), str(u), "--report", str(o)]),
    "report --out": (
        lambda d: _rate_folder(d) / "usage.csv",
        lambda u, o: ["report", str(u.parent), "--out", str(o)],
    ),
    "sessions-to-records": (_sessions_input, lambda u, o: ["sessions-to-records", str(u), str(o)]),
    "records-from-osmo-cdr": (
        lambda d: Path(_input(d, "cdr.csv", CDR)),
        lambda u, o: ["records-from-osmo-cdr", str(u), "--out", str(o)],
    ),
}


@pytest.mark.parametrize("name", list(SAME_AS_INPUT))
def test_an_input_named_through_a_folder_not_yet_made_is_refused_even_with_force(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rate INV usage.csv --out new/../usage.csv --force` wrote the invoice over the usage file:
    the output was compared with the inputs as given, naming nothing until `new` was made."""
    make_input, argv = SAME_AS_INPUT[name]
    usage = make_input(tmp_path)
    if not usage.exists():
        shutil.copy(USAGE, usage)
    before = usage.read_bytes()
    given = usage.parent / "new" / ".." / usage.name
    assert main([*argv(usage, given), "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{given}: is the input {usage}" in err[0], err
    assert usage.read_bytes() == before and not (usage.parent / "new").exists()


@pytest.mark.parametrize("name", list(CASES))
def test_its_own_output_made_read_only_is_kept_unless_force(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invoice made read-only (`chmod a-w`: kept as it was sent) was replaced at the next write all
    the same: renaming over a file needs only the folder's write permission."""
    case = CASES[name]
    out = tmp_path / case.out
    out.parent.mkdir(exist_ok=True)
    assert main(case.argv(tmp_path, out)) == case.status, capsys.readouterr().err
    out.chmod(0o444)
    capsys.readouterr()
    kept = out.read_bytes()
    _fresh(tmp_path, case)
    argv = case.argv(tmp_path, out)
    before = sorted(p.name for p in out.parent.iterdir())
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if ": warning: " not in line]
    assert len(err) == 1 and f"{out}: is read-only (no write permission)" in err[0], err
    assert "--force" in err[0], err
    assert out.read_bytes() == kept and sorted(p.name for p in out.parent.iterdir()) == before
    _fresh(tmp_path, case)
    assert main([*case.argv(tmp_path, out), "--force"]) == case.status, capsys.readouterr().err
    assert (
        os.stat(out).st_mode & 0o222
        and [p for p in out.parent.iterdir() if p.name.startswith(".m2msim-")] == []
    )


def test_outputs_of_older_versions_are_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What m2msim wrote before it said so in its pages and Parquet files: recognised by its shape."""
    older = {
        "invoice.txt": "Invoice acme-meters, 2026-02 (catalog orange-m2m-2012, EUR HT)\nTotal HT: 1.00 EUR\n",
        "compare.txt": "Offer comparison acme-meters, 2026-02 (EUR HT, same usage on every choice)\n",
        "compare.json": '{\n  "customer": "acme \\"north\\"",\n  "month": "2026-02",\n  "currency": "EUR",\n'
        '  "left_out": {"rows": 0}\n}\n',
        "compare-first.json": '{\n  "customer": "acme",\n  "month": "2026-02",\n  "currency": "EUR",\n'
        '  "fleet": {}\n}\n',
        "page.html": '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="x" '
        'content="y"><title>m2msim report: acme</title><style>\n',
    }
    for name, text in older.items():
        (tmp_path / name).write_text(text)
        kind = "--report" if name.endswith(".html") else "--out"
        json_ = ["--json"] if name.endswith(".json") else []
        command = "compare" if name.startswith("compare") else "rate"
        assert main([command, str(INV), str(USAGE), *json_, kind, str(tmp_path / name)]) == 0, name
        assert (tmp_path / name).read_text() != text, name
    parquet = tmp_path / "old.parquet"
    with UsageWriter(parquet):  # as records-from-* wrote it: no footer entry of its own
        pass
    sessions = _input(tmp_path, "s.csv", SESSIONS)
    assert main(["sessions-to-records", sessions, str(parquet)]) == 0
    capsys.readouterr()


def test_a_bench_refuses_before_the_modem_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "ci.xml"
    junit.write_bytes(FOREIGN)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        assert (
            main(
                ["bench", "register", "--modem-url", url, "--out", str(tmp_path / "b"), "--junit", str(junit)]
            )
            == 2
        )
        with pytest.raises(BlockingIOError):  # nobody connected: no byte went to the modem
            server.accept()
    assert junit.read_bytes() == FOREIGN and "--junit" in capsys.readouterr().err


def test_modem_serve_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`modem serve --records`: refused before serving (checked with --check), its own accepted."""
    records = tmp_path / "usage.csv"
    serve = ["modem", "serve", "--profile", "generic", "--records", str(records), "--check"]
    records.write_bytes(FOREIGN)
    assert main(serve) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--records {records}: exists and was not written by m2msim" in err[0], err
    assert records.read_bytes() == FOREIGN
    assert main([*serve, "--force"]) == 0
    with UsageWriter(records):  # an earlier serve's records
        pass
    assert main(serve) == 0
    capsys.readouterr()


def test_modem_serve_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`modem serve --capture`: a capture m2msim did not write (tcpdump's, as pcap or pcapng, even
    with snapshot length 65,535) is refused before serving, kept byte for byte; m2msim's own earlier
    capture, with packets or none, is replaced; `--force` replaces the user's."""
    from gateway.capture.frames import PcapStream, UdpFlow

    path = tmp_path / "gateway.pcap"
    serve = ["modem", "serve", "--profile", "generic", "--capture", str(path), "--check"]
    frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", udp(40000, 1813, request(1, acct(1, "s1", event=1_000)))))
    tcpdump = write_pcap(tmp_path / "t.pcap", 1, [(1_000_000, frame)], snaplen=65_535).read_bytes()
    for foreign in (tcpdump, write_pcapng(tmp_path / "t.pcapng", [1], [(0, 1, frame)]).read_bytes(), FOREIGN):
        path.write_bytes(foreign)
        assert main(serve) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--capture {path}: exists and was not written by m2msim" in err[0], err
        assert path.read_bytes() == foreign
    assert main([*serve, "--force"]) == 0
    with path.open("wb") as f:  # an earlier serve's capture of nothing, then of a packet
        PcapStream(f)
    assert main(serve) == 0
    with path.open("wb") as f:
        PcapStream(f).write_udp(1_000_000, UdpFlow("192.0.2.1", "192.0.2.10", 32768, 1813), 1, b"x" * 20)
    assert main(serve) == 0
    capsys.readouterr()


def test_the_gateways_capture_writer(tmp_path: Path) -> None:
    """`PcapCapture` (the library's capture writer) never writes over a capture of another program;
    its own earlier capture, or with `force` the other's, is replaced."""
    from datetime import UTC, datetime

    from gateway.capture import PcapCapture

    path = tmp_path / "trial.pcap"
    frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", udp(40000, 1813, request(1, acct(1, "s1", event=1_000)))))
    tcpdump = write_pcap(path, 1, [(1_000_000, frame)], snaplen=65_535).read_bytes()
    epoch = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(OutputError, match="exists and was not written by m2msim"):
        PcapCapture(path, epoch)
    assert path.read_bytes() == tcpdump
    with PcapCapture(path, epoch, force=True):
        pass
    with PcapCapture(path, epoch):  # its own
        pass
    assert path.stat().st_size == 24


def test_a_file_that_appears_while_the_output_is_written_is_kept(tmp_path: Path) -> None:
    """The check is made again at the rename: a file created at the path meanwhile is never replaced."""
    out = tmp_path / "invoice.txt"
    ours = lambda p: p.read_bytes().startswith(b"Invoice ")  # noqa: E731
    refused = pytest.raises(OutputError, match="appeared while the output was written")
    with refused, atomic_path(out, own=ours, option="--out") as tmp:
        tmp.write_bytes(b"Invoice x\n")
        out.write_bytes(FOREIGN)  # another program writes it now
    assert out.read_bytes() == FOREIGN and sorted(p.name for p in tmp_path.iterdir()) == ["invoice.txt"]
    out.write_bytes(b"Invoice older\n")  # one m2msim wrote meanwhile is replaced
    with atomic_path(out, own=ours) as tmp:
        tmp.write_bytes(b"Invoice new\n")
    assert out.read_bytes() == b"Invoice new\n"
    out.unlink()
    with atomic_path(out, own=ours) as tmp:  # nothing there: written
        tmp.write_bytes(b"Invoice new\n")
        assert not out.exists()
    assert out.read_bytes() == b"Invoice new\n"


def test_devices_and_unreadable_files() -> None:
    """A device is written in place as before; a file that cannot be read cannot be recognised."""
    refuse_foreign("/dev/null", lambda p: False)
    with pytest.raises(OutputError):
        refuse_foreign(__file__, lambda p: bool(open(p.with_name("missing"))))  # noqa: SIM115


def test_a_transcript_kept_by_the_pytest_plugin(tmp_path: Path) -> None:
    """`pytest --bench-out`: each test's transcript replaces the one of its earlier run, no other file."""
    from hil.transcript import Transcript

    path = tmp_path / "transcript.jsonl"
    path.write_bytes(FOREIGN)
    t = Transcript()
    t.record("command", command="AT")
    with pytest.raises(OutputError, match="exists and was not written by m2msim"):
        t.write(path)
    assert path.read_bytes() == FOREIGN
    path.unlink()
    t.write(path)
    first = os.stat(path).st_ino
    t.write(path)  # its own: replaced
    assert os.stat(path).st_ino != first and '"kind": "command"' in path.read_text()
