"""The fleet's IMEIs: unique for every device of a fleet of any size, a SIM swap's new device included.

An IMEI is a TAC (type allocation code, 8 digits: the model), a 6-digit serial and a Luhn check
digit (TS 23.003 annex B), so one TAC numbers a million devices; a vendor of a larger production
holds several TACs for one model.  The simulator does the same:

- A device is numbered by its fleet index `gidx` and `device`, 0 for the one the SIM starts in and
  `k + 1` for the one swap `k` of its group (`sim_swaps[k]`) puts it in.  The fleet is cut in blocks
  of 500,000 indices (`q = gidx // 500,000`, `r = gidx % 500,000`, `Q` blocks); the device's number
  is `n = (device * Q + q) * 500,000 + r`: one number per (gidx, device), whatever the fleet's size.
- `n // 1,000,000` is the TAC's rank among the group model's TACs, `n % 1,000,000` the serial.  Rank
  0 is the group's `tac`; the next ranks are the following TACs (`tac + 1`, ... in its reporting
  body's range, the first two digits kept), skipping any TAC the fleet already uses (another
  group's, another model's extra TAC), so that two models never share one.

A fleet of up to 500,000 devices with at most one swap per group keeps the IMEIs it always had:
the TAC, serial `gidx`, and serial `gidx + 500,000` after a swap.  Before, a serial was taken
modulo 1,000,000: past 500,000 devices a swapped-in device had another device's IMEI, and a
group's second swap gave the device back its first IMEI.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.api import luhn_check_digit

SERIALS = 1_000_000  # serials of one TAC
BLOCK = 500_000  # fleet indices of a block: a swapped-in device's serial is 500,000 after the first's


def imei(tac: str, serial: int) -> str:
    """A 15-digit IMEI: TAC, 6-digit serial (0 .. 999,999), Luhn check digit."""
    if not 0 <= serial < SERIALS:
        raise ValueError(f"IMEI serial {serial}: expected 0..{SERIALS - 1}")
    body = f"{tac}{serial:06d}"
    return body + str(luhn_check_digit(body))


def plan_of(groups: Iterable[tuple[str, int]], devices: int) -> ImeiPlan:
    """The plan of a fleet of `devices` whose groups have these (TAC, number of swaps)."""
    listed = list(groups)
    return ImeiPlan((tac for tac, _ in listed), devices, max((n for _, n in listed), default=0))


class ImeiPlan:
    """The IMEIs of one fleet: `devices` fleet indices, groups of the TACs `tacs` (in the scenario's
    order), at most `swaps` SIM swaps in a group."""

    def __init__(self, tacs: Iterable[str], devices: int, swaps: int) -> None:
        self.blocks = max(1, -(-devices // BLOCK))
        highest = ((swaps * self.blocks + self.blocks - 1) + 1) * BLOCK - 1  # the largest number
        ranks = highest // SERIALS + 1
        bases = list(dict.fromkeys(tacs))
        used = set(bases)
        self.tacs: dict[str, list[str]] = {}
        for base in bases:
            family = [base]
            body = int(base[2:])
            while len(family) < ranks:
                body = (body + 1) % 1_000_000  # (the 6 digits after the reporting body's 2)
                candidate = f"{base[:2]}{body:06d}"
                if candidate == base:
                    raise ValueError(f"TAC {base}: no more TACs in its range for {ranks} of them")
                if candidate not in used:
                    used.add(candidate)
                    family.append(candidate)
            self.tacs[base] = family

    def number(self, gidx: int, device: int = 0) -> int:
        """The device's number (unique per fleet index and device)."""
        q, r = divmod(gidx, BLOCK)
        return (device * self.blocks + q) * BLOCK + r

    def imei(self, tac: str, gidx: int, device: int = 0) -> str:
        """The IMEI of the device `device` (0: the first; k + 1: after the group's swap k) of the SIM
        of fleet index `gidx`, in a group of TAC `tac`."""
        rank, serial = divmod(self.number(gidx, device), SERIALS)
        return imei(self.tacs[tac][rank], serial)
