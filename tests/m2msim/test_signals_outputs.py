"""`rate --out` and `records-from-pcap --out` interrupted at seeded random moments (docs/reliability.md).

Each command first runs to the end once, which gives the reference output; then it runs again over
that output and is sent SIGINT (to its process group, as Ctrl-C does) or SIGTERM (to the process,
as `kill` does) at a seeded moment, from the program's first line (its start-up imports) to the last write (most attempts land before the end).  Whatever the
moment: exit 0 (it had finished) or 130 / 143 with one line on stderr (which says what became of the
output once the command has taken it: left as it was, or written), the output is the complete
reference file (the old one or the new one, never a part), nothing temporary is left beside it,
and no process of the command is left.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from interrupts import signals_restored, terminated
from processes import process_group, wait_for_handler

from m2msim.cli import main as m2msim
from m2msim.signals import Terminated, deferred_signals

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "scenarios" / "example-month" / "inventory.yaml"


def _usage_csv(path: Path, rows: int) -> Path:
    """A month of data records of one line: distinct starts, so none is a duplicate."""
    with path.open("w", encoding="utf-8") as f:
        f.write("line,type,start,duration_s,bytes_up,bytes_down,zone,dest,delivered,session\n")
        for i in range(rows):
            day, sec = divmod(i * 6, 86_400)
            hh, rest = divmod(sec, 3600)
            mm, ss = divmod(rest, 60)
            f.write(
                f"33612345678,data,2026-03-{day + 1:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z,5,{i % 900},{i % 700},fr,,,\n"
            )
    return path


def _interrupt(argv: list[str], sig: signal.Signals, delay: float) -> tuple[int, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "m2msim", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    # the delay counts from the program's first line (its handlers): a signal during the interpreter's
    # own start-up meets Python's defaults, not m2msim
    wait_for_handler(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"m2msim {argv[0]} did not stop within 2 s of {sig.name}")
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    assert process_group(proc.pid) == [], f"processes left behind by m2msim {argv[0]}"
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


def _attack(argv: list[str], out: Path, seed: int) -> None:
    assert m2msim(argv) == 0
    reference = out.read_bytes()
    rng = random.Random(seed)
    for attempt in range(6):
        sig = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
        rc, err = _interrupt(argv, sig, rng.uniform(0.05, 1.5))
        if rc != 0:
            assert rc == 128 + sig, err
            # what became of the output, once the command had taken it (the same bytes either way)
            said = ("", f"; left as it was: {out}", f"; written: {out}")
            assert err in ([f"m2msim {argv[0]}: interrupted ({sig.name}){s}"] for s in said), err
        assert out.read_bytes() == reference, "the output is not the complete file"
        assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".m2msim-")) == []


@pytest.mark.slow
def test_rate_out_interrupted_keeps_a_whole_invoice(tmp_path: Path) -> None:
    usage = _usage_csv(tmp_path / "usage.csv", 300_000)
    out = tmp_path / "out" / "invoice.json"
    out.parent.mkdir()
    _attack(["rate", str(INVENTORY), str(usage), "--json", "--out", str(out)], out, seed=20260301)


@pytest.mark.slow
def test_records_from_pcap_out_interrupted_keeps_whole_records(tmp_path: Path) -> None:
    run = tmp_path / "run"
    scenario = ROOT / "scenarios" / "default.yaml"
    argv = ["run", str(scenario), "--days", "1", "--max-lines", "40", "--capture", "--no-invoice"]
    assert m2msim([*argv, "--out", str(run)]) == 0
    out = tmp_path / "out" / "records.csv"
    out.parent.mkdir()
    _attack(["records-from-pcap", str(run / "capture"), "--out", str(out)], out, seed=20260302)


def test_a_signal_held_back_waits_for_the_end_of_the_block_whatever_thread_it_reaches() -> None:
    """A signal sent to the process while the main thread holds it back reaches another thread (a run
    has DuckDB's and Arrow's at its swap); Python ran the handler in the main thread at once, inside
    the block that was not to be cut in two."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    steps: list[str] = []
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    previous = signal.set_wakeup_fd(wake)  # the C handler writes there, in whichever thread it runs
    try:
        with pytest.raises(KeyboardInterrupt), deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)  # the other thread takes it: this one holds it back
            assert os.read(woken, 1) == bytes([signal.SIGINT])  # received by the process
            signal.pthread_sigmask(signal.SIG_BLOCK, [])  # Python runs the handlers of what came
            steps.append("end of the block")
    finally:
        signal.set_wakeup_fd(previous)
        os.close(woken)
        os.close(wake)
        stop.set()
        other.join()
    assert steps == ["end of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_loops_stop_handlers_leave_the_signals_ignored_once_one_came() -> None:
    """`modem serve` and `bench` take their signals in their event loop; asyncio put a removed
    handler back to the signal's default action, so a SIGTERM (a second one) while the command wrote
    its files after the loop killed it.  Once one came, they stay ignored; else the old ones return."""
    import asyncio

    from m2msim.signals import loop_stops_on

    def before(signum: int, frame: object) -> None:
        raise AssertionError("the handler of before ran")

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for sig in saved:
            signal.signal(sig, before)

        async def serve(send: bool) -> list[int]:
            came: list[int] = []
            got = asyncio.Event()

            def stop(signum: int) -> None:
                came.append(signum)
                got.set()

            remove = loop_stops_on(asyncio.get_running_loop(), stop)
            try:
                if send:
                    signal.raise_signal(signal.SIGHUP)
                    await got.wait()
            finally:
                remove()
            return came

        assert asyncio.run(serve(send=False)) == []
        assert all(signal.getsignal(sig) is before for sig in saved)
        assert asyncio.run(serve(send=True)) == [signal.SIGHUP]
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in saved)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_the_line_of_an_interrupted_rate_names_an_out_whose_folder_is_not_made_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out new/invoice.txt`: its lock is taken once its folder is made, after the rating; a signal
    during the rating said nothing of it, where an --out in an existing folder is named."""
    import accounting.cli

    # SIGTERM while the month is rated, as m2msim.signals raises it
    monkeypatch.setattr(accounting.cli, "rate_run", terminated)
    out = tmp_path / "new" / "invoice.txt"
    with signals_restored():
        assert m2msim(["rate", str(INVENTORY), str(INVENTORY.parent / "usage.csv"), "--out", str(out)]) == 143
    assert capsys.readouterr().err == f"m2msim rate: interrupted (SIGTERM); not written: {out}\n"
    assert not out.parent.exists()


@pytest.mark.slow
def test_rate_out_and_report_interrupted_are_both_old_or_both_new(tmp_path: Path) -> None:
    """`rate --out F --report P` over the outputs of another month, interrupted at seeded moments
    (the renames of the two files among them): F and P are both the old month's or both the new
    one's, never one of each, and the line says which."""
    usage = _usage_csv(tmp_path / "usage.csv", 300_000)
    other = tmp_path / "other.csv"
    other.write_bytes(usage.read_bytes() + b"33612345678,data,2026-03-31T23:59:00Z,5,1,1,fr,,,\n")
    out, page = tmp_path / "out" / "invoice.txt", tmp_path / "out" / "month.html"
    out.parent.mkdir()

    def argv(month: Path) -> list[str]:
        return ["rate", str(INVENTORY), str(month), "--out", str(out), "--report", str(page)]

    assert m2msim(argv(other)) == 0
    new = (out.read_bytes(), page.read_bytes())
    assert m2msim(argv(usage)) == 0
    old = (out.read_bytes(), page.read_bytes())
    assert old[0] != new[0] and old[1] != new[1]
    rng = random.Random(20260303)
    for attempt in range(6):
        sig = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
        rc, err = _interrupt(argv(other), sig, rng.uniform(0.05, 4.0))
        now = (out.read_bytes(), page.read_bytes())
        assert now in (old, new), "the invoice and the page are of two months"
        if rc != 0:
            assert rc == 128 + sig, err
            kept = f"; written: {page}, {out}" if now == new else f"; left as it was: {page}, {out}"
            if now == new and err[:1] == [f"report: {page}"]:
                err = err[1:]  # (the signal came after the page was put in place and said so)
            assert err in (
                [f"m2msim rate: interrupted ({sig.name})"],
                [f"m2msim rate: interrupted ({sig.name}){kept}"],
            ), err
        assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".m2msim-")) == []
        for path, data in zip((out, page), old, strict=True):  # the old month again, for the next attempt
            path.write_bytes(data)


def test_a_signal_as_the_lock_file_is_made_leaves_nothing_beside_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM that came as the lock file of an output was made, before the block that removes it
    (here: as it is locked), left `.m2msim-NAME.lock` beside the output after `interrupted`, in 1 to
    2 of 15 rates and runs stopped as that file appeared.  It is held back until the removal is set."""
    import fcntl

    from m2msim.outputs import output_lock

    flock = fcntl.flock

    def locked_then_signalled(fd: int, op: int) -> None:
        flock(fd, op)
        os.kill(os.getpid(), signal.SIGTERM)

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    monkeypatch.setattr(fcntl, "flock", locked_then_signalled)
    with signals_restored():
        signal.signal(signal.SIGTERM, raise_terminated)
        with pytest.raises(Terminated), output_lock(tmp_path / "invoice.txt"):
            pass
    assert sorted(os.listdir(tmp_path)) == []


def test_a_handler_installed_from_c_is_left_in_place_by_a_held_block() -> None:
    """A handler installed from C (an extension's, not Python's) reads as None from `getsignal`, and
    `signal.signal(sig, None)` raises TypeError: the block's end failed with it, after the work it
    held was done.  Such a handler is now left as it is; the others are put back."""
    real_getsignal = signal.getsignal
    with signals_restored(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(signal, "getsignal", lambda sig: None if sig == signal.SIGHUP else real_getsignal(sig))
        before_int = real_getsignal(signal.SIGINT)
        before_hup = real_getsignal(signal.SIGHUP)
        with deferred_signals():
            assert real_getsignal(signal.SIGINT) is not before_int  # (held: noted, not run)
            assert real_getsignal(signal.SIGHUP) is before_hup  # (not replaced: it could not be put back)
        assert real_getsignal(signal.SIGINT) is before_int
        assert real_getsignal(signal.SIGHUP) is before_hup
