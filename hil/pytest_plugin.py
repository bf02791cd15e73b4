"""pytest plugin: run the bench tests on a physical modem or on the virtual one, unchanged.

    pytest tests/bench                                             # CI: the virtual modem, three profiles
    pytest tests/bench --modem-url /dev/ttyUSB2 --modem-profile simcom-sim800 --allow-list bench.yaml
    pytest tests/bench --modem-url virtual://quectel-bg96?seed=3 --bench-out runs/bench
    pytest tests/bench --modem-url replay://runs/bench                # what those modems answered
    pytest tests/bench -k register --modem-url replay://register-1/transcript.jsonl?scale=0

Options: `--modem-url` (repeatable; default: virtual://generic?seed=1&speed=4 and the same on
virtual://simcom-sim800 and virtual://quectel-bg96: the virtual modem's own delays, registration
and a call's ring, on a clock four times as fast), `--modem-profile` (driver profile for a
physical modem; a virtual URL names its own), `--allow-list` (the bench's numbers; without it a
physical modem never texts or calls: those tests skip with the reason), `--bench-out` (keep each
test's transcript and report there).  A `replay://` URL (`hil.replay`) names one transcript, or a
folder `--bench-out` filled: each test then replays its own recording (`FOLDER/TEST-NAME/
transcript.jsonl`, the test's name with any modem id); a test with no recording there, or whose
script is not the recording's, is skipped with the reason.

Fixtures: `modem_url`, `bench_allow_list`, `bench_policy`, `transcript`, `modem` (an initialised
`modem.drivers.Modem` whose AT client records into `transcript`), and `run_script` (runs a
`hil.scripts` bench script on `modem_url`, returns its `hil.bench.BenchResult`).

SIGINT, SIGTERM or SIGHUP (Ctrl-C, a CI runner cancelling the job, the terminal closed) while
`modem` or `run_script` has the modem cancels the test, hangs up (`ATH`, else `AT+CHUP`) and
deactivates the PDP contexts (`AT+CGACT=0`), as `m2msim bench` does, then ends the session with
exit status 130, 143 or 129; one while `modem` sets the modem up (before the test, no call up)
cancels the set-up, closes the modem and ends the session likewise.  The handlers of before are
back once the fixture is done.  Before, SIGTERM alone was handled, and not during the set-up
(its default action killed pytest at once), and Ctrl-C went as pytest's KeyboardInterrupt,
without the hang-up, a call up.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil import stored
from hil.allowlist import BenchAllowList, load_allow_list
from hil.bench import checks_auto_answer, driver_profile_for, release_lines, run_bench
from hil.errors import AllowListError
from hil.rack import modem_id
from hil.recording import RecordingClient
from hil.replay import SCHEME, ReplayTransport, is_replay, open_replay, recording_of, split_url
from hil.result import REPORT_FILES, BenchResult
from hil.transcript import Transcript, is_transcript
from hil.virtual import open_bound_virtual
from m2msim.outputs import refuse_foreign
from modem import safety
from modem.drivers.generic import Modem
from modem.transports import open_transport

VIRTUAL_PROFILES: tuple[str, ...] = ("generic", "simcom-sim800", "quectel-bg96")
# (at 4x the virtual modem's registration and ring times: the suite's bench scripts in about 35 s,
# against 2 min in real time, with the same verdicts)
DEFAULT_URLS: tuple[str, ...] = tuple(f"virtual://{p}?seed=1&speed=4" for p in VIRTUAL_PROFILES)

RunScript = Callable[..., Awaitable[BenchResult]]
#: the signals that end a session cleanly, as they end `m2msim bench`: SIGINT (Ctrl-C, which pytest
#: would take as a KeyboardInterrupt), SIGTERM (a CI runner cancelling the job), SIGHUP (the
#: terminal closed); the exit status is 128 + the signal's number (130, 143, 129)
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
SIGTERM_STATUS = 128 + int(signal.SIGTERM)  # 143, as `m2msim bench`


@contextlib.contextmanager
def on_stop_signals(stop: Callable[[], object]) -> Iterator[list[int]]:
    """Within the block, SIGINT, SIGTERM or SIGHUP (`STOP_SIGNALS`) runs `stop()` in the running
    event loop (once, at the first of them) instead of killing the process or raising
    KeyboardInterrupt; the list yielded holds that signal's number once it came.  The handlers of
    before are set back when the block ends.  Outside the main thread (where Python takes signals)
    it does nothing."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    loop = asyncio.get_running_loop()
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def on_signal(sig: signal.Signals) -> None:
        if not came:
            came.append(int(sig))
            stop()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield came
    finally:
        for sig, handler in before.items():
            loop.remove_signal_handler(sig)
            handler = _set_back(sig, handler)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _set_back(sig: signal.Signals, handler: Any) -> Any:
    """The handler of `sig` to set back when `on_stop_signals` ends, `handler` being the one it
    found.  asyncio.Runner's SIGINT handler (pytest-asyncio runs each fixture step and test in a
    `Runner.run`) holds the task of that one run, and the Runner sets Python's default back once
    the run ends, unless another handler replaced its own, as ours does: set back after that run
    (the fixture's teardown), it stayed the process's, a finished task's, and the next runs did
    not set theirs (Ctrl-C then raised KeyboardInterrupt within the event loop, where a run
    cancels its task).  So Python's default is set back in its place once that task is done."""
    func = getattr(handler, "func", None)
    if sig == signal.SIGINT and isinstance(getattr(func, "__self__", None), asyncio.Runner):
        task = getattr(handler, "keywords", {}).get("main_task")
        if task is None or task.done():
            return signal.default_int_handler
    return handler


