"""The pytest plugin's options: which modems the bench tests run on, and a bad allow-list."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from ptys import PtyDte, served_ptys_sync

ROOT = Path(__file__).resolve().parents[2]
TESTS = "tests/bench/test_bench_register.py"


def collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", TESTS, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_default_runs_on_the_three_virtual_profiles() -> None:
    run = collect()
    assert run.returncode == 0, run.stderr
    ids = [line for line in run.stdout.splitlines() if "test_register_script[" in line]
    assert [i.split("[", 1)[1] for i in ids] == [
        "generic-seed-1-speed-4]",
        "simcom-sim800-seed-1-speed-4]",
        "quectel-bg96-seed-1-speed-4]",
    ]


def test_modem_url_option_replaces_the_defaults() -> None:
    run = collect("--modem-url", "/dev/ttyUSB2", "--modem-url", "virtual://quectel-bg96?seed=7")
    assert run.returncode == 0, run.stderr
    ids = [line.split("[", 1)[1] for line in run.stdout.splitlines() if "test_register_script[" in line]
    assert ids == ["dev-ttyUSB2]", "quectel-bg96-seed-7]"]


def test_a_bad_allow_list_stops_the_session_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bench.yaml"
    bad.write_text("numbers:\n  - number: 612\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS, "--allow-list", str(bad),
         "-k", "test_register_script and generic"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert f"{bad}:2: numbers[0].number" in run.stdout + run.stderr


def test_a_bench_test_cut_short_keeps_its_transcript_in_bench_out(tmp_path: Path) -> None:
    """A test stopped mid-run (its own timeout, pytest-timeout, a crash) keeps the transcript up to
    there in --bench-out, with the hang-up on the way out: it is written as the run goes."""
    (tmp_path / "test_cut.py").write_text(
        "import asyncio\n\nimport pytest\n\n\n"
        "async def test_cut(run_script):\n"
        "    with pytest.raises(TimeoutError):\n"
        "        async with asyncio.timeout(2.0):\n"
        "            await run_script('dtmf_call', hold=60.0)\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_cut.py"),
         "--modem-url", "virtual://generic?seed=1&speed=10", "--bench-out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    [transcript] = out.glob("test_cut*/transcript.jsonl")
    events = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    [release] = [e for e in events if e["kind"] == "step" and e["name"] == "release"]
    assert release["info"]["reason"] == "interrupted"  # cut in the hold, hung up on the way out
    assert any(e.get("command", "").startswith("ATD") for e in events)
    assert events[-1]["kind"] == "end" and events[-1]["status"] == "interrupted"


def test_the_modem_fixture_on_a_physical_modem_sets_auto_answer_off(tmp_path: Path) -> None:
    """The `modem` fixture on a device (the virtual modem served on a pty, set to answer the second
    ring by itself, ATS0=2): as a bench run, S0 is read and set to 0 before the test's commands,
    and kept to be set again after an ATZ; before, the test ran on a modem answering calls."""
    (tmp_path / "test_s0.py").write_text(
        "async def test_s0(modem):\n"
        "    assert (await modem.client.command('ATS0?')).lines == ('000',)\n"
        "    assert modem.client.kept['ATS0'] == 'ATS0=0'\n",
        encoding="utf-8",
    )
    with served_ptys_sync("generic") as [path]:
        with PtyDte(path) as port:  # another program left S0=2 (not stored)
            port.at("ATS0=2")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_s0.py"),
             "--modem-url", path],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def _suite_into(test_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The test file run by pytest with the plugin on a virtual modem, `--bench-out out`."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(test_file.parent), str(test_file),
         "--modem-url", "virtual://generic?seed=1&speed=10", "--bench-out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bench_out_files_m2msim_did_not_write_are_kept_and_the_modem_not_opened(tmp_path: Path) -> None:
    """A file of a bench's names in --bench-out that m2msim did not write: the transcript's was
    emptied as the run began (a user's notes lost), a report's refused once the script had run on
    the modem. Both are refused before the modem is opened, kept byte for byte; m2msim's own
    earlier transcript and reports are replaced, as a suite run again into its folder does."""
    (tmp_path / "test_reg.py").write_text(
        "async def test_reg(run_script):\n    assert (await run_script('register')).status == 'passed'\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    def suite() -> subprocess.CompletedProcess[str]:
        return _suite_into(tmp_path / "test_reg.py", out)

    first = suite()
    assert first.returncode == 0, first.stdout + first.stderr
    [folder] = out.iterdir()
    again = suite()  # (its own earlier files: replaced)
    assert again.returncode == 0, again.stdout + again.stderr
    for name in ("transcript.jsonl", "report.txt"):
        for f in folder.iterdir():
            f.unlink()
        notes = b"my notes of the bench, not m2msim's\n"
        (folder / name).write_bytes(notes)
        run = suite()
        assert run.returncode != 0
        said = f"{folder / name}: exists and was not written by m2msim: choose another name"
        assert said in run.stdout, run.stdout
        assert "--force" not in run.stdout.split(said, 1)[1].splitlines()[0]  # (pytest has none)
        assert (folder / name).read_bytes() == notes
        assert sorted(f.name for f in folder.iterdir()) == [name]  # nothing sent: no transcript begun


def test_a_transcript_m2msim_did_not_write_is_refused_before_the_modem_fixture_opens(tmp_path: Path) -> None:
    """A test on the `modem` fixture with --bench-out: a file m2msim did not write under its
    transcript's name was refused only as the test ended, once the test had driven the modem (on a
    physical one, its SMS and calls made), the test passing all the same. It is refused before: the
    test does not run, the file kept byte for byte."""
    ran = tmp_path / "ran"
    (tmp_path / "test_m.py").write_text(
        f"from pathlib import Path\n\nasync def test_m(modem):\n    Path({str(ran)!r}).write_text('ran')\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    def suite() -> subprocess.CompletedProcess[str]:
        return _suite_into(tmp_path / "test_m.py", out)

    first = suite()
    assert first.returncode == 0 and ran.exists(), first.stdout + first.stderr
    [folder] = out.iterdir()
    ran.unlink()
    notes = b"my notes of the bench, not m2msim's\n"
    (folder / "transcript.jsonl").write_bytes(notes)
    run = suite()
    assert run.returncode != 0, run.stdout
    said = f"{folder / 'transcript.jsonl'}: exists and was not written by m2msim: choose another name"
    assert said in run.stdout, run.stdout
    assert not ran.exists(), run.stdout  # (the modem not driven)
    assert (folder / "transcript.jsonl").read_bytes() == notes


SIGTERM_TESTS = """\
import signal

