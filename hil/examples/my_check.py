"""A bench script in Python, of the same shape as the built-ins (`hil/scripts/register.py`):
`m2msim bench hil/examples/my_check.py --modem-url URL [--param min_dbm=-100]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hil.errors import HilError
from hil.scripts import BenchScript, Param

if TYPE_CHECKING:
    from hil.bench import BenchContext


class WeakSignal(HilError):
    """The modem hears the network less well than the script asks."""


async def run(bench: BenchContext) -> dict[str, Any]:
    await bench.registered(float(bench.params["timeout"]))
    with bench.step("signal") as info:
        signal = await bench.modem.network.signal()
        info.update(dbm=signal.dbm)
    if signal.dbm is None or signal.dbm < int(bench.params["min_dbm"]):
        raise WeakSignal(f"signal {signal.dbm} dBm, below {bench.params['min_dbm']} dBm")
    return {"dbm": signal.dbm}


SCRIPT = BenchScript(
    name="my_check",
    description="registered, and the signal is at least min_dbm",
    run=run,
    params={
        "min_dbm": Param(-105, "lowest acceptable signal in dBm"),
        "timeout": Param(60.0, "seconds to wait for registration"),
    },
)
