"""The `m2msim` program itself (`m2msim` on the PATH, `python -m m2msim`).

Three things `m2msim.cli.main` cannot do, since tests also call it in their own process:

- SIGINT, SIGTERM and SIGHUP (unless ignored: `nohup`) are handled from the program's first line,
  before the command's modules are imported: a signal then ends the program with the same one line
  and exit status (130 / 143 / 129), never a traceback from the middle of an import (nothing has
  been written yet, nothing to undo);
- a command that only computes and writes its outputs (`rate`, `compare`, the SMS codecs: every
  file written whole and closed) leaves without the interpreter's teardown of its objects;
- once the command has returned, these signals are ignored: the command has already cleaned up
  after itself (temporary files, worker processes, locks), and the interpreter's own shutdown must
  not turn a late signal into an ending with no word and exit status -2.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import signal
import sys
import threading
from types import FrameType


def _early(signum: int, frame: FrameType | None) -> None:
    command = " ".join(["m2msim", *[w for w in sys.argv[1:] if not w.startswith("-")][:1]])
    with contextlib.suppress(OSError):  # (a terminal that is gone: EIO)
        os.write(2, f"{command}: interrupted ({signal.Signals(signum).name})\n".encode())
    os._exit(128 + signum)


def no_blas_threads() -> None:
    """m2msim does no linear algebra: without this, importing NumPy starts OpenBLAS's threads, one
    per core, which spin waiting for work for their first 0.1 s (0.09 CPU-s of every command that
    imports NumPy, on the core its own work would have).  Before NumPy is imported (here and in
    the processes started after); the user's own setting stands."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# NumPy's names of its AVX-512 code paths: grouped as X86_V4 from NumPy 2.4, one by one before.
_AVX512_PATHS = "X86_V4 AVX512_ICL AVX512_SPR"
_AVX512_PATHS_BEFORE_2_4 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"


def slow_compress_store(cpuinfo: str) -> bool:
    """Whether the CPU of this `/proc/cpuinfo` text is an AMD Zen 4 with AVX-512 (family 25).

    Zen 4 runs AVX-512 well but for one instruction: a compress stored straight to memory
    (`vpcompressq` with a memory operand) is microcoded, about 140 cycles where Intel's cores take
    a few.  NumPy's sorts and selections (x86-simd-sort) store every vector of a partition so, and
    sort 5 to 6 times slower there than on the AVX2 path: 30 M 64-bit values in 2.1-2.2 s against
    0.36-0.40 s on the same core (an EPYC, family 25 model 17).  Zen 3 has no AVX-512; Zen 5
    (family 26) stores a compress at full speed.
    """
    head = cpuinfo.split("\n\n", 1)[0]  # the first processor's block
    fields = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return (
        fields.get("vendor_id") == "AuthenticAMD"
        and fields.get("cpu family") == "25"
        and "avx512f" in fields.get("flags", "").split()
    )


def numpy_avx512_paths(numpy_version: str) -> str | None:
    """The value of `NPY_DISABLE_CPU_FEATURES` that turns NumPy `numpy_version`'s AVX-512 paths off
    (the names it knows: an unknown name gives an ImportWarning, an error under `-W error`)."""
    parts = numpy_version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None
    if (major, minor) >= (2, 4):
        return _AVX512_PATHS
    return _AVX512_PATHS_BEFORE_2_4 if major >= 1 else None


def _numpy_version() -> str | None:
    """The installed NumPy's version without importing it (`importlib.metadata` alone costs 25 ms
    of start-up): from its `version.py`."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("numpy")
    if spec is None or spec.origin is None:
        return None
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    found = re.search(r"^version(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return found.group(1) if found else None


def sorts_without_slow_avx512(cpuinfo_path: str = "/proc/cpuinfo") -> None:
    """On a CPU whose AVX-512 sorts are slow (`slow_compress_store`), NumPy is told to use its AVX2
    paths: before NumPy is imported (here and in the processes started after); the user's own
    `NPY_DISABLE_CPU_FEATURES` stands.  The proof of a 30 M-row month sorts 30 M hashes: a text-start
    Parquet month rated in 3.35 s against 4.62 on a Zen 4; a simulated month unchanged (4.92 s
    against 5.04), its other NumPy work no slower on AVX2 there."""
    if "NPY_DISABLE_CPU_FEATURES" in os.environ:
        return
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            cpuinfo = f.read(1 << 16)
    except OSError:  # no /proc (macOS, Windows): NumPy as it is
        return
    if not slow_compress_store(cpuinfo):
        return
    version = _numpy_version()
    paths = numpy_avx512_paths(version) if version is not None else None
    if paths is not None:
        os.environ["NPY_DISABLE_CPU_FEATURES"] = paths


# jemalloc's options for pyarrow's copy of it (read once, at its first allocation).
ARROW_JEMALLOC = "JE_ARROW_MALLOC_CONF"
KEEP_FREED_PAGES = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def arrow_keeps_freed_pages() -> None:
    """pyarrow's jemalloc pool, which only m2msim's passes use (`accounting.usage_arrow.pass_pool`;
    the default pool stays mimalloc), keeps the pages of the buffers a pass frees for the buffers
    it makes next.  With jemalloc's decay as pyarrow sets it (1 s), each buffer of 8 MiB or more
    (a row group's column chunk, a text column's values as they grow) went back to the kernel as
    soon as it was freed and was faulted in again page by page when the next one was made: a
    text-start month of 30 M rows took 413,000 page faults and 1.14 s in the kernel, now 291,000
    and 0.93 s (3.27-3.30 s against 3.11-3.14 s in all; a CSV month 6-8 % sooner).  jemalloc gives
    such pages back only by decay, which this turns off, and pyarrow's `release_unused` purges
    none: the process keeps them until it ends (a text-start month: 772 MiB resident after the
    rating against 530, its peak 1.16 GiB against 1.02).  Every command that runs a pass ends
    after it.  Before pyarrow is imported; the user's own setting stands."""
    os.environ.setdefault(ARROW_JEMALLOC, KEEP_FREED_PAGES)