from hil.stored import check_stored

BEFORE = signal.getsignal(signal.SIGTERM)


async def test_a_modem(modem):
    assert (await modem.client.command("AT")).final.ok


def test_b_handler_back():
    assert signal.getsignal(signal.SIGTERM) == BEFORE


async def test_c_call(modem, bench_policy):
    await modem.network.wait_registered(60)  # (a call before it: NO CARRIER)
    await check_stored(modem.client, bench_policy)  # the SIM's call forwarding read first
    await modem.client.command("ATD+33600000001;")
    assert "+CLCC: 1,0," in "".join((await modem.client.command("AT+CLCC")).lines)
    print("call up", flush=True)
    await modem.client.urcs({"NO CARRIER"}).__anext__()  # (the far end never hangs up first)
"""


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_a_stop_signal_during_a_call_on_a_physical_modem_hangs_up_and_exits_128_plus_it(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    """SIGTERM (a CI runner cancelling the job), SIGINT (Ctrl-C) or SIGHUP (the terminal closed)
    during a test holding a call on a device: the test is cancelled, the call hung up (`ATH`) and the
    PDP contexts released, exit status 143 / 130 / 129, as `m2msim bench` does; the handler of before
    is back after each test.  Before, SIGTERM killed pytest at once and the call stayed up; then
    SIGTERM alone was handled: SIGINT went as pytest's KeyboardInterrupt (exit 2) and SIGHUP killed
    it, the call up either way."""
    (tmp_path / "test_term.py").write_text(SIGTERM_TESTS, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(
        'numbers:\n  - number: "+33600000001"\n    allow: [call]\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    with served_ptys_sync("simcom-sim800", seed=3) as [path]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_term.py"),
             "--modem-url", path, "--allow-list", str(tmp_path / "bench.yaml"), "--bench-out", str(out)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # waits on the test's own line: the call is up
            seen.append(line)
            if "call up" in line:
                proc.send_signal(signum)
                break
        rest, _ = proc.communicate(timeout=60)
        output = "".join(seen) + rest
        assert proc.returncode == status, output
        assert f"interrupted ({signum.name})" in output, output
        assert "2 passed" in output, output  # the handler of before back after test_a_modem
        with PtyDte(path) as port:
            assert b"+CLCC:" not in port.at("AT+CLCC")  # hung up: no call left
    [transcript] = out.glob("test_c_call*/transcript.jsonl")
    events = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    [release] = [e for e in events if e["kind"] == "step" and e["name"] == "release"]
    assert release["info"]["reason"] == "interrupted"
    # answered: the AT client's read, cancelled with the test's tasks, is read again
    assert [e.get("final") for e in events if e.get("command") in ("ATH", "AT+CGACT=0")] == ["OK", "OK"]
    assert release["ok"] is True


def test_sigterm_during_run_script_releases_the_modem_and_exits_143(tmp_path: Path) -> None:
    """`run_script` cut by SIGTERM as a call is placed: the run is cancelled and releases the modem
    on its way out (its `release` step), and the session exits 143."""
    (tmp_path / "test_dial.py").write_text(
        "async def test_dial(run_script):\n    await run_script('dtmf_call', hold=60.0)\n", encoding="utf-8"
    )
    (tmp_path / "bench.yaml").write_text(
        'numbers:\n  - number: "+33600000001"\n    allow: [call]\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    with served_ptys_sync("simcom-sim800", seed=3) as [path]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_dial.py"),
             "--modem-url", path, "--allow-list", str(tmp_path / "bench.yaml"), "--bench-out", str(out),
             "-o", "log_cli=true", "--log-cli-level=DEBUG"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the client's debug log, a line per command: the dial went out
            seen.append(line)
            if ">> ATD+33600000001;" in line:
                proc.send_signal(signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 143, "".join(seen) + rest
    [transcript] = out.glob("test_dial*/transcript.jsonl")
    events = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
    [release] = [e for e in events if e["kind"] == "step" and e["name"] == "release"]
    assert release["info"]["reason"] == "interrupted"
    assert "ATH" in [e.get("command") for e in events]


def test_sigterm_as_the_modem_fixture_sets_the_modem_up_ends_the_session_cleanly(tmp_path: Path) -> None:
    """SIGTERM while the `modem` fixture initialises the modem (before the test, no call up): the
    set-up is cancelled, the modem closed, and the session ends with exit status 143 saying so.
    Before, the signal's default action killed pytest at once."""
    (tmp_path / "test_setup.py").write_text(
        "async def test_m(modem):\n    raise AssertionError('never reached')\n", encoding="utf-8"
    )
    controller, device = os.openpty()  # a port whose modem answers nothing: the set-up waits on ATE0
    try:
        path = os.ttyname(device)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_setup.py"),
             "--modem-url", path, "-o", "log_cli=true", "--log-cli-level=DEBUG"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the client's debug log: the init sequence's first line went out
            seen.append(line)
            if ">> ATE0" in line:
                proc.send_signal(signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(device)
    output = "".join(seen) + rest
    assert proc.returncode == 143, output
    assert "interrupted (SIGTERM): before the test, no call up: the modem closed" in output, output
    assert "Traceback" not in output and "never reached" not in output, output


def test_ctrl_c_is_python_s_own_again_after_a_test_with_the_modem() -> None:
    """The `modem` fixture sets its stop signals' handlers for the test and sets back those it found
    at its set-up; SIGINT's was then asyncio.Runner's for the set-up's run alone (pytest-asyncio
    runs each step in its own), which the Runner sets back to Python's default once that run ends,
    unless another handler replaced it.  Set back at the teardown, it stayed: a finished task's
    handler for the rest of the session, and the later runs set none of their own."""
    tests = textwrap.dedent(
        """
        import signal

        def test_0_before():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        async def test_a_modem(modem):
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # (the plugin's)

        def test_b_after():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        async def test_c_script(run_script):
            mine = signal.getsignal(signal.SIGINT)  # (this test's run's: set back as the run goes on)
            assert (await run_script("register")).status == "passed"
            assert signal.getsignal(signal.SIGINT) is mine

        def test_d_after():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        """
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "test_ctrl_c.py").write_text(tests, encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", folder, str(Path(folder) / "test_ctrl_c.py"),
             "--modem-url", "virtual://generic?seed=1&speed=4"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0 and "5 passed" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize(("flag", "reads"), [([], True), (["--no-forwarding-check"], False)])
def test_run_script_on_a_physical_modem_reads_the_sim_s_call_forwarding_unless_told(
    tmp_path: Path, flag: list[str], reads: bool
) -> None:
    """As `m2msim bench`: on a device (the virtual modem served on a pty), once registered, the
    run reads AT+CCFC for each reason before going on; --no-forwarding-check skips it."""
    (tmp_path / "test_ccfc.py").write_text(
        "async def test_ccfc(run_script):\n"
        "    result = await run_script('register')\n"
        "    assert result.status == 'passed', result.error\n"
        "    lines = [c['command'] for c in result.transcript.commands]\n"
        f"    assert ('AT+CCFC=0,2' in lines) is {reads}, lines\n",
        encoding="utf-8",
    )
    with served_ptys_sync("generic") as [path]:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_ccfc.py"),
             "--modem-url", path, *flag],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_modem_fixture_on_a_physical_modem_texts_only_once_the_call_forwarding_was_read(
    tmp_path: Path,
) -> None:
    """The `modem` fixture on a device: a test's SMS went with the SIM's call forwarding never read
    (run_script and m2msim bench read it first); now the driver refuses it until the test's
    check_stored passed, and --no-forwarding-check lets it go as before."""
    (tmp_path / "bench.yaml").write_text('numbers:\n  - number: "+33612345678"\n', encoding="utf-8")
    (tmp_path / "test_sms.py").write_text(
        "import pytest\n"
        "from hil.stored import check_stored\n"
        "from modem.safety import SafetyError\n\n"
        "async def test_unchecked(modem, request):\n"
        "    if request.config.getoption('--no-forwarding-check'):\n"
        "        await modem.sms.send('+33612345678', 'hi')\n"
        "        return\n"
        "    with pytest.raises(SafetyError, match='call forwarding must be read'):\n"
        "        await modem.sms.send('+33612345678', 'hi')\n\n"
        "async def test_checked(modem, bench_policy, bench_allow_list):\n"
        "    await modem.network.wait_registered(30.0)\n"
        "    await check_stored(modem.client, bench_policy, bench_allow_list)\n"
        "    await modem.sms.send('+33612345678', 'hi')\n",
        encoding="utf-8",
    )
    for flag in ([], ["--no-forwarding-check"]):
        with served_ptys_sync("generic") as [path]:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hil.pytest_plugin",
                 "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_sms.py"),
                 "--modem-url", path, "--allow-list", str(tmp_path / "bench.yaml"), *flag],
                cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
        assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
