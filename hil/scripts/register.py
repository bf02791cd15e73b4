"""`register`: the SIM is ready, the modem registers, and says on which operator and how well it hears.

Steps: SIM state (AT+CPIN?, entering the `pin` parameter when the SIM asks for one), identity
(AT+CGMI/CGMM/CGMR/CGSN, IMSI, ICCID), registration (+CREG/+CGREG/+CEREG with URCs, up to
`timeout` seconds), operator (AT+COPS?) and signal (AT+CSQ, in dBm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hil.errors import HilError
from hil.scripts import BenchScript, Param

if TYPE_CHECKING:
    from hil.bench import BenchContext


class SimNotReady(HilError):
    """The SIM is not ready and no PIN was given (or it asks for a PUK)."""


async def sim_ready(bench: BenchContext) -> str:
    """AT+CPIN?; enters the `pin` parameter when the SIM asks for it. Returns the final state."""
    network = bench.modem.network
    with bench.step("sim") as info:
        state = await network.pin_status()
        info["state"] = state
        if state == "SIM PIN" and bench.params.get("pin"):
            await network.enter_pin(str(bench.params["pin"]))
            state = await network.pin_status()
            info["state_after_pin"] = state
        if state != "READY":
            raise SimNotReady(
                f"SIM not ready: {state}" + (" (give --param pin=NNNN)" if "PIN" in state else "")
            )
    return state


async def run(bench: BenchContext) -> dict[str, Any]:
    network = bench.modem.network
    sim = await sim_ready(bench)
    with bench.step("identity"):
        ident = await network.identify()
    reg = await bench.registered(float(bench.params["timeout"]))
    with bench.step("operator") as info:
        op = await network.operator()
        info.update(name=op.name, technology=op.technology)
    with bench.step("signal") as info:
        sig = await network.signal()
        info.update(rssi=sig.rssi, ber=sig.ber, dbm=sig.dbm)
    return {
        "sim": sim,
        "manufacturer": ident.manufacturer,
        "model": ident.model,
        "revision": ident.revision,
        "imei": ident.imei,
        "imsi": ident.imsi,
        "iccid": ident.iccid,
        "registration": {"kind": reg.kind, "stat": reg.stat, "state": reg.state, "roaming": reg.roaming},
        "lac": reg.lac,
        "ci": reg.ci,
        "operator": op.name,
        "technology": op.technology,
        "signal": {"rssi": sig.rssi, "ber": sig.ber, "dbm": sig.dbm},
    }


SCRIPT = BenchScript(
    name="register",
    description="SIM ready, registration, operator and signal",
    run=run,
    params={
        "timeout": Param(60.0, "seconds to wait for registration"),
        "pin": Param("", "SIM PIN, entered only when the SIM asks for it"),
    },
)
