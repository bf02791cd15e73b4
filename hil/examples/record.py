"""Record the example transcripts (`hil/examples/transcripts/*.jsonl`) on the virtual modem.

    python -m hil.examples.record [FOLDER]        # make transcripts

Each is a bench run's transcript, as `m2msim bench ... --out` writes it; `replay://` answers from it
as the recorded modem did (`hil.replay`).  The runs are seeded: the commands and answers are the
same each time; only the timings differ.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from hil.bench import run_bench

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "transcripts"

# (file name, script, modem URL, parameters)
RECORDINGS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("register-simcom-sim800.jsonl", "register", "virtual://simcom-sim800?seed=1", {}),
    (
        "attach_and_send-quectel-bg96.jsonl",
        "attach_and_send",
        "virtual://quectel-bg96?seed=1",
        {"bytes": 200},
    ),
    ("sms_roundtrip-generic.jsonl", "sms_roundtrip", "virtual://generic?seed=1", {"text": "bench ping"}),
    ("signal_check-quectel-bg96.jsonl", str(HERE / "signal_check.yaml"), "virtual://quectel-bg96?seed=1", {}),
)


async def record(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, script, url, params in RECORDINGS:
        result = await run_bench(script, url, params=params)
        if result.status != "passed":
            raise SystemExit(f"{name}: {script} on {url}: {result.status}: {result.error}")
        written.append(result.transcript.write(folder / name))
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else FOLDER
    for path in asyncio.run(record(folder)):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
