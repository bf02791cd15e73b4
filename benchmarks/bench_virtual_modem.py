"""Virtual modem speed: AT round trips in-process, over one pty, and a fleet of modems served from one process.

Each figure comes with a baseline measured in the same run:
- in-process: the modem's feed/take_output vs. a bare function that returns a canned "OK";
- one pty: the virtual modem served by `PtyEndpoint` (asyncio, in a child process) vs. a bare
  responder on the same kind of pty and loop that answers every line with OK without parsing it;
- a fleet: `m2msim modem serve --count N` (one process, ptys or `--tcp 0`) vs. a bare responder
  serving N endpoints of the same transport from one process the same way (`ReadyHub`; every line
  answered with OK, nothing parsed).  The load comes from other processes, under two generators in
  turn, each figure labelled with its generator: benchmarks/at_load.c (compiled with the machine's C
  compiler at the start; skipped with a message when there is none), one process and one epoll loop
  that checks every answer's bytes and counts the wrong ones, and the Python one (`LOADERS`
  processes, each driving a share of the modems from one epoll loop, answers not checked).  Counted
  from `RUN_IN_S` on (the modems are registered by then): every modem has one command outstanding
  and the next one is sent when the answer's final result has arrived, as an AT client does, cycling
  through a mix of read commands (`MIX`).  Printed: aggregate commands/s, per modem (slowest and median), the CPU use (100 % = one
  core) of the server, of the load processes and of the whole machine (everything it ran, the
  kernel's workers and other users' work included) with its load average, and the CPU microseconds
  per command of the server and of the load separately;
- sockets (benchmarks/virtual_sockets.py): real TCP through one modem's pty at >= 10 MB/s with
  network conditions off, and 100 modems each with an open socket served by one process;
- the network conditions' shaper (`modem.virtual.conditions`): time per packet of a stream send and
  of a datagram on the gprs preset (lossy), against the bare arithmetic `now + size * 8 / rate`, and
  the cost of a modem's `Link` against building the modem.
Targets: >= 2,000 round trips/s over one pty; 1,000 modems from one process answering >= 100
commands/s each.  `python -m benchmarks.bench_virtual_modem bare pty|tcp N` runs the bare responder
alone (the fleet's baseline server); `... fleet pty|tcp [N SECONDS REPEAT]` the fleet figures alone.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks.virtual_sockets import Served, rss_kb
from modem.profiles import load_profile
from modem.virtual.core import VirtualModem
from modem.virtual.serving import FDS_SPARE, ReadyHub, fds_needed, loop_factory, raise_fd_limit, run_served

COMMANDS = (b"AT\r", b"AT+CSQ\r", b"AT+CREG?\r", b"AT+CGMI\r")
MIX = (b"AT\r", b"AT+CSQ\r", b"AT+CREG?\r", b"AT+CGATT?\r", b"AT+COPS?\r", b"AT+CGREG?\r")
TERMINATORS = (b"OK\r\n", b"ERROR\r\n")
FLEET_PROFILE = "simcom-sim800"
LOADERS = 2
RUN_IN_S = 3.0  # before counting: the profile's network search (2 s) and each client's first round of MIX
ROOT = Path(__file__).resolve().parents[1]
LOAD_C = Path(__file__).with_name("at_load.c")  # the load generator in C (compiled at benchmark time)
LOADS = ("c", "python")  # which load generator drives the fleet


def _bare_answer(fd: int) -> Callable[[], None]:
    """Read `fd`, answer every line with OK (nothing parsed); a closed TCP client is dropped."""

    def answer() -> None:
        data = os.read(fd, 65536)
        if data:
            os.write(fd, b"\r\nOK\r\n" * data.count(b"\r"))
        else:
            ReadyHub.of(asyncio.get_running_loop()).remove(fd)
            os.close(fd)

    return answer


def _bare_pty(loop: asyncio.AbstractEventLoop) -> str:
    """A pty on `loop` that answers every line with OK, parsing nothing; the slave's path.  Its master
    is served as the modems' are (`ReadyHub`)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    ReadyHub.of(loop).add(master, _bare_answer(master))
    return os.ttyname(slave)


