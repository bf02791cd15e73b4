"""Outputs at unusual paths: names at the file system's limit, names of bytes that are not UTF-8, links
and folders on the way; what every command writes must land there whole, or be refused in one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from handmade_pcap import write_pcap
from mounts import mounted

from accounting.usage_writer import is_usage_file
from m2msim.cli import main
from m2msim.outputs import OutputError, atomic_path, output_lock, remove_stale, temporary_name

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "scenarios" / "example-month"
SESSIONS = "line,start,duration_s,bytes_up,bytes_down\n336,2026-03-01T00:00:00Z,100,10,20\n"


def test_an_output_named_at_the_length_limit_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name of 255 bytes is a valid file name: its temporary file and its lock (`.m2msim-NAME...`)
    were not, and the command failed with "File name too long" after its work."""
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(SESSIONS, encoding="utf-8")
    records = tmp_path / ("r" * 251 + ".csv")
    invoice = tmp_path / ("i" * 251 + ".txt")
    for _ in range(2):  # written, then its own output replaced
        assert main(["sessions-to-records", str(sessions), str(records)]) == 0
        assert (
            main(["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--out", str(invoice)])
            == 0
        )
    capsys.readouterr()
    assert records.read_bytes().startswith(b'"line"') and invoice.read_text().startswith("Invoice ")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([sessions.name, records.name, invoice.name])
    # two such names that differ at their end have temporary names of their own, within the limit
    long_a, long_b = tmp_path / ("x" * 250 + "a"), tmp_path / ("x" * 250 + "b")
    tmp_a, tmp_b = temporary_name(long_a).name, temporary_name(long_b).name
    assert len(tmp_a.encode()) <= 255 and tmp_a.split(".tmp-")[0] != tmp_b.split(".tmp-")[0]
    with output_lock(long_a), atomic_path(long_a) as tmp:
        tmp.write_bytes(b"x")
    assert long_a.read_bytes() == b"x" and remove_stale(long_b) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_usage_records_to_a_name_that_is_not_utf8(tmp_path: Path, suffix: str) -> None:
    """A name in Latin-1 (`relev\\xe9.csv`, as a system of that locale makes it), in a UTF-8 locale
    (stdout refuses surrogates): a traceback where the file was to be written (UnicodeEncodeError in
    Arrow), then another where its name was printed; nothing was written."""
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(SESSIONS, encoding="utf-8")
    out = bytes(tmp_path) + b"/relev\xe9" + suffix.encode()
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONUTF8": "0"}
    command = [sys.executable, "-m", "m2msim", "sessions-to-records", str(sessions), os.fsdecode(out)]
    done = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert done.stdout == b"1 sessions -> 1 records in " + out + b"; 0 rows rejected\n"
    assert is_usage_file(Path(os.fsdecode(out)))  # its own: replaced by the next write (a Parquet was not)
    assert sorted(os.listdir(bytes(tmp_path))) == sorted([b"sessions.csv", out.rsplit(b"/", 1)[1]])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("--records", "--journal"),
        ("--records", "--control-file"),
        ("--capture", "--control-file"),
        ("--journal", "--control-file"),
    ],
)
def test_modem_serve_refuses_one_file_for_two_outputs(
    tmp_path: Path, first: str, second: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--records out.csv --journal out.csv`: the journal was written there when serving ended, and the
    records refused at their rename (it was not theirs): a whole serve's records lost."""
    (tmp_path / "link").symlink_to(tmp_path)
    same, again = tmp_path / "out", tmp_path / "link" / "out"  # one file, two names
    serve = ["modem", "serve", "--profile", "generic", first, str(same), second, str(again), "--check"]
    assert main(serve) == 2
    err = capsys.readouterr().err
    assert err == f"m2msim modem serve: {second} {again}: is also the {first} file; name two files\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


@pytest.mark.parametrize("given", ["", ".", "..", "/"])
@pytest.mark.parametrize("option", ["--out", "--report"])
def test_a_folder_without_a_name_as_the_output_is_refused_in_one_line(
    tmp_path: Path,
    given: str,
    option: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`rate --out .` (or '', .., /) ended in a traceback: the lock beside the output has no name to take."""
    monkeypatch.chdir(tmp_path)
    assert main(["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), option, given]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("m2msim rate: "), captured.err
    assert "folder" in captured.err or "directory" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions-to-records", "{sessions}", "{out}"],
        ["records-from-radius-detail", "{detail}", "--out", "{out}"],
        ["records-from-osmo-cdr", "{detail}", "--out", "{out}"],
        ["records-from-pcap", "{pcap}", "--out", "{out}"],
        ["run", str(ROOT / "scenarios" / "default.yaml"), "--out", "{out}"],
    ],
)
def test_an_output_under_a_file_is_named_so_before_the_work(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An output's folder that is a file (`notes.txt/usage.csv`) was said after the work as
    "cannot write (File exists)", as if the output existed."""
    (tmp_path / "sessions.csv").write_text(SESSIONS, encoding="utf-8")
    (tmp_path / "detail").write_text("not read\n", encoding="utf-8")
    names = {
        "sessions": tmp_path / "sessions.csv",
        "detail": tmp_path / "detail",
        "pcap": write_pcap(tmp_path / "c.pcap", 1, []),
        "out": tmp_path / "sessions.csv" / "usage.csv",
    }
    assert main([w.format(**names) for w in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{names['out']}: {names['sessions']} is a file, not a folder" in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions-to-records", "{sessions}", "{out}"],
        ["records-from-radius-detail", "{detail}", "--out", "{out}"],
        ["records-from-pcap", "{pcap}", "--out", "{out}"],
        ["modem", "serve", "--profile", "generic", "--records", "{out}", "--check"],
        ["modem", "serve", "--profile", "generic", "--capture", "{out}", "--check"],
    ],
)
def test_a_second_writer_of_the_same_output_is_refused(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """One writer per output: two `modem serve --records usage.csv` both served, and the one that
    ended last replaced the other's records; two conversions to one file both wrote it."""
    (tmp_path / "sessions.csv").write_text(SESSIONS, encoding="utf-8")
    (tmp_path / "detail").write_text("", encoding="utf-8")
    names = {
        "sessions": tmp_path / "sessions.csv",
        "detail": tmp_path / "detail",
        "pcap": write_pcap(tmp_path / "c.pcap", 1, []),
        "out": tmp_path / "out.csv",
    }
    with output_lock(names["out"]):  # another command writing it now
        assert main([w.format(**names) for w in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{names['out']}: process {os.getpid()} is writing it now" in err, err
    assert not names["out"].exists()


def test_a_second_report_to_the_same_out_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report A --out page.html` and `report B --out page.html` at once both wrote the page: only
    the folder read was locked, not the --out written."""
    month = tmp_path / "month"
    month.mkdir()
    argv = ["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--json"]
    assert main([*argv, "--out", str(month / "invoice.json")]) == 0
    page = tmp_path / "page.html"
    with output_lock(page):  # another command writing it now
        assert main(["report", str(month), "--out", str(page)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{page}: process {os.getpid()} is writing it now" in err, err
    assert not page.exists()


def test_a_journal_that_cannot_be_written_keeps_the_serves_records(tmp_path: Path) -> None:
    """`modem serve --journal sub/j.jsonl` whose folder was removed while it served: the journal's
    failure, raised in the serve's clean-up, skipped the rest of it, and the whole serve's usage
    records (and capture, and TUN namespace) were lost."""
    records, folder = tmp_path / "usage.csv", tmp_path / "sub"
    folder.mkdir()
    journal = folder / "j.jsonl"
    command = [sys.executable, "-m", "m2msim", "modem", "serve", "--profile", "generic", "--tcp", "0"]
    command += ["--ip-path", "user", "--records", str(records), "--journal", str(journal)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("socket://")  # serving
        shutil.rmtree(folder)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == (
        f"m2msim modem serve: --journal {journal}: cannot write (No such file or directory): "
        f"the console journal is lost; usage records in {records}"
    )
    assert is_usage_file(records)


def test_out_dev_stdout_into_a_pipe(tmp_path: Path) -> None:
    """`rate --out /dev/stdout | less`: /dev/stdout is a link to /proc/self/fd/1, and that one to
    `pipe:[N]`, which is no path: the invoice was written to a temporary file in /proc/PID/fd/, which
    failed (exit 2).  A link to a device or a pipe is written in place, as the device itself is."""
    command = [
        sys.executable,
        "-m",
        "m2msim",
        "rate",
        str(MONTH / "inventory.yaml"),
        str(MONTH / "usage.csv"),
    ]
    done = subprocess.run([*command, "--out", "/dev/stdout"], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    assert done.stdout.startswith(b"Invoice ") and b"Total HT" in done.stdout


@pytest.mark.parametrize(
    "name",
    [
        "usage.csv.gz",
        "usage.csv.zst",
        "usage.txt",
        "usage.tsv",
        "usage.parquet.gz",
        # Parquet under a document's name: `report` of its folder read usage.json as an invoice
        "usage.json",
        "usage.html",
        "usage.yaml",
    ],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["sessions-to-records", "{sessions}", "{out}"],
        ["records-from-radius-detail", "{detail}", "--out", "{out}"],
        ["modem", "serve", "--profile", "generic", "--records", "{out}", "--check"],
    ],
)
def test_usage_records_under_a_name_read_as_something_else_are_refused(
    tmp_path: Path, argv: list[str], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sessions-to-records s.csv usage.csv.gz` wrote Parquet (any name but .csv) under a name
    `m2msim rate` reads as a gzip CSV: it refused the file ("its data are not compressed by gzip:
    name it usage.csv", which was no better); under `usage.json` `m2msim report` of its folder took
    it for an invoice and refused the folder.  Refused before the work, naming what to call it."""
    (tmp_path / "sessions.csv").write_text(SESSIONS, encoding="utf-8")
    (tmp_path / "detail").write_text("", encoding="utf-8")
    out = tmp_path / name
    names = {"sessions": tmp_path / "sessions.csv", "detail": tmp_path / "detail", "out": out}
    assert main([w.format(**names) for w in argv]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and f"{out}: named as a " in err and "name it usage.csv or usage.parquet" in err
    )
    assert not out.exists()


def test_modem_serve_records_to_a_device_puts_no_journal_beside_it() -> None:
    """`modem serve --records /dev/null`: its console journal went "beside the records", as
    /dev/null.console.jsonl: a file in /dev as root, a failure at the end (exit 2) as a user."""
    beside = Path("/dev/null.console.jsonl")
    assert not beside.exists()
    command = [sys.executable, "-m", "m2msim", "modem", "serve", "--profile", "generic", "--tcp", "0"]
    command += ["--ip-path", "user", "--records", "/dev/null"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("socket://")  # serving
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        made = beside.exists()
        beside.unlink(missing_ok=True)
    assert proc.returncode == 130 and not made, err


def test_a_bench_into_a_folder_named_in_latin1(tmp_path: Path) -> None:
    """`bench --out relev\\xe9s`: the reports name the folder, and writing them raised
    UnicodeEncodeError once the bench had run (exit 1, no report.html, no JUnit XML).  The name
    is written escaped, as on stderr, and the JUnit XML stays a valid UTF-8 document."""
    from xml.dom import minidom

    out = bytes(tmp_path) + b"/relev\xe9s"
    junit = out + b".xml"
    command = [
        sys.executable,
        "-m",
        "m2msim",
        "bench",
        "register",
        "--modem-url",
        "virtual://generic?speed=50",
    ]
    command += ["--out", os.fsdecode(out), "--junit", os.fsdecode(junit)]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONUTF8": "0"}
    done = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == [b"report.html", b"report.json", b"report.txt", b"transcript.jsonl"]
    assert "relev\\udce9s" in Path(os.fsdecode(out + b"/report.html")).read_text(encoding="utf-8")
    assert minidom.parse(os.fsdecode(junit)).documentElement.getAttribute("name") == "m2msim bench"


def test_bench_junit_over_its_own_allow_list_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench --allow-list bench.yaml --junit bench.yaml --force`: the allow-list, an input, was
    replaced by the JUnit XML (exit 0); an output that is an input is refused, --force or not."""
    allow = tmp_path / "bench.yaml"
    allow.write_text('numbers:\n  - number: "+33612345678"\n', encoding="utf-8")
    before = allow.read_bytes()
    out = tmp_path / "out"
    bench = ["bench", "register", "--modem-url", "virtual://generic?speed=50", "--allow-list", str(allow)]
    assert main([*bench, "--junit", str(allow), "--force", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"m2msim bench: --junit {allow}: is the input {allow}; refusing to overwrite an input\n"
    assert allow.read_bytes() == before and not out.exists()


@pytest.mark.parametrize(("given", "output"), [("--replay", "--records"), ("--internet", "--capture")])
def test_modem_serve_output_over_its_replay_or_internet_file_is_refused_even_with_force(
    tmp_path: Path, given: str, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`modem serve --replay j.jsonl --records j.jsonl --force` replaced the journal it replayed when
    serving ended (only the profile and the scenario were taken as inputs)."""
    path = tmp_path / "input"
    path.write_text('{"m2msim": "console-journal", "version": 1}\n', encoding="utf-8")
    serve = [
        "modem",
        "serve",
        "--profile",
        "generic",
        given,
        str(path),
        output,
        str(path),
        "--force",
        "--check",
    ]
    assert main(serve) == 2
    assert capsys.readouterr().err == (
        f"m2msim modem serve: {output} {path}: is the input {path}; refusing to overwrite an input\n"
    )


@pytest.mark.parametrize(
    ("argv", "name", "fix"),
    [
        (["report", "{folder}", "--out", "{out}"], "page.json", "name it page.html"),
        (["rate", "{inv}", "{usage}", "--out", "{out}"], "march.json", "name it march.txt, or add --json"),
        (["rate", "{inv}", "{usage}", "--json", "--out", "{out}"], "march.txt", "or leave out --json"),
        (["compare", "{inv}", "{usage}", "--out", "{out}"], "offers.json", "name it offers.txt"),
        (["rate", "{inv}", "{usage}", "--report", "{out}"], "march.csv", "name it march.html"),
    ],
)
def test_an_output_named_as_another_format_is_refused_before_the_work(
    tmp_path: Path, argv: list[str], name: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report F --out F/x.json` wrote the HTML page under a JSON name, and the next `report F`
    refused the folder (`x.json:1: not JSON`); `rate --out march.json` without --json wrote the
    readable text there alike. Refused, exit 2 in one line saying what to name it, nothing written."""
    folder = tmp_path / "month"
    shutil.copytree(MONTH, folder)
    assert main(["rate", str(folder / "inventory.yaml"), str(folder / "usage.csv"), "--json", "--out", str(folder / "invoice.json")]) in (0, 1)  # fmt: skip
    capsys.readouterr()
    out = folder / name
    words = {"folder": folder, "inv": folder / "inventory.yaml", "usage": folder / "usage.csv", "out": out}
    assert main([w.format(**words) for w in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: a {out.suffix} name for " in err and fix in err, err
    assert not out.exists()
    assert main(["report", str(folder)]) == 0  # the folder is still read as a whole


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{folder}", "--out", "{folder}"],
        ["report", "{folder}", "--out", "{other}"],
        ["rate", "{inv}", "{usage}", "--report", "{other}"],
        ["compare", "{inv}", "{usage}", "--report", "{other}"],
    ],
)
def test_a_folder_as_the_page_is_refused_before_the_work(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`report F --out F` said that its own process was writing F (`process N is writing it now`);
    `rate --report FOLDER` printed the whole invoice, then exited 2 (`FOLDER: is a directory`)."""
    folder, other = tmp_path / "month", tmp_path / "other"
    shutil.copytree(MONTH, folder)
    other.mkdir()
    assert main(["rate", str(folder / "inventory.yaml"), str(folder / "usage.csv"), "--json", "--out", str(folder / "invoice.json")]) in (0, 1)  # fmt: skip
    capsys.readouterr()
    words = {
        "folder": folder,
        "other": other,
        "inv": folder / "inventory.yaml",
        "usage": folder / "usage.csv",
    }
    argv = [w.format(**words) for w in argv]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert (
        out.out == ""
        and out.err == f"m2msim {argv[0]}: {argv[-2]} {argv[-1]}: is a folder, expected a file name\n"
    )
    assert os.listdir(other) == []


def test_an_output_that_is_a_mount_point_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file bind-mounted as the output (a container's `-v invoice.txt:/out/invoice.txt`): the rating
    was done, then refused at the rename as `.m2msim-invoice.txt.tmp-...: Device or resource busy`,
    naming a temporary file; it is refused first, naming the output, and the file is left as it is."""
    source, invoice = tmp_path / "source.txt", tmp_path / "invoice.txt"
    rate = ["rate", str(MONTH / "inventory.yaml"), str(MONTH / "usage.csv"), "--out"]
    assert main([*rate, str(source)]) == 0  # (m2msim's own invoice: replaced, were it not mounted)
    before = source.read_text()
    capsys.readouterr()
    invoice.write_text("")
    with mounted(invoice, "--bind", str(source)):
        assert main([*rate, str(invoice)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"m2msim rate: --out {invoice}: is a mount point (a file mounted there), which m2msim cannot "
            "replace (an output is put in place whole by a rename): write it under another name, then "
            "copy it there"
        ]
        with pytest.raises(OutputError, match="is a mount point"), atomic_path(invoice) as tmp:
            tmp.write_text("new")
        assert invoice.read_text() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice.txt", "source.txt"]