def libraries_as_m2msim_runs_them() -> None:
    """What every command sets before NumPy and pyarrow load: no BLAS threads, no slow AVX-512
    sorts, the pass pool's freed pages kept for its next buffers."""
    no_blas_threads()
    sorts_without_slow_avx512()
    arrow_keeps_freed_pages()


def stdout_buffered() -> None:
    """Standard output written through a buffer even when Python is told not to buffer it
    (`PYTHONUNBUFFERED=1`, `python -u`, as container images and CI runners set it).  Unbuffered,
    a text written in one piece goes to the system in one write, and a write into a pipe whose
    reader went away (`| head`) returned what the pipe had taken: the rest was dropped without an
    error, and `rate --json | head` ended with status 0 and a cut invoice instead of 141.  A buffer
    writes until all is written or the write fails.  Flushed at each line end written, as the
    user who asked for no buffering expects to see the lines as they come."""
    raw = getattr(sys.stdout, "buffer", None)
    if not isinstance(raw, io.RawIOBase):  # buffered already, or not a file (replaced)
        return
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stdout = open(  # noqa: SIM115 (for the program's life; sys.__stdout__ keeps the original)
            raw.fileno(),
            "w",
            buffering=1,  # (text: at each line end)
            encoding=sys.stdout.encoding,
            errors=sys.stdout.errors,
            newline="\n",
            closefd=False,
        )


def names_print_as_given() -> None:
    """File names print on stdout as they were given: a name whose bytes are not UTF-8 (a Latin-1
    `relev\xe9.csv`) comes back from the system as text with surrogates, which a UTF-8 locale's
    stdout refused ("surrogates not allowed", a traceback after the work was done and its output
    written).  They are written as their own bytes, as `ls` shows them; stderr already writes them
    escaped (`\udce9`)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="surrogateescape")


def console() -> None:
    """Run the command line in this process and exit with its status."""
    stopping = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # (`nohup m2msim ...`: left ignored)
        stopping.append(signal.SIGHUP)
    for sig in stopping:
        signal.signal(sig, _early)
    libraries_as_m2msim_runs_them()
    stdout_buffered()
    names_print_as_given()
    from m2msim.cli import ends_at_once, main
    from m2msim.signals import received, signal_of

    try:
        status = main()
    except KeyboardInterrupt as exc:  # a signal outside the command's own handling
        _early(signal_of(exc), None)
    # The command is over: its outputs are whole, its processes gone. A signal from now on changes
    # nothing; ignored (not merely handled), it is also left ignored by the interpreter's shutdown,
    # which would otherwise put SIGINT back to its default action (a late Ctrl-C would then kill
    # the program with no word and exit status -2, after a complete run).
    for sig in stopping:
        signal.signal(sig, signal.SIG_IGN)
    if (status in (129, 130, 143) and received() is not None) or ends_at_once(sys.argv[1:]):
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> None:
    """What the interpreter's shutdown does for us (threads joined, exit functions run: logging,
    temporary folders, worker processes; the streams flushed), then leave without the rest.

    For an interrupted command: CPython remembers a KeyboardInterrupt raised inside code some
    extension module ran at import (PyRun_String) even after the command caught it, and its shutdown
    then kills the program with SIGINT (exit -2).  For a command of `ends_at_once`: the rest of the
    shutdown frees every object one by one and collects the cycles of a process about to end (0.02
    CPU-s after rating a 10,000-line month; the start-up target is 0.3 s).
    """
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is not None:
        shutdown_threads()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
