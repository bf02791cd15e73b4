"""Checks of command-line options that argparse's types leave open: ranges, NaN and infinities.

    check_int("--tcp", args.tcp, 0, 65535)        # OptionError: "--tcp 70000: out of range (0..65535)"
    check_float("--wait", args.wait, 0, 86400)    # NaN, inf and negatives refused

The commands turn `OptionError` into exit status 2 with its one line.
"""

from __future__ import annotations

import math


class OptionError(ValueError):
    """A command-line option whose value cannot be used (the text names the option)."""


def check_int(option: str, value: int | None, minimum: int, maximum: int) -> None:
    """`value` (None: not given) within minimum..maximum, else `OptionError`."""
    if value is not None and not minimum <= value <= maximum:
        raise OptionError(f"{option} {value}: out of range ({minimum}..{maximum})")


def check_float(option: str, value: float | None, minimum: float, maximum: float) -> None:
    """`value` (None: not given) finite and within minimum..maximum, else `OptionError`."""
    if value is None:
        return
    if not math.isfinite(value):
        raise OptionError(f"{option} {value}: not a finite number")
    if not minimum <= value <= maximum:
        raise OptionError(f"{option} {value:g}: out of range ({minimum:g}..{maximum:g})")


MAX_SEED = 2**63 - 1  # seeds are non-negative (random generators refuse negative ones)
MAX_PORT = 65535
