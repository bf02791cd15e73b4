"""The invoice's text shows each amount rounded half-up to the cent, whatever the decimal context."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from accounting.render import money


@pytest.mark.parametrize("rounding", [decimal.ROUND_HALF_EVEN, decimal.ROUND_DOWN, decimal.ROUND_HALF_UP])
def test_money_rounds_half_up_to_the_cent_under_any_context(rounding: str) -> None:
    # 0.125 and 1,234.565 lie half-way: the tariff rounds them up (tariff-rules: half-up to the cent);
    # Python's format() would follow the context (half-even: 0.12, 1,234.56)
    with decimal.localcontext() as context:
        context.rounding = rounding
        assert money(Decimal("0.125")) == "0.13"
        assert money(Decimal("1234.565")) == "1,234.57"
        assert money(Decimal("-0.125")) == "-0.13"
        assert money(Decimal("7")) == "7.00"
