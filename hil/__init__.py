"""m2msim hil: the bench harness (hardware in the loop).

Bench scripts (`hil.scripts`: register, attach_and_send, sms_roundtrip, dtmf_call) run on a physical
modem or on the virtual one through `run_bench`; every AT command and answer goes to a timed
transcript; the run's usage becomes usage records priced by the accounting API; the bench's
allow-list (`load_allow_list`) is the `modem.safety` policy every SMS and call is checked against.

    from hil import load_allow_list, run_bench
    result = await run_bench("sms_roundtrip", "/dev/ttyUSB2", allow_list=load_allow_list("bench.yaml"))
    result.write("runs/bench/sms-1")

A script can also be a user's file (`get_script("./my_check.py")`, `get_script("./steps.yaml")`);
`replay://transcript.jsonl` is a modem answering as a recorded one did (`hil.replay`); `hil.rack`
runs one script on several modems at once (JUnit XML); `hil.ports` lists the serial ports.
"""

from hil.allowlist import AllowedNumber, BenchAllowList, load_allow_list, parse_allow_list
from hil.bench import BenchContext, run_bench
from hil.errors import (
    AllowListError,
    HilError,
    ScriptFileError,
    ScriptParamError,
    ScriptSkipped,
    UnknownScript,
)
from hil.replay import ReplayError, UnmatchedCommand
from hil.report import CostEstimate, estimate_cost
from hil.result import BenchResult
from hil.transcript import Transcript, read_transcript
from hil.usage import BenchUsage, usage_records

__all__ = [
    "AllowListError",
    "AllowedNumber",
    "BenchAllowList",
    "BenchContext",
    "BenchResult",
    "BenchUsage",
    "CostEstimate",
    "HilError",
    "ReplayError",
    "ScriptFileError",
    "ScriptParamError",
    "ScriptSkipped",
    "Transcript",
    "UnknownScript",
    "UnmatchedCommand",
    "estimate_cost",
    "load_allow_list",
    "parse_allow_list",
    "read_transcript",
    "run_bench",
    "usage_records",
]