def _terminated(url: str, signum: int, what: str = "hung up, PDP contexts released") -> None:
    """The session ends as `m2msim bench` does on that signal: exit status 128 + its number."""
    name = signal.Signals(signum).name
    pytest.exit(f"{url}: interrupted ({name}): {what}", returncode=128 + signum)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "bench: hardware in the loop")
    group.addoption(
        "--modem-url",
        action="append",
        default=None,
        help="modem to run the bench tests on (repeatable); default: virtual://generic?seed=1&speed=4, "
        "virtual://simcom-sim800?seed=1&speed=4, virtual://quectel-bg96?seed=1&speed=4",
    )
    group.addoption("--modem-profile", default=None, help="driver profile for a physical modem")
    group.addoption("--allow-list", default=None, help="bench allow-list YAML (numbers to text and call)")
    group.addoption("--bench-out", default=None, help="directory to keep each test's transcript and report")
    group.addoption(
        "--no-forwarding-check",
        action="store_true",
        default=False,
        help="on a physical modem, run_script does not read the SIM's call forwarding (AT+CCFC) first",
    )


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(name, default=None)


def modem_urls(config: pytest.Config) -> list[str]:
    urls = _option(config, "--modem-url")
    return list(urls) if urls else list(DEFAULT_URLS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "modem_url" in metafunc.fixturenames:
        urls = modem_urls(metafunc.config)
        metafunc.parametrize("modem_url", urls, ids=[modem_id(u) for u in urls])


@pytest.fixture(scope="session")
def bench_allow_list(request: pytest.FixtureRequest) -> BenchAllowList | None:
    """The `--allow-list` file, loaded (a bad file stops the session with its file:line: field)."""
    path = _option(request.config, "--allow-list")
    if path is None:
        return None
    try:
        return load_allow_list(path)
    except AllowListError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def bench_policy(modem_url: str, bench_allow_list: BenchAllowList | None) -> safety.DialPolicy | None:
    """The `modem.safety` policy of the bench: the allow-list's; None when there is none (then the
    virtual modem allows everything and a physical modem refuses every SMS and call; a replayed
    modem reaches no one and allows everything too)."""
    if bench_allow_list is not None:
        return bench_allow_list.policy()
    return safety.AllowAll() if is_replay(modem_url) else None


def recorded_url(url: str, request: pytest.FixtureRequest) -> str:
    """For a `replay://FOLDER` URL, this test's own transcript in the folder (skips the test when
    there is none); any other URL as it is."""
    if not is_replay(url):
        return url
    path, _ = split_url(url)
    folder = Path(path)
    if not folder.is_dir():
        return url
    query = url.partition("?")[2]
    node = request.node
    candidates = [folder / node.name / "transcript.jsonl"]
    original = getattr(node, "originalname", node.name)
    candidates += sorted(folder.glob(f"{glob_escape(original)}*/transcript.jsonl"))
    for found in candidates:
        if found.is_file():
            return f"{SCHEME}{found}" + (f"?{query}" if query else "")
    pytest.skip(f"{url}: no recording of {node.name} in {folder} (expected {candidates[0]})")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


@pytest.fixture
def bench_out(request: pytest.FixtureRequest) -> Path | None:
    """Where this test keeps its transcript and report (`--bench-out`), or None."""
    root = _option(request.config, "--bench-out")
    if root is None:
        return None
    return Path(root) / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)


@pytest.fixture
def transcript(bench_out: Path | None) -> Any:
    """A fresh transcript; written to `--bench-out` when the test ends (a file m2msim did not write
    under its name there is refused before the test, not once it has driven the modem)."""
    if bench_out is not None:
        refuse_foreign(bench_out / "transcript.jsonl", is_transcript, forceable=False)
    t = Transcript()
    yield t
    if bench_out is not None:
        bench_out.mkdir(parents=True, exist_ok=True)
        t.write(bench_out / "transcript.jsonl")


