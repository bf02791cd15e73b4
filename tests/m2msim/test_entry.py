"""The `m2msim` program's own start (`m2msim.entry`): what it sets before any command's modules load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from m2msim import entry


def _threads_after_numpy(setup: str) -> int:
    """The threads a fresh interpreter runs once `setup` has run and NumPy is imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    code = f"{setup}\nimport os, numpy\nprint(len(os.listdir('/proc/self/task')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="no /proc to count a process's threads")
def test_numpy_starts_no_blas_threads_under_m2msim() -> None:
    """NumPy's BLAS threads (one per core, spinning at first) are not started by any command."""
    assert _threads_after_numpy("from m2msim.entry import no_blas_threads\nno_blas_threads()") == 1
    if (os.cpu_count() or 1) > 1:  # the comparison: without it, NumPy's import starts them
        assert _threads_after_numpy("") > 1


def test_the_users_own_blas_setting_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    entry.no_blas_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    entry.no_blas_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def _cpuinfo(vendor: str, family: int, flags: str) -> str:
    block = f"processor\t: {{n}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 17\nflags\t\t: {flags}\n"
    return "\n".join(block.format(n=n) for n in range(2))  # blocks parted by a blank line


_AVX512 = "fpu sse sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl"


@pytest.mark.parametrize(
    ("vendor", "family", "flags", "slow"),
    [
        ("AuthenticAMD", 25, _AVX512, True),  # Zen 4 (EPYC Genoa, Ryzen 7000)
        ("AuthenticAMD", 25, "fpu sse sse2 avx avx2", False),  # Zen 3: no AVX-512
        ("AuthenticAMD", 26, _AVX512, False),  # Zen 5: a compress store at full speed
        ("GenuineIntel", 6, _AVX512, False),  # Intel's cores: AVX-512 sorts are their fastest
        ("AuthenticAMD", 25, _AVX512.replace("avx512f ", ""), False),
    ],
)
def test_only_zen_4_is_taken_for_a_cpu_of_slow_avx512_sorts(
    vendor: str, family: int, flags: str, slow: bool
) -> None:
    assert entry.slow_compress_store(_cpuinfo(vendor, family, flags)) is slow
    assert entry.slow_compress_store("") is False


def test_the_avx512_paths_are_named_as_the_installed_numpy_names_them() -> None:
    assert (
        entry.numpy_avx512_paths("2.4.6")
        == entry.numpy_avx512_paths("3.0.0")
        == "X86_V4 AVX512_ICL AVX512_SPR"
    )
    older = entry.numpy_avx512_paths("2.3.5")
    assert older is not None and "AVX512F" in older.split() and "X86_V4" not in older.split()
    assert entry.numpy_avx512_paths("1.26.4") == older
    assert entry.numpy_avx512_paths("dev") is None


def _numpy_features(env: dict[str, str]) -> dict[str, bool]:
    """NumPy's CPU features in a fresh interpreter under `env`, ImportWarnings as errors (a name
    NumPy does not know in NPY_DISABLE_CPU_FEATURES is one)."""
    code = "import json, numpy\nfrom numpy._core import _multiarray_umath as m\nprint(json.dumps(m.__cpu_features__))"
    done = subprocess.run(
        [sys.executable, "-W", "error::ImportWarning", "-c", code], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    import json

    features: dict[str, bool] = json.loads(done.stdout)
    return features


def test_on_zen_4_numpy_is_told_to_sort_on_its_avx2_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a Zen 4's cpuinfo, the variable names the installed NumPy's AVX-512 paths, which it
    takes without a warning and turns off; another CPU's leaves NumPy as it is."""
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    intel = tmp_path / "intel"
    intel.write_text(_cpuinfo("GenuineIntel", 6, _AVX512), encoding="utf-8")
    entry.sorts_without_slow_avx512(str(intel))
    assert "NPY_DISABLE_CPU_FEATURES" not in os.environ
    zen4 = tmp_path / "zen4"
    zen4.write_text(_cpuinfo("AuthenticAMD", 25, _AVX512), encoding="utf-8")
    entry.sorts_without_slow_avx512(str(zen4))
    names = os.environ["NPY_DISABLE_CPU_FEATURES"].split()
    features = _numpy_features(dict(os.environ))
    named = [n for n in names if n in features]
    assert named, f"none of {names} is a feature NumPy knows"
    assert not any(features[n] for n in named)
    if os.path.exists("/proc/cpuinfo") and "avx512f" in Path("/proc/cpuinfo").read_text(encoding="utf-8"):
        env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
        assert any(_numpy_features(env)[n] for n in named)  # on by default on this CPU: the setting did it


def test_the_users_own_numpy_cpu_setting_stands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zen4 = tmp_path / "zen4"
    zen4.write_text(_cpuinfo("AuthenticAMD", 25, _AVX512), encoding="utf-8")
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "")
    entry.sorts_without_slow_avx512(str(zen4))
    assert os.environ["NPY_DISABLE_CPU_FEATURES"] == ""
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES")
    entry.sorts_without_slow_avx512(str(tmp_path / "absent"))  # no cpuinfo: NumPy as it is
    assert "NPY_DISABLE_CPU_FEATURES" not in os.environ