def _bare_tcp(loop: asyncio.AbstractEventLoop) -> str:
    """A loopback TCP port on `loop` answering every line with OK, its clients served as the modems'."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)

    def accept() -> None:
        client, _ = listener.accept()
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = client.detach()
        ReadyHub.of(loop).add(fd, _bare_answer(fd))

    loop.add_reader(listener.fileno(), accept)
    return f"socket://127.0.0.1:{listener.getsockname()[1]}"


def _serve(kind: str, count: int, conn: Connection) -> None:
    async def main() -> None:
        from modem.virtual.clock import LoopClock
        from modem.virtual.server import PtyEndpoint

        loop = asyncio.get_running_loop()
        clock = LoopClock(loop)
        closers = []
        paths = []
        profile = load_profile("simcom-sim800")
        for i in range(count):
            if kind == "modem":
                ep = PtyEndpoint(VirtualModem(profile, seed=1, index=i, now=clock.now()), clock)
                closers.append(ep.close)
                paths.append(ep.path)
            else:
                paths.append(_bare_pty(loop))
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(paths)
        await stop.wait()
        for close in closers:
            close()
        conn.send(rss_kb())

    asyncio.run(main())


def _round_trip(fd: int, cmd: bytes) -> None:
    buf = b""
    os.write(fd, cmd)
    while not buf.endswith(TERMINATORS):
        buf += os.read(fd, 4096)


def one_pty(kind: str, n: int) -> float:
    served = Served(kind, 1, _serve)
    try:
        fd = served.fds[0]
        if kind == "modem":
            _round_trip(fd, b"ATE0\r")  # boot URCs, then the ATE0 answer
        for i in range(50):
            _round_trip(fd, COMMANDS[i % 4])
        t0 = time.perf_counter()
        for i in range(n):
            _round_trip(fd, COMMANDS[i % 4])
        return n / (time.perf_counter() - t0)
    finally:
        served.close()


def in_process(n: int) -> tuple[float, float]:
    m = VirtualModem(load_profile("simcom-sim800"))
    m.take_output(0.0)
    m.feed(b"ATE0\r", 0.0)
    m.take_output()
    t0 = time.perf_counter()
    for i in range(n):
        m.feed(COMMANDS[i % 4], 1.0)
        m.take_output()
    modem_rate = n / (time.perf_counter() - t0)

    def canned(data: bytes) -> bytes:
        return b"\r\nOK\r\n" if data.endswith(b"\r") else b""

    t0 = time.perf_counter()
    for i in range(n):
        canned(COMMANDS[i % 4])
    return modem_rate, n / (time.perf_counter() - t0)


def shaper(n: int) -> tuple[float, float, float, float, float]:
    """(stream ns/packet, datagram ns/packet, bare ns/packet, Link µs, VirtualModem µs)."""
    from modem.virtual.conditions import Link, preset

    gprs = preset("gprs")
    link = Link(gprs, "bench")
    t0 = time.perf_counter()
    for i in range(n):
        link.up.send(i * 0.1, 1500)
    stream = (time.perf_counter() - t0) / n * 1e9
    t0 = time.perf_counter()
    for i in range(n):
        link.down.send_datagram(i * 0.1, 1500)
    datagram = (time.perf_counter() - t0) / n * 1e9
    rate = gprs.up_bps or 1.0
    t0 = time.perf_counter()
    for i in range(n):
        _ = i * 0.1 + 1500 * 8 / rate
    bare = (time.perf_counter() - t0) / n * 1e9
    k = max(1, n // 100)
    t0 = time.perf_counter()
    for i in range(k):
        Link(gprs, i)
    make_link = (time.perf_counter() - t0) / k * 1e6
    profile = load_profile("simcom-sim800")
    t0 = time.perf_counter()
    for i in range(k):
        VirtualModem(profile, index=i)
    make_modem = (time.perf_counter() - t0) / k * 1e6
    return stream, datagram, bare, make_link, make_modem


def core_cpu(modems: int, n: int, memo: bool = True) -> float:
    """CPU microseconds per command of the modem core alone, `modems` modems answering `MIX` in turn
    (`memo` False: every line interpreted, the memo of answers turned off by a line observer)."""
    profile = load_profile(FLEET_PROFILE)
    fleet = [VirtualModem(profile, index=i) for i in range(modems)]
    for m in fleet:
        if not memo:
            m.on_line = _ignore
        m.take_output(0.0)
        m.feed(b"ATE0\r", 0.0)
        m.take_output()
    t0 = time.process_time()
    for i in range(n):
        m = fleet[i % modems]
        m.feed(MIX[(i // modems) % len(MIX)], 1.0)
        m.take_output()
    return (time.process_time() - t0) / n * 1e6


def _ignore(line: str) -> None:
    pass


# ----- a fleet served from one process, load from others -------------------------------------------------


def bare_main(kind: str, count: int) -> None:
    """The fleet's baseline server: `count` endpoints answering every line with OK, paths on stdout."""
    raise_fd_limit(fds_needed(count, kind == "tcp"))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        paths = [(_bare_tcp if kind == "tcp" else _bare_pty)(loop) for _ in range(count)]
        print("\n".join(paths), flush=True)
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
        await stop

    run_served(main())  # on the loop `m2msim modem serve` runs on


