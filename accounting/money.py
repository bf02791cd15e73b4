"""Exact money: `Decimal` everywhere, rounded once per invoice item, half-up to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal(0)


def cents(value: Decimal) -> Decimal:
    """Round an exact amount to the cent, half-up (7.125 -> 7.13)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    """An amount as a string with exactly two decimals."""
    return str(cents(amount))


def to_decimal(value: object) -> Decimal | None:
    """A price read from a data file: int, or a string like "7.5"; floats are refused (inexact)."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None