_JEMALLOC_ROUNDS = """
import resource, sys
import numpy as np, pyarrow as pa
pool = pa.jemalloc_memory_pool()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
size = 32 << 20
b = pa.allocate_buffer(size, memory_pool=pool)
np.frombuffer(b, np.uint8)[:] = 1
del b
f0 = faults()
for _ in range(10):  # buffers of a pass's size, each freed before the next is made
    b = pa.allocate_buffer(size, memory_pool=pool)
    np.frombuffer(b, np.uint8)[:] = 1
    del b
print((faults() - f0) / 10, size // 4096)
"""


def _jemalloc_rounds(env: dict[str, str]) -> tuple[float, int]:
    """(page faults per buffer of 32 MiB made after one was freed, the buffer's pages) in a
    fresh interpreter under `env`."""
    done = subprocess.run([sys.executable, "-c", _JEMALLOC_ROUNDS], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    faults, pages = done.stdout.split()
    return float(faults), int(pages)


@pytest.mark.skipif(sys.platform != "linux", reason="page faults counted as Linux counts them")
def test_the_pass_pool_lends_a_freed_buffers_pages_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under m2msim's setting, a buffer freed in pyarrow's jemalloc pool lends its pages to the
    next (no page faulted in again); under pyarrow's own, each new buffer of that size faults
    every page in."""
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow is built without jemalloc")
    monkeypatch.delenv(entry.ARROW_JEMALLOC, raising=False)
    own = dict(os.environ)
    entry.arrow_keeps_freed_pages()
    faults, pages = _jemalloc_rounds(dict(os.environ))
    assert faults < pages / 10
    faults, pages = _jemalloc_rounds(own)
    assert faults > pages / 2
    monkeypatch.setenv(entry.ARROW_JEMALLOC, "narenas:2")
    entry.arrow_keeps_freed_pages()
    assert os.environ[entry.ARROW_JEMALLOC] == "narenas:2"  # the user's own setting stands


# A module-level object whose finalizer reports the interpreter's teardown (module globals
# cleared), then the program as the console script runs it.
_RUN_AND_TELL = """
import sys
class Teardown:
    def __del__(self):
        sys.stderr.write("TEARDOWN\\n")
tell = Teardown()
sys.argv = ["m2msim", *sys.argv[1:]]
from m2msim.entry import console
console()
"""


def test_run_leaves_without_the_interpreters_teardown(tmp_path: Path) -> None:
    """`m2msim run` leaves once its outputs are written and its workers joined (exit functions run,
    streams flushed): its objects are not freed one by one (0.1 s after a 10,000-device month)."""
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"
    out = tmp_path / "run"
    argv = [sys.executable, "-c", _RUN_AND_TELL, "run", str(scenario), "--days", "1", "--max-lines", "8"]
    argv += ["--shard-devices", "4", "--workers", "2", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "TEARDOWN" not in done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("simulated in")  # (stdout flushed whole)
    assert (out / "report.html").is_file() and (out / "invoice.json").is_file()
    # the control: a command that does not leave at once frees its objects
    listed = subprocess.run(
        [sys.executable, "-c", _RUN_AND_TELL, "--version"], capture_output=True, text=True
    )
    assert "TEARDOWN" in listed.stderr
