"""Run the benchmarks: every `benchmarks/bench_*.py` module's `main(quick)`, or the ones named."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks
from m2msim.entry import libraries_as_m2msim_runs_them


def main() -> int:
    # Before any bench module imports NumPy or pyarrow, as every `m2msim` command starts; the
    # ratings the benches run in child processes inherit it.
    libraries_as_m2msim_runs_them()
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="bench modules to run (e.g. accounting); all by default")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    found = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    wanted = [f"bench_{n.removeprefix('bench_')}" for n in args.names] or found
    missing = [n for n in wanted if n not in found]
    if missing:
        print(f"benchmarks: unknown {', '.join(missing)}; have {', '.join(found)}", file=sys.stderr)
        return 2
    for name in wanted:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"benchmarks.{name}").main(args.quick)
        print(f"== {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