@pytest.fixture
async def modem(
    modem_url: str,
    bench_policy: safety.DialPolicy | None,
    transcript: Transcript,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Modem]:
    """An initialised driver on `modem_url` (a virtual modem gets its operator network)."""
    modem_url = recorded_url(modem_url, request)
    profile = driver_profile_for(modem_url, _option(request.config, "--modem-profile"))
    replaying: ReplayTransport | None = None
    if is_replay(modem_url):
        recorded = recording_of(modem_url).script
        if recorded is not None:  # a script's run: this test sends its own commands
            pytest.skip(f"{modem_url}: a recording of the script {recorded}, not of {request.node.name}")
        transport, replaying = open_replay(modem_url)
        binding = None
    elif safety.is_virtual(modem_url):
        transport, binding = await open_bound_virtual(modem_url, "business-m2m-dtmf")
    else:
        transport, binding = await open_transport(modem_url), None
    client = RecordingClient(transport, transcript)
    client.start()
    driver = Modem(client, profile, bench_policy)
    came: list[int] = []
    tested = False  # the test has the modem (the set-up done)
    setup = asyncio.current_task()
    assert setup is not None
    stop: list[Callable[[], object]] = [setup.cancel]  # set up: the set-up cancelled, the modem closed
    try:
        with on_stop_signals(lambda: stop[0]()) as came:
            try:
                await client.initialise()
                if checks_auto_answer(modem_url, bench_policy, replaying):
                    await driver.calls.auto_answer_off()  # (a stored S0 > 0: set to 0, and after any ATZ)
                checks = replaying is None and not _option(request.config, "--no-forwarding-check")
                if checks and safety.is_physical(modem_url) and isinstance(client.guard, safety.CommandGuard):
                    client.guard.hold(stored.FIXTURE_NOT_CHECKED)  # until the test's check_stored
            except asyncio.CancelledError:
                if not came:
                    raise
                setup.uncancel()
            else:
                own = asyncio.all_tasks()  # the client's reader, a virtual modem's: not the test's

                def cancel_test() -> None:  # the test's tasks cancelled, the modem's left to hang up
                    for task in asyncio.all_tasks():
                        if task not in own:
                            task.cancel()

                stop[0] = cancel_test
                tested = True
                try:
                    yield driver
                finally:
                    if came:  # the test was cancelled: hang up before the session ends
                        with (
                            contextlib.suppress(TimeoutError),
                            transcript.step("release", reason="interrupted"),
                        ):
                            await release_lines(client, lambda text: transcript.record("note", text=text))
    finally:
        await driver.close()
        if binding is not None:
            binding.close()
    if came and not tested:
        _terminated(modem_url, came[0], "before the test, no call up: the modem closed")
    if came:
        _terminated(modem_url, came[0])


@pytest.fixture
def run_script(
    modem_url: str,
    bench_allow_list: BenchAllowList | None,
    bench_out: Path | None,
    request: pytest.FixtureRequest,
) -> RunScript:
    """`await run_script("register", timeout=30)`: the script's result on `modem_url`.

    A texting or calling script on a physical modem without `--allow-list` is skipped (with the
    refusal as the reason): the bench never texts or calls a number it was not given.
    """

    async def run(script: str, **params: Any) -> BenchResult:
        url = recorded_url(modem_url, request)
        if is_replay(url):
            recorded = recording_of(url).script
            if recorded is not None and recorded != script:
                pytest.skip(f"{url}: a recording of {recorded}, not of {script}")
        if bench_out is not None:  # the transcript goes there as the run goes: a test cut short keeps it
            bench_out.mkdir(parents=True, exist_ok=True)
            # before the modem is opened (the reports were refused once the script had run on it)
            for name, own in REPORT_FILES.items():
                refuse_foreign(bench_out / name, own, forceable=False)
        task = asyncio.current_task()
        assert task is not None
        came: list[int] = []
        try:
            # SIGINT / SIGTERM / SIGHUP cancel the run, which hangs up and releases on its way out
            # (`run_bench`)
            with on_stop_signals(task.cancel) as came:
                result = await run_bench(
                    script,
                    url,
                    allow_list=bench_allow_list,
                    profile=_option(request.config, "--modem-profile"),
                    params=params,
                    out=bench_out,
                    check_forwarding=not _option(request.config, "--no-forwarding-check"),
                )
        except safety.NoDialPolicy as exc:
            pytest.skip(str(exc))
        except asyncio.CancelledError:
            if not came:
                raise
            task.uncancel()
            _terminated(url, came[0])
        if bench_out is not None:
            result.write(bench_out)
        return result

    return run
