"""Commands interrupted at an event, and what they must leave (docs/reliability.md, "The contract").

A `Case` is one command line with its outputs.  `attack` runs it once to its end (the previous
output), then again, and delivers a signal when a chosen event is reached: the program handles its
signals (it has started), or a name matching a pattern appears in a folder (a temporary file, a
lock, a run's temporary folder: watched with inotify, never a sleep).  Then it checks:

1. each output holds the whole previous content, the whole new one, or nothing: never a part;
2. nothing temporary is left beside it but what the contract keeps after a SIGKILL (and the
   folder of a killed run is refused by its readers);
3. no process of the command is left: every process that inherited the case's token in its
   environment (workers, a resource tracker, children that left the process group);
4. exit status 128 + the signal, with one line on stderr, `m2msim CMD: interrupted (SIGX)...`
   (0 if it had ended before the event);
5. a later run into the same outputs works and leaves nothing temporary behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from filewatch import IN_CREATE, IN_MOVED_TO, _inotify
from processes import _wait_ended, wait_for_handler

# what a killed process may leave beside its output, by the contract (docs/reliability.md, point 3)
KILL_LEFTOVERS = re.compile(
    r"\.m2msim-.*(\.tmp-.*|\.lock|\.rec-.*|\.pcap-.*|\.open-.*)|.*\.recovered-.*|\.m2msim-unfinished\.json"
)
# what a finished or interrupted process leaves in a run folder (its list of files)
RUN_FILES = {".m2msim-run.json"}


@dataclass
class Case:
    """One command: `argv` (after `m2msim`), its outputs, and the events where it may be stopped."""

    name: str
    argv: list[str]
    outputs: list[Path]
    # (folder, pattern): a name matching `pattern` appears in `folder`
    events: list[tuple[Path, str]] = field(default_factory=list)
    ok: tuple[int, ...] = (0,)  # exit status of a whole run
    timeout: float = 120.0
    # a live process's side: e.g. a client that makes a served modem write something
    drive: Callable[[subprocess.Popen[bytes]], None] | None = None
    # outputs whose content differs from run to run (a time in each line): index -> whether the
    # bytes are a whole output of that kind
    volatile: dict[int, Callable[[bytes], bool]] = field(default_factory=dict)

    @property
    def command(self) -> str:
        words = self.argv[:2] if self.argv[0] == "modem" else self.argv[:1]
        return " ".join(words)


def token_processes(token: str) -> list[int]:
    """Live processes whose environment holds `M2MSIM_HUNT=token` (not zombies)."""
    found = []
    needle = f"M2MSIM_HUNT={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if needle not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            found.append(int(entry))
    return found


def snapshot(path: Path) -> dict[str, bytes] | None:
    """The output's content: a file's bytes, a folder's files (relative names), None if absent."""
    if not path.exists():
        return None
    if path.is_file() or not path.is_dir():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name not in RUN_FILES
    }


def stray(case: Case, killed: bool) -> list[str]:
    """m2msim's temporary names beside (or inside) the outputs; after a SIGKILL, those the
    contract does not keep."""
    names: list[str] = []
    folders = {out.parent for out in case.outputs} | {out for out in case.outputs if out.is_dir()}
    for folder in folders:
        if not folder.is_dir():
            continue
        for name in os.listdir(folder):
            if not (name.startswith(".m2msim-") or ".recovered-" in name) or name in RUN_FILES:
                continue
            if killed and KILL_LEFTOVERS.fullmatch(name):
                continue
            names.append(str(folder / name))
    return sorted(names)


