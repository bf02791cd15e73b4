"""Every device of a fleet has its own IMEI, a SIM swap's new device included, whatever the fleet's
size: several TACs of the group's model past a million devices, the Luhn check digit right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.identity import luhn_check_digit, normalise_imeisv
from simulator.imei import BLOCK, ImeiPlan, plan_of
from simulator.run import simulate
from tests.simulator.test_simulator_run import doc, sc_of, table


def _numbers(plan: ImeiPlan, tac: str, first: int, devices: int, swaps: int) -> np.ndarray:
    """Every IMEI body (TAC and serial, as one number) of fleet indices [first, first + devices)."""
    gidx: Any = np.arange(first, first + devices, dtype=np.int64)  # (`number` takes arrays too)
    tacs = np.array([int(t) for t in plan.tacs[tac]], dtype=np.int64)
    out = []
    for device in range(swaps + 1):
        rank, serial = np.divmod(plan.number(gidx, device), 1_000_000)
        out.append(tacs[rank] * 1_000_000 + serial)
    return np.concatenate(out)


@pytest.mark.parametrize(("devices", "swaps"), [(1_000_000, 1), (1_000, 3), (250_000, 2)])
def test_every_imei_of_a_fleet_is_its_own(devices: int, swaps: int) -> None:
    plan = ImeiPlan(["35332811"], devices, swaps)
    numbers = _numbers(plan, "35332811", 0, devices, swaps)
    assert len(np.unique(numbers)) == len(numbers) == devices * (swaps + 1)


def test_two_models_of_adjacent_tacs_never_share_a_tac() -> None:
    """Groups of TACs 35332811 and 35332812 in a fleet of a million, each with a swap: the first
    model's second TAC is not the second model's."""
    plan = plan_of([("35332811", 1), ("35332812", 1)], 1_000_000)
    a, b = plan.tacs["35332811"], plan.tacs["35332812"]
    assert len(a) == len(b) == 2 and not set(a) & set(b)
    numbers = np.concatenate(
        [_numbers(plan, "35332811", 0, 500_000, 1), _numbers(plan, "35332812", 500_000, 500_000, 1)]
    )
    assert len(np.unique(numbers)) == len(numbers)


def test_fleets_under_half_a_million_keep_their_imeis() -> None:
    """The TAC, serial `gidx`, and `gidx + 500,000` after a swap: as before, byte for byte."""
    plan = ImeiPlan(["35332811", "86000000"], 499_999, 1)
    for gidx in (0, 7, 123_456, 499_998):
        for device, serial in ((0, gidx), (1, gidx + BLOCK)):
            body = f"35332811{serial:06d}"
            assert plan.imei("35332811", gidx, device) == body + str(luhn_check_digit(body))


def test_every_imei_has_its_check_digit_right() -> None:
    plan = ImeiPlan(["35332811"], 1_000_000, 3)
    for gidx in (0, 499_999, 500_000, 999_999):
        for device in range(4):
            value = plan.imei("35332811", gidx, device)
            assert len(value) == 15 and normalise_imeisv(value) == value[:14] + "00"


def test_a_second_swap_gives_a_third_device(tmp_path: Path) -> None:
    """Two swaps of a group: the device after the second is neither of the two before (it had the
    first device's IMEI back: serial + 2 x 500,000 modulo a million)."""
    swaps = [{"at": "2026-03-01T06:00:00Z", "share": 1.0}, {"at": "2026-03-01T12:00:00Z", "share": 1.0}]
    d = doc(devices=2, sim_swaps=swaps, alarms={"imei_change": True})
    d["period"]["days"] = 1
    r = simulate(sc_of(d), tmp_path / "swaps", invoice=False)
    rows = table(r.out_dir / "usage.parquet").to_pylist()
    per_line = {line: {x["imeisv"] for x in rows if x["line"] == line} for line in ("D1", "D2")}
    assert all(len(imeis) == 3 for imeis in per_line.values()), per_line
    assert not per_line["D1"] & per_line["D2"]