def _open_endpoint(path: str) -> int:
    if path.startswith("socket://"):
        host, _, port = path.removeprefix("socket://").rpartition(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock.detach()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load(paths: Sequence[str], conn: Connection) -> None:
    """A load process: one AT client per path, each waiting for its answer before the next command.

    Kept cheap, as it shares the cores with the server: one epoll set, and per answer one read, a
    test of its last bytes and one write of the next command (the commands of each client pre-made
    as one cycle, its position in a list indexed by descriptor)."""
    raise_fd_limit(len(paths) + FDS_SPARE)
    fds = [_open_endpoint(p) for p in paths]
    for fd in fds:
        _round_trip(fd, b"ATE0\r")  # echo off, as drivers do; the boot URCs come before its answer
        os.set_blocking(fd, False)
    ep = select.epoll()
    top = max(fds) + 1
    bufs = [b""] * top
    step = [0] * top  # commands answered (the next command is MIX[step % len(MIX)])
    for fd in fds:
        ep.register(fd, select.EPOLLIN)
    conn.send("ready")
    t0, t1 = conn.recv()
    for k, fd in enumerate(fds):
        step[fd] = k
        os.write(fd, MIX[k % len(MIX)])
    n_mix = len(MIX)
    read, write, poll = os.read, os.write, ep.poll
    counted = list(step)  # the steps when counting starts
    counting = False
    cpu0 = 0.0
    while True:
        now = time.time()
        if not counting and now >= t0:
            counting, cpu0 = True, _cpu_self()
            counted = list(step)
        if now >= t1:
            break
        for fd, _ in poll(min(t1 - now, 0.05)):
            buf = read(fd, 4096)
            if bufs[fd]:
                buf = bufs[fd] + buf
            if buf.endswith(TERMINATORS):
                bufs[fd] = b""
                k = step[fd] + 1
                step[fd] = k
                write(fd, MIX[k % n_mix])
            else:
                bufs[fd] = buf
    cpu = _cpu_self() - cpu0
    ep.close()
    for fd in fds:
        os.close(fd)
    conn.send(([step[fd] - counted[fd] for fd in fds], cpu))


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (every process, the kernel's workers)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class FleetRun:
    rate: float  # commands/s, all modems
    slowest: float  # commands/s of the slowest modem
    median: float  # commands/s, median modem
    server_cpu: float  # cores (1.0 = one core busy all the time)
    load_cpu: float  # cores, all load processes
    machine: float = 0.0  # cores busy on the whole machine (these processes, the kernel's, everyone else's)
    loadavg: float = 0.0  # the 1-minute load average at the end
    wrong: int | None = None  # answers whose bytes were not the command's (None: not checked)

    @property
    def per_server_cpu(self) -> float:
        return self.rate / self.server_cpu if self.server_cpu else 0.0

    @property
    def server_us(self) -> float:
        """Server CPU microseconds per command (user + system)."""
        return self.server_cpu / self.rate * 1e6 if self.rate else 0.0

    @property
    def load_us(self) -> float:
        """Load processes' CPU microseconds per command."""
        return self.load_cpu / self.rate * 1e6 if self.rate else 0.0


def build_c_load(folder: Path) -> Path | None:
    """benchmarks/at_load.c compiled into `folder`; None when no C compiler is found."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    binary = folder / "at_load"
    done = subprocess.run([cc, "-O2", "-o", str(binary), str(LOAD_C)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cc} {LOAD_C}: {done.stderr.strip()[-2000:]}")
    return binary


def fleet(
    command: list[str], count: int, seconds: float, loaders: int = LOADERS, c_load: Path | None = None
) -> FleetRun:
    """Start the server `command` (it prints `count` endpoint paths), load it for `seconds`, stop it.
    `c_load`: the compiled C load generator drives the modems (one process, answers checked); else
    `loaders` Python load processes."""
    with tempfile.TemporaryFile() as err:
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, start_new_session=True
        )
        try:
            assert server.stdout is not None
            paths = [server.stdout.readline().strip() for _ in range(count)]
            if not all(paths):
                server.kill()
                server.wait()
                err.seek(0)
                raise RuntimeError(f"{command}: no paths; stderr: {err.read().decode()[-2000:]}")
            if c_load is not None:
                return _drive_c(c_load, server.pid, paths, seconds, bare="bare" in command)
            return _drive(server.pid, paths, seconds, loaders)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if server.stdout is not None:
                server.stdout.close()


def _window(pid: int, t0: float, t1: float) -> tuple[float, float]:
    """(server cores, machine cores) busy from `t0` to `t1` (wall-clock times; returns after `t1`)."""
    time.sleep(max(0.0, t0 - time.time()))
    cpu0 = _proc_cpu(pid)
    busy0, total0 = _machine_busy()
    time.sleep(max(0.0, t1 - time.time()))
    server_cpu = (_proc_cpu(pid) - cpu0) / (t1 - t0)
    busy1, total1 = _machine_busy()
    cores = os.cpu_count() or 1
    machine = (busy1 - busy0) / (total1 - total0) * cores if total1 > total0 else 0.0
    return server_cpu, machine


def _run(counts: list[int], seconds: float, server_cpu: float, load_cpu: float, machine: float) -> FleetRun:
    rates = sorted(n / seconds for n in counts)
    return FleetRun(
        sum(rates), rates[0], statistics.median(rates), server_cpu, load_cpu, machine, os.getloadavg()[0]
    )


def _drive(pid: int, paths: list[str], seconds: float, loaders: int) -> FleetRun:
    ctx = mp.get_context("fork")
    conns, procs = [], []
    for i in range(loaders):
        mine, child = ctx.Pipe()
        p = ctx.Process(target=_load, args=(paths[i::loaders], child), daemon=True)
        p.start()
        conns.append(mine)
        procs.append(p)
    try:
        for c in conns:
            if c.recv() != "ready":
                raise RuntimeError("load process failed")
        t0 = time.time() + RUN_IN_S  # counting starts once the modems are registered and polled
        t1 = t0 + seconds
        for c in conns:
            c.send((t0, t1))
        server_cpu, machine = _window(pid, t0, t1)
        counts: list[int] = []
        load_cpu = 0.0
        for c in conns:
            got, cpu = c.recv()
            counts += got
            load_cpu += cpu / seconds
    finally:
        for p in procs:
            p.join(10)
    return _run(counts, seconds, server_cpu, load_cpu, machine)


def _drive_c(binary: Path, pid: int, paths: list[str], seconds: float, bare: bool) -> FleetRun:
    """The fleet driven by the C load generator (benchmarks/at_load.c): one process, one epoll loop,
    every answer's bytes checked (`--bare`: every answer must be OK)."""
    with tempfile.TemporaryDirectory(prefix="m2msim-load-") as folder:
        listing = Path(folder) / "paths"
        listing.write_text("\n".join(paths) + "\n")
        load = subprocess.Popen(
            [str(binary), str(listing), *(["--bare"] if bare else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert load.stdin is not None and load.stdout is not None
        try:
            if load.stdout.readline().strip() != "ready":
                raise RuntimeError(f"{binary}: the load generator failed (status {load.wait()})")
            t0 = time.time() + RUN_IN_S
            t1 = t0 + seconds
            load.stdin.write(f"{t0!r} {t1!r}\n")
            load.stdin.flush()
            server_cpu, machine = _window(pid, t0, t1)
            out, _ = load.communicate(timeout=60)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"{binary}: exit status {load.returncode}")
    fields = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    counts = [int(n) for n in fields["counts"].split()]
    run = _run(counts, seconds, server_cpu, float(fields["cpu"]) / seconds, machine)
    return FleetRun(
        run.rate,
        run.slowest,
        run.median,
        run.server_cpu,
        run.load_cpu,
        run.machine,
        run.loadavg,
        int(fields["wrong"]),
    )


# `python -c` for `m2msim modem serve` on asyncio's own loop even where uvloop is installed
_NO_UVLOOP = "import sys; sys.modules['uvloop'] = None; from m2msim.entry import console; console()"


def serve_command(kind: str, count: int, uvloop: bool = True) -> list[str]:
    tcp = ["--tcp", "0"] if kind == "tcp" else []
    start = ["-m", "m2msim"] if uvloop else ["-c", _NO_UVLOOP]
    return [sys.executable, *start, "modem", "serve", "--profile", FLEET_PROFILE, "--count", str(count), *tcp]


def bare_command(kind: str, count: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.bench_virtual_modem", "bare", kind, str(count)]


def _median_run(runs: list[FleetRun]) -> FleetRun:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def _show(label: str, r: FleetRun) -> str:
    checked = "" if r.wrong is None else f"  wrong answers {r.wrong}"
    return (
        f"  {label:24} {r.rate:8,.0f} commands/s  per modem slowest {r.slowest:5,.0f}/s median {r.median:5,.0f}/s  "
        f"CPU server {r.server_cpu:4.0%} load {r.load_cpu:4.0%} machine {r.machine:4.0%} (loadavg {r.loadavg:.1f})  "
        f"CPU/command: server {r.server_us:5.1f} us, load {r.load_us:5.1f} us{checked}"
    )


def _load_name(c_load: Path | None) -> str:
    if c_load is not None:
        return "load: the C generator (benchmarks/at_load.c), 1 process, every answer's bytes checked"
    return f"load: the Python generator, {LOADERS} processes, answers not checked"


def fleet_report(
    kind: str, count: int, seconds: float, repeat: int, core_us: float, c_load: Path | None
) -> None:
    """The fleet on `kind` under each load generator (the C one first when it could be built)."""
    variants = {"modems (serve)": serve_command(kind, count)}
    if loop_factory() is not asyncio.new_event_loop:
        variants["modems, asyncio's loop"] = serve_command(kind, count, uvloop=False)
    variants["bare responder"] = bare_command(kind, count)
    loop = "uvloop" if "modems, asyncio's loop" in variants else "asyncio"
    loads: list[Path | None] = [c_load, None] if c_load is not None else [None]
    for load in loads:
        runs: dict[str, list[FleetRun]] = {name: [] for name in variants}
        for _ in range(repeat):
            for name, command in variants.items():
                runs[name].append(fleet(command, count, seconds, c_load=load))
        median = {name: _median_run(r) for name, r in runs.items()}
        modem, bare = median["modems (serve)"], median["bare responder"]
        print(f"{count} modems on {kind} from one process ({loop}), median of {repeat}; {_load_name(load)}:")
        for name, r in median.items():
            print(_show(name, r))
        verdict = "meets" if modem.slowest >= 100 else "MISSES"
        us_modem, us_bare = 1e6 / modem.per_server_cpu, 1e6 / bare.per_server_cpu
        print(
            f"  ratio to the bare responder {modem.rate / bare.rate:.2f} in commands/s, "
            f"{modem.per_server_cpu / bare.per_server_cpu:.2f} per server CPU-second; "
            f"{verdict} 100 commands/s for the slowest modem"
        )
        print(
            f"  server CPU per command {us_modem:.1f} us: {us_bare:.1f} I/O and loop (the bare responder's), "
            f"{core_us:.1f} modem core (in-process, {count} modems), {us_modem - us_bare - core_us:.1f} the "
            "rest (runner, endpoint, timers, network polling)"
        )
        cores = os.cpu_count() or 1
        ceiling = cores * 1e6 / (modem.server_us + modem.load_us)
        print(
            f"  ceiling with the {cores} cores to the server and its load alone: {ceiling:,.0f} commands/s, "
            f"{ceiling / count:,.0f} per modem (CPU per command {modem.server_us:.1f} + {modem.load_us:.1f} us; "
            "the kernel's pty / TCP workers not counted)"
        )


def fleets(
    count: int, seconds: float, repeat: int, core_us: float, kinds: Sequence[str] = ("pty", "tcp")
) -> None:
    """`fleet_report` for each kind, with the C load generator when a C compiler is found."""
    with tempfile.TemporaryDirectory(prefix="m2msim-bench-") as folder:
        c_load = build_c_load(Path(folder))
        if c_load is None:
            print("fleet: no C compiler (cc, gcc) found: the C load generator is skipped, Python load only")
        for kind in kinds:
            fleet_report(kind, count, seconds, repeat, core_us, c_load)


def main(quick: bool) -> None:
    n_in, n_pty = (20_000, 2_000) if quick else (200_000, 20_000)
    count, seconds, repeat = (100, 1.0, 1) if quick else (1000, 5.0, 3)
    modem_rate, canned_rate = in_process(n_in)
    print(
        f"in-process  virtual modem {modem_rate:12,.0f} commands/s   canned-OK function {canned_rate:12,.0f}/s"
        f"   ratio {modem_rate / canned_rate:.3f}"
    )
    core_one, core_fleet = core_cpu(1, n_in), core_cpu(count, n_in)
    full_one, full_fleet = core_cpu(1, n_in, memo=False), core_cpu(count, n_in, memo=False)
    print(
        f"in-process  CPU per command (MIX): one modem {core_one:.2f} us, {count} modems in turn {core_fleet:.2f} us"
        f"   (every line interpreted, no memo: {full_one:.2f} / {full_fleet:.2f} us)"
    )
    stream, datagram, bare, make_link, make_modem = shaper(n_in)
    print(
        f"shaper      stream send {stream:8,.0f} ns/packet   datagram {datagram:8,.0f} ns   "
        f"bare arithmetic {bare:6,.0f} ns   Link {make_link:6,.1f} us of a {make_modem:7,.1f} us modem"
    )
    modem_pty = one_pty("modem", n_pty)
    bare_pty = one_pty("bare", n_pty)
    verdict = "meets" if modem_pty >= 2000 else "MISSES"
    print(
        f"one pty     virtual modem {modem_pty:12,.0f} round trips/s  bare responder {bare_pty:12,.0f}/s"
        f"   ratio {modem_pty / bare_pty:.2f}   ({verdict} the 2,000/s target)"
    )
    fleets(count, seconds, repeat, core_fleet)
    from benchmarks.virtual_sockets import report

    report(quick)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        bare_main(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["fleet"]:  # fleet KIND [COUNT SECONDS REPEAT]: the fleet figures alone
        size = [float(x) for x in sys.argv[3:6]] or [1000, 5.0, 3]
        fleets(int(size[0]), size[1], int(size[2]), core_cpu(int(size[0]), 200_000), kinds=[sys.argv[2]])
    else:
        main(quick=True)