class Run:
    """A command in its own session, every process of it marked by a token in its environment."""

    def __init__(self, case: Case, token: str) -> None:
        self.case = case
        self.token = token
        for out in case.outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
        # a TMPDIR of its own: DuckDB's spill folder, the console's folder are m2msim's to remove
        self.tmpdir = case.outputs[0].parent.parent / f"tmpdir-{token[:8]}"
        self.tmpdir.mkdir()
        env = dict(os.environ, M2MSIM_HUNT=token, PYTHONUNBUFFERED="1", TMPDIR=str(self.tmpdir))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "m2msim", *(a.replace("{run}", token[:8]) for a in case.argv)],
            stdout=subprocess.PIPE if case.drive else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )

    def reach(self, event: int) -> bool:
        """Wait for event `event` (0: the program handles its signals; k: the case's event k-1).
        False if the command ended first."""
        if not wait_for_handler(self.proc, signal.SIGTERM, timeout=self.case.timeout):
            return False
        if self.case.drive:
            self.case.drive(self.proc)
        if event == 0:
            return self.proc.poll() is None
        folder, pattern = self.case.events[event - 1]
        regex = re.compile(pattern)
        deadline = time.monotonic() + self.case.timeout
        folder.mkdir(parents=True, exist_ok=True)
        with _inotify(folder, IN_CREATE | IN_MOVED_TO) as next_names:
            while self.proc.poll() is None:
                if any(regex.search(n) for n in os.listdir(folder)):
                    return True
                assert time.monotonic() < deadline, f"{self.case.name}: no {pattern} in {folder}"
                # the event, or at most 50 ms to see whether the command has ended meanwhile
                next_names(0.05)
        return False

    def stop(self, sig: signal.Signals) -> tuple[int, list[str], float]:
        """Deliver `sig` (SIGINT and SIGHUP to the process group, as a terminal does; the others to
        the process) and wait for the end; (status, stderr lines, seconds it took)."""
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            if sig in (signal.SIGINT, signal.SIGHUP):
                os.killpg(self.proc.pid, sig)
            else:
                os.kill(self.proc.pid, sig)
        return self.finish(started)

    def finish(self, started: float | None = None) -> tuple[int, list[str], float]:
        started = time.monotonic() if started is None else started
        try:
            _, err = self.proc.communicate(timeout=self.case.timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(f"{self.case.name}: did not end in {self.case.timeout:g} s") from None
        took = time.monotonic() - started
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        return self.proc.returncode, lines, took

    def left(self) -> list[int]:
        """Processes of the command still there 3 s after its end (a worker's SIGTERM, then SIGKILL
        after 1 s, a PDEATHSIG: each takes a moment)."""
        _wait_ended(token_processes(self.token), 3.0)
        return token_processes(self.token)

    def kill_all(self) -> None:
        for pid in token_processes(self.token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        _wait_ended(token_processes(self.token), 5.0)


def complete(case: Case) -> tuple[list[dict[str, bytes] | None], list[str]]:
    """Run the case to its end: its outputs' snapshots, and its stderr lines."""
    run = Run(case, uuid.uuid4().hex)
    try:
        if case.drive:
            run.reach(0)
            run.proc.send_signal(signal.SIGINT)  # a serve ends on a signal only
        rc, err, _ = run.finish()
        assert rc in case.ok, f"{case.name}: exit {rc}: {err}"
        assert not run.left(), f"{case.name}: processes left after a whole run: {run.left()}"
        assert not os.listdir(run.tmpdir), f"{case.name}: left in TMPDIR {os.listdir(run.tmpdir)}"
    finally:
        if run.proc.poll() is None or token_processes(run.token):
            run.kill_all()
    return [snapshot(out) for out in case.outputs], err


def json_lines(data: bytes) -> bool:
    """Whole JSON lines: each one parses, the last one ends."""
    try:
        return data.endswith(b"\n") and all(json.loads(line) is not None for line in data.splitlines())
    except ValueError:
        return False


def whole(
    got: dict[str, bytes] | None, before: dict[str, bytes] | None, after: dict[str, bytes] | None
) -> bool:
    """`got` is the previous output or the new one, whole, or nothing; a file that differs between
    two whole runs (a time in it) must at least be there under the same names with some content."""
    if got is None:
        return True
    for whole_one in (before, after):
        if whole_one is None or got.keys() != whole_one.keys():
            continue
        variable = {k for k in whole_one if before and after and before.get(k) != after.get(k)}
        if all(got[k] == whole_one[k] or (k in variable and got[k]) for k in got):
            return True
    return False


def attack(case: Case, sig: signal.Signals, event: int, *, previous: bool = True) -> str:
    """One interruption of `case` by `sig` at `event`; raises AssertionError naming what broke.
    Returns what happened, for the report of a long hunt."""
    before = complete(case)[0] if previous else [None] * len(case.outputs)
    run = Run(case, uuid.uuid4().hex)
    try:
        reached = run.reach(event)
        rc, err, took = run.stop(sig) if reached else run.finish()
        left = run.left()
    finally:
        if run.proc.poll() is None or token_processes(run.token):
            run.kill_all()
    killed = reached and sig == signal.SIGKILL and rc == -signal.SIGKILL
    what = f"{case.name} {sig.name} at event {event}: exit {rc}"
    # 3. no process left
    assert not left, f"{what}: processes left: {left}"
    # 4. the status and the line
    if rc in case.ok and not case.drive:
        pass  # it ended before the signal came
    elif sig == signal.SIGKILL:
        assert rc in (-signal.SIGKILL, *case.ok), f"{what}: {err}"
    else:
        assert rc == 128 + sig, f"{what}: {err}"
        assert took < 2.5, f"{what}: took {took:.1f} s to stop"
        prefix = f"m2msim {case.command}: "
        lines = [line for line in err if not line.startswith(f"{prefix}warning")]
        assert lines and lines[-1].startswith(f"{prefix}interrupted ({sig.name})"), f"{what}: {err}"
    # 2. nothing temporary left but what the contract keeps
    if not killed:
        assert not os.listdir(run.tmpdir), f"{what}: left in TMPDIR {os.listdir(run.tmpdir)}"
    assert not stray(case, killed), f"{what}: left {stray(case, killed)}"
    interrupted = [snapshot(out) for out in case.outputs]
    # 5. a later run works, and leaves nothing behind
    after, _ = complete(case)
    assert not stray(case, killed=False), f"{what}, then a whole run: left {stray(case, killed=False)}"
    # 1. never a part
    for i, (out, got, b, a) in enumerate(zip(case.outputs, interrupted, before, after, strict=True)):
        if i in case.volatile:
            assert got is None or case.volatile[i](got[""]), f"{what}: {out} is not a whole output"
            continue
        assert whole(got, b, a), f"{what}: {out} is not a whole output: {sorted(got or {})}"
    return what
